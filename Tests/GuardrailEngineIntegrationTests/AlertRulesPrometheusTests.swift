import Foundation
import GuardrailCore
@testable import GuardrailEngine
import GuardrailTestSupport
import Testing

/// Alert rules against a real Prometheus (Debian's package): plan, apply, a load confirmed through
/// the rules API, an empty plan after; refused expressions, a reload failure rolled back, and only
/// Guardrail's own directory touched. Each test runs its own Prometheus, since reloads are global.
@Suite(
    "Alert rules on a real Prometheus", .serialized,
    .enabled(if: TestPrometheus.isAvailable, "needs the Postgres and Prometheus that scripts/test starts"))
struct AlertRulesPrometheusTests {
    static let rules = """
        groups:
          - name: api
            interval: 30s
            rules:
              - record: job:up:sum
                expr: sum by (job) (up)
              - alert: ServiceDown
                expr: up{job="realestate-api"} == 0
                for: 1m
                labels: {severity: critical}
                annotations: {summary: "{{ $labels.instance }} is down"}
          - name: pipeline
            rules:
              - alert: DLQDepth
                expr: dlq_depth > 0
                for: 5m
                labels: {severity: warning}

        """

    static let backups = """
        apiVersion: guardrail/v1
        kind: BackupSchedule
        metadata: {name: nightly}
        spec: {schedule: "0 2 * * *", timezone: UTC, method: pg_dump, retention: {keep: 3}, rpo: 26h}

        """

    struct Fixture {
        var db: TestDatabase
        var prometheus: PrivatePrometheus
        var environment: ResolvedEnvironment

        func session() async throws -> Session { try await db.lockedSession(environment) }

        func plan(_ files: [String: String]) async throws -> Plan {
            let session = try await Session.open(environment, applicationName: "test")
            defer { Task { await session.close() } }
            return try await session.plan(try Fixtures.configuration(files))
        }

        func apply(_ plan: Plan, overrides: HazardOverrides = HazardOverrides()) async throws -> Session.ApplyReport {
            let session = try await session()
            do {
                let report = try await session.apply(plan, overrides: overrides, osUser: "tester")
                await session.close()
                return report
            } catch {
                await session.close()
                throw error
            }
        }

        func loaded() async throws -> [LoadedRuleGroup] {
            try await PrometheusClient(baseURL: prometheus.url).loadedRuleGroups()
        }

        func file(_ namespace: String) -> String? {
            try? String(contentsOfFile: prometheus.rulesDirectory + "/" + namespace + ".yaml", encoding: .utf8)
        }

        func cleanUp() async {
            prometheus.stop()
            await db.drop()
        }
    }

    func fixture() async throws -> Fixture {
        let db = try await TestPostgres.createDatabase()
        let prometheus = try await PrivatePrometheus.start()
        var environment = db.environment()
        environment.prometheusURL = prometheus.url
        environment.rulesTarget = PrometheusRulesDirectory(
            directory: prometheus.rulesDirectory, prometheus: PrometheusClient(baseURL: prometheus.url),
            confirmTimeout: 10)
        return Fixture(db: db, prometheus: prometheus, environment: environment)
    }

