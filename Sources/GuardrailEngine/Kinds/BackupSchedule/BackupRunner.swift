import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// Runs backups and restore drills for the schedules applied in an environment, and records each one.
///
/// The runner puts together the parts, each in a file of its own: who runs a due backup
/// (`BackupClaims`, a claim row and a lease), running pg_dump (`BackupDump`), where archives live and
/// what makes one good (`BackupArchiveStore`: verify, checksum, sync, retention), restore drills and
/// their checks (`RestoreDrill.swift`, `DrillChecks`), pgBackRest (`BackupRunner+PgBackRest.swift`)
/// and the controller's tick (`BackupRunner+Tick.swift`).
///
/// A backup is written under a temporary name, its table of contents and data offsets read back (`CustomArchive`), checksummed and only
/// then renamed into place, so a failure never leaves a partial file where a good one is expected.
public struct BackupRunner: Sendable {
    public let environment: ResolvedEnvironment
    public let directory: String
    /// Set by a controller that leads: claiming due work checks it, so a deposed leader claims nothing.
    public var fence: LeaderFence?
    /// Where pg_dump comes from; tests put a wrapper in its place.
    var pgDumpPath: @Sendable () throws -> String = { try PostgresTools.path(of: "pg_dump") }
    var database: Database { environment.database }
    var schema: SQLIdentifier { environment.database.schema }
    var logger: Logger { environment.database.logger }
    /// Where this environment's pg_dump archives are kept.
    public var archives: BackupArchiveStore { BackupArchiveStore(directory: directory) }
    var claims: BackupClaims { BackupClaims(database: database, fence: fence) }
    var dumper: BackupDump { BackupDump(database: database, pgDumpPath: pgDumpPath) }

    public init(environment: ResolvedEnvironment) throws {
        if let problem = environment.backupDirectoryProblem { throw DiagnosticError(problem) }
        // An environment with pgBackRest alone has no directory: its pg_dump schedules fail with `noDirectory` when they run.
        guard let directory = environment.backupDirectory ?? (environment.pgbackrest != nil || environment.pgbackrestProblem != nil ? "" : nil) else {
            throw Self.noDirectory(environment)
        }
        self.environment = environment
        self.directory = directory
    }

    static func noDirectory(_ environment: ResolvedEnvironment) -> DiagnosticError {
        DiagnosticError(
            .error(
                "environment \"\(environment.name)\" has no backups directory",
                detail: "Add spec.backups.directory to environments/\(environment.name).yaml."))
    }

    /// One recorded backup run.
    public struct Run: Sendable, Equatable {
        public enum Status: String, Sendable { case running, succeeded, failed, pruned }
        public var id: Int
        public var schedule: String
        public var scheduledFor: Date?
        public var status: Status
        public var startedAt: Date
        public var finishedAt: Date?
        public var sizeBytes: Int?
        public var sha256: String?
        public var file: String?
        public var error: String?
        /// pgBackRest runs: the backup's label, its type and the WAL segments it needs.
        public var label: String? = nil
        public var backupType: String? = nil
        public var walStart: String? = nil
        public var walStop: String? = nil
    }

    /// One recorded restore drill.
    public struct Drill: Sendable, Equatable {
        public var id: Int
        public var schedule: String
        public var backupRunID: Int?
        public var status: String
        public var startedAt: Date
        public var finishedAt: Date?
        public var checks: [DrillCheck]
        public var error: String?
        /// pgBackRest drills: seconds from the drill's start to the restored cluster answering at its target.
        public var rtoSeconds: Double? = nil
        /// pgBackRest drills: the point in time restored.
        public var target: String? = nil
    }

    public struct DrillCheck: Sendable, Equatable, Codable {
        public var name: String
        public var passed: Bool
        public var detail: String
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    // MARK: - Schedules

    /// The schedules applied in the environment (live state, not the manifests).
    public func schedules(on connection: DatabaseConnection? = nil) async throws -> [BackupSchedule] {
        try await using(connection) { c in
            guard let version = try await Migrations.currentVersion(c, schema: schema, logger: logger),
                version >= BackupScheduleStore.sinceSchemaVersion
            else { return [] }
            return try await BackupScheduleStore.observe(c, schema: schema, logger: logger)
        }
    }

    public func schedule(named name: String, on connection: DatabaseConnection? = nil) async throws -> BackupSchedule {
        let all = try await schedules(on: connection)
        guard let schedule = all.first(where: { $0.name == name }) else {
            var hint =
                all.isEmpty
                ? "No backup schedules are applied yet; run `guardrail apply` first."
                : "Applied schedules: \(all.map(\.name).joined(separator: ", "))."
            if let s = Suggestion.closest(to: name, among: all.map(\.name)) { hint = "Did you mean \"\(s)\"? " + hint }
            throw DiagnosticError(.error("no backup schedule \"\(name)\" in environment \"\(environment.name)\"", detail: hint))
        }
        return schedule
    }

