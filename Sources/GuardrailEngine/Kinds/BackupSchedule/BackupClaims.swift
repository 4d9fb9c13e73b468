import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// A claimed run: its row id, and the connection holding the run's advisory lock until it ends,
/// so a runner that dies mid-run is told apart from one still working (see `BackupClaims.reapAbandoned`).
struct BackupLease {
    var id: Int
    var connection: DatabaseConnection
    func end() async { await connection.close() }

    /// Runs `body`, then ends the lease in the same task whether it returned or threw.
    func holding<T>(_ body: () async throws -> T) async throws -> T {
        do {
            let value = try await body()
            await end()
            return value
        } catch {
            await end()
            throw error
        }
    }
}

/// Who runs a due backup or drill: every runner (controller replicas, `guardrail backup run`) inserts
/// the run's row for its schedule and due time, and the one whose insert lands holds the run's
/// advisory lock for as long as it works. A row whose lock is free belongs to a runner that died.
struct BackupClaims: Sendable {
    var database: Database
    /// Set by a controller that leads: claiming due work checks it, so a deposed leader claims nothing.
    var fence: LeaderFence?
    var schema: SQLIdentifier { database.schema }
    var logger: Logger { database.logger }

    static func runKey(_ table: String, _ id: Int) -> Int64 {
        AdvisoryLock.key("\(table)/run/\(id)")
    }

    /// Inserts a 'running' row into `table` for (schedule, scheduledFor) and takes the run's lock
    /// before the row commits; nil when that row already exists, that is when another runner claimed
    /// the same due time first.
    func claim(_ table: String, schedule: String, scheduledFor: Date?, on existing: DatabaseConnection? = nil) async throws -> BackupLease? {
        let fence = self.fence, schema = self.schema, logger = self.logger
        let connection: DatabaseConnection
        if let existing { connection = existing } else { connection = try await database.connect(applicationName: "guardrail backup \(schedule)") }
        do {
            let id: Int? = try await connection.transaction(logger: logger, context: "claiming a backup") { c in
                try await fence?.check(c, schema: schema, logger: logger)
                let rows = try await c.query(
                    """
                    INSERT INTO \(schema.qualifying(table)) (schedule, scheduled_for, status)
                    VALUES (\(schedule), \(scheduledFor), 'running')
                    ON CONFLICT (schedule, scheduled_for) DO NOTHING
                    RETURNING id
                    """, logger: logger)
                var id: Int?
                for (value) in try rows.decode(Int.self) { id = value }
                if let id { try await c.query("SELECT pg_advisory_lock(\(Self.runKey(table, id)))", logger: logger) }
                return id
            }
            guard let id else {
                await connection.close()
                return nil
            }
            return BackupLease(id: id, connection: connection)
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Marks as failed the 'running' backups and drills whose runner is gone (its run lock is free).
    /// Returns what it marked.
    func reapAbandoned() async throws -> [String] {
        let schema = self.schema, logger = self.logger
        var reaped: [String] = []
        try await database.withConnection(applicationName: "guardrail backup reaper") { c in
            for table in ["backup_runs", "backup_drills"] {
                let rows = try await c.query("SELECT id, schedule FROM \(schema.qualifying(table)) WHERE status = 'running'", logger: logger)
                var running: [(Int, String)] = []
                for (id, schedule) in try rows.decode((Int, String).self) { running.append((id, schedule)) }
                for (id, schedule) in running {
                    let abandoned: Bool = try await c.transaction(logger: logger, context: "checking run \(id)") { t in
                        var free = false
                        for (ok) in try await t.query("SELECT pg_try_advisory_xact_lock(\(Self.runKey(table, id)))", logger: logger).decode(Bool.self)
                        { free = ok }
                        guard free else { return false }
                        try await t.query(
                            """
                            UPDATE \(schema.qualifying(table)) SET status = 'failed', finished_at = clock_timestamp(),
                                error = 'abandoned: the runner stopped before finishing'
                            WHERE id = \(id) AND status = 'running'
                            """, logger: logger)
                        return true
                    }
                    if abandoned { reaped.append("\(table == "backup_runs" ? "backup" : "drill") \(id) of \(schedule)") }
                }
            }
        }
        return reaped
    }
}
