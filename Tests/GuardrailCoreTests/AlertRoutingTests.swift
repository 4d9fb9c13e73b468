import Foundation
import Testing
@testable import GuardrailCore

/// Alertmanager routing as a kind: strict decoding with exact locations, secrets only from `${VAR}`,
/// the semantic comparison the plan makes, the configuration it renders, and the route walk.
@Suite("Alert routing")
struct AlertRoutingTests {
    static let path = "alerts/routing.yaml"
    static var example: String {
        get throws {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            return try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
        }
    }

    // Line numbers below are counted in this text.
    static func document(
        receivers: String = """
            - name: ops
              webhook_configs:
                - url: ${OPS_WEBHOOK_URL}
            - name: chat
              slack_configs:
                - api_url: ${SLACK_URL}
                  channel: "#alerts"
        """,
        route: String = """
          receiver: chat
          routes:
            - matchers: ['severity="critical"']
              receiver: ops
        """
    ) -> String {
        """
        apiVersion: guardrail/v1
        kind: AlertRouting
        metadata:
          name: test
        spec:
          receivers:
        \(receivers)
          route:
        \(route.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))

        """
    }

    static func routing(_ text: String) throws -> AlertRouting {
        let (configuration, diagnostics) = load(path, text)
        #expect(diagnostics.isEmpty, "\(located(diagnostics))")
        return try #require(configuration.alertRouting)
    }

    static func problems(_ text: String) -> [Diagnostic] {
        let (configuration, diagnostics) = load(path, text)
        #expect(configuration.alertRouting == nil)
        return diagnostics
    }

