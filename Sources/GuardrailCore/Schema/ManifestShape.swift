/// The declared shape of a manifest: for each mapping, the keys it may have, what each holds, which
/// are required and what they mean.
///
/// The decoders take their key lists (`NodeReader.fields(_:_:allowed:)`) from these shapes, and
/// `guardrail schema` renders the same shapes as JSON Schema, so the keys an editor offers are the keys
/// `validate` accepts. The shapes describe keys and value types; the decoders still check everything
/// else (names that must exist, orders, combinations), each at its `file:line:column`.

/// What one value may be.
public indirect enum ValueShape: Sendable {
    case string(StringFormat)
    case boolean
    /// A whole number, within `range` when given.
    case integer(ClosedRange<Int>?)
    /// Any number, at least `minimum` or above `exclusiveMinimum` when given.
    case number(minimum: Int?, exclusiveMinimum: Int?)
    /// One of a fixed set of words.
    case word([String])
    case list(ValueShape, ListRules)
    /// A mapping whose keys are data (labels, annotations): `NodeReader.stringMap`, not `fields`.
    case map(keys: StringFormat, values: ValueShape, allowsNull: Bool)
    /// A mapping with fixed keys, opened with `NodeReader.fields`.
    case mapping(MappingShape)
    /// One of the kind's named shapes (`KindShape.definitions`), for shapes that nest themselves.
    case definition(String)
    /// Any one of these.
    case anyOf([ValueShape])
    /// A `GuardrailDuration`: `90s`, `5m`, `1h30m`, `7d`, or `0`.
    case duration
    /// A five-field cron expression.
    case cron
    /// Anything.
    case any

    public static let text = ValueShape.string(.text)
    public static let nonEmptyText = ValueShape.string(.nonEmpty)
    /// A string that may name process environment variables (`${VAR}`, `${VAR:-default}`).
    public static let templated = ValueShape.string(.templated)

    /// One of a `CaseIterable` enum's raw values, so the schema offers exactly the words the decoder reads.
    public static func word<T: RawRepresentable & CaseIterable>(_ type: T.Type) -> ValueShape where T.RawValue == String {
        .word(type.allCases.map(\.rawValue))
    }

    /// `NodeReader.stringList`: a list of strings, where an empty value (null) is an empty list.
    public static func stringList(_ item: StringFormat = .text, minItems: Int? = nil, uniqueItems: Bool = false) -> ValueShape {
        .list(.string(item), ListRules(minItems: minItems, uniqueItems: uniqueItems, allowsNull: minItems == nil))
    }

    /// `NodeReader.stringMap`: string keys (checked by `keys`) to string values.
    public static func stringMap(keys: StringFormat = .text, values: StringFormat = .text, allowsNull: Bool = true) -> ValueShape {
        .map(keys: keys, values: .string(values), allowsNull: allowsNull)
    }
}

public struct ListRules: Sendable {
    public var minItems: Int?
    public var uniqueItems: Bool
    /// Whether an empty value (null) reads as an empty list.
    public var allowsNull: Bool

    public init(minItems: Int? = nil, uniqueItems: Bool = false, allowsNull: Bool = false) {
        self.minItems = minItems
        self.uniqueItems = uniqueItems
        self.allowsNull = allowsNull
    }
}

/// What a string must look like. Patterns are ECMA-262 regular expressions (which Python's `re` reads
/// the same), anchored with `^` and `$` unless they look for a part of the text.
public struct StringFormat: Sendable {
    public var pattern: String?
    /// A JSON Schema `format` annotation (`uuid`, `uri`); editors may check it.
    public var format: String?
    public var minLength: Int?
    public var maxLength: Int?

    public init(pattern: String? = nil, format: String? = nil, minLength: Int? = nil, maxLength: Int? = nil) {
        self.pattern = pattern
        self.format = format
        self.minLength = minLength
        self.maxLength = maxLength
    }

    public static let text = StringFormat()
    public static let nonEmpty = StringFormat(minLength: 1)
    /// `TemplatedString`: any text; `${...}` references are checked by the decoder.
    public static let templated = StringFormat()
    /// `CanonicalUUID`: 8-4-4-4-12 hexadecimal digits, either case.
    public static let uuid = StringFormat(pattern: "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", format: "uuid")
    static let dnsLabelPattern = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
    /// `NameRules.dnsLabel`.
    public static let dnsLabel = StringFormat(pattern: "^\(dnsLabelPattern)$", maxLength: 63)
    /// `NameRules.dottedName`: DNS labels joined by dots.
    public static let dottedName = StringFormat(pattern: "^\(dnsLabelPattern)(\\.\(dnsLabelPattern))*$", maxLength: 253)
    static let labelNamePattern = "[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?"
    /// `NameRules.labelKey`: an optional DNS prefix and `/`, then a name.
    public static let labelKey = StringFormat(pattern: "^(\(dnsLabelPattern)(\\.\(dnsLabelPattern))*/)?\(labelNamePattern)$")
    /// `NameRules.labelValue`: empty, or a name.
    public static let labelValue = StringFormat(pattern: "^(\(labelNamePattern))?$")
    /// The name of a process environment variable.
    public static let variableName = StringFormat(pattern: "^[A-Za-z_][A-Za-z0-9_]*$")
    /// Exactly one `${VAR}` and nothing else: a secret committed to Git is not one.
    public static let secretReference = StringFormat(pattern: "^\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}$")
    /// Text that names at least one process environment variable.
    public static let withVariable = StringFormat(pattern: "\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}")
    /// A Prometheus label name (`PrometheusNames.labelNameProblem`).
    public static let prometheusLabelName = StringFormat(pattern: "^[a-zA-Z_][a-zA-Z0-9_]*$")
    /// A Prometheus series name (`PrometheusNames.metricNameProblem`).
    public static let prometheusMetricName = StringFormat(pattern: "^[a-zA-Z_:][a-zA-Z0-9_:]*$")
}