    @Test("plan, apply, Prometheus loads every group as written, and a fresh plan is empty")
    func applyConfirmsLoadAndConverges() async throws {
        let f = try await fixture()
        let files = ["alerts/launch.yaml": Self.rules, "manifests/backups.yaml": Self.backups]
        let first = try await f.plan(files)
        let alertChanges = first.changes.filter { $0.kind == RuleGroup.kind }
        #expect(alertChanges.map(\.address.description) == ["alerts.guardrail.backup-freshness", "alerts.launch.api", "alerts.launch.pipeline"])
        #expect(alertChanges.allSatisfy { $0.action == .create })
        // A brand-new Prometheus has no history, and the plan says so instead of printing 0.
        let api = try #require(alertChanges.first { $0.address.name == "launch.api" })
        #expect(api.details == ["rules[1] alert ServiceDown: Prometheus has no history yet to replay it against."], "\(api.details)")

        let report = try await f.apply(first)
        #expect(report.alertSteps.contains("Prometheus reloaded"), "\(report.alertSteps)")
        #expect(report.alertSteps.last == "Prometheus loaded 3 groups from 2 files", "\(report.alertSteps)")
        let loaded = try await f.loaded()
        #expect(Set(loaded.map(\.name)) == ["api", "pipeline", "backup-freshness"])
        #expect(loaded.first { $0.name == "api" }?.rules.map(\.name) == ["job:up:sum", "ServiceDown"])
        #expect(loaded.first { $0.name == "api" }?.file == f.prometheus.rulesDirectory + "/launch.yaml")

        let second = try await f.plan(files)
        #expect(second.changes.isEmpty, "\(second.changes.map(\.address))")
        #expect(second.compared[RuleGroup.kind] == 3)
        await f.cleanUp()
    }

    @Test("an expression Prometheus cannot parse fails the plan at the rule's file:line:column with Prometheus's message")
    func refusedExpressionIsAPlanError() async throws {
        let f = try await fixture()
        let broken = Self.rules.replacingOccurrences(of: "expr: dlq_depth > 0", with: "expr: sum(rate(dlq_depth[5m]) by")
        do {
            _ = try await f.plan(["alerts/launch.yaml": broken])
            Issue.record("the plan should have failed")
        } catch let error as DiagnosticError {
            let text = error.diagnostics.map(\.description).joined(separator: "\n")
            #expect(text.contains("alerts/launch.yaml:15:15: error: Prometheus cannot parse the expression of alert DLQDepth"), "\(text)")
            #expect(text.contains("parse error"), "\(text)")
            #expect(error.diagnostics.count == 1, "only the broken rule is reported: \(text)")
        }
        await f.cleanUp()
    }

