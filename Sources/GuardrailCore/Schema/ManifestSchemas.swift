/// Every kind's shape, and its rendering as JSON Schema (draft 2020-12) for `guardrail schema`.
///
/// Pure and deterministic: the same shapes give the same bytes, which `schemas/` commits.
public enum ManifestSchemas {
    public static let draft = "https://json-schema.org/draft/2020-12/schema"
    public static let baseURL = "https://guardrail.dev/schemas/v1/"
    /// The schema for any configuration file: it picks the kind's schema by `kind`.
    public static let combinedFileName = "guardrail.json"

    /// Every built-in kind's shape, in the registry's order (`KindDefinition.schemaShape`).
    public static let kinds: [KindShape] = KindRegistry.builtIn.kinds.compactMap { $0.schemaShape }

    /// The kinds written as Guardrail documents (`apiVersion`, `kind`, `metadata`, `spec`).
    public static var documentKinds: [KindShape] {
        kinds.filter { if case .document = $0.root { true } else { false } }
    }

    /// The kind called `name`: its exact name, its name in any case, or its schema file's name (`feature-flag`).
    public static func kind(named name: String) -> KindShape? {
        kinds.first { $0.kind == name }
            ?? kinds.first { $0.kind.lowercased() == name.lowercased() || $0.fileName == name.lowercased() }
    }

    /// The path of a kind's schema under the schema folder.
    public static func path(of kind: KindShape) -> String { "kinds/\(kind.fileName).json" }

    /// One kind's schema, standing alone.
    public static func schema(for kind: KindShape) -> JSONValue {
        var object = body(of: kind)
        object["$schema"] = .string(draft)
        object["$id"] = .string(baseURL + path(of: kind))
        let definitions = self.definitions(of: kind)
        if !definitions.isEmpty { object["$defs"] = .object(definitions) }
        return .object(object)
    }

    /// The schema for any configuration file: a document is checked against its kind's schema, and a
    /// file with no `kind` against the Prometheus rule file's.
    public static func combinedSchema() -> JSONValue {
        var definitions: [String: JSONValue] = [:]
        for kind in kinds {
            definitions[kind.kind] = .object(body(of: kind))
            definitions.merge(self.definitions(of: kind)) { first, _ in first }
        }
        let documents = documentKinds
        let dispatch: [JSONValue] = documents.map { kind in
            .object([
                "if": .object(["properties": .object(["kind": .object(["const": .string(kind.kind)])]), "required": .array([.string("kind")])]),
                "then": .object(["$ref": .string("#/$defs/\(kind.kind)")]),
            ])
        }
        let names = documents.map(\.kind)
        return .object([
            "$schema": .string(draft),
            "$id": .string(baseURL + combinedFileName),
            "title": .string("Guardrail configuration file"),
            "description": .string(
                """
                Any file Guardrail reads: a document with a kind (\(names.joined(separator: ", "))) is checked against \
                that kind's schema; a file without one is a Prometheus rule file (alerts/<namespace>.yaml).
                """),
            "type": .string("object"),
            "$defs": .object(definitions),
            "if": .object(["required": .array([.string("kind")])]),
            "then": .object([
                "properties": .object([
                    "kind": .object([
                        "type": .string("string"), "enum": .array(names.map(JSONValue.string)),
                        "description": .string("What the document declares."),
                    ])
                ]),
                "allOf": .array(dispatch),
            ]),
            "else": .object(["$ref": .string("#/$defs/\(RuleFile.shape.kind)")]),
        ])
    }

    /// Every schema file by its path under the schema folder: the combined schema, then one per kind.
    public static func files() -> [(path: String, text: String)] {
        [(combinedFileName, combinedSchema().rendered)] + kinds.map { (path(of: $0), schema(for: $0).rendered) }
    }

    private static func body(of kind: KindShape) -> [String: JSONValue] {
        let renderer = SchemaRenderer(kind: kind.kind)
        var object: [String: JSONValue]
        switch kind.root {
        case .document: object = renderer.mapping(DocumentShape.document(kind))
        case .file(let shape): object = renderer.mapping(shape)
        }
        object["title"] = .string(kind.title)
        object["description"] = .string(kind.description)
        return object
    }

