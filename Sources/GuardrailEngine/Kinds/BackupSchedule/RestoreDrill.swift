import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// Restore drills of pg_dump schedules: the newest good archive, its checksum checked again,
/// restored by pg_restore into a scratch database that is dropped afterwards, and the schedule's
/// checks run on it. pgBackRest schedules drill in `BackupRunner+PgBackRest.swift`, with the same checks.
extension BackupRunner {
    /// Restores the newest good backup into a scratch database, runs the schedule's checks, records the
    /// result and drops the scratch database. Returns nil when another runner claimed `scheduledFor`.
    @discardableResult
    public func drill(_ schedule: BackupSchedule, scheduledFor: Date? = nil) async throws -> Drill? {
        if schedule.method == .pgbackrest { return try await pgBackRestDrill(schedule, scheduledFor: scheduledFor) }
        let checks = schedule.restoreDrill ?? BackupSchedule.RestoreDrill(schedule: schedule.schedule)
        guard let lease = try await claims.claim("backup_drills", schedule: schedule.name, scheduledFor: scheduledFor) else { return nil }
        // Ended in this task on every path, before the function returns: the run's lock is its connection's.
        return try await lease.holding {
            let id = lease.id
            var results: [DrillCheck] = []
            var backupID: Int?
            var failure: String?
            // Named after the source database so an operator can tell whose scratch copy it is.
            let source = schedule.database ?? database.url.database
            let scratch = "guardrail_drill_\(source.prefix(30))_\(id)_\(UUID().uuidString.prefix(6).lowercased())"
            var created = false
            do {
                guard let newest = try await runs(schedule: schedule.name, limit: 100_000).first(where: { $0.status == .succeeded }),
                    let file = newest.file
                else {
                    throw Failure(description: "there is no successful backup of \(schedule.name) to restore")
                }
                backupID = newest.id
                let (_, digest) = try await offloaded { try BackupArchiveStore.checksum(URL(fileURLWithPath: file)) }
                guard digest == newest.sha256 else {
                    throw Failure(description: "the archive \(file) does not match the checksum recorded when it was written; it is corrupted")
                }
                results.append(DrillCheck(name: "checksum", passed: true, detail: "sha256 \(digest.prefix(12))… matches"))

                try await database.withConnection(applicationName: "guardrail drill") { c in
                    _ = try await c.query("CREATE DATABASE \(SQLIdentifier(scratch))", logger: logger)
                }
                created = true
                let env = database.url.libpqEnvironment(database: scratch, applicationName: "guardrail drill \(schedule.name)")
                let restore = try await ExternalCommand(
                    executable: try PostgresTools.path(of: "pg_restore"),
                    arguments: ["--dbname=\(scratch)", "--exit-on-error", "--no-password", file],
                    environment: env
                ).run()
                guard restore.status == 0 else { throw Failure(description: "pg_restore failed: " + Self.lastLines(restore.stderr)) }
                results.append(DrillCheck(name: "restore", passed: true, detail: "pg_restore into a scratch database succeeded"))

                var scratchURL = database.url
                scratchURL.database = scratch
                let scratchDB = Database(url: scratchURL, schema: schema.name)
                var sourceURL = database.url
                sourceURL.database = source
                let sourceDB = Database(url: sourceURL, schema: schema.name)
                results += try await DrillChecks.run(checks, restored: scratchDB, source: sourceDB, logger: logger)
                if let bad = results.first(where: { !$0.passed }) { failure = "check \"\(bad.name)\" failed: \(bad.detail)" }
            } catch {
                failure = (error as? Failure)?.description ?? "\(error)"
            }
            if created {
                _ = try? await database.withConnection(applicationName: "guardrail drill") { c in
                    try await c.query("DROP DATABASE IF EXISTS \(SQLIdentifier(scratch)) WITH (FORCE)", logger: logger)
                }
            }
            let checksJSON = String(decoding: try JSONEncoder().encode(results), as: UTF8.self)
            try await database.withConnection(applicationName: "guardrail drill") { c in
                _ = try await c.query(
                    """
                    UPDATE \(schema.qualifying("backup_drills"))
                    SET status = \(failure == nil ? "succeeded" : "failed"), finished_at = clock_timestamp(),
                        backup_run_id = \(backupID), checks = \(checksJSON)::jsonb, error = \(failure)
                    WHERE id = \(id)
                    """, logger: logger)
            }
            return try await drills(schedule: schedule.name, limit: 100).first { $0.id == id }
        }
    }

    /// Recorded drills, newest first (the pgBackRest columns read as in `runs`).
    public func drills(schedule: String? = nil, limit: Int = 50, on connection: DatabaseConnection? = nil) async throws -> [Drill] {
        try await using(connection) { c in
            try Self.decodeDrills(
                try await c.query(
                    """
                    SELECT \(Self.drillColumns)
                    FROM \(schema.qualifying("backup_drills")) d
                    WHERE \(schedule)::text IS NULL OR schedule = \(schedule)
                    ORDER BY started_at DESC, id DESC LIMIT \(limit)
                    """, logger: logger))
        }
    }

    /// Each schedule's newest drill, in one query.
    func newestDrills(on c: DatabaseConnection) async throws -> [String: Drill] {
        let drills = try Self.decodeDrills(
            try await c.query(
                """
                SELECT DISTINCT ON (schedule) \(Self.drillColumns)
                FROM \(schema.qualifying("backup_drills")) d
                ORDER BY schedule, started_at DESC, id DESC
                """, logger: logger))
        return Dictionary(drills.map { ($0.schedule, $0) }, uniquingKeysWith: { a, _ in a })
    }

