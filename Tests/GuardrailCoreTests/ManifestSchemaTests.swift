import Foundation
import Testing
@testable import GuardrailCore

/// The JSON Schemas `guardrail schema` writes, against the decoders: every key a decoder accepts is a
/// property at the same place in the schema, and every mapping of the schema is one a decoder opens.
@Suite("manifest JSON Schema")
struct ManifestSchemaTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let configurationFolders = ["manifests", "policies", "alerts", "environments"]

    /// The configuration files under `directory`, by their path relative to it.
    static func sources(in directory: URL) throws -> [ManifestSource] {
        var sources: [ManifestSource] = []
        for folder in configurationFolders {
            let url = directory.appendingPathComponent(folder)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: url.path) else { continue }
            for name in names.sorted() where name.hasSuffix(".yaml") {
                let bytes = try Data(contentsOf: url.appendingPathComponent(name))
                sources.append(ManifestSource(path: "\(folder)/\(name)", bytes: Array(bytes)))
            }
        }
        return sources
    }

    /// Decodes the files with a recorder and returns what it recorded; fails on any error.
    static func record(_ sources: [ManifestSource]) -> [KeyRecorder.Entry] {
        let recorder = KeyRecorder()
        let (_, diagnostics) = ConfigurationLoader.load(sources, keyRecorder: recorder)
        #expect(!diagnostics.hasErrors, "\(diagnostics.errors.map(\.description).joined(separator: "\n"))")
        return recorder.entries
    }

    /// The example configuration and examples/every-field, which sets every key of every kind.
    static func examples() throws -> [(sources: [ManifestSource], entries: [KeyRecorder.Entry])] {
        try [repositoryRoot, repositoryRoot.appendingPathComponent("examples/every-field")].map { dir in
            let sources = try sources(in: dir)
            #expect(!sources.isEmpty, "no configuration files in \(dir.path)")
            return (sources, record(sources))
        }
    }

    @Test("every key a decoder accepts, in the example configuration and examples/every-field, is a property at that place in the schema")
    func decodersKeysAreInTheSchema() throws {
        var checked = 0
        for (sources, entries) in try Self.examples() {
            let checker = SchemaKeyChecker(sources: sources)
            #expect(entries.count > sources.count, "the recorder saw too few mappings")
            for entry in entries {
                let problems = checker.problems(entry)
                #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
                checked += 1
            }
        }
        #expect(checked > 100)
    }

    @Test("examples/every-field reaches every mapping of every kind's schema, so the key check covers the whole schema")
    func everyFieldCoversEverySchemaMapping() throws {
        var reached: [String: Set<String>] = [:]
        for (sources, entries) in try Self.examples() {
            let checker = SchemaKeyChecker(sources: sources)
            for entry in entries {
                guard let (kind, pointer, _) = checker.schemaLocation(entry) else { continue }
                reached[kind.kind, default: []].insert(pointer)
            }
        }
        for kind in ManifestSchemas.kinds {
            let closed = SchemaKeyChecker.closedMappings(in: ManifestSchemas.schema(for: kind))
            #expect(!closed.isEmpty)
            let missed = closed.subtracting(reached[kind.kind] ?? [])
            #expect(missed.isEmpty, "\(kind.kind): no example opens \(missed.sorted().joined(separator: ", "))")
        }
    }

    @Test("the keys a decoder demands of a mapping are the keys the schema requires there")
    func requiredKeysAgree() throws {
        // Demanded with a message of its own rather than "missing required field".
        let ownMessages: [String: Set<String>] = ["AlertRouting#/properties/spec/properties/route": ["receiver"]]
        var compared = 0
        for dir in [Self.repositoryRoot, Self.repositoryRoot.appendingPathComponent("examples/every-field")] {
            let sources = try Self.sources(in: dir)
            let recorder = KeyRecorder()
            _ = ConfigurationLoader.load(sources, keyRecorder: recorder)
            var demanded: [String: Set<String>] = [:]
            for requirement in recorder.requirements {
                demanded["\(requirement.file):\(requirement.mark.line):\(requirement.mark.column)", default: []].insert(requirement.key)
            }
            let checker = SchemaKeyChecker(sources: sources)
            for entry in recorder.entries {
                guard let (kind, pointer, object) = checker.schemaLocation(entry) else { continue }
                let at = "\(entry.file):\(entry.mark.line):\(entry.mark.column)"
                let asked = demanded[at] ?? []
                let required = Set((object["required"]?.arrayValue ?? []).compactMap(\.stringValue))
                // Keys the schema requires in some cases (pgbackrest's type, an s3 repo's bucket): the decoder demands them then.
                let sometimes = required.union(SchemaKeyChecker.conditionallyRequired(object))
                let own = ownMessages[kind.kind + pointer] ?? []
                #expect(
                    asked.subtracting(sometimes).isEmpty,
                    "\(at) (\(entry.context)): the decoder demands \(asked.subtracting(sometimes).sorted()), the schema (\(pointer)) does not")
                #expect(
                    required.subtracting(asked).subtracting(own).isEmpty,
                    "\(at) (\(entry.context)): the schema (\(pointer)) requires \(required.subtracting(asked).sorted()), the decoder does not")
                compared += 1
            }
        }
        #expect(compared > 100)
    }

    @Test("a key a decoder accepts but the schema lacks is reported, naming the file, the place and the key")
    func aKeyMissingFromTheSchemaIsReported() throws {
        let source = ManifestSource(
            path: "manifests/t.yaml",
            bytes: Array(
                """
                apiVersion: guardrail/v1
                kind: Tenant
                metadata: {name: acme}
                spec:
                  id: 3f6c1d2e-8a4b-4c1e-9a57-0d2f5b8e7c11

                """.utf8))
        let entries = Self.record([source])
        let spec = try #require(entries.first { $0.context == "Tenant spec" })
        let checker = SchemaKeyChecker(sources: [source])
        #expect(checker.problems(spec).isEmpty)
        // What a decoder that accepted one more key than its shape declares would record.
        var widened = spec
        widened.allowed.append("region")
        let problems = checker.problems(widened)
        #expect(problems.count == 1)
        #expect(problems.first?.contains("manifests/t.yaml:5:3") == true, "\(problems)")
        #expect(problems.first?.contains("\"region\"") == true, "\(problems)")
        // And a schema property no decoder accepts is reported too.
        var narrowed = spec
        narrowed.allowed.removeAll { $0 == "status" }
        #expect(checker.problems(narrowed).first?.contains("\"status\"") == true)
    }

    @Test("the decoders take their key lists from the shapes the schema is rendered from")
    func decodersUseTheShapes() {
        #expect(KindRegistry.builtIn.kind(named: "Tenant")?.allowedSpecKeys == Tenant.specShape.keys)
        #expect(ConfigurationLoader.documentKeys == ["apiVersion", "kind", "metadata", "spec"])
        #expect(ConfigurationLoader.metadataKeys == ["name", "labels", "annotations"])
        // Every kind a document may name has a shape, so it has a schema.
        #expect(ManifestSchemas.documentKinds.map(\.kind) == KindRegistry.builtIn.documentKinds)
        #expect(ManifestSchemas.kinds.count == KindRegistry.builtIn.kinds.count)
        for kind in ManifestSchemas.documentKinds {
            guard case .document(_, _, let spec) = kind.root else { continue }
            #expect(KindRegistry.builtIn.kind(named: kind.kind)?.allowedSpecKeys == spec.keys, "\(kind.kind)")
        }
        // pgBackRest retention lists its own keys first, as its diagnostics always did.
        #expect(BackupSchedule.retentionShape.keys(leading: ["full", "diff"]) == ["full", "diff", "keep", "maxAge"])
    }

    @Test("every key list keeps the order its diagnostics have always listed (\"Allowed keys: ...\" and suggestions)")
    func keyOrderIsUnchanged() {
        let expected: [(String, [String], [String])] = [
            ("Tenant spec", Tenant.specKeys, ["id", "displayName", "status"]),
            ("FeatureFlag spec", FeatureFlag.specKeys, ["description", "enabled", "salt", "overrides", "rollout"]),
            ("overrides", FeatureFlag.overrideKeys, ["enable", "disable"]),
            ("rollout", FeatureFlag.rolloutKeys, ["phases", "guardrails", "onBreach"]),
            ("phase", FeatureFlag.phaseKeys, ["name", "tenants", "percent", "bake"]),
            ("phase tenants", FeatureFlag.phaseTenantKeys, ["names", "selector"]),
            (
                "Guardrail spec", Guardrail.specKeys,
                ["description", "query", "max", "min", "compare", "interval", "failures", "minSamples", "onNoData", "onError", "errorLimit"]
            ),
            ("compare", Guardrail.compareShape.keys, ["baseline", "maxRatio"]),
            ("minSamples", Guardrail.minSamplesShape.keys, ["query", "min"]),
            (
                "BackupSchedule spec", BackupSchedule.specKeys,
                ["database", "schedule", "timezone", "method", "type", "stanza", "retention", "rpo", "rto", "allowFrequent", "restoreDrill"]
            ),
            ("pg_dump retention", BackupSchedule.retentionShape.keys, ["keep", "maxAge", "full", "diff"]),
            ("restoreDrill", BackupSchedule.restoreDrillShape.keys, ["schedule", "checks", "target"]),
            ("checks", BackupSchedule.checksShape.keys, ["rowCounts", "rlsPolicies", "sql"]),
            ("row count", BackupSchedule.rowCountShape.keys, ["table", "min"]),
            ("SQL check", BackupSchedule.sqlCheckShape.keys, ["name", "query"]),
            ("RowLevelSecurity spec", RowLevelSecurity.specKeys, ["enabled", "forced", "searchPath", "policies"]),
            ("policy", RowLevelSecurity.policyKeys, ["name", "command", "as", "roles", "using", "withCheck"]),
            ("RoleGrants spec", RoleGrants.specKeys, ["login", "grants"]),
            ("grant", RoleGrants.grantKeys, ["tables", "schemas", "privileges"]),
            ("AlertRouting spec", AlertRouting.specKeys, ["receivers", "route", "inhibit_rules"]),
            (
                "route", AlertRouting.routeKeys,
                ["receiver", "matchers", "group_by", "group_wait", "group_interval", "repeat_interval", "continue", "routes"]
            ),
            ("inhibit rule", AlertRouting.inhibitKeys, ["source_matchers", "target_matchers", "equal"]),
            ("receiver", AlertRouting.receiverShape.keys, ["name"] + AlertRouting.integrationFields.keys.sorted()),
            ("rule file", RuleFile.fileKeys, ["groups"]),
            ("rule group", RuleFile.groupKeys, ["name", "interval", "limit", "rules"]),
            ("rule", RuleFile.ruleKeys, ["alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"]),
            (
                "Environment spec", Environment.specKeys,
                ["postgres", "prometheus", "alerts", "alertmanager", "backups", "controller", "rollouts", "plan", "requireReason", "notifications"]
            ),
            ("postgres", Environment.postgresShape.keys, ["url", "schema", "lockTimeout", "statementTimeout"]),
            ("prometheus", Environment.prometheusShape.keys, ["url"]),
            ("alerts", Environment.alertsShape.keys, ["target", "rulesDir", "url", "tenant", "namespacePrefix"]),
            ("backups", Environment.backupsShape.keys, ["directory", "pgbackrest"]),
            (
                "pgbackrest", Environment.pgbackrestShape.keys,
                ["stanza", "configFile", "pgPath", "repo", "cipherPassEnv", "s3KeyEnv", "s3KeySecretEnv", "osUser", "options"]
            ),
            ("repo", Environment.repoShape.keys, ["type", "path", "bucket", "endpoint", "region", "port", "uriStyle", "verifyTLS", "cipherType"]),
            (
                "controller", Environment.controllerShape.keys,
                ["interval", "listen", "drift", "adminToken", "headerReadTimeout", "idleTimeout", "maxConnections", "leaseDuration", "stepTimeout"]
            ),
            ("rollouts", Environment.rolloutsShape.keys, ["maxBake", "maxInterval"]),
            ("plan", Environment.planShape.keys, ["signingKey"]),
            ("alertmanager", Environment.alertmanagerShape.keys, ["url", "configFile"]),
            ("notifications", Environment.webhookShape.keys, ["url", "events", "secretHeader"]),
            ("secretHeader", Environment.secretHeaderShape.keys, ["name", "value"]),
        ]
        for (name, keys, order) in expected { #expect(keys == order, "\(name)") }
        for (type, shape) in AlertRouting.integrationShapes {
            #expect(shape.keys == AlertRouting.integrationFields[type]?.keys.sorted(), "\(type)")
        }
    }

    @Test("the schemas are deterministic, name every kind, and carry $schema, $id, title and description")
    func schemasAreDeterministic() throws {
        let first = ManifestSchemas.files()
        let second = ManifestSchemas.files()
        #expect(first.map(\.path) == second.map(\.path))
        #expect(first.map(\.text) == second.map(\.text))
        #expect(first.count == ManifestSchemas.kinds.count + 1)
        #expect(Set(first.map(\.path)).count == first.count)
        for kind in ManifestSchemas.kinds {
            let schema = ManifestSchemas.schema(for: kind)
            #expect(schema["$schema"]?.stringValue == "https://json-schema.org/draft/2020-12/schema")
            #expect(schema["$id"]?.stringValue == "https://guardrail.dev/schemas/v1/kinds/\(kind.fileName).json")
            #expect(schema["title"]?.stringValue?.isEmpty == false)
            #expect(schema["description"]?.stringValue?.isEmpty == false)
            // Foundation reads what was written as JSON.
            let text = schema.rendered
            #expect(text.hasSuffix("}\n"))
            _ = try JSONSerialization.jsonObject(with: Data(text.utf8))
        }
        let combined = ManifestSchemas.combinedSchema()
        let definitions = try #require(combined["$defs"]?.objectValue)
        for kind in ManifestSchemas.kinds { #expect(definitions[kind.kind] != nil, "\(kind.kind)") }
        #expect(definitions["AlertRouting.route"] != nil)
        _ = try JSONSerialization.jsonObject(with: Data(combined.rendered.utf8))
    }

    @Test("the committed schemas/ files are the ones the shapes render (run scripts/schemas after changing a kind)")
    func committedSchemasAreCurrent() throws {
        let folder = Self.repositoryRoot.appendingPathComponent("schemas")
        for (path, text) in ManifestSchemas.files() {
            let current = (try? String(contentsOf: folder.appendingPathComponent(path), encoding: .utf8)) == text
            #expect(current, "schemas/\(path) is stale or missing; run scripts/schemas")
        }
        let kinds = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("kinds").path).sorted()
        #expect(kinds == ManifestSchemas.kinds.map { "\($0.fileName).json" }.sorted(), "schemas/kinds/ holds a file no kind writes")
    }

    @Test("kinds are found by name, in any case, or by schema file name")
    func kindLookup() {
        #expect(ManifestSchemas.kind(named: "Tenant")?.kind == "Tenant")
        #expect(ManifestSchemas.kind(named: "featureflag")?.kind == "FeatureFlag")
        #expect(ManifestSchemas.kind(named: "row-level-security")?.kind == "RowLevelSecurity")
        #expect(ManifestSchemas.kind(named: "AlertRuleGroup")?.fileName == "alert-rules")
        #expect(ManifestSchemas.kind(named: "Nope") == nil)
    }

    @Test("JSON text escapes quotes, backslashes, control and invisible characters")
    func jsonEscaping() {
        let value = JSONValue.object(["a\"b": .string("x\\y\n\u{1}\u{202E}é"), "n": .array([.int(1), .bool(false), .null])])
        #expect(value.rendered == "{\n  \"a\\\"b\": \"x\\\\y\\n\\u0001\\u202eé\",\n  \"n\": [1, false, null]\n}\n")
    }
}

