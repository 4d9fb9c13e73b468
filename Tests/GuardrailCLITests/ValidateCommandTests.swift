import Foundation
import GuardrailEngine
import GuardrailTestSupport
import Testing

@Suite("validate from the command line")
struct ValidateCommandTests {
    @Test("the example configuration validates offline with no database")
    func exampleConfigurationValidates() throws {
        let result = try CommandRunner.run(["validate"], in: Fixtures.repositoryRoot)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.hasPrefix("Configuration is valid:"))
    }

    @Test("--dir reads the configuration from another directory")
    func dirOption() throws {
        let result = try CommandRunner.run(["validate", "--dir", Fixtures.repositoryRoot.path], in: URL(fileURLWithPath: "/"))
        #expect(result.status == 0, "\(result.output)")
    }

    @Test("every problem in every file is reported in one run as file:line:column: error:, and the exit code is 1")
    func reportsEveryProblem() throws {
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/a.yaml": """
                apiVersion: guardrail/v1
                kind: Tenant
                metadata: {name: acme}
                spec: {id: not-a-uuid, displayname: Acme}
                ---
                apiVersion: guardrail/v1
                kind: Tennant
                metadata: {name: x}
                spec: {}

                """,
            "manifests/b.yaml": "apiVersion: guardrail/v1\nkind: Tenant\nmetadata: {name: b\nspec: {}\n",
            "environments/local.yaml": Fixtures.localEnvironmentYAML.replacingOccurrences(of: "lockTimeout: 5s", with: "lockTimeout: 5 seconds"),
        ])
        let result = try CommandRunner.run(["validate"], in: dir)
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n").filter { $0.contains(": error: ") }.map(String.init)
        #expect(lines.contains { $0.hasPrefix("environments/local.yaml:5:") && $0.contains("not a valid duration") })
        #expect(lines.contains { $0.hasPrefix("manifests/a.yaml:4:") && $0.contains("not a valid UUID") })
        #expect(lines.contains { $0.hasPrefix("manifests/a.yaml:4:") && $0.contains("unknown key \"displayname\"") })
        #expect(lines.contains { $0.hasPrefix("manifests/a.yaml:7:7:") && $0.contains("unknown kind \"Tennant\"") })
        #expect(lines.contains { $0.hasPrefix("manifests/b.yaml:") && $0.contains("YAML syntax error") })
        #expect(result.stderr.contains("Did you mean \"displayName\"?"))
        #expect(result.stderr.contains("Did you mean \"Tenant\"?"))
        #expect(!result.stderr.contains("Fatal error"))
    }

    @Test("a 40,000-deep flow list fails validate at file:line:column instead of crashing it")
    func deepNestingIsAnErrorNotACrash() throws {
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/deep.yaml": "x: " + String(repeating: "[", count: 40_000) + String(repeating: "]", count: 40_000) + "\n",
        ])
        let result = try CommandRunner.run(["validate"], in: dir)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stderr.contains("manifests/deep.yaml:1:67: error: YAML nested deeper than 64 levels"), "\(result.stderr)")
    }

    @Test("--max-file-size refuses a larger file with its size and the flag; a bad size is a usage error")
    func maxFileSizeFlag() throws {
        let dir = try Fixtures.writeWorkspace(files: ["manifests/tenants.yaml": Fixtures.tenantsYAML(count: 20)])
        let size = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("manifests/tenants.yaml").path)[.size] as! Int
        #expect(size > 2048)
        let refused = try CommandRunner.run(["validate", "--max-file-size", "2KiB"], in: dir)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("manifests/tenants.yaml:1:1: error: manifests/tenants.yaml is larger than the 2 KiB limit for a manifest file"), "\(refused.stderr)")
        #expect(try CommandRunner.run(["validate", "--max-file-size", "\(size)"], in: dir).status == 0)
        let bad = try CommandRunner.run(["validate", "--max-file-size", "lots"], in: dir)
        #expect(bad.status != 0, "\(bad.output)")
        #expect(bad.stderr.contains("--max-file-size"), "\(bad.stderr)")
    }

    @Test("a drift mode for an unknown kind is a reference error at its key, with a suggestion")
    func unknownDriftKindIsReported() throws {
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 1),
            "environments/local.yaml": Fixtures.localEnvironmentYAML + "  controller: {drift: {tenants: enforce}}\n",
        ])
        let result = try CommandRunner.run(["validate"], in: dir)
        #expect(result.status == 1)
        #expect(result.stderr.contains("environments/local.yaml:6:24: error: controller.drift names an unknown kind \"tenants\""), "\(result.stderr)")
        #expect(result.stderr.contains("Did you mean \"tenant\"?"))
    }

    @Test("rule files are checked with promtool when it is installed, and its failures land on the rule's file:line:column")
    func promtoolChecksRuleFiles() throws {
        let dir = try Fixtures.writeWorkspace(files: [
            "alerts/launch.yaml": """
                groups:
                  - name: api
                    rules:
                      - alert: Good
                        expr: up == 0
                      - alert: BadTemplate
                        expr: up == 0
                        annotations: {summary: "{{ $value | nosuchfunction }}"}

                """,
            "environments/local.yaml": Fixtures.localEnvironmentYAML,
        ])
        let result = try CommandRunner.run(["validate"], in: dir)
        if Promtool.path == nil {
            #expect(result.status == 0, "\(result.output)")
            #expect(result.stdout.contains("promtool is not installed"), "\(result.output)")
            return
        }
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stderr.contains("alerts/launch.yaml:6:16: error: promtool check rules: group \"api\", rule 2, \"BadTemplate\""), "\(result.output)")
        #expect(result.stderr.contains("function \"nosuchfunction\" not defined"), "\(result.output)")

        try Data("groups:\n  - name: api\n    rules:\n      - alert: Good\n        expr: up == 0\n".utf8).write(to: dir.appendingPathComponent("alerts/launch.yaml"))
        let fixed = try CommandRunner.run(["validate"], in: dir)
        #expect(fixed.status == 0, "\(fixed.output)")
        #expect(fixed.stdout.contains("promtool check rules: 1 rule file OK."), "\(fixed.output)")
    }
}