    // MARK: - Backups

    /// Runs one backup now (or for the cron time `scheduledFor`, claimed so only one runner takes it),
    /// then prunes by retention. Returns nil when another runner already claimed `scheduledFor`.
    @discardableResult
    public func backup(_ schedule: BackupSchedule, scheduledFor: Date? = nil, now: @Sendable () -> Date = Date.init) async throws -> Run? {
        try await backup(schedule, scheduledFor: scheduledFor, now: now, leaseConnection: nil)
    }

    /// `guardrail backup run NAME`: the schedule as applied, backed up now.
    ///
    /// pg_dump of the environment's own database (what a schedule without `database` backs up) starts
    /// at once, while one connection looks the schedule up, claims the run and later records it: the
    /// bookkeeping costs nothing on top of the dump. A schedule that names another database, or any
    /// failure before the claim, stops that dump and removes its file.
    public func backup(named name: String, now: @Sendable () -> Date = Date.init) async throws -> Run? {
        let started = directory.isEmpty ? nil : dumper.start(named: name, now: now(), in: archives)
        let connection: DatabaseConnection
        let schedule: BackupSchedule
        do {
            connection = try await database.connect(applicationName: "guardrail backup \(name)")
            do {
                schedule = try await self.schedule(named: name, on: connection)
            } catch {
                await connection.close()
                throw error
            }
        } catch {
            await started?.discard()
            throw error
        }
        var dump = started
        if let d = dump, schedule.method == .pgbackrest || (schedule.database.map({ $0 != database.url.database }) ?? false) {
            await d.discard()
            dump = nil
        }
        return try await backup(schedule, scheduledFor: nil, now: now, leaseConnection: connection, started: dump)
    }

    /// `leaseConnection`, when given, becomes the run's lease (and is closed with it). `started` is a
    /// dump of the right database already under way.
    private func backup(
        _ schedule: BackupSchedule, scheduledFor: Date?, now: @Sendable () -> Date,
        leaseConnection: DatabaseConnection?, started: BackupDump.Started? = nil
    ) async throws -> Run? {
        if schedule.method == .pgbackrest {
            await started?.discard()
            return try await pgBackRestBackup(schedule, scheduledFor: scheduledFor, leaseConnection: leaseConnection)
        }
        if directory.isEmpty {
            await leaseConnection?.close()
            throw Self.noDirectory(environment)
        }
        let lease: BackupLease
        do {
            guard let claimed = try await claims.claim("backup_runs", schedule: schedule.name, scheduledFor: scheduledFor, on: leaseConnection) else {
                await started?.discard()
                return nil
            }
            lease = claimed
        } catch {
            await started?.discard()
            throw error
        }
        // Ended in this task on every path, before the function returns: the run's lock is its connection's.
        return try await lease.holding {
            let id = lease.id
            let folder = archives.folder(for: schedule.name)
            let stamp = started?.stamp ?? BackupArchiveStore.fileStamp(now())
            let final = folder.appendingPathComponent("\(schedule.name)-\(stamp)-\(id).dump")
            let partial = folder.appendingPathComponent(".\(schedule.name)-\(stamp)-\(id).dump.partial")
            // The running dump's file takes the run's name now, as a second link to the same file:
            // pg_dump may not have opened its pending name yet (a slow start on a busy machine), and
            // opening that name must still reach this file, so the pending name goes only once the
            // dump is done. Until then the reaper leaves it: it removes pending files only when old.
            var started = started
            var writtenTo = partial
            var pendingName: URL?
            if let s = started {
                if link(s.file.path, partial.path) == 0 {
                    pendingName = s.file
                } else if errno == ENOENT {
                    writtenTo = s.file
                } else {
                    await s.discard()
                    started = nil
                }
            }
            do {
                do {
                    try BackupArchiveStore.createPrivateDirectory(folder)
                } catch {
                    throw Failure(description: "cannot create the backup directory \(folder.path): \(Self.reason(error))")
                }
                let dump: ExternalCommand.Result
                if let started {
                    dump = await started.task.value
                } else {
                    dump = try await dumper.run(database: schedule.database, to: partial, schedule: schedule.name)
                }
                guard dump.status == 0 else { throw Failure(description: "pg_dump failed: " + Self.lastLines(dump.stderr)) }
                if let pendingName {
                    unlink(pendingName.path)
                }
                if writtenTo != partial, rename(writtenTo.path, partial.path) != 0 {
                    throw Failure(description: "cannot rename \(writtenTo.path): \(String(cString: strerror(errno)))")
                }
                // Whatever pg_dump did to the file, the archive is the owner's alone before it has its final name.
                guard chmod(partial.path, BackupArchiveStore.archiveMode) == 0 else {
                    throw Failure(description: "cannot make \(partial.path) private: \(String(cString: strerror(errno)))")
                }
                try await BackupArchiveStore.verify(partial)
                // Hashing and fsync block for as long as the archive is large: on NIO's pool, not Swift's.
                let (size, digest) = try await offloaded { try BackupArchiveStore.checksum(partial) }
                guard rename(partial.path, final.path) == 0 else {
                    throw Failure(description: "cannot move the backup into place at \(final.path): \(String(cString: strerror(errno)))")
                }
                try await offloaded { try BackupArchiveStore.syncToDisk(final, in: folder) }
                try await finishRun(id: id, status: .succeeded, size: size, sha256: digest, file: final.path, error: nil, on: lease.connection)
            } catch {
                try? FileManager.default.removeItem(at: partial)
                if writtenTo != partial { try? FileManager.default.removeItem(at: writtenTo) }
                if let pendingName { try? FileManager.default.removeItem(at: pendingName) }
                let message = (error as? Failure)?.description ?? "\(error)"
                try await finishRun(id: id, status: .failed, size: nil, sha256: nil, file: nil, error: message)
                throw Failure(description: "backup \(schedule.name) failed: \(message)")
            }
            // The lease's connection does the rest: every connection costs a TCP and SCRAM handshake. One
            // read of the runs serves pruning and the answer (the new run is the newest good one, which
            // retention never prunes).
            let all = try await runs(schedule: schedule.name, limit: 100_000, on: lease.connection)
            _ = try await prune(schedule, runs: all, now: now(), on: lease.connection)
            return all.first { $0.id == id }
        }
    }

