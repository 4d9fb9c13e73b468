import Foundation
import GuardrailEngine
import GuardrailTestSupport
import Testing

@Suite("validate from the command line")
struct ValidateCommandTests {
    @Test("the example configuration validates offline with no database")
    func exampleConfigurationValidates() async throws {
        let result = try await InProcess.run(["validate"], in: Fixtures.repositoryRoot)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.hasPrefix("Configuration is valid:"))
    }

    @Test("--dir reads the configuration from another directory")
    func dirOption() async throws {
        let result = try await InProcess.run(["validate", "--dir", Fixtures.repositoryRoot.path], in: URL(fileURLWithPath: "/"))
        #expect(result.status == 0, "\(result.output)")
    }

    @Test("every problem in every file is reported in one run as file:line:column: error:, and the exit code is 1")
    func reportsEveryProblem() async throws {
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
        let result = try await InProcess.run(["validate"], in: dir)
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
    func deepNestingIsAnErrorNotACrash() async throws {
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/deep.yaml": "x: " + String(repeating: "[", count: 40_000) + String(repeating: "]", count: 40_000) + "\n"
        ])
        let result = try await InProcess.run(["validate"], in: dir)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stderr.contains("manifests/deep.yaml:1:67: error: YAML nested deeper than 64 levels"), "\(result.stderr)")
    }

    @Test("--max-file-size refuses a larger file with its size and the flag; a bad size is a usage error")
    func maxFileSizeFlag() async throws {
        let dir = try Fixtures.writeWorkspace(files: ["manifests/tenants.yaml": Fixtures.tenantsYAML(count: 20)])
        let size = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("manifests/tenants.yaml").path)[.size] as! Int
        #expect(size > 2048)
        let refused = try await InProcess.run(["validate", "--max-file-size", "2KiB"], in: dir)
        #expect(refused.status == 1)
        #expect(
            refused.stderr.contains("manifests/tenants.yaml:1:1: error: manifests/tenants.yaml is larger than the 2 KiB limit for a manifest file"),
            "\(refused.stderr)")
        #expect(try await InProcess.run(["validate", "--max-file-size", "\(size)"], in: dir).status == 0)
        let bad = try await InProcess.run(["validate", "--max-file-size", "lots"], in: dir)
        #expect(bad.status != 0, "\(bad.output)")
        #expect(bad.stderr.contains("--max-file-size"), "\(bad.stderr)")
    }

    @Test("a drift mode for an unknown kind is a reference error at its key, with a suggestion")
    func unknownDriftKindIsReported() async throws {
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 1),
            "environments/local.yaml": Fixtures.localEnvironmentYAML + "  controller: {drift: {tenants: enforce}}\n",
        ])
        let result = try await InProcess.run(["validate"], in: dir)
        #expect(result.status == 1)
        #expect(result.stderr.contains("environments/local.yaml:6:24: error: controller.drift names an unknown kind \"tenants\""), "\(result.stderr)")
        #expect(result.stderr.contains("Did you mean \"tenant\"?"))
    }

    @Test("rule files are checked with promtool when it is installed, and its failures land on the rule's file:line:column")
    func promtoolChecksRuleFiles() async throws {
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
        let result = try await InProcess.run(["validate"], in: dir)
        if Promtool.path == nil {
            #expect(result.status == 0, "\(result.output)")
            #expect(result.stdout.contains("promtool is not installed"), "\(result.output)")
            return
        }
        #expect(result.status == 1, "\(result.output)")
        #expect(
            result.stderr.contains("alerts/launch.yaml:6:16: error: promtool check rules: group \"api\", rule 2, \"BadTemplate\""), "\(result.output)"
        )
        #expect(result.stderr.contains("function \"nosuchfunction\" not defined"), "\(result.output)")

        try Data("groups:\n  - name: api\n    rules:\n      - alert: Good\n        expr: up == 0\n".utf8).write(
            to: dir.appendingPathComponent("alerts/launch.yaml"))
        let fixed = try await InProcess.run(["validate"], in: dir)
        #expect(fixed.status == 0, "\(fixed.output)")
        #expect(fixed.stdout.contains("promtool check rules: 1 rule file OK."), "\(fixed.output)")
    }

    @Test("rule unit tests (alerts/*_test.yaml) are not decoded as rule files; promtool test rules runs them and a failure lands on the test's line")
    func promtoolRunsRuleTests() async throws {
        let rules = "groups:\n  - name: api\n    rules:\n      - alert: Down\n        expr: up == 0\n        labels: {severity: critical}\n"
        // Line numbers below are counted in this text.
        let test = """
            rule_files: [launch.yaml]
            tests:
              - name: down fires
                interval: 1m
                input_series:
                  - {series: 'up{job="a"}', values: '0 0 0'}
                alert_rule_test:
                  - eval_time: 2m
                    alertname: Down
                    exp_alerts: [{exp_labels: {severity: critical, job: a}}]

            """
        let dir = try Fixtures.writeWorkspace(files: [
            "alerts/launch.yaml": rules, "alerts/launch_test.yaml": test,
            "environments/local.yaml": Fixtures.localEnvironmentYAML,
        ])
        let passing = try await InProcess.run(["validate"], in: dir)
        #expect(passing.status == 0, "\(passing.output)")
        if Promtool.path == nil {
            #expect(passing.stdout.contains("the rule unit tests in alerts/launch_test.yaml did not run"), "\(passing.output)")
            return
        }
        #expect(passing.stdout.contains("promtool check rules: 1 rule file OK."), "\(passing.output)")
        #expect(passing.stdout.contains("promtool test rules: 1 test file passed."), "\(passing.output)")

        try Data(test.replacingOccurrences(of: "severity: critical, job: a", with: "severity: warning, job: a").utf8)
            .write(to: dir.appendingPathComponent("alerts/launch_test.yaml"))
        let failing = try await InProcess.run(["validate"], in: dir)
        #expect(failing.status == 1, "\(failing.output)")
        #expect(
            failing.stderr.contains("alerts/launch_test.yaml:3:1: error: promtool test rules: test \"down fires\": alertname: Down failed"),
            "\(failing.output)")
        #expect(failing.stderr.contains("severity=\"critical\""), "\(failing.output)")
    }

    @Test("the example configuration's rule unit tests pass")
    func exampleRuleTests() async throws {
        guard Promtool.path != nil else { return }
        let result = try await InProcess.run(["validate"], in: Fixtures.repositoryRoot)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("promtool test rules: 2 test files passed."), "\(result.output)")
    }
}
