import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// The controller-owned side of a flag: its kill switch and its rollout state.
public struct FlagRuntime: Sendable, Equatable {
    public var killed: Bool
    public var killedAt: Date?
    public var killedBy: String?
    /// Nil when the flag has no rollout running (disabled, or on for everyone without one).
    public var rollout: RolloutState?

    public init(killed: Bool = false, killedAt: Date? = nil, killedBy: String? = nil, rollout: RolloutState? = nil) {
        self.killed = killed
        self.killedAt = killedAt
        self.killedBy = killedBy
        self.rollout = rollout
    }
}

/// Reads and writes rollout state, the cohort ledger and the event log, each with one set-based
/// statement however many flags are involved.
enum RolloutStore {
    static func observe(
        _ c: DatabaseConnection, schema: SQLIdentifier, logger: Logger, only flags: [String]? = nil,
        forUpdate: Bool = false
    ) async throws -> [String: FlagRuntime] {
        let lock: SQLFragment = forUpdate ? "FOR UPDATE OF f" : .empty
        let rows = try await c.query(
            """
            SELECT f.name, f.killed, f.killed_at, f.killed_by, r.status, r.phase, r.phase_started_at, r.reason, r.spec_fingerprint,
                   coalesce(r.baseline::text[], '{}'), coalesce(r.tracks::text, '{}')
            FROM \(schema.qualifying("flags")) f
            LEFT JOIN \(schema.qualifying("rollouts")) r ON r.flag = f.name
            WHERE \(flags == nil) OR f.name = ANY(\(flags ?? []))
            ORDER BY f.name \(lock)
            """, logger: logger)
        var out: [String: FlagRuntime] = [:]
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        for (name, killed, killedAt, killedBy, status, phase, started, reason, fingerprint, baseline, tracks) in try rows.decode(
            (String, Bool, Date?, String?, String?, Int?, Date?, String?, String?, [String], String).self)
        {
            var runtime = FlagRuntime(killed: killed, killedAt: killedAt, killedBy: killedBy)
            if let status = status.flatMap(RolloutStatus.init(rawValue:)), let phase, let started {
                let decodedTracks = (try? decoder.decode([String: GuardrailTrack].self, from: Data(tracks.utf8))) ?? [:]
                runtime.rollout = RolloutState(
                    status: status, phase: phase, phaseStartedAt: started, reason: reason ?? "", killed: killed,
                    specFingerprint: fingerprint ?? "", baseline: baseline, tracks: decodedTracks)
            }
            out[name] = runtime
        }
        return out
    }

    /// Writes rollout rows (upsert) and removes the rows of flags that no longer have a rollout.
    static func save(
        _ states: [String: RolloutState], removing: [String], on c: DatabaseConnection, schema: SQLIdentifier, logger: Logger
    ) async throws {
        if !removing.isEmpty {
            try await c.query("DELETE FROM \(schema.qualifying("rollouts")) WHERE flag = ANY(\(removing))", logger: logger)
        }
        guard !states.isEmpty else { return }
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        encoder.outputFormatting = .sortedKeys
        let names = states.keys.sorted()
        var statuses: [String] = [], phases: [Int] = [], started: [Double] = [], reasons: [String] = [], fingerprints: [String] = []
        var baselines: [String] = [], tracks: [String] = []
        for name in names {
            let s = states[name]!
            statuses.append(s.status.rawValue)
            phases.append(s.phase)
            started.append(s.phaseStartedAt.timeIntervalSince1970)
            reasons.append(s.reason)
            fingerprints.append(s.specFingerprint)
            baselines.append(AttributeValue.list(s.baseline.map { .string($0) }).canonicalJSON)
            tracks.append(String(decoding: try encoder.encode(s.tracks), as: UTF8.self))
        }
        try await c.query(
            """
            INSERT INTO \(schema.qualifying("rollouts"))
                (flag, status, phase, phase_started_at, reason, spec_fingerprint, baseline, tracks, updated_at)
            SELECT u.flag, u.status, u.phase, to_timestamp(u.started), u.reason, u.fingerprint,
                   coalesce((SELECT array_agg(b::uuid) FROM jsonb_array_elements_text(u.baseline::jsonb) b), '{}'),
                   u.tracks::jsonb, now()
            FROM unnest(\(names)::text[], \(statuses)::text[], \(phases)::int[], \(started)::float8[], \(reasons)::text[],
                        \(fingerprints)::text[], \(baselines)::text[], \(tracks)::text[])
                 AS u(flag, status, phase, started, reason, fingerprint, baseline, tracks)
            ON CONFLICT (flag) DO UPDATE SET status = EXCLUDED.status, phase = EXCLUDED.phase, phase_started_at = EXCLUDED.phase_started_at,
                reason = EXCLUDED.reason, spec_fingerprint = EXCLUDED.spec_fingerprint, baseline = EXCLUDED.baseline,
                tracks = EXCLUDED.tracks, updated_at = now()
            """, logger: logger)
    }