    @Test("a guardrail query that passes the offline check but not Prometheus's parser fails the plan at the query's file:line:column")
    func refusedGuardrailQueryIsAPlanError() async throws {
        let f = try await fixture()
        func guardrails(_ query: String, minSamples: String) -> String {
            """
            apiVersion: guardrail/v1
            kind: Guardrail
            metadata: {name: bounce-rate}
            spec:
              query: \(query)
              max: 0.02
              minSamples: {query: '\(minSamples)', min: 1}

            """
        }
        let good = #"sum(rate(bounced{tenant_id=~"{{cohort}}"}[5m]))"#
        let plan = try await f.plan(["manifests/guardrails.yaml": guardrails(good, minSamples: good)])
        #expect(plan.changes.contains { $0.address.description == "guardrail.bounce-rate" })
        #expect(!plan.notes.contains { $0.contains("guardrail query") || $0.contains("of guardrail") }, "\(plan.notes)")
        do {
            _ = try await f.plan([
                "manifests/guardrails.yaml": guardrails(
                    #"nosuchfunc(bounced{tenant_id=~"{{cohort}}"})"#,
                    minSamples: #"sum(rate(sent{tenant_id=~"{{cohort}}"}[5m])) by"#)
            ])
            Issue.record("the plan should have failed")
        } catch let error as DiagnosticError {
            let text = error.diagnostics.map(\.description).joined(separator: "\n")
            #expect(error.diagnostics.count == 2, "\(text)")
            #expect(
                text.contains(
                    "manifests/guardrails.yaml:5:10: error: Prometheus cannot parse the query of guardrail bounce-rate\n  Prometheus says: "),
                "\(text)")
            #expect(text.contains("nosuchfunc"), "\(text)")
            #expect(
                text.contains("manifests/guardrails.yaml:7:23: error: Prometheus cannot parse the minSamples query of guardrail bounce-rate"),
                "\(text)")
        }
        await f.cleanUp()
    }

    @Test("a reload Prometheus refuses restores the previous files, reloads them, and fails the apply with Prometheus's reason")
    func reloadFailureIsRolledBack() async throws {
        let f = try await fixture()
        let good = ["alerts/launch.yaml": Self.rules]
        _ = try await f.apply(try await f.plan(good))
        let before = try #require(f.file("launch"))
        // What was loaded, without the evaluation state that changes every second.
        func loadedRules() async throws -> [String] {
            try await f.loaded().flatMap { g in g.rules.map { "\(g.file) \(g.name) \($0.name) \($0.query) \($0.annotations)" } }.sorted()
        }
        let loadedBefore = try await loadedRules()

        // A template function Prometheus does not know: the file parses, the reload refuses it.
        let bad = ["alerts/launch.yaml": Self.rules.replacingOccurrences(of: "{{ $labels.instance }} is down", with: "{{ $value | nosuchfunction }}")]
        let plan = try await f.plan(bad)
        #expect(plan.changes.map(\.address.description) == ["alerts.launch.api"])
        do {
            _ = try await f.apply(plan)
            Issue.record("the apply should have failed")
        } catch let error as Session.PartialApply {
            #expect(error.description.contains("Prometheus could not reload (HTTP 500)"), "\(error)")
            #expect(error.description.contains("The previous rule files were restored and Prometheus reloaded them."), "\(error)")
        }
        #expect(f.file("launch") == before)
        #expect(try await loadedRules() == loadedBefore)
        #expect(loadedBefore.contains { $0.contains("is down") })
        #expect(await PrometheusClient(baseURL: f.prometheus.url).serverMetric("prometheus_config_last_reload_successful") == 1)
        await f.cleanUp()
    }

    @Test("with Prometheus gone at apply time, the rule files are put back as they were and the apply fails")
    func unreachablePrometheusLeavesFilesAsTheyWere() async throws {
        let f = try await fixture()
        let plan = try await f.plan(["alerts/launch.yaml": Self.rules])
        f.prometheus.kill()
        do {
            _ = try await f.apply(plan)
            Issue.record("the apply should have failed")
        } catch let error as Session.PartialApply {
            #expect(error.description.contains("did not answer"), "\(error)")
            #expect(error.description.contains("The previous rule files were restored, but reloading Prometheus failed again"), "\(error)")
        }
        #expect(f.file("launch") == nil, "a file that did not exist before is removed again")
        await f.cleanUp()
    }

    @Test("only Guardrail's directory is managed: another directory's rules stay loaded and untouched, even when every managed group is deleted")
    func foreignRulesAreNeverTouched() async throws {
        let f = try await fixture()
        let foreign = "groups:\n  - name: other-team\n    rules:\n      - alert: TheirAlert\n        expr: vector(1) > 2\n"
        try Data(foreign.utf8).write(to: URL(fileURLWithPath: f.prometheus.otherRulesDirectory + "/theirs.yaml"))
        _ = try await f.apply(try await f.plan(["alerts/launch.yaml": Self.rules]))

        // An empty alerts/ folder: every managed group would go, which needs both override flags.
        let wipe = try await f.plan(["manifests/none.yaml": ""])
        #expect(wipe.changes.filter { $0.kind == RuleGroup.kind }.map(\.action) == [.delete, .delete])
        #expect(
            wipe.changes.allSatisfy { change in change.hazards.map(\.kind).contains(.massDelete) && change.hazards.map(\.kind).contains(.destroys) })
        await #expect(throws: Session.ApplyRefusal.self) { _ = try await f.apply(wipe, overrides: HazardOverrides(allowDestroy: true)) }
        #expect(f.file("launch") != nil)

        _ = try await f.apply(wipe, overrides: HazardOverrides(allowDestroy: true, allowMassDelete: true))
        #expect(f.file("launch") == nil)
        #expect(try String(contentsOfFile: f.prometheus.otherRulesDirectory + "/theirs.yaml", encoding: .utf8) == foreign)
        #expect(try await f.loaded().map(\.name) == ["other-team"])
        #expect(try await f.plan(["manifests/none.yaml": ""]).changes.isEmpty)
        await f.cleanUp()
    }

    @Test("a saved plan is refused when the live rule file changed since, and spacing-only edits do not count")
    func stalePlanNamesTheGroup() async throws {
        let f = try await fixture()
        let files = ["alerts/launch.yaml": Self.rules]
        _ = try await f.apply(try await f.plan(files))
        let respaced = [
            "alerts/launch.yaml": Self.rules.replacingOccurrences(of: "expr: dlq_depth > 0", with: "expr: dlq_depth   >   0")
                .replacingOccurrences(of: "for: 1m", with: "for: 2m")
        ]
        let plan = try await f.plan(respaced)
        #expect(plan.changes.map(\.address.description) == ["alerts.launch.api"], "spacing in pipeline is not a change")
        let path = f.prometheus.rulesDirectory + "/launch.yaml"
        let live = try String(contentsOfFile: path, encoding: .utf8)
        try Data(live.replacingOccurrences(of: "\"severity\": \"critical\"", with: "\"severity\": \"page\"").utf8).write(
            to: URL(fileURLWithPath: path))
        // Live is what Prometheus runs: the hand edit counts once Prometheus has loaded it.
        try await PrometheusClient(baseURL: f.prometheus.url).reload()
        do {
            _ = try await f.apply(plan)
            Issue.record("the stale plan should have been refused")
        } catch let refusal as Session.ApplyRefusal {
            #expect(refusal.description.contains("alerts.launch.api existed when the plan was made and has since changed"), "\(refusal)")
        }
        await f.cleanUp()
    }
}