    @Test("the example routing decodes beside the rule files, which stay rule files")
    func exampleDecodes() throws {
        let rules = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("alerts/launch.yaml"), encoding: .utf8)
        let (configuration, diagnostics) = load([(Self.path, try Self.example), ("alerts/launch.yaml", rules)])
        #expect(located(diagnostics) == [])
        let routing = try #require(configuration.alertRouting)
        #expect(routing.receivers.map(\.name) == ["slack-alerts", "pagerduty-ops-oncall", "slack-incidents"])
        #expect(routing.route.routes.count == 3)
        #expect(routing.inhibitRules.count == 1)
        #expect(configuration.ruleGroups.map(\.name) == ["launch.api", "launch.pipeline"])
        #expect(
            routing.secrets.map(\.path) == [
                "receivers.slack-alerts.slack_configs[0].api_url",
                "receivers.pagerduty-ops-oncall.pagerduty_configs[0].routing_key",
                "receivers.slack-incidents.slack_configs[0].api_url",
            ])
    }

    @Test("attack: a literal secret in the file is refused at its line, and the message does not repeat it")
    func literalSecretRefused() {
        let leaked = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
        for value in [leaked, "${SLACK_URL:-\(leaked)}", "\(leaked)?token=${TOKEN}"] {
            let text = Self.document(
                receivers: """
                        - name: chat
                          slack_configs:
                            - api_url: "\(value)"
                              channel: "#alerts"
                    """)
            let diagnostics = Self.problems(text)
            #expect(
                located(diagnostics) == [
                    "alerts/routing.yaml:9:20: receiver \"chat\" slack_configs[0].api_url is a secret and must come from the process environment"
                ],
                "\(value)")
            #expect(!diagnostics.contains { $0.description.contains("XXXXSECRET") })
        }
    }

    @Test("attack: a route naming an unknown receiver is refused with a suggestion")
    func unknownReceiverRefused() {
        let text = Self.document(
            route: """
                  receiver: chat
                  routes:
                    - matchers: ['severity="critical"']
                      receiver: opz
                """)
        let diagnostics = Self.problems(text)
        #expect(located(diagnostics) == ["alerts/routing.yaml:18:19: route names an unknown receiver \"opz\""])
        #expect(diagnostics.first?.detail.hasPrefix("Did you mean \"ops\"?") == true)
    }

    @Test("unknown keys, bad matchers, bad durations and a root without a receiver are each reported at their place")
    func strictDecoding() {
        let text = Self.document(
            receivers: """
                    - name: ops
                      webhook_configs:
                        - url: ${OPS_WEBHOOK_URL}
                          send_resolve: true
                """,
            route: """
                  group_wait: soon
                  routes:
                    - matchers: ['severity=="critical"', 'team=~"(ops"']
                      receiver: ops
                      grop_by: [alertname]
                """)
        let diagnostics = Self.problems(text)
        #expect(
            located(diagnostics) == [
                "alerts/routing.yaml:10:11: unknown key \"send_resolve\" in receiver \"ops\" webhook_configs[0]",
                "alerts/routing.yaml:12:5: the root route needs a receiver",
                "alerts/routing.yaml:12:17: route.group_wait is not a valid duration",
                "alerts/routing.yaml:14:20: invalid matcher \"severity==\"critical\"\" in route.routes[0].matchers",
                "alerts/routing.yaml:14:44: invalid matcher \"team=~\"(ops\"\" in route.routes[0].matchers",
                "alerts/routing.yaml:16:9: unknown key \"grop_by\" in route.routes[0]",
            ])
        #expect(diagnostics.first?.detail.hasPrefix("Did you mean \"send_resolved\"?") == true)
        #expect(diagnostics.last?.detail.hasPrefix("Did you mean \"group_by\"?") == true)
    }

    @Test("attack: an AlertRouting outside alerts/ and a second routing are refused")
    func placement() {
        let (_, misplaced) = load("manifests/routing.yaml", Self.document())
        #expect(located(misplaced) == ["manifests/routing.yaml:2:7: AlertRouting document in manifests/"])
        let (_, twice) = load([(Self.path, Self.document()), ("alerts/more.yaml", Self.document())])
        #expect(located(twice) == ["alerts/routing.yaml:4:9: duplicate AlertRouting name \"test\""])
    }

    @Test("the plan compares semantically: durations, matcher order, group_by order and maps do not make a change")
    func semanticComparison() throws {
        let a = try Self.routing(
            Self.document(
                route: """
                      receiver: chat
                      group_wait: 90s
                      group_by: [job, alertname]
                      routes:
                        - matchers: ['severity="critical"', team=~"ops|infra"]
                          receiver: ops
                          repeat_interval: 60m
                    """))
        let b = try Self.routing(
            Self.document(
                route: """
                      receiver: chat
                      group_wait: 1m30s
                      group_by: [alertname, job]
                      group_interval: 5m
                      repeat_interval: 4h
                      routes:
                        - matchers: ['team=~"ops|infra"', 'severity = critical']
                          receiver: ops
                          repeat_interval: 1h
                    """))
        #expect(AlertRouting.changes(desired: a, live: b, secretsChanged: false) == [])
        var moved = b
        moved.route.routes[0].repeatInterval = .seconds(7200)
        let change = try #require(AlertRouting.changes(desired: a, live: moved, secretsChanged: false).first)
        #expect(change.action == .update)
        #expect(change.reason == "route.routes[0] differs from the configuration")
    }

    @Test("secrets print as *** and a changed secret shows only as changed")
    func secretsMasked() throws {
        let routing = try Self.routing(Self.document())
        let change = try #require(AlertRouting.changes(desired: routing, live: routing, secretsChanged: true).first)
        #expect(change.reason == "secrets differs from the configuration")
        #expect(change.after?["secrets"] == .string("*** (changed since the last apply)"))
        #expect(change.after?["receivers.chat"]?.description.contains("api_url = \"***\"") == true)
        let env = ["OPS_WEBHOOK_URL": "http://127.0.0.1:1/hook?token=abc", "SLACK_URL": "https://hooks.slack.com/services/SECRET"]
        let digest = try #require(routing.secretDigest(resolving: env))
        var changed = env
        changed["SLACK_URL"] = "https://hooks.slack.com/services/OTHER"
        #expect(routing.secretDigest(resolving: changed) != digest)
        #expect(routing.secretDigest(resolving: env) == digest)
        #expect(routing.secretDigest(resolving: [:]) == nil)
        #expect(!routing.attributes(secretsChanged: true).description.contains("SECRET"))
    }

    @Test("the rendered configuration holds the resolved secrets, Alertmanager's field names and the matchers as written")
    func renders() throws {
        let routing = try Self.routing(Self.document())
        let env = ["OPS_WEBHOOK_URL": "http://127.0.0.1:1/hook", "SLACK_URL": "https://hooks.slack.com/services/X"]
        guard case .success(let text) = routing.alertmanagerConfiguration(resolving: env) else { Issue.record("not rendered"); return }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(text.split(separator: "\n", maxSplits: 1)[1].utf8)) as? [String: Any])
        let route = try #require(json["route"] as? [String: Any])
        #expect(route["receiver"] as? String == "chat")
        #expect(((route["routes"] as? [[String: Any]])?.first?["matchers"] as? [String]) == ["severity=\"critical\""])
        #expect(text.contains("\"url\" : \"http://127.0.0.1:1/hook\""))
        guard case .failure(let missing) = routing.alertmanagerConfiguration(resolving: ["SLACK_URL": "x"]) else { Issue.record("rendered"); return }
        #expect(missing.summary == "environment variable OPS_WEBHOOK_URL is not set")
    }

    @Test("the rendered file is JSON with sorted keys, two-space indents and unescaped slashes, byte for byte")
    func renderedLayout() throws {
        let routing = try Self.routing(Self.document())
        let env = ["OPS_WEBHOOK_URL": "http://127.0.0.1:1/hook?a=\"b\"", "SLACK_URL": "https://hooks.slack.com/services/X"]
        guard case .success(let text) = routing.alertmanagerConfiguration(resolving: env) else { Issue.record("not rendered"); return }
        #expect(
            text == #"""
                # Written by Guardrail from alerts/routing.yaml; edits here are overwritten by the next apply.
                {
                  "receivers" : [
                    {
                      "name" : "ops",
                      "webhook_configs" : [
                        {
                          "url" : "http://127.0.0.1:1/hook?a=\"b\""
                        }
                      ]
                    },
                    {
                      "name" : "chat",
                      "slack_configs" : [
                        {
                          "api_url" : "https://hooks.slack.com/services/X",
                          "channel" : "#alerts"
                        }
                      ]
                    }
                  ],
                  "route" : {
                    "receiver" : "chat",
                    "routes" : [
                      {
                        "matchers" : [
                          "severity=\"critical\""
                        ],
                        "receiver" : "ops"
                      }
                    ]
                  }
                }

                """#)
    }

    struct RouteCase: Sendable, CustomTestStringConvertible {
        var labels: String
        var receivers: [String]
        var testDescription: String { labels }
    }

    static let routeCases: [RouteCase] = [
        RouteCase(labels: "severity=critical", receivers: ["pagerduty-ops-oncall", "slack-incidents"]),
        RouteCase(labels: "severity=critical,team=ops", receivers: ["pagerduty-ops-oncall", "slack-incidents"]),
        RouteCase(labels: "severity=warning", receivers: ["slack-alerts"]),
        RouteCase(labels: "severity=info", receivers: ["slack-alerts"]),
        RouteCase(labels: "", receivers: ["slack-alerts"]),
    ]

    @Test("the example routes critical to PagerDuty and #incidents, warnings to #alerts", arguments: routeCases)
    func exampleRoutes(_ c: RouteCase) throws {
        let routing = try Self.routing(try Self.example)
        guard case .success(let labels) = AlertRouting.parseLabels(c.labels) else { Issue.record("labels"); return }
        #expect(routing.receivers(for: labels) == c.receivers)
    }

    static let tree = """
          receiver: root
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

    static let treeCases: [RouteCase] = [
        RouteCase(labels: "team=ops,severity=critical", receivers: ["ops-pager", "ops-chat"]),
        RouteCase(labels: "team=infra,severity=warning", receivers: ["ops-chat"]),
        RouteCase(labels: "team=ops,severity=info,service=web", receivers: ["ops"]),
        RouteCase(labels: "team=ops,severity=info,service=db1", receivers: ["ops"]),
        RouteCase(labels: "team=opsx,env=prod", receivers: ["root"]),
        RouteCase(labels: "team=dev", receivers: ["no-env", "not-prod"]),
        RouteCase(labels: "team=dev,env=production", receivers: ["not-prod"]),
        RouteCase(labels: "team=xops,env=staging", receivers: ["root"]),
    ]

    @Test(
        "the route walk: first match wins unless continue, =, !=, =~ and !~ with anchored regexes, inherited receivers",
        arguments: treeCases)
    func routeWalk(_ c: RouteCase) throws {
        let receivers = ["root", "ops", "ops-pager", "ops-chat", "never-reached", "no-env", "not-prod"].map {
            "    - name: \($0)\n      webhook_configs: [{url: \"${HOOK}\"}]"
        }.joined(separator: "\n")
        let routing = try Self.routing(Self.document(receivers: receivers, route: Self.tree))
        guard case .success(let labels) = AlertRouting.parseLabels(c.labels) else { Issue.record("labels"); return }
        #expect(routing.receivers(for: labels) == c.receivers)
    }

    @Test("--labels text: pairs split on commas; a pair without = or a bad name is refused")
    func labelParsing() {
        guard case .success(let ok) = AlertRouting.parseLabels("severity=critical,team=ops,empty=") else { Issue.record("refused"); return }
        #expect(ok == ["severity": "critical", "team": "ops", "empty": ""])
        for bad in ["severity", "1x=y", "a=b,a=c"] {
            guard case .failure = AlertRouting.parseLabels(bad) else { Issue.record("accepted \(bad)"); continue }
        }
    }
}

