import Foundation
import GuardrailCore
@testable import GuardrailEngine
import GuardrailTestSupport
import Testing

/// Alert routing against a real Alertmanager (Debian's package): plan through the API, apply with a
/// confirmed load, an empty plan after; a changed secret noticed through the recorded digest; and
/// refusals (amtool's and Alertmanager's own) that leave the previous file running.
/// Each test runs its own Alertmanager, since reloads are global.
@Suite(
    "Alert routing on a real Alertmanager", .serialized,
    .enabled(
        if: TestPostgres.isAvailable && (PrivateAlertmanager.binary != nil || TestPostgres.required),
        "needs the Postgres and the Alertmanager package that scripts/test provides"))
struct AlertRoutingAlertmanagerTests {
    static let routing = """
        apiVersion: guardrail/v1
        kind: AlertRouting
        metadata: {name: test}
        spec:
          receivers:
            - name: chat
              slack_configs:
                - api_url: ${TEST_SLACK_URL}
                  channel: "#alerts"
                  send_resolved: true
            - name: pager
              pagerduty_configs:
                - routing_key: ${TEST_PAGERDUTY_KEY}
            - name: hook
              webhook_configs:
                - url: ${TEST_HOOK_URL}
          route:
            receiver: chat
            group_by: [alertname]
            group_wait: 10s
            routes:
              - matchers: ['severity="critical"']
                receiver: pager
                continue: true
              - matchers: [severity="critical", team=~"ops|infra"]
                receiver: hook
          inhibit_rules:
            - source_matchers: ['severity="critical"']
              target_matchers: ['severity="warning"']
              equal: [alertname]

        """

    static let secrets = [
        "TEST_SLACK_URL": "https://hooks.slack.com/services/T0/B0/first-secret",
        "TEST_PAGERDUTY_KEY": "0123456789abcdef0123456789abcdef",
        "TEST_HOOK_URL": "http://127.0.0.1:9/hook?token=hook-secret",
    ]

    struct Fixture {
        var db: TestDatabase
        var alertmanager: PrivateAlertmanager

        func environment(_ variables: [String: String] = AlertRoutingAlertmanagerTests.secrets, amtool: Bool = true) -> ResolvedEnvironment {
            var environment = db.environment()
            var target = AlertmanagerTarget(baseURL: alertmanager.url, configFile: alertmanager.configFile, variables: variables)
            target.confirmTimeout = 20
            if !amtool { target.amtool = nil }
            environment.alertmanager = target
            return environment
        }

        /// Plans and, when `apply`, applies in one locked session, as `guardrail apply` does.
        func run(_ files: [String: String], environment: ResolvedEnvironment, apply: Bool) async throws -> (Plan, Session.ApplyReport?) {
            let session = try await db.lockedSession(environment)
            do {
                let plan = try await session.plan(try Fixtures.configuration(files), checkRules: false)
                let report = apply && plan.hasChanges ? try await session.apply(plan, overrides: HazardOverrides(), osUser: "tester") : nil
                await session.close()
                return (plan, report)
            } catch {
                await session.close()
                throw error
            }
        }

        var file: String { (try? String(contentsOfFile: alertmanager.configFile, encoding: .utf8)) ?? "" }

        func cleanUp() async {
            alertmanager.stop()
            await db.drop()
        }
    }

    func fixture() async throws -> Fixture {
        Fixture(db: try await TestPostgres.createDatabase(), alertmanager: try await PrivateAlertmanager.start())
    }