    /// Marks as failed the 'running' backups and drills whose runner is gone (its run lock is free):
    /// a process killed mid-run leaves no stuck row behind, and its leftover partial file is removed.
    /// Returns what it marked.
    @discardableResult
    public func reapAbandoned() async throws -> [String] {
        let reaped = try await claims.reapAbandoned()
        try await archives.removeLeftoverPartials { schedule, id in
            try await runs(schedule: schedule, limit: 100_000).first(where: { $0.id == id })?.status == .running
        }
        return reaped
    }

    // MARK: - Records

    /// `body` on `connection`, or on a connection of its own when there is none.
    func using<T: Sendable>(_ connection: DatabaseConnection?, _ body: (DatabaseConnection) async throws -> T) async throws -> T {
        if let connection { return try await body(connection) }
        return try await database.withConnection(applicationName: "guardrail backup", body)
    }

    func finishRun(
        id: Int, status: Run.Status, size: Int?, sha256: String?, file: String?, error: String?,
        on connection: DatabaseConnection? = nil
    ) async throws {
        _ = try await using(connection) { c in
            try await c.query(
                """
                UPDATE \(schema.qualifying("backup_runs"))
                SET status = \(status.rawValue), finished_at = clock_timestamp(), size_bytes = \(size), sha256 = \(sha256),
                    file = \(file), error = \(error)
                WHERE id = \(id)
                """, logger: logger)
        }
    }

    /// Recorded runs, newest first. The pgBackRest columns are read through `to_jsonb`, so a schema
    /// not yet migrated to them (before the next apply) reads them as NULL instead of failing.
    public func runs(schedule: String? = nil, limit: Int = 50, on connection: DatabaseConnection? = nil) async throws -> [Run] {
        try await using(connection) { c in
            let rows = try await c.query(
                """
                SELECT id, schedule, scheduled_for, status, started_at, finished_at, size_bytes, sha256, file, error,
                       to_jsonb(r)->>'label', to_jsonb(r)->>'backup_type', to_jsonb(r)->>'wal_start', to_jsonb(r)->>'wal_stop'
                FROM \(schema.qualifying("backup_runs")) r
                WHERE \(schedule)::text IS NULL OR schedule = \(schedule)
                ORDER BY started_at DESC, id DESC LIMIT \(limit)
                """, logger: logger)
            var result: [Run] = []
            for (id, name, due, status, started, finished, size, sha, file, error, label, type, walStart, walStop)
                in try rows.decode(
                    (Int, String, Date?, String, Date, Date?, Int?, String?, String?, String?, String?, String?, String?, String?).self)
            {
                result.append(
                    Run(
                        id: id, schedule: name, scheduledFor: due, status: Run.Status(rawValue: status) ?? .failed,
                        startedAt: started, finishedAt: finished, sizeBytes: size, sha256: sha, file: file, error: error,
                        label: label, backupType: type, walStart: walStart, walStop: walStop))
            }
            return result
        }
    }

    // MARK: - Helpers

    static func lastLines(_ text: String, count: Int = 5) -> String {
        let lines = text.split(separator: "\n").suffix(count).joined(separator: " | ")
        return lines.isEmpty ? "no error output" : String(lines.prefix(2000))
    }

    static func reason(_ error: any Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return ns.localizedDescription
    }
}
