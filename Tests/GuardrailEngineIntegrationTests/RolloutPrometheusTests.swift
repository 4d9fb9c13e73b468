import Foundation
import GuardrailCore
@testable import GuardrailEngine
import GuardrailTestSupport
import Testing

/// Rollouts driven by a real Prometheus (Debian's, started by scripts/test) that scrapes, every
/// second, an endpoint serving the values each test writes. Bakes are seconds long.
@Suite("Rollouts against a real Prometheus", .enabled(if: TestPrometheus.isAvailable, "needs the Postgres and Prometheus that scripts/test start"))
struct RolloutPrometheusTests {
    /// A rollout over `tenants` generated tenants, watched by an error-ratio guardrail on this test's own series.
    struct Rig {
        var db: TestDatabase
        var session: Session
        var configuration: Configuration
        var metrics: TestPrometheus.MetricsFile
        var suite: String
        var client: PrometheusClient

        /// Serves `errors` out of 1000 requests for each tenant (all tenants unless `only` is given, others get 1).
        func serve(errors: Int, only: Set<String>? = nil) throws {
            var lines: [String] = []
            for tenant in configuration.tenants {
                let e = only == nil || only!.contains(tenant.id) ? errors : 1
                lines.append(#"gr_requests{suite="\#(suite)",tenant_id="\#(tenant.id)"} 1000"#)
                lines.append(#"gr_errors{suite="\#(suite)",tenant_id="\#(tenant.id)"} \#(e)"#)
            }
            try metrics.write(lines)
        }

        /// Waits until Prometheus has scraped values matching `check` for this suite.
        func waitForPrometheus(_ query: String, timeout: Double = 20, until check: (MetricOutcome) -> Bool) async throws {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if check(await client.query(query)) { return }
                try await Task.sleep(for: .milliseconds(200))
            }
            Issue.record("Prometheus never showed \(query) as expected")
        }

        func rollout() async throws -> (status: String, phase: Int) {
            let row = try #require(try await db.rows("SELECT status, phase FROM guardrail.rollouts WHERE flag = 'launch.test'").first)
            return (row[0] ?? "", Int(row[1] ?? "") ?? -1)
        }

        /// Healthy traffic, apply, then ticks until the canary phase; returns the canary cohort.
        func startAtCanary() async throws -> Set<String> {
            try serve(errors: 1)
            try await waitForPrometheus(#"count(gr_requests{suite="\#(suite)"})"#) { $0 == .value(Double(configuration.tenants.count)) }
            _ = try await session.apply(try await session.plan(configuration), overrides: HazardOverrides(), osUser: "tester")
            try await tick(until: { _, phase in phase == 1 }, timeout: 30)
            return try await enabledIDs()
        }

        /// Ticks every 200 ms until `done` or the timeout; returns the phases seen.
        @discardableResult
        func tick(until done: (String, Int) -> Bool, timeout: Double) async throws -> [Int] {
            var phases: [Int] = [try await rollout().phase]
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                _ = try await session.tick(metrics: client, actor: "test")
                let (status, phase) = try await rollout()
                if phases.last != phase { phases.append(phase) }
                if done(status, phase) { return phases }
                try await Task.sleep(for: .milliseconds(200))
            }
            Issue.record("the rollout did not get there in \(timeout)s; it is \(try await rollout())")
            return phases
        }

        func enabledIDs() async throws -> Set<String> {
            Set(try await db.rows("SELECT t.id FROM guardrail.tenants t WHERE guardrail.flag_enabled('launch.test', t.id)").map { $0[0] ?? "" })
        }

        func close() async {
            metrics.remove()
            await session.close()
            await db.drop()
        }
    }