/// Plans made away from the Prometheus host: live rules come from Prometheus's API, not the directory.
@Suite(
    "Alert rules read through Prometheus's API", .serialized,
    .enabled(if: TestPrometheus.isAvailable, "needs the Postgres and Prometheus that scripts/test starts"))
struct AlertRulesFromTheAPITests {
    @Test("a machine without the rules directory (a CI runner) plans no changes after an apply, and sees a reloaded hand edit")
    func planWithoutTheDirectory() async throws {
        let f = try await AlertRulesPrometheusTests().fixture()
        let files = ["alerts/launch.yaml": AlertRulesPrometheusTests.rules, "manifests/backups.yaml": AlertRulesPrometheusTests.backups]
        _ = try await f.apply(try await f.plan(files))
        // The CI runner's view: a rulesDir that does not exist on this machine, same Prometheus.
        var runner = f
        let elsewhere = f.prometheus.rulesDirectory
        let moved = elsewhere + ".moved"
        try FileManager.default.moveItem(atPath: elsewhere, toPath: moved)
        defer { try? FileManager.default.moveItem(atPath: moved, toPath: elsewhere) }
        runner.environment.rulesTarget = PrometheusRulesDirectory(directory: elsewhere, prometheus: PrometheusClient(baseURL: f.prometheus.url))
        let plan = try await runner.plan(files)
        #expect(plan.changes.isEmpty, "\(plan.changes.map { "\($0.action) \($0.address)" })")
        #expect(plan.compared[RuleGroup.kind] == 3)
        // An edit someone made on the host and reloaded shows up in the runner's plan.
        try FileManager.default.moveItem(atPath: moved, toPath: elsewhere)
        let path = elsewhere + "/launch.yaml"
        let live = try String(contentsOfFile: path, encoding: .utf8)
        try Data(live.replacingOccurrences(of: "\"severity\": \"critical\"", with: "\"severity\": \"page\"").utf8).write(
            to: URL(fileURLWithPath: path))
        try await PrometheusClient(baseURL: f.prometheus.url).reload()
        try FileManager.default.moveItem(atPath: elsewhere, toPath: moved)
        let drift = try await runner.plan(files)
        #expect(drift.changes.map(\.address.description) == ["alerts.launch.api"])
        #expect(drift.changes.first?.before?["rules[1]"]?.mapValue?["labels"] == .map(["severity": .string("page")]))
        await f.cleanUp()
    }