/// Finds where a recorded mapping is in its file and in its kind's schema, and compares the keys.
struct SchemaKeyChecker {
    enum Step: Hashable, CustomStringConvertible {
        case key(String)
        case index(Int)

        var description: String {
            switch self {
            case .key(let k): ".\(k)"
            case .index(let i): "[\(i)]"
            }
        }
    }

    /// Per file, each mapping (or empty value read as one) by its mark: the document's kind and the path to it.
    private var places: [String: [YAMLMark: (kind: KindShape?, path: [Step], isMapping: Bool)]] = [:]

    init(sources: [ManifestSource]) {
        for source in sources {
            var byMark: [YAMLMark: (kind: KindShape?, path: [Step], isMapping: Bool)] = [:]
            for document in YAMLParser.parse(source.bytes, file: source.path).documents {
                let kind: KindShape?
                if case .mapping(let top) = document.root, let node = top.entries.first(where: { $0.key.scalarText == "kind" })?.value {
                    kind = node.scalarText.flatMap { name in ManifestSchemas.kinds.first { $0.kind == name } }
                } else {
                    kind = source.path.hasPrefix("alerts/") ? RuleFile.shape : nil
                }
                Self.index(document.root, path: [], kind: kind, into: &byMark)
            }
            places[source.path] = byMark
        }
    }