    @Test("plan reads the running configuration, apply writes 0600 and confirms the load, and a fresh plan is empty")
    func applyConverges() async throws {
        let f = try await fixture()
        let files = ["alerts/routing.yaml": Self.routing]
        let (first, report) = try await f.run(files, environment: f.environment(), apply: true)
        let change = try #require(first.changes.first { $0.kind == AlertRouting.kind })
        #expect(change.action == .update)
        #expect(change.address.description == "routing.alertmanager")
        // Secrets never reach the plan: not in the text, not in the saved JSON.
        let rendered = TextPlanRenderer(color: false).render(first) + (try JSONPlanRenderer.render(first))
        for secret in Self.secrets.values { #expect(!rendered.contains(secret)) }
        #expect(change.after?["secrets"] == .string("*** (changed since the last apply)"))
        #expect(report?.alertSteps.contains("Alertmanager runs the configuration as written") == true, "\(report?.alertSteps ?? [])")
        let attributes = try FileManager.default.attributesOfItem(atPath: f.alertmanager.configFile)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(f.file.contains("first-secret"))

        let (second, _) = try await f.run(files, environment: f.environment(), apply: false)
        #expect(second.changes.isEmpty, "\(second.changes.map { "\($0.address) \($0.reason)" })")
        #expect(second.compared[AlertRouting.kind] == 1)
        await f.cleanUp()
    }

    @Test("a changed secret is noticed through the recorded digest, applied, and then converges")
    func changedSecretIsPlanned() async throws {
        let f = try await fixture()
        let files = ["alerts/routing.yaml": Self.routing]
        _ = try await f.run(files, environment: f.environment(), apply: true)
        var rotated = Self.secrets
        rotated["TEST_SLACK_URL"] = "https://hooks.slack.com/services/T0/B0/rotated-secret"
        let (plan, report) = try await f.run(files, environment: f.environment(rotated), apply: true)
        let change = try #require(plan.changes.first)
        #expect(change.reason == "secrets differs from the configuration")
        #expect(report != nil)
        #expect(f.file.contains("rotated-secret"))
        let (again, _) = try await f.run(files, environment: f.environment(rotated), apply: false)
        #expect(again.changes.isEmpty, "\(again.changes.map(\.reason))")
        await f.cleanUp()
    }

    @Test("a semantic edit (durations spelled otherwise, matchers reordered) plans nothing; a real edit plans one change")
    func semanticPlan() async throws {
        let f = try await fixture()
        _ = try await f.run(["alerts/routing.yaml": Self.routing], environment: f.environment(), apply: true)
        let respelled = Self.routing.replacingOccurrences(of: "group_wait: 10s", with: "group_wait: 10000ms")
            .replacingOccurrences(of: "[severity=\"critical\", team=~\"ops|infra\"]", with: "['team=~\"ops|infra\"', severity = critical]")
        let (same, _) = try await f.run(["alerts/routing.yaml": respelled], environment: f.environment(), apply: false)
        #expect(same.changes.isEmpty, "\(same.changes.map(\.reason))")
        let edited = Self.routing.replacingOccurrences(of: "group_wait: 10s", with: "group_wait: 20s")
        let (plan, _) = try await f.run(["alerts/routing.yaml": edited], environment: f.environment(), apply: false)
        #expect(plan.changes.map(\.reason) == ["route differs from the configuration"])
        await f.cleanUp()
    }

    @Test("attack: a configuration Alertmanager refuses on reload restores the previous file, reloads it, and fails with Alertmanager's reason")
    func refusedReloadIsRolledBack() async throws {
        let f = try await fixture()
        let files = ["alerts/routing.yaml": Self.routing]
        _ = try await f.run(files, environment: f.environment(), apply: true)
        let before = f.file
        var broken = Self.secrets
        broken["TEST_SLACK_URL"] = "not a url"
        do {
            _ = try await f.run(files, environment: f.environment(broken, amtool: false), apply: true)
            Issue.record("the apply should have failed")
        } catch {
            let text = "\(error)"
            #expect(text.contains("Alertmanager refused the configuration"), "\(text)")
            #expect(text.contains("The previous \(f.alertmanager.configFile) was restored and Alertmanager reloaded it."), "\(text)")
            #expect(!text.contains("hook-secret"))
        }
        #expect(f.file == before)
        // Alertmanager still runs the previous configuration, so nothing is left to plan.
        let (after, _) = try await f.run(files, environment: f.environment(), apply: false)
        #expect(after.changes.isEmpty, "\(after.changes.map(\.reason))")
        await f.cleanUp()
    }

    @Test("attack: amtool check-config refuses a bad configuration before the file is touched")
    func amtoolRefusesFirst() async throws {
        guard AlertmanagerTarget.amtoolPath != nil else { return }
        let f = try await fixture()
        let before = f.file
        var broken = Self.secrets
        broken["TEST_SLACK_URL"] = "not a url"
        do {
            _ = try await f.run(["alerts/routing.yaml": Self.routing], environment: f.environment(broken), apply: true)
            Issue.record("the apply should have failed")
        } catch {
            #expect("\(error)".contains("amtool check-config refuses the rendered configuration"), "\(error)")
        }
        #expect(f.file == before)
        await f.cleanUp()
    }

    @Test("attack: a saved plan made for one Alertmanager is refused against another")
    func savedPlanBoundToAlertmanager() async throws {
        let f = try await fixture()
        let digest = try #require(try Fixtures.configuration(["alerts/routing.yaml": Self.routing]).digest)
        let session = try await Session.open(f.environment(), applicationName: "test")
        let here = try await session.binding(targets: [], configuration: digest)
        await session.close()
        #expect(here.alerts == "Alertmanager at \(f.alertmanager.url) (configuration file \(f.alertmanager.configFile))")
        var elsewhere = here
        elsewhere.alerts = "Alertmanager at http://127.0.0.1:1 (configuration file /etc/alertmanager/alertmanager.yml)"
        #expect(here.targetMismatch(elsewhere)?.contains("http://127.0.0.1:1") == true)
        #expect(throws: (any Error).self) { try SavedPlanRefusal.checkBinding(here, against: elsewhere) }
        await f.cleanUp()
    }
}
