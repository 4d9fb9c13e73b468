import Crypto
import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// Runs backups and restore drills for the schedules applied in an environment, and records each one.
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
        DiagnosticError(.error("environment \"\(environment.name)\" has no backups directory",
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
                  version >= BackupScheduleStore.sinceSchemaVersion else { return [] }
            return try await BackupScheduleStore.observe(c, schema: schema, logger: logger)
        }
    }

    public func schedule(named name: String, on connection: DatabaseConnection? = nil) async throws -> BackupSchedule {
        let all = try await schedules(on: connection)
        guard let schedule = all.first(where: { $0.name == name }) else {
            var hint = all.isEmpty ? "No backup schedules are applied yet; run `guardrail apply` first." : "Applied schedules: \(all.map(\.name).joined(separator: ", "))."
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
        let started = directory.isEmpty ? nil : startDump(named: name, now: now())
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

    /// A pg_dump started before its run was claimed, writing to a `pending` file.
    struct StartedDump: Sendable {
        var task: Task<ExternalCommand.Result, Never>
        var file: URL
        var stamp: String

        /// Stops the dump and removes what it wrote.
        func discard() async {
            task.cancel()
            _ = await task.value
            try? FileManager.default.removeItem(at: file)
        }
    }

    /// Starts pg_dump of the environment's database for schedule `name`; nil when the backup folder
    /// cannot be made (the claimed run then reports why).
    private func startDump(named name: String, now: Date) -> StartedDump? {
        let folder = URL(fileURLWithPath: directory).appendingPathComponent(name, isDirectory: true)
        guard (try? Self.createPrivateDirectory(folder)) != nil else { return nil }
        let stamp = Self.fileStamp(now)
        let file = folder.appendingPathComponent(".\(name)-\(stamp)-\(Self.pendingMarker)\(UUID().uuidString.prefix(8).lowercased()).dump.partial")
        let running: ExternalCommand.Started
        do {
            try Self.createPrivateFile(file)
            running = try pgDump(database: nil, to: file, schedule: name).start()
        } catch {
            try? FileManager.default.removeItem(at: file)
            return nil
        }
        return StartedDump(task: Task { await running.wait() }, file: file, stamp: stamp)
    }

    /// Names the dumps started before a claim; the reaper removes such files once they are old.
    static let pendingMarker = "pending"

    /// An archive holds the whole database: only the owner may read it.
    public static let archiveMode: mode_t = 0o600
    /// Folders Guardrail creates for archives: only the owner may list or enter them.
    public static let directoryMode: mode_t = 0o700

    /// Creates `folder` and any missing parents 0700; folders that exist keep their mode.
    static func createPrivateDirectory(_ folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: Int(directoryMode)])
    }

    /// Creates the empty file pg_dump will write, 0600 before any byte is in it: pg_dump opens an
    /// existing file without changing its mode, whatever the umask would give a new one.
    static func createPrivateFile(_ file: URL) throws {
        let fd = open(file.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, archiveMode)
        guard fd >= 0 else { throw Failure(description: "cannot create \(file.path): \(String(cString: strerror(errno)))") }
        // The umask may have taken bits away; it can never have added any, but set the mode exactly.
        _ = fchmod(fd, archiveMode)
        close(fd)
    }

    /// Archives under the backup directory that the group or others can read, with their modes:
    /// `backup list` warns about each (older Guardrail versions wrote them 0644).
    public func exposedArchives() -> [(path: String, mode: mode_t)] {
        let fm = FileManager.default
        var found: [(String, mode_t)] = []
        let schedules = (try? fm.contentsOfDirectory(atPath: directory)) ?? []
        for schedule in schedules.sorted() where !schedule.hasPrefix(".") {
            let folder = directory + "/" + schedule
            for name in ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).sorted() where name.hasSuffix(".dump") {
                var st = stat()
                let path = folder + "/" + name
                guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_mode & 0o077 != 0 else { continue }
                found.append((path, st.st_mode & 0o7777))
            }
        }
        return found
    }

    private func pgDump(database name: String?, to file: URL, schedule: String) throws -> ExternalCommand {
        let env = database.url.libpqEnvironment(database: name, applicationName: "guardrail backup \(schedule)")
        return ExternalCommand(executable: try pgDumpPath(),
                               arguments: ["--format=custom", "--file=\(file.path)", "--no-password", "--no-sync"], environment: env)
    }

    /// `leaseConnection`, when given, becomes the run's lease (and is closed with it). `started` is a
    /// dump of the right database already under way.
    private func backup(_ schedule: BackupSchedule, scheduledFor: Date?, now: @Sendable () -> Date,
                        leaseConnection: DatabaseConnection?, started: StartedDump? = nil) async throws -> Run? {
        if schedule.method == .pgbackrest {
            await started?.discard()
            return try await pgBackRestBackup(schedule, scheduledFor: scheduledFor, leaseConnection: leaseConnection)
        }
        if directory.isEmpty {
            await leaseConnection?.close()
            throw Self.noDirectory(environment)
        }
        let lease: Lease
        do {
            guard let claimed = try await claim("backup_runs", schedule: schedule.name, scheduledFor: scheduledFor, on: leaseConnection) else {
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
            let folder = URL(fileURLWithPath: directory).appendingPathComponent(schedule.name, isDirectory: true)
            let stamp = started?.stamp ?? Self.fileStamp(now())
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
                    try Self.createPrivateDirectory(folder)
                } catch {
                    throw Failure(description: "cannot create the backup directory \(folder.path): \(Self.reason(error))")
                }
                let dump: ExternalCommand.Result
                if let started {
                    dump = await started.task.value
                } else {
                    try Self.createPrivateFile(partial)
                    dump = try await pgDump(database: schedule.database, to: partial, schedule: schedule.name).run()
                }
                guard dump.status == 0 else { throw Failure(description: "pg_dump failed: " + Self.lastLines(dump.stderr)) }
                if let pendingName {
                    unlink(pendingName.path)
                }
                if writtenTo != partial, rename(writtenTo.path, partial.path) != 0 {
                    throw Failure(description: "cannot rename \(writtenTo.path): \(String(cString: strerror(errno)))")
                }
                // Whatever pg_dump did to the file, the archive is the owner's alone before it has its final name.
                guard chmod(partial.path, Self.archiveMode) == 0 else {
                    throw Failure(description: "cannot make \(partial.path) private: \(String(cString: strerror(errno)))")
                }
                try await Self.verifyArchive(partial)
                // Hashing and fsync block for as long as the archive is large: on NIO's pool, not Swift's.
                let (size, digest) = try await offloaded { try Self.checksum(partial) }
                guard rename(partial.path, final.path) == 0 else {
                    throw Failure(description: "cannot move the backup into place at \(final.path): \(String(cString: strerror(errno)))")
                }
                try await offloaded { try Self.syncToDisk(final, in: folder) }
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

    /// Deletes the files of backups that retention no longer keeps, newest good backup excepted.
    public func prune(_ schedule: BackupSchedule, now: Date, on connection: DatabaseConnection? = nil) async throws -> [Int] {
        try await prune(schedule, runs: try await runs(schedule: schedule.name, limit: 100_000, on: connection), now: now, on: connection)
    }

    /// `prune`, given the schedule's runs as just read.
    private func prune(_ schedule: BackupSchedule, runs: [Run], now: Date, on connection: DatabaseConnection?) async throws -> [Int] {
        let good = runs.filter { $0.status == .succeeded }
        let prunable = BackupRetention.prunable(good.compactMap { run in run.finishedAt.map { .init(id: run.id, finishedAt: $0) } },
                                                retention: schedule.retention, now: now)
        guard !prunable.isEmpty else { return [] }
        for run in good where prunable.contains(run.id) {
            if let file = run.file { try? FileManager.default.removeItem(atPath: file) }
        }
        try await using(connection) { c in
            _ = try await c.query("""
                UPDATE \(unescaped: schema.qualifying("backup_runs")) SET status = 'pruned', pruned_at = clock_timestamp()
                WHERE id = ANY(\(prunable))
                """, logger: logger)
        }
        return prunable
    }

    /// A claimed run: its row id, and the connection holding the run's advisory lock until it ends,
    /// so a runner that dies mid-run is told apart from one still working (see `reapAbandoned`).
    struct Lease {
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

    static func runKey(_ table: String, _ id: Int) -> Int64 {
        AdvisoryLock.key("\(table)/run/\(id)")
    }

    /// Inserts a 'running' row into `table` for (schedule, scheduledFor) and takes the run's lock
    /// before the row commits; nil when that row already exists, that is when another runner claimed
    /// the same due time first.
    func claim(_ table: String, schedule: String, scheduledFor: Date?, on existing: DatabaseConnection? = nil) async throws -> Lease? {
        let fence = self.fence, schema = self.schema, logger = self.logger
        let connection: DatabaseConnection
        if let existing { connection = existing } else { connection = try await database.connect(applicationName: "guardrail backup \(schedule)") }
        do {
            let id: Int? = try await connection.transaction(logger: logger, context: "claiming a backup") { c in
                try await fence?.check(c, schema: schema, logger: logger)
                let rows = try await c.query("""
                    INSERT INTO \(unescaped: schema.qualifying(table)) (schedule, scheduled_for, status)
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
            return Lease(id: id, connection: connection)
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Marks as failed the 'running' backups and drills whose runner is gone (its run lock is free):
    /// a process killed mid-run leaves no stuck row behind, and its leftover partial file is removed.
    /// Returns what it marked.
    @discardableResult
    public func reapAbandoned() async throws -> [String] {
        let schema = self.schema, logger = self.logger
        var reaped: [String] = []
        try await database.withConnection(applicationName: "guardrail backup reaper") { c in
            for table in ["backup_runs", "backup_drills"] {
                let rows = try await c.query("SELECT id, schedule FROM \(unescaped: schema.qualifying(table)) WHERE status = 'running'", logger: logger)
                var running: [(Int, String)] = []
                for (id, schedule) in try rows.decode((Int, String).self) { running.append((id, schedule)) }
                for (id, schedule) in running {
                    let abandoned: Bool = try await c.transaction(logger: logger, context: "checking run \(id)") { t in
                        var free = false
                        for (ok) in try await t.query("SELECT pg_try_advisory_xact_lock(\(Self.runKey(table, id)))", logger: logger).decode(Bool.self) { free = ok }
                        guard free else { return false }
                        try await t.query("""
                            UPDATE \(unescaped: schema.qualifying(table)) SET status = 'failed', finished_at = clock_timestamp(),
                                error = 'abandoned: the runner stopped before finishing'
                            WHERE id = \(id) AND status = 'running'
                            """, logger: logger)
                        return true
                    }
                    if abandoned { reaped.append("\(table == "backup_runs" ? "backup" : "drill") \(id) of \(schedule)") }
                }
            }
        }
        // Partial files of runs that are no longer running.
        let fm = FileManager.default
        for schedule in (try? fm.contentsOfDirectory(atPath: directory)) ?? [] {
            let folder = URL(fileURLWithPath: directory).appendingPathComponent(schedule)
            for name in (try? fm.contentsOfDirectory(atPath: folder.path)) ?? [] where name.hasSuffix(".dump.partial") {
                if name.contains("-\(Self.pendingMarker)") {
                    // A dump started before its claim takes its run's name within moments (or, when the
                    // claim came first, as it finishes); one that pg_dump has not written for ten
                    // minutes belongs to a runner that died.
                    let path = folder.appendingPathComponent(name).path
                    if let modified = (try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date, modified < Date().addingTimeInterval(-600) {
                        try? fm.removeItem(atPath: path)
                    }
                    continue
                }
                guard let id = name.dropLast(".dump.partial".count).split(separator: "-").last.flatMap({ Int($0) }) else { continue }
                if try await runs(schedule: schedule, limit: 100_000).first(where: { $0.id == id })?.status != .running {
                    try? fm.removeItem(at: folder.appendingPathComponent(name))
                }
            }
        }
        return reaped
    }

    /// `body` on `connection`, or on a connection of its own when there is none.
    func using<T: Sendable>(_ connection: DatabaseConnection?, _ body: (DatabaseConnection) async throws -> T) async throws -> T {
        if let connection { return try await body(connection) }
        return try await database.withConnection(applicationName: "guardrail backup", body)
    }

    func finishRun(id: Int, status: Run.Status, size: Int?, sha256: String?, file: String?, error: String?,
                           on connection: DatabaseConnection? = nil) async throws {
        _ = try await using(connection) { c in
            try await c.query("""
                UPDATE \(unescaped: schema.qualifying("backup_runs"))
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
            let rows = try await c.query("""
                SELECT id, schedule, scheduled_for, status, started_at, finished_at, size_bytes, sha256, file, error,
                       to_jsonb(r)->>'label', to_jsonb(r)->>'backup_type', to_jsonb(r)->>'wal_start', to_jsonb(r)->>'wal_stop'
                FROM \(unescaped: schema.qualifying("backup_runs")) r
                WHERE \(schedule)::text IS NULL OR schedule = \(schedule)
                ORDER BY started_at DESC, id DESC LIMIT \(limit)
                """, logger: logger)
            var result: [Run] = []
            for (id, name, due, status, started, finished, size, sha, file, error, label, type, walStart, walStop)
                in try rows.decode((Int, String, Date?, String, Date, Date?, Int?, String?, String?, String?, String?, String?, String?, String?).self) {
                result.append(Run(id: id, schedule: name, scheduledFor: due, status: Run.Status(rawValue: status) ?? .failed,
                                  startedAt: started, finishedAt: finished, sizeBytes: size, sha256: sha, file: file, error: error,
                                  label: label, backupType: type, walStart: walStart, walStop: walStop))
            }
            return result
        }
    }

    // MARK: - Restore drills

    /// Restores the newest good backup into a scratch database, runs the schedule's checks, records the
    /// result and drops the scratch database. Returns nil when another runner claimed `scheduledFor`.
    @discardableResult
    public func drill(_ schedule: BackupSchedule, scheduledFor: Date? = nil) async throws -> Drill? {
        if schedule.method == .pgbackrest { return try await pgBackRestDrill(schedule, scheduledFor: scheduledFor) }
        let checks = schedule.restoreDrill ?? BackupSchedule.RestoreDrill(schedule: schedule.schedule)
        guard let lease = try await claim("backup_drills", schedule: schedule.name, scheduledFor: scheduledFor) else { return nil }
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
                      let file = newest.file else {
                    throw Failure(description: "there is no successful backup of \(schedule.name) to restore")
                }
                backupID = newest.id
                let (_, digest) = try await offloaded { try Self.checksum(URL(fileURLWithPath: file)) }
                guard digest == newest.sha256 else {
                    throw Failure(description: "the archive \(file) does not match the checksum recorded when it was written; it is corrupted")
                }
                results.append(DrillCheck(name: "checksum", passed: true, detail: "sha256 \(digest.prefix(12))… matches"))

                try await database.withConnection(applicationName: "guardrail drill") { c in
                    _ = try await c.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(SQLIdentifier(scratch).quoted)"), logger: logger)
                }
                created = true
                let env = database.url.libpqEnvironment(database: scratch, applicationName: "guardrail drill \(schedule.name)")
                let restore = try await ExternalCommand(executable: try PostgresTools.path(of: "pg_restore"),
                                                        arguments: ["--dbname=\(scratch)", "--exit-on-error", "--no-password", file],
                                                        environment: env).run()
                guard restore.status == 0 else { throw Failure(description: "pg_restore failed: " + Self.lastLines(restore.stderr)) }
                results.append(DrillCheck(name: "restore", passed: true, detail: "pg_restore into a scratch database succeeded"))

                var scratchURL = database.url
                scratchURL.database = scratch
                let scratchDB = Database(url: scratchURL, schema: schema.name)
                var sourceURL = database.url
                sourceURL.database = source
                let sourceDB = Database(url: sourceURL, schema: schema.name)
                results += try await Self.drillChecks(checks, restored: scratchDB, source: sourceDB, logger: logger)
                if let bad = results.first(where: { !$0.passed }) { failure = "check \"\(bad.name)\" failed: \(bad.detail)" }
            } catch {
                failure = (error as? Failure)?.description ?? "\(error)"
            }
            if created {
                _ = try? await database.withConnection(applicationName: "guardrail drill") { c in
                    try await c.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(SQLIdentifier(scratch).quoted) WITH (FORCE)"), logger: logger)
                }
            }
            let checksJSON = String(decoding: try JSONEncoder().encode(results), as: UTF8.self)
            try await database.withConnection(applicationName: "guardrail drill") { c in
                _ = try await c.query("""
                    UPDATE \(unescaped: schema.qualifying("backup_drills"))
                    SET status = \(failure == nil ? "succeeded" : "failed"), finished_at = clock_timestamp(),
                        backup_run_id = \(backupID), checks = \(checksJSON)::jsonb, error = \(failure)
                    WHERE id = \(id)
                    """, logger: logger)
            }
            return try await drills(schedule: schedule.name, limit: 100).first { $0.id == id }
        }
    }

    /// Recorded drills, newest first (the pgBackRest columns read as in `runs`).
    public func drills(schedule: String? = nil, limit: Int = 50) async throws -> [Drill] {
        try await database.withConnection(applicationName: "guardrail drill") { c in
            let rows = try await c.query("""
                SELECT id, schedule, backup_run_id, status, started_at, finished_at, checks::text, error,
                       (to_jsonb(d)->>'rto_seconds')::double precision, to_jsonb(d)->>'target'
                FROM \(unescaped: schema.qualifying("backup_drills")) d
                WHERE \(schedule)::text IS NULL OR schedule = \(schedule)
                ORDER BY started_at DESC, id DESC LIMIT \(limit)
                """, logger: logger)
            var result: [Drill] = []
            for (id, name, run, status, started, finished, checks, error, rto, target)
                in try rows.decode((Int, String, Int?, String, Date, Date?, String, String?, Double?, String?).self) {
                let parsed = (try? JSONDecoder().decode([DrillCheck].self, from: Data(checks.utf8))) ?? []
                result.append(Drill(id: id, schedule: name, backupRunID: run, status: status, startedAt: started, finishedAt: finished,
                                    checks: parsed, error: error, rtoSeconds: rto, target: target))
            }
            return result
        }
    }

    /// A drill's checks on the restored copy, the same for every backup method: row counts, the
    /// row-level security the source has (compared with the source database now), and SQL assertions.
    static func drillChecks(_ checks: BackupSchedule.RestoreDrill, restored: Database, source: Database, logger: Logger) async throws -> [DrillCheck] {
        try await restored.withConnection(applicationName: "guardrail drill") { copy in
            var out: [DrillCheck] = []
            for check in checks.rowCounts {
                out.append(try await Self.rowCount(check, on: copy, logger: logger))
            }
            if checks.rlsPolicies {
                let original = try await source.withConnection(applicationName: "guardrail drill") { try await Self.policies(on: $0, logger: logger) }
                let restoredPolicies = try await Self.policies(on: copy, logger: logger)
                let missing = original.subtracting(restoredPolicies).sorted()
                out.append(DrillCheck(name: "rls policies", passed: missing.isEmpty,
                                      detail: original.isEmpty ? "the source has no row-level security to compare"
                                          : missing.isEmpty ? "all \(original.count) policies and RLS flags restored"
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
            let rows = try await c.query("SELECT count(*) FROM \(unescaped: table)", logger: logger)
            var count = 0
            for (n) in try rows.decode(Int.self) { count = n }
            return DrillCheck(name: "rows in \(check.table)", passed: count >= check.min, detail: "\(count) rows (at least \(check.min) expected)")
        } catch {
            return DrillCheck(name: "rows in \(check.table)", passed: false, detail: "\(DatabaseError.wrap(error, context: "counting rows"))")
        }
    }

    /// `schema.table: policy` for every policy, plus `schema.table: RLS enabled/forced` flags.
    static func policies(on c: DatabaseConnection, logger: Logger) async throws -> Set<String> {
        let rows = try await c.query("""
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

    // MARK: - Helpers

    /// `20261201T020000Z`: the UTC time in a file name. Broken down by the C library, so starting a
    /// backup does not wait for Foundation to load its calendar and locale data.
    static func fileStamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)" + two(parts.tm_mon + 1) + two(parts.tm_mday) + "T" + two(parts.tm_hour) + two(parts.tm_min) + two(parts.tm_sec) + "Z"
    }

    /// Proves the archive is readable: its header, its whole table of contents, and the data block
    /// at every offset the contents list (`CustomArchive`), read in-process. An archive format
    /// Guardrail does not know is checked by `pg_restore --list` instead.
    static func verifyArchive(_ url: URL) async throws {
        do {
            // Reads the header, the table of contents and a block at each offset: file I/O, on NIO's pool.
            try await offloaded {
                let handle = try FileHandle(forReadingFrom: url)
                defer { try? handle.close() }
                let size = Int(try handle.seekToEnd())
                _ = try CustomArchive.read(size: size) { offset, count in
                    try handle.seek(toOffset: UInt64(offset))
                    return [UInt8](try handle.read(upToCount: count) ?? Data())
                }
            }
            return
        } catch CustomArchive.Problem.unsupportedVersion {
            // Fall through to pg_restore.
        } catch let problem as CustomArchive.Problem {
            throw Failure(description: "the archive pg_dump wrote is not readable: \(problem)")
        }
        let list = try await ExternalCommand(executable: try PostgresTools.path(of: "pg_restore"), arguments: ["--list", url.path]).run(limit: 4096)
        guard list.status == 0 else { throw Failure(description: "the archive pg_dump wrote is not readable by pg_restore: " + Self.lastLines(list.stderr)) }
    }

    /// Size and SHA-256 of a file, read in chunks.
    static func checksum(_ url: URL) throws -> (Int, String) {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw Failure(description: "cannot read \(url.path)")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        var size = 0
        while true {
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            size += chunk.count
            hasher.update(data: chunk)
        }
        let hex = Hex.string(hasher.finalize())
        return (size, hex)
    }

    /// Makes a finished backup durable: the file's data, then the directory entry that names it.
    /// pg_dump runs with --no-sync (its own sync reopens the file by the name it started with, which
    /// the run has renamed), so this is the one sync.
    static func syncToDisk(_ file: URL, in folder: URL) throws {
        for (path, flags) in [(file.path, O_RDONLY), (folder.path, O_RDONLY | O_DIRECTORY)] {
            let fd = open(path, flags)
            guard fd >= 0 else { throw Failure(description: "cannot open \(path) to sync it: \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            guard fsync(fd) == 0 else { throw Failure(description: "cannot sync \(path) to disk: \(String(cString: strerror(errno)))") }
        }
    }

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