    @Test("when neither Prometheus's API nor the directory can be read, the plan fails instead of planning every group as new")
    func neitherSourceFailsThePlan() async throws {
        var f = try await AlertRulesPrometheusTests().fixture()
        f.environment.rulesTarget = PrometheusRulesDirectory(
            directory: "/nonexistent/guardrail-rules-\(UUID().uuidString)",
            prometheus: PrometheusClient(baseURL: "http://127.0.0.1:1"))
        do {
            let plan = try await f.plan(["alerts/launch.yaml": AlertRulesPrometheusTests.rules])
            Issue.record("planned without live rules: \(plan.changes.map(\.address.description))")
        } catch let error as DiagnosticError {
            #expect("\(error)".contains("cannot read the live alert rules"), "\(error)")
        }
        await f.cleanUp()
    }

    @Test("Prometheus's own spelling of an expression and the global interval are not changes")
    func serverFormsAreNotChanges() async throws {
        let f = try await AlertRulesPrometheusTests().fixture()
        // Prometheus prints `sum by (job) (rate(x[5m]))` for this, and the group has no interval.
        let files = [
            "alerts/forms.yaml": """
            groups:
              - name: forms
                rules:
                  - record: job:http_requests:rate5m
                    expr: sum(rate(http_requests_total[300s])) by (job)
              - name: explicit
                interval: 1s
                rules:
                  - alert: Up
                    expr: up == 0
            """
        ]
        _ = try await f.apply(try await f.plan(files))
        let loaded = try await f.loaded()
        #expect(loaded.first { $0.name == "forms" }?.rules.first?.query != "sum(rate(http_requests_total[300s])) by (job)", "Prometheus respells it")
        #expect(try await f.plan(files).changes.isEmpty)
        await f.cleanUp()
    }
}

/// Replaying new alerting rules over Prometheus's history, on the shared Prometheus that has been
/// scraping the test-controlled endpoint since scripts/test started it.
@Suite("Alert rule replay", .enabled(if: TestPrometheus.isAvailable, "needs the Prometheus that scripts/test starts"))
struct AlertRuleReplayTests {
    @Test("a new alerting rule's plan says how long its expression was true over the history Prometheus has")
    func replayCountsTimeTrue() async throws {
        let url = try #require(TestPrometheus.url)
        let metrics = try TestPrometheus.MetricsFile(name: "alert-replay")
        defer { metrics.remove() }
        try metrics.write(["guardrail_alert_replay_test{case=\"firing\"} 1"])
        let client = PrometheusClient(baseURL: url)
        for _ in 0..<100 {
            if case .value = await client.query("sum(guardrail_alert_replay_test)") { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        try await Task.sleep(nanoseconds: 3_000_000_000)
        let configuration = try Fixtures.configuration([
            "alerts/replay.yaml": """
            groups:
              - name: replay
                rules:
                  - alert: Firing
                    expr: guardrail_alert_replay_test{case="firing"} > 0
                  - alert: Quiet
                    expr: guardrail_alert_replay_test{case="firing"} > 5
            """
        ])
        let plan = PlanBuilder.plan(
            desired: configuration, live: LiveState(schemaVersion: nil),
            context: .init(environment: "local", planID: "p", createdAt: "now", managesAlerts: true))
        let outcome = await RuleExpressionChecker(prometheus: client).check(configuration.ruleGroups, plan: plan)
        #expect(outcome.errors.isEmpty)
        let details = outcome.details[Address(prefix: "alerts", name: "replay.replay")] ?? []
        #expect(details.count == 2, "\(details)")
        let firing = try #require(details.first { $0.hasPrefix("rules[0] alert Firing:") })
        #expect(firing.contains("its expression was true for"), "\(firing)")
        #expect(firing.contains("all the history Prometheus has"), "\(firing)")
        #expect(!firing.contains("true for 0s"), "\(firing)")
        let quiet = try #require(details.first { $0.hasPrefix("rules[1] alert Quiet:") })
        #expect(quiet.contains("its expression was never true"), "\(quiet)")
    }
}