    func rig(
        tenants: Int = 30, onBreach: Rollout.BreachAction = .rollback, condition: Guardrail.Condition = .max(0.05),
        minSamples: Bool = true
    ) async throws -> Rig {
        guard let url = TestPrometheus.url else { throw TestPrometheus.Missing() }
        let suite = "s" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let seed = Int.random(in: 1...0xFFFF_FFF)
        var configuration = Fixtures.generatedConfiguration(tenants: tenants, seed: seed)
        configuration.guardrails = [
            Guardrail(
                name: "error-ratio",
                query: #"sum(gr_errors{suite="\#(suite)",tenant_id=~"{{cohort}}"}) / sum(gr_requests{suite="\#(suite)",tenant_id=~"{{cohort}}"})"#,
                condition: condition, interval: .seconds(1), failures: 2,
                minSamples: minSamples ? .init(query: #"sum(gr_requests{suite="\#(suite)",tenant_id=~"{{cohort}}"})"#, min: 100) : nil)
        ]
        configuration.flags = [
            FeatureFlag(
                name: "launch.test", enabled: true,
                rollout: Rollout(
                    phases: [
                        RolloutPhase(name: "internal", selector: ["cohort": "internal"], bake: .seconds(2)),
                        RolloutPhase(name: "canary", percent: 10, bake: .seconds(2)),
                        RolloutPhase(name: "half", percent: 50, bake: .seconds(2)),
                        RolloutPhase(name: "all", percent: 100),
                    ], guardrails: ["error-ratio"], onBreach: onBreach))
        ]
        let db = try await TestPostgres.createDatabase()
        let session = try await Session.open(db.environment(), applicationName: "test")
        try await session.acquireLock(timeout: .seconds(5), applicationName: "test lock")
        return Rig(
            db: db, session: session, configuration: configuration, metrics: try TestPrometheus.MetricsFile(name: suite),
            suite: suite, client: PrometheusClient(baseURL: url))
    }

    @Test("a healthy rollout advances through every phase to completed, recording each evaluation, and the plan stays empty")
    func healthyRolloutCompletes() async throws {
        let r = try await rig()
        defer { Task { await r.close() } }
        try r.serve(errors: 1)
        try await r.waitForPrometheus(#"count(gr_requests{suite="\#(r.suite)"})"#) { $0 == .value(30) }
        _ = try await r.session.apply(try await r.session.plan(r.configuration), overrides: HazardOverrides(), osUser: "tester")
        #expect(try await r.enabledIDs() == [r.configuration.tenants[0].id])

        let phases = try await r.tick(until: { status, _ in status == "completed" }, timeout: 60)
        #expect(phases == [0, 1, 2, 3], "phases seen: \(phases)")
        #expect(try await r.enabledIDs().count == 30)
        let evaluation = try #require(
            try await r.db.rows(
                """
                SELECT value, threshold, samples, verdict, query FROM guardrail.rollout_events
                WHERE flag = 'launch.test' AND kind = 'evaluation' ORDER BY id LIMIT 1
                """
            ).first)
        #expect(evaluation[0] == "0.001")
        #expect(evaluation[1] == "<= 0.05")
        #expect(evaluation[2] == "1000")
        #expect(evaluation[3] == "pass")
        #expect(evaluation[4]?.contains("{{cohort}}") == true)
        let decisions = try await r.db.rows(
            "SELECT kind FROM guardrail.rollout_events WHERE flag = 'launch.test' AND kind <> 'evaluation' ORDER BY id"
        ).map { $0[0] ?? "" }
        #expect(decisions == ["start", "advance", "advance", "advance", "complete"])
        #expect(try await r.session.plan(r.configuration).changes.isEmpty)
    }

    @Test(
        "a compare-to-control guardrail queries the cohort and the tenants not yet in it, and breaches when the cohort is worse by more than maxRatio"
    )
    func compareToControlBreaches() async throws {
        let r = try await rig(condition: .compareToControl(maxRatio: 1.5))
        defer { Task { await r.close() } }
        let canary = try await r.startAtCanary()
        // The control group (everyone else) stays at 0.1%; the cohort goes to 3%: 30x worse.
        try r.serve(errors: 30, only: canary)
        try await r.waitForPrometheus(#"sum(gr_errors{suite="\#(r.suite)"})"#) {
            if case .value(let v) = $0 { v >= Double(canary.count * 30) } else { false }
        }
        try await r.tick(until: { status, _ in status == "rolled-back" }, timeout: 20)
        let breach = try #require(
            try await r.db.rows(
                """
                SELECT value, threshold, message FROM guardrail.rollout_events WHERE flag = 'launch.test' AND kind = 'breach'
                """
            ).first)
        #expect(breach[0] == "0.03", "the cohort's own ratio: \(breach)")
        #expect(breach[1] == "<= 1.5x control")
        #expect(breach[2]?.contains("against control 0.001") == true, "\(breach)")
        // Before the cohort got worse, the same guardrail passed against the control group.
        #expect(try await r.db.scalar("SELECT count(*) > 0 FROM guardrail.rollout_events WHERE flag = 'launch.test' AND verdict = 'pass'") == "t")
    }

    @Test("a breach in the canary phase rolls the flag back in Postgres at the second failing evaluation after Prometheus shows it")
    func canaryBreachRollsBack() async throws {
        let r = try await rig()
        defer { Task { await r.close() } }
        let canary = try await r.startAtCanary()
        #expect(canary.count == 4, "internal tenant plus 10% of 30")

        try r.serve(errors: 300, only: canary)
        let query = #"sum(gr_errors{suite="\#(r.suite)"})"#
        let breaching = Double(canary.count * 300)
        try await r.waitForPrometheus(query) { if case .value(let v) = $0 { v >= breaching } else { false } }
        let lastBefore = try await r.db.scalar("SELECT coalesce(max(id), 0) FROM guardrail.rollout_events WHERE flag = 'launch.test'") ?? "0"
        try await r.tick(until: { status, _ in status == "rolled-back" }, timeout: 20)
        // It acts in the very step of the second consecutive failing evaluation (failures: 2), once
        // Prometheus shows the breach: no evaluation passes or fails in between (the first failure holds). (The wall-clock
        // latency, one interval plus the steps' own time, is what scripts/bench measures.)
        let sinceShown = try await r.db.rows(
            """
            SELECT kind, verdict FROM guardrail.rollout_events WHERE flag = 'launch.test' AND id > \(lastBefore) AND kind <> 'hold' ORDER BY id
            """
        ).map { "\($0[0] ?? "") \($0[1] ?? "")" }
        #expect(sinceShown == ["evaluation fail", "evaluation fail", "breach fail", "rollback "], "\(sinceShown)")

        for id in canary { #expect(try await r.db.scalar("SELECT guardrail.flag_enabled('launch.test', '\(id)')") == "f") }
        let breach = try #require(
            try await r.db.rows(
                """
                SELECT value, threshold, verdict, message FROM guardrail.rollout_events WHERE flag = 'launch.test' AND kind = 'breach'
                """
            ).first)
        #expect(breach[0] == "0.3")
        #expect(breach[1] == "<= 0.05")
        #expect(breach[2] == "fail")
        #expect(breach[3]?.contains("error-ratio breached at phase 2 (canary)") == true)
        // Rolled back stays down, even once the metric recovers.
        try r.serve(errors: 1)
        for _ in 0..<3 {
            _ = try await r.session.tick(metrics: r.client, now: Date().addingTimeInterval(60), actor: "test")
        }
        #expect(try await r.rollout().status == "rolled-back")
        #expect(try await r.enabledIDs().isEmpty)
    }
}

/// A rollout whose Prometheus is down: it holds, records the errors, then pauses; never advances or rolls back.
@Suite("Rollouts with Prometheus down", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct RolloutPrometheusDownTests {
    @Test("errors are recorded apart from failures; the rollout holds, then pauses after the error limit")
    func prometheusDownHolds() async throws {
        let db = try await TestPostgres.createDatabase()
        let session = try await Session.open(db.environment(), applicationName: "test")
        defer {
            Task {
                await session.close(); await db.drop()
            }
        }
        try await session.acquireLock(timeout: .seconds(5), applicationName: "test lock")
        var configuration = Fixtures.generatedConfiguration(tenants: 20)
        configuration.guardrails = [
            Guardrail(name: "errors", query: #"sum(x{tenant_id=~"{{cohort}}"})"#, condition: .max(1), interval: .seconds(1), errorLimit: 3)
        ]
        configuration.flags = [
            FeatureFlag(
                name: "launch.test", enabled: true,
                rollout: Rollout(
                    phases: [
                        RolloutPhase(name: "internal", selector: ["cohort": "internal"], bake: .seconds(1)), RolloutPhase(name: "all", percent: 100),
                    ], guardrails: ["errors"]))
        ]
        _ = try await session.apply(try await session.plan(configuration), overrides: HazardOverrides(), osUser: "tester")
        let down = PrometheusClient(baseURL: "http://127.0.0.1:1", timeout: .seconds(2))
        let start = Date()
        for i in 1...2 {
            let results = try await session.tick(metrics: down, now: start.addingTimeInterval(Double(i) * 10), actor: "test")
            #expect(results.first?.verdicts.map(\.kind) == [.error])
            #expect(results.first?.status == "progressing", "tick \(i) holds")
        }
        let third = try await session.tick(metrics: down, now: start.addingTimeInterval(30), actor: "test")
        #expect(third.first?.status == "paused")
        #expect(try await db.scalar("SELECT phase FROM guardrail.rollouts") == "0")
        #expect(try await db.scalar("SELECT reason FROM guardrail.rollouts")?.contains("query failed 3 times in a row") == true)
        #expect(try await db.scalar("SELECT count(*) FROM guardrail.rollout_events WHERE verdict = 'error'") == "3")
        #expect(
            try await db.scalar("SELECT message FROM guardrail.rollout_events WHERE verdict = 'error' LIMIT 1")?.contains("did not answer") == true)
        #expect(try await db.scalar("SELECT count(*) FROM guardrail.rollout_events WHERE kind IN ('advance', 'rollback', 'breach')") == "0")
        #expect(try await db.scalar("SELECT count(*) FROM guardrail.flag_cohorts") == "1")
    }
}
