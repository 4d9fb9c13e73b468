import Foundation
import GuardrailCore
import GuardrailTestSupport
import Testing

/// The route walk Guardrail computes from the manifest against Alertmanager's own answer: the same
/// configuration, rendered as Guardrail writes it, through `amtool check-config` and
/// `amtool config routes test`.
@Suite("Alert routing against amtool")
struct AlertRoutingAmtoolTests {
    static let amtool = ["/usr/bin/amtool", "/usr/local/bin/amtool"].first(where: FileManager.default.isExecutableFile)

    static let routingYAML = """
        apiVersion: guardrail/v1
        kind: AlertRouting
        metadata: {name: tree}
        spec:
          receivers:
        \(["root", "ops", "ops-pager", "ops-chat", "never-reached", "no-env", "not-prod"].map {
            "    - name: \($0)\n      webhook_configs: [{url: \"${HOOK_URL}\"}]"
        }.joined(separator: "\n"))
          route:
            receiver: root
            group_by: [alertname]
            routes:
              - matchers: [team=~"ops|infra"]
                receiver: ops
                routes:
                  - matchers: [severity="critical"]
                    receiver: ops-pager
                    continue: true
                  - matchers: [severity!="info"]
                    receiver: ops-chat
                  - matchers: [service!~"db.*"]
              - matchers: [team="ops"]
                receiver: never-reached
              - matchers: [env=""]
                receiver: no-env
                continue: true
              - matchers: [env!~"prod|staging"]
                receiver: not-prod

        """

    static let labelSets = [
        "team=ops,severity=critical", "team=infra,severity=warning", "team=ops,severity=info,service=web",
        "team=ops,severity=info,service=db1", "team=opsx,env=prod", "team=dev", "team=dev,env=production", "team=xops,env=staging",
        "severity=critical", "severity=warning",
    ]

    func check(_ yaml: String, labelSets: [String]) throws {
        guard let amtool = Self.amtool else {
            // scripts/test installs prometheus-alertmanager; a bare `swift test` without it skips this check.
            print("amtool is not installed; skipping the comparison with Alertmanager's route walk")
            return
        }
        let configuration = try Fixtures.configuration(["alerts/routing.yaml": yaml])
        let routing = try #require(configuration.alertRouting)
        let env = [
            "HOOK_URL": "http://127.0.0.1:9/hook", "SLACK_ALERTS_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/alerts",
            "SLACK_INCIDENTS_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/incidents", "PAGERDUTY_ROUTING_KEY": "0123456789abcdef",
        ]
        guard case .success(let text) = routing.alertmanagerConfiguration(resolving: env) else { Issue.record("not rendered"); return }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-routing-\(UUID().uuidString).yml")
        try Data(text.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let checked = try SystemCommand.run(amtool, ["check-config", file.path])
        #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
        for labels in labelSets {
            let args = ["config", "routes", "test", "--config.file=\(file.path)"] + labels.split(separator: ",").map(String.init)
            let result = try SystemCommand.run(amtool, args)
            #expect(result.status == 0, "\(result.stderr)")
            let theirs = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            guard case .success(let parsed) = AlertRouting.parseLabels(labels) else { Issue.record("labels \(labels)"); continue }
            #expect(routing.receivers(for: parsed).joined(separator: ",") == theirs, "\(labels)")
        }
    }

    @Test("every branch of a route tree reaches the receivers amtool reports")
    func treeMatchesAmtool() throws {
        try check(Self.routingYAML, labelSets: Self.labelSets)
    }

    @Test("the example routing reaches the receivers amtool reports")
    func exampleMatchesAmtool() throws {
        let yaml = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("alerts/routing.yaml"), encoding: .utf8)
        try check(yaml, labelSets: ["severity=critical", "severity=warning", "severity=info", "alertname=ServiceDown,severity=critical,team=ops"])
    }
}