/// One key of a mapping.
public struct FieldShape: Sendable {
    public var key: String
    public var shape: ValueShape
    public var required: Bool
    public var description: String

    public init(_ key: String, _ shape: ValueShape, required: Bool = false, _ description: String) {
        self.key = key
        self.shape = shape
        self.required = required
        self.description = description
    }
}

/// A mapping with fixed keys. `keys` is what the decoder passes as `allowed:`, in the order its
/// diagnostics list them.
public struct MappingShape: Sendable {
    public var description: String
    public var fields: [FieldShape]
    /// Whether an empty value (null) reads as an empty mapping. By default, when no key is required.
    public var allowsNull: Bool
    /// Rules across keys, in JSON Schema's own words (`oneOf` of `required`, `if`/`then`), merged into
    /// the rendered object. The decoder checks the same rules with its own messages.
    public var rules: [String: JSONValue]

    public init(_ description: String, _ fields: [FieldShape], allowsNull: Bool? = nil, rules: [String: JSONValue] = [:]) {
        self.description = description
        self.fields = fields
        self.allowsNull = allowsNull ?? (!fields.contains { $0.required } && rules.isEmpty)
        self.rules = rules
    }

    /// The keys the decoder accepts, in the order its diagnostics list them.
    public var keys: [String] { fields.map(\.key) }

    public var requiredKeys: [String] { fields.filter(\.required).map(\.key) }

    public func field(_ key: String) -> FieldShape? { fields.first { $0.key == key } }

    /// The same keys with `leading` first, for a decoder that lists the keys that matter most first.
    /// Every key in `leading` must be one of the shape's.
    public func keys(leading: [String]) -> [String] {
        precondition(leading.allSatisfy(keys.contains), "keys(leading:) names a key the shape does not have")
        return leading + keys.filter { !leading.contains($0) }
    }

    /// A copy with more rules across keys.
    public func adding(rules more: [String: JSONValue], allowsNull: Bool = false) -> MappingShape {
        var copy = self
        copy.rules.merge(more) { _, new in new }
        copy.allowsNull = allowsNull
        return copy
    }

    /// `oneOf` the given keys is present: exactly one of them.
    public static func exactlyOne(of keys: [String]) -> [String: JSONValue] {
        ["oneOf": .array(keys.map { .object(["required": .array([.string($0)])]) })]
    }

    /// At least one of the given keys is present.
    public static func atLeastOne(of keys: [String]) -> [String: JSONValue] {
        ["anyOf": .array(keys.map { .object(["required": .array([.string($0)])]) })]
    }
}

/// One kind of document: its `metadata.name` rules and `spec`, or a whole file for plain rule files.
public struct KindShape: Sendable {
    public enum Root: Sendable {
        /// A Guardrail document: `apiVersion`, `kind`, `metadata`, `spec`.
        case document(name: StringFormat, nameDescription: String, spec: MappingShape)
        /// A file read as it is (a Prometheus rule file).
        case file(MappingShape)
    }

    public var kind: String
    /// The schema file's name, without `.json`: `feature-flag`.
    public var fileName: String
    public var title: String
    public var description: String
    public var root: Root
    /// Named shapes `ValueShape.definition` refers to.
    public var definitions: [String: MappingShape]

    public init(kind: String, fileName: String, title: String, description: String, root: Root, definitions: [String: MappingShape] = [:]) {
        self.kind = kind
        self.fileName = fileName
        self.title = title
        self.description = description
        self.root = root
        self.definitions = definitions
    }
}

/// The envelope every Guardrail document has: `apiVersion`, `kind`, `metadata` and `spec`.
public enum DocumentShape {
    /// The whole document of one kind, or (with nil) of any kind, with an open spec.
    public static func document(_ kind: KindShape?) -> MappingShape {
        let spec: ValueShape
        let specDescription: String
        let name: StringFormat
        let nameDescription: String
        if let kind, case .document(let n, let d, let s) = kind.root {
            spec = .mapping(s)
            specDescription = s.description
            name = n
            nameDescription = d
        } else {
            spec = .map(keys: .text, values: .any, allowsNull: true)
            specDescription = "What the object should be."
            name = .text
            nameDescription = "The object's name."
        }
        let kindWord: ValueShape = kind.map { .word([$0.kind]) } ?? .text
        return MappingShape(
            "A Guardrail document.",
            [
                FieldShape("apiVersion", .word([ConfigurationLoader.apiVersion]), required: true, "The version of Guardrail's manifest format."),
                FieldShape("kind", kindWord, required: true, "What the document declares."),
                FieldShape(
                    "metadata", .mapping(metadata(name: name, nameDescription: nameDescription)), required: true,
                    "The object's name, labels and annotations."),
                FieldShape("spec", spec, required: true, specDescription),
            ])
    }

    /// `metadata`: the name, labels and annotations.
    public static func metadata(name: StringFormat = .text, nameDescription: String = "The object's name.") -> MappingShape {
        MappingShape(
            "The object's name, labels and annotations.",
            [
                FieldShape("name", .string(name), required: true, nameDescription),
                FieldShape(
                    "labels", .stringMap(keys: .labelKey, values: .labelValue),
                    "Labels, as in Kubernetes: rollout phases select tenants by them, `flag kill --selector` flags."),
                FieldShape("annotations", .stringMap(), "Free-form notes for people and tools; Guardrail does not read them."),
            ])
    }

    public static let documentKeys = document(nil).keys
    public static let metadataKeys = metadata().keys
}