    private static func definitions(of kind: KindShape) -> [String: JSONValue] {
        let renderer = SchemaRenderer(kind: kind.kind)
        var out: [String: JSONValue] = [:]
        for (name, shape) in kind.definitions { out[SchemaRenderer.definitionName(name, in: kind.kind)] = .object(renderer.mapping(shape)) }
        return out
    }
}

/// Renders shapes as JSON Schema objects.
struct SchemaRenderer {
    /// The kind whose definitions `ValueShape.definition` names.
    var kind: String

    static func definitionName(_ name: String, in kind: String) -> String { "\(kind).\(name)" }

    func mapping(_ shape: MappingShape) -> [String: JSONValue] {
        var object: [String: JSONValue] = [
            "type": shape.allowsNull ? .array([.string("object"), .string("null")]) : .string("object"),
            "additionalProperties": .bool(false),
        ]
        if !shape.description.isEmpty { object["description"] = .string(shape.description) }
        var properties: [String: JSONValue] = [:]
        for field in shape.fields {
            var value = self.value(field.shape)
            value["description"] = .string(field.description)
            properties[field.key] = .object(value)
        }
        object["properties"] = .object(properties)
        let required = shape.requiredKeys
        if !required.isEmpty { object["required"] = .array(required.map(JSONValue.string)) }
        for (key, rule) in shape.rules {
            precondition(object[key] == nil, "a mapping's rules repeat its \(key)")
            object[key] = rule
        }
        return object
    }

    func value(_ shape: ValueShape) -> [String: JSONValue] {
        switch shape {
        case .string(let format):
            return string(format)
        case .boolean:
            return ["type": .string("boolean")]
        case .integer(let range):
            var object: [String: JSONValue] = ["type": .string("integer")]
            if let range {
                object["minimum"] = .int(range.lowerBound)
                if range.upperBound < Int.max { object["maximum"] = .int(range.upperBound) }
            }
            return object
        case .number(let minimum, let exclusiveMinimum):
            var object: [String: JSONValue] = ["type": .string("number")]
            if let minimum { object["minimum"] = .int(minimum) }
            if let exclusiveMinimum { object["exclusiveMinimum"] = .int(exclusiveMinimum) }
            return object
        case .word(let words):
            if words.count == 1 { return ["type": .string("string"), "const": .string(words[0])] }
            return ["type": .string("string"), "enum": .array(words.map(JSONValue.string))]
        case .list(let item, let rules):
            var object: [String: JSONValue] = [
                "type": rules.allowsNull ? .array([.string("array"), .string("null")]) : .string("array"),
                "items": .object(value(item)),
            ]
            if let minItems = rules.minItems { object["minItems"] = .int(minItems) }
            if rules.uniqueItems { object["uniqueItems"] = .bool(true) }
            return object
        case .map(let keys, let values, let allowsNull):
            var object: [String: JSONValue] = [
                "type": allowsNull ? .array([.string("object"), .string("null")]) : .string("object"),
                "additionalProperties": .object(value(values)),
            ]
            let names = string(keys)
            if names.count > 1 { object["propertyNames"] = .object(names.filter { $0.key != "type" }) }
            return object
        case .mapping(let shape):
            return mapping(shape)
        case .definition(let name):
            return ["$ref": .string("#/$defs/\(Self.definitionName(name, in: kind))")]
        case .anyOf(let shapes):
            return ["anyOf": .array(shapes.map { .object(value($0)) })]
        case .duration:
            return [
                "anyOf": .array([
                    .object(["type": .string("string"), "pattern": .string("^(0|([0-9]+(ms|[ywdhms]))+)$")]),
                    .object(["const": .int(0)]),
                ])
            ]
        case .cron:
            return ["type": .string("string"), "pattern": .string("^[ \\t]*[^ \\t]+([ \\t]+[^ \\t]+){4}[ \\t]*$")]
        case .any:
            return [:]
        }
    }

    private func string(_ format: StringFormat) -> [String: JSONValue] {
        var object: [String: JSONValue] = ["type": .string("string")]
        if let pattern = format.pattern { object["pattern"] = .string(pattern) }
        if let f = format.format { object["format"] = .string(f) }
        if let minLength = format.minLength { object["minLength"] = .int(minLength) }
        if let maxLength = format.maxLength { object["maxLength"] = .int(maxLength) }
        return object
    }
}
