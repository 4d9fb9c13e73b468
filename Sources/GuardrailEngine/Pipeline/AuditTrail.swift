import Foundation
import GuardrailCore
import Logging
import NIOCore
import PostgresNIO

/// Everything that changed an environment, in one timeline: applies by people, the controller's drift
/// corrections (applies it made itself), and every decision on a flag or its rollout (kills,
/// releases, promotes, pauses, and the controller's advances, breaches and rollbacks), from the audit
/// log and the rollout event log, read in one query.
public enum AuditTrail {
    public struct Action: Sendable, Equatable, Codable {
        /// The plan id of an apply, or `event-N` for a rollout event: what `history show` takes.
        public var id: String
        public var at: Date
        /// `apply`, `drift` (an apply the controller made), `import`, `flag` (kill, release) or `rollout`.
        public var kind: String
        /// The OS user, `controller <replica>`, or `controller admin API`.
        public var actor: String
        /// `flag.<name>` for flag and rollout events; for applies, the first address changed.
        public var object: String
        public var gitCommit: String?
        public var summary: String
    }

    public static let kinds = ["apply", "drift", "import", "flag", "rollout"]

    /// Newest first. `object` matches an address or everything below it (`flag` matches
    /// `flag.channel.email`), and for applies any address the apply changed.
    ///
    /// From schema version 15 (`compressed`) an apply's line comes from its row's summary columns: no
    /// change list is expanded or decompressed. An apply of more than `AuditLog.listedObjectsLimit`
    /// changes lists only its addresses' first segments, so `object` matches it by that segment
    /// (`tenant.acme` lists every large tenant apply); `history show` has the exact list.
    public static func actions(
        limit: Int, since: Date?, kinds: [String], object: String?, withRollouts: Bool, withReasons: Bool,
        compressed: Bool = false, on c: DatabaseConnection, schema: SQLIdentifier, logger: Logger
    ) async throws -> [Action] {
        let audit = schema.qualifying("audit_log"), events = schema.qualifying("rollout_events")
        // A person's reason, when the schema records them, ends the summary.
        let eventReason: SQLFragment = withReasons ? " || coalesce(' (reason: ' || e.reason || ')', '')" : .empty
        let applyReason: SQLFragment = withReasons ? " || coalesce(' (reason: ' || a.reason || ')', '')" : .empty
        let rollouts: SQLFragment =
            withRollouts
            ? """
            UNION ALL
            SELECT 'event-' || e.id, e.at, CASE WHEN e.kind IN ('kill', 'release') THEN 'flag' ELSE 'rollout' END,
                   coalesce(e.actor, 'controller'), 'flag.' || e.flag, NULL, e.kind || ' at phase ' || (e.phase + 1) || ': ' || e.message\(eventReason),
                   ARRAY['flag.' || e.flag], true
            FROM \(events) e WHERE e.kind <> 'evaluation'
            """ : .empty
        let sinceText = since.map { String($0.timeIntervalSince1970) } ?? ""
        let objectText = object ?? ""
        // Before version 15 the change list is all a row has; from 15 the summary columns (filled for
        // older rows by the migration), with the change list read only for a row that lacks them.
        let applies: SQLFragment =
            compressed
            ? """
            SELECT a.plan_id::text AS id, a.applied_at AS at,
                   CASE WHEN a.summary ? 'import' THEN 'import' WHEN a.os_user LIKE 'controller %' THEN 'drift' ELSE 'apply' END AS kind,
                   a.os_user AS actor, coalesce(a.first_object, a.changes -> 0 ->> 'address', 'plan.' || a.plan_id) AS object, a.git_commit,
                   coalesce(a.summary ->> 'import',
                            a.added || ' added, ' || a.changed || ' changed, ' || a.destroyed || ' destroyed'
                              || coalesce(': ' || (a.summary ->> 'listed'), ''))\(applyReason) AS summary,
                   coalesce(a.objects, ARRAY(SELECT c ->> 'address' FROM json_array_elements(a.changes) c)) AS objects,
                   coalesce(a.objects_complete, true) AS complete
            FROM \(audit) a
            """
            : """
            SELECT a.plan_id::text AS id, a.applied_at AS at,
                   CASE WHEN a.os_user LIKE 'controller %' THEN 'drift' ELSE 'apply' END AS kind,
                   a.os_user AS actor, coalesce(a.changes -> 0 ->> 'address', 'plan.' || a.plan_id) AS object, a.git_commit,
                   a.added || ' added, ' || a.changed || ' changed, ' || a.destroyed || ' destroyed'
                     || CASE WHEN json_array_length(a.changes) BETWEEN 1 AND 3
                             THEN ': ' || (SELECT string_agg((c ->> 'action') || ' ' || (c ->> 'address'), ', ') FROM json_array_elements(a.changes) c)
                             ELSE '' END\(applyReason) AS summary,
                   ARRAY(SELECT c ->> 'address' FROM json_array_elements(a.changes) c) AS objects, true AS complete
            FROM \(audit) a
            """
        let rows = try await c.query(
            """
            SELECT id, at, kind, actor, object, git_commit, summary FROM (
                \(applies)
                \(rollouts)
            ) t
            WHERE (\(sinceText) = '' OR t.at >= to_timestamp(nullif(\(sinceText), '')::float8))
              AND (cardinality(\(kinds)::text[]) = 0 OR t.kind = ANY(\(kinds)::text[]))
              AND (\(objectText) = '' OR EXISTS (SELECT 1 FROM unnest(t.objects) o WHERE o = \(objectText) OR starts_with(o, \(objectText) || '.'))
                   OR (NOT t.complete AND split_part(\(objectText), '.', 1) = ANY(t.objects)))
            ORDER BY t.at DESC LIMIT \(limit)
            """, logger: logger)
        var out: [Action] = []
        for (id, at, kind, actor, object, commit, summary) in try rows.decode((String, Date, String, String, String, String?, String).self) {
            out.append(Action(id: id, at: at, kind: kind, actor: actor, object: object, gitCommit: commit, summary: summary))
        }
        return out
    }