    private static func index(
        _ node: YAMLNode, path: [Step], kind: KindShape?,
        into out: inout [YAMLMark: (kind: KindShape?, path: [Step], isMapping: Bool)]
    ) {
        switch node {
        case .mapping(let mapping):
            out[mapping.mark] = (kind, path, true)
            for entry in mapping.entries {
                guard let key = entry.key.scalarText else { continue }
                index(entry.value, path: path + [.key(key)], kind: kind, into: &out)
            }
        case .sequence(let sequence):
            for (i, item) in sequence.items.enumerated() { index(item, path: path + [.index(i)], kind: kind, into: &out) }
        case .scalar(let scalar):
            if out[scalar.mark]?.isMapping != true { out[scalar.mark] = (kind, path, false) }
        }
    }

    /// The kind, the JSON pointer and the schema object a recorded mapping is checked against.
    func schemaLocation(_ entry: KeyRecorder.Entry) -> (kind: KindShape, pointer: String, object: JSONValue)? {
        guard let place = places[entry.file]?[entry.mark], let kind = place.kind else { return nil }
        let schema = ManifestSchemas.schema(for: kind)
        guard let (object, pointer) = Self.resolve(place.path, in: schema) else { return nil }
        return (kind, pointer, object)
    }

    /// What is wrong with one recorded mapping: empty when its keys are exactly the schema's properties
    /// there, and the schema refuses any other key.
    func problems(_ entry: KeyRecorder.Entry) -> [String] {
        let at = "\(entry.file):\(entry.mark.line):\(entry.mark.column) (\(entry.context))"
        guard let place = places[entry.file]?[entry.mark] else { return ["\(at): no mapping starts here in the file"] }
        guard let kind = place.kind else { return ["\(at): the document's kind has no schema"] }
        let where_ = "\(at), \(kind.kind) \(place.path.isEmpty ? "document" : place.path.map(\.description).joined())"
        let schema = ManifestSchemas.schema(for: kind)
        guard let (object, pointer) = Self.resolve(place.path, in: schema) else {
            return ["\(where_): the schema has no mapping at this place"]
        }
        let properties = Set(object["properties"]?.objectValue?.keys.map { $0 } ?? [])
        var problems: [String] = []
        for key in entry.allowed where !properties.contains(key) {
            problems.append("\(where_): the decoder accepts \"\(key)\", but the schema (\(pointer)) has no such property")
        }
        for key in properties.sorted() where !entry.allowed.contains(key) {
            problems.append("\(where_): the schema (\(pointer)) has \"\(key)\", but the decoder refuses it")
        }
        if object["additionalProperties"] != .bool(false) {
            problems.append("\(where_): the decoder refuses unknown keys, but the schema (\(pointer)) allows them")
        }
        return problems
    }

