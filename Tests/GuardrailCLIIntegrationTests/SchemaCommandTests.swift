import Foundation
import GuardrailTestSupport
import Testing

/// `guardrail schema`, and its schemas checked by a real third-party validator (Python's jsonschema,
/// Draft 2020-12) against every example manifest in the repository.
@Suite("guardrail schema")
struct SchemaCommandTests {
    static let root = Fixtures.repositoryRoot

    /// Writes the schemas with `guardrail schema --output` into a fresh directory.
    static func generatedSchemas() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-schemas-\(UUID().uuidString)")
        let result = try CommandRunner.run(["schema", "--output", dir.path], in: root)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.hasPrefix("Wrote 10 schema files into \(dir.path): guardrail.json, kinds/environment.json,"), "\(result.stdout)")
        return dir
    }

    /// Every file under `dir`, by its relative path.
    static func tree(_ dir: URL) throws -> [String: String] {
        var out: [String: String] = [:]
        let base = dir.resolvingSymlinksInPath().path
        guard let enumerator = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: [.isRegularFileKey]) else { return out }
        for case let url as URL in enumerator where (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true {
            let path = url.resolvingSymlinksInPath().path
            out[String(path.dropFirst(base.count + 1))] = try String(contentsOf: url, encoding: .utf8)
        }
        return out
    }

    /// The configuration files Git tracks: YAML in manifests/, policies/, alerts/ and environments/ folders
    /// (the example configuration and examples/every-field), rule unit tests left out.
    static func exampleManifests() throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", root.path, "ls-files", "*.yaml", "*.yml"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let folders: Set<String> = ["manifests", "policies", "alerts", "environments"]
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init).filter { path in
            let parts = path.split(separator: "/")
            return parts.count >= 2 && folders.contains(String(parts[parts.count - 2])) && !path.hasSuffix("_test.yaml")
        }
    }

    /// Checks YAML files against the schemas in `schemas` with jsonschema's Draft202012Validator: each
    /// document against the combined schema and against its kind's. One JSON object per problem, then a count.
    static let validatorScript = #"""
        import json, os, re, sys
        import yaml
        from jsonschema import Draft202012Validator

        # The YAML 1.2 core schema, as Guardrail reads YAML: only true/false are booleans, dates stay strings.
        class Loader(yaml.SafeLoader):
            pass
        Loader.yaml_implicit_resolvers = {
            first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }
        Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))

        schema_dir, files = sys.argv[1], sys.argv[2:]
        def validator(path):
            with open(os.path.join(schema_dir, path)) as f:
                schema = json.load(f)
            Draft202012Validator.check_schema(schema)
            return Draft202012Validator(schema)
        combined = validator("guardrail.json")
        kinds = {}
        for name in sorted(os.listdir(os.path.join(schema_dir, "kinds"))):
            with open(os.path.join(schema_dir, "kinds", name)) as f:
                kind = json.load(f)["properties"].get("kind", {}).get("const", "AlertRuleGroup")
            kinds[kind] = validator("kinds/" + name)
        documents = 0
        for path in files:
            with open(path) as f:
                for index, document in enumerate(yaml.load_all(f, Loader=Loader)):
                    if document is None:
                        continue
                    documents += 1
                    kind = document.get("kind", "AlertRuleGroup") if isinstance(document, dict) else None
                    for name, v in [("guardrail.json", combined)] + ([(kind, kinds[kind])] if kind in kinds else []):
                        for error in sorted(v.iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
                            print(json.dumps({"file": path, "document": index, "schema": name,
                                              "path": "/".join(map(str, error.absolute_path)), "message": error.message}))
        print(json.dumps({"documents": documents}))
        """#

    struct Problem: Decodable {
        var file: String
        var document: Int
        var schema: String
        var path: String
        var message: String
    }

    /// Runs the validator; returns the problems and how many documents it checked.
    static func validate(_ files: [String], schemas: URL, in directory: URL) throws -> (problems: [Problem], documents: Int) {
        let pythonPath = try #require(ProcessInfo.processInfo.environment["GUARDRAIL_TEST_PYTHONPATH"], "scripts/test installs jsonschema and PyYAML")
        let result = try CommandRunner.run(
            [], in: directory, environment: ["PYTHONPATH": pythonPath],
            executable: ["/usr/bin/env", "python3", "-c", validatorScript, schemas.path] + files)
        try #require(result.status == 0, "\(result.output)")
        var problems: [Problem] = []
        var documents = -1
        for line in result.stdout.split(separator: "\n") {
            let data = Data(line.utf8)
            if let count = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["documents"] as? Int {
                documents = count
            } else {
                problems.append(try JSONDecoder().decode(Problem.self, from: data))
            }
        }
        return (problems, documents)
    }

    @Test("the committed schemas/ folder is exactly what guardrail schema --output writes (run scripts/schemas after changing a kind)")
    func committedSchemasAreCurrent() throws {
        let generated = try Self.tree(try Self.generatedSchemas())
        let committed = try Self.tree(Self.root.appendingPathComponent("schemas"))
        #expect(generated.keys.sorted() == committed.keys.sorted())
        for (path, text) in generated.sorted(by: { $0.key < $1.key }) {
            let current = committed[path] == text
            #expect(current, "schemas/\(path) is stale; run scripts/schemas")
        }
    }

    @Test("guardrail schema --kind Tenant prints the Tenant schema: draft 2020-12, its $id, title, and a closed spec")
    func oneKind() throws {
        let result = try CommandRunner.run(["schema", "--kind", "Tenant"], in: URL(fileURLWithPath: "/"))
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stderr.isEmpty)
        let committed = try String(contentsOf: Self.root.appendingPathComponent("schemas/kinds/tenant.json"), encoding: .utf8)
        #expect(result.stdout == committed)
        let schema = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(schema["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        #expect(schema["$id"] as? String == "https://guardrail.dev/schemas/v1/kinds/tenant.json")
        #expect(schema["title"] as? String == "Guardrail Tenant")
        #expect((schema["required"] as? [String]) == ["apiVersion", "kind", "metadata", "spec"])
        let properties = try #require(schema["properties"] as? [String: Any])
        #expect((properties["kind"] as? [String: Any])?["const"] as? String == "Tenant")
        let spec = try #require(properties["spec"] as? [String: Any])
        #expect(spec["additionalProperties"] as? Bool == false)
        #expect(spec["required"] as? [String] == ["id"])
        let specProperties = try #require(spec["properties"] as? [String: [String: Any]])
        #expect(specProperties.keys.sorted() == ["displayName", "id", "status"])
        #expect(specProperties["status"]?["enum"] as? [String] == ["active", "suspended", "offboarding"])
        #expect((specProperties["id"]?["pattern"] as? String)?.hasPrefix("^[0-9a-fA-F]{8}-") == true)
        // The same kind by its file name, and without --kind the combined schema.
        let byFile = try CommandRunner.run(["schema", "--kind", "tenant"], in: Self.root)
        #expect(byFile.stdout == result.stdout)
        let combined = try CommandRunner.run(["schema"], in: Self.root)
        #expect(combined.status == 0)
        #expect(combined.stdout == (try String(contentsOf: Self.root.appendingPathComponent("schemas/guardrail.json"), encoding: .utf8)))
    }

    @Test("an unknown --kind is an error that names the closest kind, or lists them all")
    func unknownKind() throws {
        let nope = try CommandRunner.run(["schema", "--kind", "Nope"], in: Self.root)
        #expect(nope.status == 1)
        #expect(nope.stdout.isEmpty)
        #expect(nope.stderr.hasPrefix("error: unknown kind \"Nope\"\n"), "\(nope.stderr)")
        #expect(
            nope.stderr.contains(
                "Known kinds: Environment, Tenant, Guardrail, FeatureFlag, BackupSchedule, RoleGrants, RowLevelSecurity, "
                    + "AlertRuleGroup, AlertRouting."), "\(nope.stderr)")
        let typo = try CommandRunner.run(["schema", "--kind", "Tennant"], in: Self.root)
        #expect(typo.status == 1)
        #expect(typo.stderr.contains("Did you mean \"Tenant\"?"), "\(typo.stderr)")
        let file = try CommandRunner.run(["schema", "--kind", "feature-flg", "--output", "/tmp"], in: Self.root)
        #expect(file.status == 1)
        #expect(file.stderr.contains("Did you mean \"FeatureFlag\"?"), "\(file.stderr)")
    }

    @Test("every example manifest in the repository validates against the generated schemas with jsonschema's Draft202012Validator")
    func examplesValidate() throws {
        let files = try Self.exampleManifests()
        #expect(files.contains("manifests/tenants.yaml"))
        #expect(files.contains("alerts/routing.yaml"))
        #expect(files.contains("examples/every-field/alerts/routing.yaml"))
        #expect(!files.contains("alerts/launch_test.yaml"))
        let (problems, documents) = try Self.validate(files, schemas: try Self.generatedSchemas(), in: Self.root)
        #expect(problems.isEmpty, "\(problems.map { "\($0.file)#\($0.document) [\($0.schema)] \($0.path): \($0.message)" }.joined(separator: "\n"))")
        #expect(documents >= 50, "only \(documents) documents were checked")
        // What the schemas accept there, validate accepts too.
        let validate = try CommandRunner.run(["validate", "--dir", "examples/every-field"], in: Self.root)
        #expect(validate.status == 0, "\(validate.output)")
    }

    @Test("the schemas refuse what validate refuses: an unknown key, a wrong type, a number out of range, an unknown kind, another method's key")
    func brokenManifestsAreRejected() throws {
        let files = [
            "manifests/tenants.yaml": """
            apiVersion: guardrail/v1
            kind: Tenant
            metadata: {name: acme}
            spec: {id: 3f6c1d2e-8a4b-4c1e-9a57-0d2f5b8e7c11, displayname: Acme}

            """,
            "manifests/flags.yaml": """
            apiVersion: guardrail/v1
            kind: FeatureFlag
            metadata: {name: channel.email}
            spec:
              enabled: "yes"
              rollout: {phases: [{percent: 150}]}

            """,
            "manifests/kinds.yaml": "apiVersion: guardrail/v1\nkind: Tennant\nmetadata: {name: x}\nspec: {}\n",
            "manifests/backups.yaml": """
            apiVersion: guardrail/v1
            kind: BackupSchedule
            metadata: {name: nightly}
            spec: {schedule: "0 2 * * *", timezone: UTC, type: full, retention: {keep: 3}, rpo: 1d}

            """,
            "alerts/api.yaml": "groups:\n  - name: api\n    rules:\n      - {alert: Down, expresion: up == 0}\n",
            "alerts/routing.yaml": """
            apiVersion: guardrail/v1
            kind: AlertRouting
            metadata: {name: r}
            spec:
              receivers: [{name: hook, webhook_configs: [{url: "https://hooks.example.com/T0"}]}]
              route: {receiver: hook}

            """,
            "environments/local.yaml": Fixtures.localEnvironmentYAML,
        ]
        let dir = try Fixtures.writeWorkspace(files: files)
        let paths = files.keys.sorted()
        let (problems, documents) = try Self.validate(paths, schemas: Self.root.appendingPathComponent("schemas"), in: dir)
        #expect(documents == files.count)
        func found(_ file: String, _ path: String, _ message: String) -> Bool {
            problems.contains { $0.file == file && $0.schema == "guardrail.json" && $0.path == path && $0.message.contains(message) }
        }
        let dump = problems.map { "\($0.file) [\($0.schema)] \($0.path): \($0.message)" }.joined(separator: "\n")
        #expect(found("manifests/tenants.yaml", "spec", "'displayname' was unexpected"), "\(dump)")
        #expect(found("manifests/flags.yaml", "spec/enabled", "is not of type 'boolean'"), "\(dump)")
        #expect(found("manifests/flags.yaml", "spec/rollout/phases/0/percent", "greater than the maximum of 100"), "\(dump)")
        #expect(found("manifests/kinds.yaml", "kind", "'Tennant' is not one of"), "\(dump)")
        #expect(found("manifests/backups.yaml", "spec", "does not allow 'full'"), "\(dump)")
        #expect(found("alerts/api.yaml", "groups/0/rules/0", "'expresion' was unexpected"), "\(dump)")
        #expect(found("alerts/routing.yaml", "spec/receivers/0/webhook_configs/0/url", "does not match"), "\(dump)")
        #expect(!problems.contains { $0.file == "environments/local.yaml" }, "\(dump)")
        // Each kind's own schema says the same.
        #expect(problems.contains { $0.file == "manifests/tenants.yaml" && $0.schema == "Tenant" })
        // And validate refuses every one of these files too.
        let validate = try CommandRunner.run(["validate"], in: dir)
        #expect(validate.status == 1)
        for path in paths where path != "environments/local.yaml" {
            #expect(validate.stderr.contains("\(path):"), "validate accepted \(path): \(validate.stderr)")
        }
    }
}