    /// Makes the ledger of each flag in `flags` exactly `entries`: rows that stay keep their `since`,
    /// a changed reason is updated, new rows start at `now`.
    static func syncLedger(
        flags: [String], entries: [(flag: String, entry: LedgerEntry)], now: Date,
        on c: DatabaseConnection, schema: SQLIdentifier, logger: Logger
    ) async throws {
        guard !flags.isEmpty else { return }
        let table = schema.qualifying("flag_cohorts")
        var names: [String] = [], ids: [UUID] = [], reasons: [String] = []
        names.reserveCapacity(entries.count)
        ids.reserveCapacity(entries.count)
        reasons.reserveCapacity(entries.count)
        for (flag, entry) in entries {
            guard let id = UUID(uuidString: entry.tenantID) else { continue }
            names.append(flag)
            ids.append(id)
            reasons.append(entry.reason)
        }
        try await c.query(
            """
            DELETE FROM \(table) c
            WHERE c.flag = ANY(\(flags)) AND NOT EXISTS (
                SELECT 1 FROM unnest(\(names)::text[], \(ids)::uuid[]) AS d(flag, tenant_id)
                WHERE d.flag = c.flag AND d.tenant_id = c.tenant_id)
            """, logger: logger)
        guard !names.isEmpty else { return }
        try await c.query(
            """
            INSERT INTO \(table) AS c (flag, tenant_id, reason, since)
            SELECT d.flag, d.tenant_id, d.reason, to_timestamp(\(now.timeIntervalSince1970))
            FROM unnest(\(names)::text[], \(ids)::uuid[], \(reasons)::text[]) AS d(flag, tenant_id, reason)
            ON CONFLICT (flag, tenant_id) DO UPDATE SET reason = EXCLUDED.reason WHERE c.reason <> EXCLUDED.reason
            """, logger: logger)
    }

    /// The tenant ids each flag's ledger holds now, optionally leaving out one reason (`override`).
    static func ledgerIDs(
        flags: [String], excludingReason: String? = nil, on c: DatabaseConnection, schema: SQLIdentifier,
        logger: Logger
    ) async throws -> [String: [String]] {
        guard !flags.isEmpty else { return [:] }
        let rows = try await c.query(
            """
            SELECT flag, array_agg(tenant_id::text ORDER BY tenant_id)
            FROM \(schema.qualifying("flag_cohorts"))
            WHERE flag = ANY(\(flags)) AND reason <> \(excludingReason ?? "")
            GROUP BY flag
            """, logger: logger)
        var out: [String: [String]] = [:]
        for (flag, ids) in try rows.decode((String, [String]).self) { out[flag] = ids }
        return out
    }

    static func setKilled(
        _ flag: String, killed: Bool, by actor: String, on c: DatabaseConnection, schema: SQLIdentifier, logger: Logger
    ) async throws {
        try await c.query(
            """
            UPDATE \(schema.qualifying("flags"))
            SET killed = \(killed), killed_at = CASE WHEN \(killed) THEN now() END, killed_by = CASE WHEN \(killed) THEN \(actor) END
            WHERE name = \(flag)
            """, logger: logger)
    }

    /// Appends decisions to the event log in one statement.
    /// `reason` (a person's, for a command) is recorded with every event; the column exists from schema version 13.
    static func record(
        _ events: [(flag: String, decision: RolloutDecision)], reason: String? = nil, on c: DatabaseConnection, schema: SQLIdentifier,
        logger: Logger
    ) async throws {
        guard !events.isEmpty else { return }
        var flags: [String] = [], phases: [Int] = [], kinds: [String] = [], actors: [String] = [], guardrails: [String] = []
        var queries: [String] = [], values: [String] = [], thresholds: [String] = [], samples: [String] = [], verdicts: [String] = []
        var messages: [String] = [], order: [Int] = []
        func number(_ d: Double?) -> String { d.map { $0.isFinite ? String($0) : ($0.isNaN ? "NaN" : ($0 > 0 ? "Infinity" : "-Infinity")) } ?? "" }
        for (i, (flag, d)) in events.enumerated() {
            flags.append(flag)
            phases.append(d.phase)
            kinds.append(d.kind.rawValue)
            actors.append(d.actor ?? "")
            guardrails.append(d.verdict?.guardrail ?? "")
            queries.append(d.verdict?.query ?? "")
            values.append(number(d.verdict?.value))
            thresholds.append(d.verdict?.threshold ?? "")
            samples.append(number(d.verdict?.samples))
            verdicts.append(d.verdict?.kind.rawValue ?? "")
            messages.append(d.message)
            order.append(i)
        }
        // A command's reason is one more column, the same for every row; the controller's own
        // decisions have none (and run on schemas from before the column existed).
        let reasonColumn: SQLFragment = reason == nil ? .empty : ", reason"
        let reasonValue: SQLFragment = reason == nil ? .empty : ", nullif(u.reason, '')"
        try await c.query(
            """
            INSERT INTO \(schema.qualifying("rollout_events"))
                (flag, phase, kind, actor, guardrail, query, value, threshold, samples, verdict, message\(reasonColumn))
            SELECT u.flag, u.phase, u.kind, nullif(u.actor, ''), nullif(u.guardrail, ''), nullif(u.query, ''),
                   nullif(u.value, '')::float8, nullif(u.threshold, ''), nullif(u.samples, '')::float8, nullif(u.verdict, ''), u.message\(reasonValue)
            FROM unnest(\(flags)::text[], \(phases)::int[], \(kinds)::text[], \(actors)::text[], \(guardrails)::text[], \(queries)::text[],
                        \(values)::text[], \(thresholds)::text[], \(samples)::text[], \(verdicts)::text[], \(messages)::text[], \(order)::int[],
                        \(Array(repeating: reason ?? "", count: events.count))::text[])
                 AS u(flag, phase, kind, actor, guardrail, query, value, threshold, samples, verdict, message, ord, reason)
            ORDER BY u.ord
            """, logger: logger)
    }
}