    // MARK: Walking a schema

    private static func deref(_ schema: JSONValue, _ pointer: String, root: JSONValue) -> (JSONValue, String) {
        guard let ref = schema["$ref"]?.stringValue, ref.hasPrefix("#/$defs/") else { return (schema, pointer) }
        let name = String(ref.dropFirst("#/$defs/".count))
        guard let target = root["$defs"]?[name] else { return (schema, pointer) }
        return deref(target, ref, root: root)
    }

    /// The schema itself when it describes a mapping, or its `anyOf` branch that does.
    private static func mappingBranch(_ schema: JSONValue, _ pointer: String, root: JSONValue) -> (JSONValue, String)? {
        let (s, p) = deref(schema, pointer, root: root)
        if s["properties"] != nil { return (s, p) }
        for (i, branch) in (s["anyOf"]?.arrayValue ?? []).enumerated() {
            if let found = mappingBranch(branch, "\(p)/anyOf/\(i)", root: root) { return found }
        }
        return nil
    }

    private static func listBranch(_ schema: JSONValue, _ pointer: String, root: JSONValue) -> (JSONValue, String)? {
        let (s, p) = deref(schema, pointer, root: root)
        if let items = s["items"] { return (items, "\(p)/items") }
        for (i, branch) in (s["anyOf"]?.arrayValue ?? []).enumerated() {
            if let found = listBranch(branch, "\(p)/anyOf/\(i)", root: root) { return found }
        }
        return nil
    }