/// The routing in the plan: planned only where the environment names an Alertmanager, and checked
/// for staleness like every other object.
@Suite("Alert routing in the plan")
struct AlertRoutingPlanTests {
    static func configuration() throws -> Configuration {
        let (configuration, diagnostics) = load(AlertRoutingTests.path, AlertRoutingTests.document())
        #expect(diagnostics.isEmpty)
        return configuration
    }

    @Test("without an Alertmanager the routing is not planned, and the plan says so")
    func unmanaged() throws {
        let plan = PlanBuilder.plan(
            desired: try Self.configuration(), live: LiveState(schemaVersion: 11),
            context: PlanBuilder.Context(environment: "ci", planID: "p", createdAt: "t"))
        #expect(plan.changes.isEmpty)
        #expect(plan.notes == ["Environment \"ci\" has no alertmanager, so alerts/routing.yaml is not planned."])
    }

    @Test("a managed routing is compared, and a saved plan goes stale when the running routing changes")
    func managedAndStale() throws {
        let desired = try Self.configuration()
        var context = PlanBuilder.Context(environment: "ci", planID: "p", createdAt: "t")
        context.managesRouting = true
        var live = LiveState(schemaVersion: 11)
        var running = try #require(desired.alertRouting)
        running.route.groupWait = .seconds(5)
        live.alertRouting = running
        let plan = PlanBuilder.plan(desired: desired, live: live, context: context)
        #expect(plan.changes.map(\.address.description) == ["routing.alertmanager"])
        #expect(plan.compared[AlertRouting.kind] == 1)
        #expect(PlanBuilder.staleness(of: plan, against: live) == nil)
        var moved = live
        moved.alertRouting?.route.groupWait = .seconds(7)
        #expect(PlanBuilder.staleness(of: plan, against: moved)?.address == "routing.alertmanager")
        live.alertRouting = desired.alertRouting
        #expect(PlanBuilder.plan(desired: desired, live: live, context: context).changes.isEmpty)
    }
}