    private static let drillColumns: SQLFragment = """
        id, schedule, backup_run_id, status, started_at, finished_at, checks::text, error,
        (to_jsonb(d)->>'rto_seconds')::double precision, to_jsonb(d)->>'target'
        """

    private static func decodeDrills(_ rows: QueryRows) throws -> [Drill] {
        var result: [Drill] = []
        for (id, name, run, status, started, finished, checks, error, rto, target)
            in try rows.decode((Int, String, Int?, String, Date, Date?, String, String?, Double?, String?).self)
        {
            let parsed = (try? JSONDecoder().decode([DrillCheck].self, from: Data(checks.utf8))) ?? []
            result.append(
                Drill(
                    id: id, schedule: name, backupRunID: run, status: status, startedAt: started, finishedAt: finished,
                    checks: parsed, error: error, rtoSeconds: rto, target: target))
        }
        return result
    }
}

/// A drill's checks on the restored copy, the same for every backup method: row counts, the
/// row-level security the source has (compared with the source database now), and SQL assertions.
enum DrillChecks {
    typealias DrillCheck = BackupRunner.DrillCheck

    /// Every check of `checks` on the restored copy, in order.
    static func run(_ checks: BackupSchedule.RestoreDrill, restored: Database, source: Database, logger: Logger) async throws -> [DrillCheck] {
        try await restored.withConnection(applicationName: "guardrail drill") { copy in
            var out: [DrillCheck] = []
            for check in checks.rowCounts {
                out.append(try await Self.rowCount(check, on: copy, logger: logger))
            }
            if checks.rlsPolicies {
                let original = try await source.withConnection(applicationName: "guardrail drill") { try await Self.policies(on: $0, logger: logger) }
                let restoredPolicies = try await Self.policies(on: copy, logger: logger)
                let missing = original.subtracting(restoredPolicies).sorted()
                out.append(
                    DrillCheck(
                        name: "rls policies", passed: missing.isEmpty,
                        detail: original.isEmpty
                            ? "the source has no row-level security to compare"
                            : missing.isEmpty
                                ? "all \(original.count) policies and RLS flags restored"
                                : "missing after restore: " + missing.prefix(10).joined(separator: ", ")))
            }
            for check in checks.sql {
                out.append(try await Self.sqlCheck(check, on: copy, logger: logger))
            }
            return out
        }
    }

    static func rowCount(_ check: BackupSchedule.RowCountCheck, on c: DatabaseConnection, logger: Logger) async throws -> DrillCheck {
        do {
            // Validated when the manifest was decoded; a hand-made check that is not a table name fails here.
            guard case .success(let name) = QualifiedName.parse(check.table) else {
                return DrillCheck(name: "rows in \(check.table)", passed: false, detail: "not a schema.table name")
            }
            let table = SQLIdentifier(name.schema).qualifying(name.name)
            let rows = try await c.query("SELECT count(*) FROM \(table)", logger: logger)
            var count = 0
            for (n) in try rows.decode(Int.self) { count = n }
            return DrillCheck(name: "rows in \(check.table)", passed: count >= check.min, detail: "\(count) rows (at least \(check.min) expected)")
        } catch {
            return DrillCheck(name: "rows in \(check.table)", passed: false, detail: "\(DatabaseError.wrap(error, context: "counting rows"))")
        }
    }

    /// `schema.table: policy` for every policy, plus `schema.table: RLS enabled/forced` flags.
    static func policies(on c: DatabaseConnection, logger: Logger) async throws -> Set<String> {
        let rows = try await c.query(
            """
            SELECT n.nspname || '.' || t.relname || ': policy ' || p.polname
            FROM pg_policy p JOIN pg_class t ON t.oid = p.polrelid JOIN pg_namespace n ON n.oid = t.relnamespace
            UNION ALL
            SELECT n.nspname || '.' || t.relname || ': row level security ' ||
                   CASE WHEN t.relforcerowsecurity THEN 'forced' ELSE 'enabled' END
            FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE t.relrowsecurity AND n.nspname NOT IN ('pg_catalog', 'information_schema')
            """, logger: logger)
        var result: Set<String> = []
        for (line) in try rows.decode(String.self) { result.insert(line) }
        return result
    }

    static func sqlCheck(_ check: BackupSchedule.SQLCheck, on c: DatabaseConnection, logger: Logger) async throws -> DrillCheck {
        do {
            return try await c.transaction("BEGIN READ ONLY", logger: logger, context: "running check \(check.name)") { t in
                let rows = try await t.query(PostgresQuery(unsafeSQL: check.query), logger: logger)
                var values: [Bool] = []
                for (value) in try rows.decode(Bool.self) { values.append(value) }
                guard values.count == 1 else {
                    return DrillCheck(name: check.name, passed: false, detail: "the query returned \(values.count) rows; it must return one boolean")
                }
                return DrillCheck(name: check.name, passed: values[0], detail: values[0] ? "true" : "returned false")
            }
        } catch {
            return DrillCheck(name: check.name, passed: false, detail: "\(DatabaseError.wrap(error, context: "running the check"))")
        }
    }
}