    /// The whole record behind one line of the timeline.
    public struct Record: Sendable {
        /// Labelled fields in order; a value may have several lines.
        public var fields: [Field]
        /// An apply's plan document (`plan --format json`), for applies recorded from schema version 15.
        public var planDocument: [UInt8]?
        /// The hazard overrides the apply was given, to render its plan as it was applied.
        public var overrides: HazardOverrides

        public struct Field: Sendable, Equatable {
            public var label: String
            public var value: String
        }

        /// The plan of an apply, decoded from its document.
        public func plan() throws -> Plan? {
            try planDocument.map { try JSONPlanRenderer.decode(Data($0)) }
        }
    }

    /// One action's full record; nil when no action has that id.
    public static func record(
        _ id: String, withRollouts: Bool, withReasons: Bool, compressed: Bool = false, on c: DatabaseConnection,
        schema: SQLIdentifier, logger: Logger
    ) async throws -> Record? {
        let reasonColumn: SQLFragment = withReasons ? "coalesce(reason, '')" : "''"
        if id.hasPrefix("event-"), let number = Int64(id.dropFirst("event-".count)) {
            guard withRollouts else { return nil }
            let rows = try await c.query(
                """
                SELECT flag, at::text, phase + 1, kind, coalesce(actor, 'controller'), coalesce(guardrail, ''), coalesce(query, ''),
                       coalesce(value::text, ''), coalesce(threshold, ''), coalesce(verdict, ''), message, \(reasonColumn)
                FROM \(schema.qualifying("rollout_events")) WHERE id = \(number)
                """, logger: logger)
            for (flag, at, phase, kind, actor, guardrail, query, value, threshold, verdict, message, reason)
                in try rows.decode((String, String, Int, String, String, String, String, String, String, String, String, String).self)
            {
                var fields = [
                    ("event", id), ("at", at), ("flag", "flag." + flag), ("decision", kind), ("phase", "\(phase)"), ("by", actor),
                    ("message", message),
                ]
                if !reason.isEmpty { fields.append(("reason", reason)) }
                if !guardrail.isEmpty {
                    fields += [
                        ("guardrail", guardrail), ("query", query), ("value", value.isEmpty ? "no data" : value), ("threshold", threshold),
                        ("verdict", verdict),
                    ]
                }
                return Record(fields: fields.map { Record.Field(label: $0.0, value: $0.1) }, planDocument: nil, overrides: HazardOverrides())
            }
            return nil
        }
        guard let plan = UUID(uuidString: id) else { return nil }
        // A row from before version 15 (or written without a plan) lists its changes from its `changes` JSON.
        let oldChanges: SQLFragment = """
            coalesce((SELECT string_agg((ch ->> 'action') || ' ' || (ch ->> 'address')
                                        || coalesce(' (' || (SELECT string_agg(k, ', ') FROM json_array_elements_text(ch -> 'changed') k) || ')', ''),
                                        E'\\n' ORDER BY n)
                      FROM json_array_elements(changes) WITH ORDINALITY AS x(ch, n)), '')
            """
        let summaryColumn: SQLFragment = compressed ? "summary::text" : "NULL::text"
        let changesColumn: SQLFragment = compressed ? "CASE WHEN changes IS NOT NULL THEN \(oldChanges) ELSE '' END" : oldChanges
        let rows = try await c.query(
            """
            SELECT environment, applied_at::text, os_user, coalesce(git_commit, ''), added, changed, destroyed, \(reasonColumn),
                   \(changesColumn), \(summaryColumn)
            FROM \(schema.qualifying("audit_log")) WHERE plan_id = \(plan)
            """, logger: logger)
        var found: (String, String, String, String, Int, Int, Int, String, String, String?)?
        for row in try rows.decode((String, String, String, String, Int, Int, Int, String, String, String?).self) { found = row }
        guard let found else { return nil }
        let (environment, at, user, commit, added, changed, destroyed, reason, oldList, summaryText) = found
        // The plan's compressed parts, for applies recorded from version 15.
        var parts: [ByteBuffer] = []
        if compressed {
            let partRows = try await c.query(
                """
                SELECT gzip FROM \(schema.qualifying("audit_plans")) WHERE plan_id = \(plan) ORDER BY part
                """, logger: logger)
            for (part) in try partRows.decode(ByteBuffer.self) { parts.append(part) }
        }
        let summary = summaryText.flatMap { try? JSONDecoder().decode(AuditLog.Summary.self, from: Data($0.utf8)) }
        var fields =
            [("plan", id), ("environment", environment), ("applied at", at), ("by", user), ("commit", commit.isEmpty ? "-" : commit)]
            + (reason.isEmpty ? [] : [("reason", reason)])
            + [("summary", "\(added) added, \(changed) changed, \(destroyed) destroyed")]
        var document: [UInt8]?
        var changes = oldList
        if !parts.isEmpty {
            let bytes = try AuditLog.planDocument(parts, expectedBytes: summary?.planBytes)
            let decoded = try JSONPlanRenderer.decode(Data(bytes))
            document = bytes
            changes = decoded.changes.map { change in
                let attributes = change.action == .update || change.action == .replace ? change.changedAttributes : []
                return "\(change.action.rawValue) \(change.address)" + (attributes.isEmpty ? "" : " (\(attributes.joined(separator: ", ")))")
            }.joined(separator: "\n")
        }
        if let counts = summary?.counts, !counts.isEmpty {
            fields.append(
                (
                    "by kind",
                    counts.keys.sorted().map { kind in
                        kind + ": " + counts[kind]!.keys.sorted().map { "\(counts[kind]![$0]!) \($0)" }.joined(separator: ", ")
                    }.joined(separator: "\n")
                ))
        }
        fields.append(("changes", changes))
        return Record(
            fields: fields.map { Record.Field(label: $0.0, value: $0.1) }, planDocument: document,
            overrides: summary?.overrides ?? HazardOverrides())
    }
}