    /// The mapping schema at `path` of a document, with its JSON pointer.
    static func resolve(_ path: [Step], in root: JSONValue) -> (JSONValue, String)? {
        var current = (root, "#")
        for step in path {
            switch step {
            case .key(let key):
                guard let (object, pointer) = mappingBranch(current.0, current.1, root: root),
                    let property = object["properties"]?[key]
                else { return nil }
                current = (property, "\(pointer)/properties/\(escape(key))")
            case .index:
                guard let items = listBranch(current.0, current.1, root: root) else { return nil }
                current = items
            }
        }
        return mappingBranch(current.0, current.1, root: root)
    }

    /// The keys a mapping's rules (`if`/`then`/`else`, `anyOf`, `oneOf`, `allOf`) require in some cases.
    static func conditionallyRequired(_ object: JSONValue) -> Set<String> {
        var out: Set<String> = []
        func walk(_ value: JSONValue, top: Bool) {
            guard case .object(let members) = value else { return }
            if !top { out.formUnion((members["required"]?.arrayValue ?? []).compactMap(\.stringValue)) }
            for key in ["then", "else"] { if let branch = members[key] { walk(branch, top: false) } }
            for key in ["anyOf", "oneOf", "allOf"] { for branch in members[key]?.arrayValue ?? [] { walk(branch, top: false) } }
        }
        walk(object, top: true)
        return out
    }

    /// The JSON pointers of every mapping in a schema that refuses unknown keys: what `fields` opens.
    static func closedMappings(in schema: JSONValue) -> Set<String> {
        var out: Set<String> = []
        func walk(_ value: JSONValue, _ pointer: String) {
            switch value {
            case .object(let members):
                if members["additionalProperties"] == .bool(false), members["properties"] != nil { out.insert(pointer) }
                for (key, member) in members { walk(member, "\(pointer)/\(escape(key))") }
            case .array(let items):
                for (i, item) in items.enumerated() { walk(item, "\(pointer)/\(i)") }
            default:
                break
            }
        }
        walk(schema, "#")
        return out
    }

    private static func escape(_ key: String) -> String {
        key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}
