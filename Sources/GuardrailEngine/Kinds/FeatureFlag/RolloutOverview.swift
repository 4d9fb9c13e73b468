import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// What the controller's dashboard shows of the rollouts.
public enum RolloutOverview {
    /// Every flag that has a rollout or is killed, as `rollout status` shows one: its state, the
    /// cohort against the eligible tenants, and its latest decisions (evaluations left out; the
    /// controller keeps recent guardrail values in memory). One read-only transaction of set-based
    /// statements, whatever the number of flags or tenants: the controller's dashboard reads it after
    /// each tick, leader or standby, on a pooled connection. `countCohorts: false` leaves the ledger
    /// uncounted (`enabledCount` 0), for a caller that knows the cohorts already (the controller's
    /// flag snapshot): at a hundred thousand tenants that count is most of the read.
    public static func read(
        _ connection: DatabaseConnection, schema: SQLIdentifier, timing: RolloutTiming, logger: Logger, now: Date = Date(),
        decisionsPerFlag: Int = 12, countCohorts: Bool = true
    ) async throws -> [RolloutStatusReport] {
        guard let version = try await Migrations.currentVersion(connection, schema: schema, logger: logger),
            version >= FlagStore.sinceSchemaVersion
        else {
            return []
        }
        let withReasons = version >= Migrations.reasonsSinceVersion
        return try await connection.transaction(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger,
            context: "reading the rollouts"
        ) { c in
            let runtimes = try await RolloutStore.observe(c, schema: schema, logger: logger)
            let flags = try await FlagStore.observe(c, schema: schema, logger: logger)
                .filter { $0.rollout != nil || runtimes[$0.name]?.killed == true }
                .sorted { $0.name < $1.name }
            guard !flags.isEmpty else { return [] }
            let names = flags.map(\.name)
            let guardrails = try await GuardrailStore.observe(c, schema: schema, logger: logger)
            // Eligible: active tenants less those the flag's overrides turn off (what CohortPlan counts).
            let counts = try await c.query(
                """
                WITH active AS (SELECT count(*) AS n FROM \(schema.qualifying("tenants")) WHERE status = 'active')
                SELECT f.name,
                       CASE WHEN \(countCohorts)
                            THEN (SELECT count(*) FROM \(schema.qualifying("flag_cohorts")) c WHERE c.flag = f.name) ELSE 0 END,
                       (SELECT n FROM active)
                     - (SELECT count(*) FROM \(schema.qualifying("tenants")) t
                        WHERE t.status = 'active' AND t.name = ANY(f.overrides_disable))
                FROM \(schema.qualifying("flags")) f WHERE f.name = ANY(\(names))
                """, logger: logger)
            var enabled: [String: Int] = [:], eligible: [String: Int] = [:]
            for (name, on, active) in try counts.decode((String, Int, Int).self) {
                enabled[name] = on
                eligible[name] = active
            }
            let reason: SQLFragment = withReasons ? "e.reason" : "NULL::text"
            let rows = try await c.query(
                """
                SELECT f.name, e.at, e.phase, e.kind, e.actor, e.guardrail, e.value, e.threshold, e.verdict, e.message, \(reason)
                FROM unnest(\(names)::text[]) AS f(name)
                CROSS JOIN LATERAL (
                    SELECT * FROM \(schema.qualifying("rollout_events")) e
                    WHERE e.flag = f.name AND e.kind <> 'evaluation' ORDER BY e.id DESC LIMIT \(decisionsPerFlag)
                ) e
                """, logger: logger)
            var events: [String: [RolloutEventRecord]] = [:]
            for (flag, at, phase, kind, actor, guardrail, value, threshold, verdict, message, why) in try rows.decode(
                (String, Date, Int, String, String?, String?, Double?, String?, String?, String, String?).self)
            {
                var v: GuardrailVerdict?
                if let guardrail, let verdict, let k = GuardrailVerdict.Kind(rawValue: verdict) {
                    v = GuardrailVerdict(guardrail: guardrail, kind: k, query: "", value: value, threshold: threshold ?? "", message: message)
                }
                let decision = RolloutDecision(
                    kind: RolloutDecision.Kind(rawValue: kind) ?? .hold, phase: phase, message: message, actor: actor,
                    verdict: v)
                events[flag, default: []].append(RolloutEventRecord(at: at, decision: decision, reason: why))
            }
            return flags.map { flag in
                let runtime = runtimes[flag.name] ?? FlagRuntime()
                var report = RolloutStatusReport(
                    flag: flag, killed: runtime.killed, killedBy: runtime.killedBy, killedAt: runtime.killedAt,
                    state: runtime.rollout, guardrails: guardrails, enabledCount: enabled[flag.name] ?? 0,
                    eligibleCount: eligible[flag.name] ?? 0, events: events[flag.name] ?? [], now: now)
                report.timing = timing
                return report
            }
        }
    }
}