extension Session {
    /// The timeline of `guardrail history`; empty before the first apply.
    public func actions(limit: Int, since: Date? = nil, kinds: [String] = [], object: String? = nil) async throws -> [AuditTrail.Action] {
        guard let version = try await Migrations.currentVersion(connection, schema: schema, logger: logger) else { return [] }
        do {
            return try await AuditTrail.actions(
                limit: limit, since: since, kinds: kinds, object: object, withRollouts: version >= FlagStore.sinceSchemaVersion,
                withReasons: version >= Migrations.reasonsSinceVersion,
                compressed: version >= Migrations.compressedAuditSinceVersion,
                on: connection, schema: schema, logger: logger)
        } catch {
            throw DatabaseError.wrap(error, context: "reading the history")
        }
    }

    /// One action's full record for `guardrail history show`.
    public func action(_ id: String) async throws -> AuditTrail.Record? {
        guard let version = try await Migrations.currentVersion(connection, schema: schema, logger: logger) else { return nil }
        do {
            return try await AuditTrail.record(
                id, withRollouts: version >= FlagStore.sinceSchemaVersion, withReasons: version >= Migrations.reasonsSinceVersion,
                compressed: version >= Migrations.compressedAuditSinceVersion,
                on: connection, schema: schema, logger: logger)
        } catch {
            throw DatabaseError.wrap(error, context: "reading the history")
        }
    }
}
