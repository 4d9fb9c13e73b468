import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// `method: pgbackrest` schedules: backups, point-in-time restores and drills through pgBackRest,
/// with `pgbackrest info` as the record of what the repository holds.
extension BackupRunner {
    func pgbackrest() throws -> PgBackRest {
        if let problem = environment.pgbackrestProblem { throw DiagnosticError(problem) }
        guard let p = environment.pgbackrest else {
            throw DiagnosticError(
                .error(
                    "environment \"\(environment.name)\" has no pgBackRest repository",
                    detail: "Add spec.backups.pgbackrest (stanza, repo or configFile) to environments/\(environment.name).yaml."))
        }
        return p
    }

    // MARK: - Backups

    /// `pgbackrest backup --type=...` under the run's claim, creating the stanza first when the
    /// repository has none; records pgBackRest's label, size and WAL range, and marks the runs whose
    /// backups pgBackRest's retention expired as pruned.
    func pgBackRestBackup(_ schedule: BackupSchedule, scheduledFor: Date?, leaseConnection: DatabaseConnection?) async throws -> Run? {
        let pgbackrest: PgBackRest
        do {
            pgbackrest = try self.pgbackrest()
        } catch {
            await leaseConnection?.close()
            throw error
        }
        guard let lease = try await claims.claim("backup_runs", schedule: schedule.name, scheduledFor: scheduledFor, on: leaseConnection) else {
            return nil
        }
        return try await lease.holding {
            let id = lease.id
            let stanza = schedule.stanza ?? pgbackrest.stanza
            var recorded: Run?
            do {
                let folder = try pgbackrest.writeConfiguration(stanza: stanza)
                defer { folder.remove() }
                var arguments = ["--type=\((schedule.backupType ?? .full).rawValue)"]
                if let full = schedule.retention.full { arguments.append("--repo1-retention-full=\(full)") }
                if let diff = schedule.retention.diff { arguments.append("--repo1-retention-diff=\(diff)") }
                // The backup runs first and `info` once after it: each pgBackRest command reads (and
                // decrypts) the repository's info files, which is most of a small incremental's time.
                var result = try await pgbackrest.run("backup", arguments, stanza: stanza, folder: folder)
                if result.status != 0, PgBackRest.message(result).contains("[055]") {
                    // FileMissingError: the repository has no stanza yet. Only then is one created; an
                    // info file that exists but cannot be read (a wrong passphrase) is never replaced.
                    try await pgbackrest.check("stanza-create", stanza: stanza, folder: folder)
                    result = try await pgbackrest.run("backup", arguments, stanza: stanza, folder: folder)
                }
                guard result.status == 0 else {
                    throw PgBackRest.Failure(
                        description: Self.repositoryProblem(
                            "pgbackrest backup failed: " + PgBackRest.message(result),
                            encrypted: pgbackrest.encrypted), status: result.status)
                }
                let after = try await pgbackrest.info(stanza: stanza)
                // pgBackRest holds the stanza's backup lock until it is done, so the newest backup is this run's.
                guard let made = after.backups.last else {
                    throw PgBackRest.Failure(description: "pgbackrest backup succeeded but info lists no backup")
                }
                let size = made.info?.repository?.delta ?? made.info?.repository?.size ?? made.info?.delta
                _ = try await lease.connection.query(
                    """
                    UPDATE \(schema.qualifying("backup_runs"))
                    SET status = 'succeeded', finished_at = clock_timestamp(), size_bytes = \(size), label = \(made.label),
                        backup_type = \(made.type), wal_start = \(made.archive?.start), wal_stop = \(made.archive?.stop)
                    WHERE id = \(id)
                    """, logger: logger)
                let kept = Set(after.backups.map(\.label))
                _ = try await lease.connection.query(
                    """
                    UPDATE \(schema.qualifying("backup_runs")) SET status = 'pruned', pruned_at = clock_timestamp()
                    WHERE schedule IN (SELECT name FROM \(schema.qualifying("backup_schedules")) WHERE spec->>'method' = 'pgbackrest')
                      AND status = 'succeeded' AND label IS NOT NULL AND NOT (label = ANY(\(Array(kept))))
                    """, logger: logger)
                recorded = try await runs(schedule: schedule.name, limit: 20, on: lease.connection).first { $0.id == id }
            } catch {
                let message = PgBackRest.printable((error as? PgBackRest.Failure)?.description ?? (error as? Failure)?.description ?? "\(error)")
                try await finishRun(id: id, status: .failed, size: nil, sha256: nil, file: nil, error: message)
                throw Failure(description: "backup \(schedule.name) failed: \(message)")
            }
            return recorded
        }
    }

    // MARK: - The recoverable window

    /// What the primary's archiver reports (`pg_stat_archiver`), with the server's clock.
    public struct ArchiverStatus: Sendable {
        public var archiveMode: String
        public var archivedCount: Int
        public var lastArchivedWAL: String?
        public var lastArchivedAt: Date?
        public var failedCount: Int
        public var lastFailedWAL: String?
        public var lastFailedAt: Date?
        public var serverNow: Date

        /// Seconds since the last segment was archived; nil when none ever was.
        public var lagSeconds: Double? { lastArchivedAt.map { max(0, serverNow.timeIntervalSince($0)) } }

        /// Why archiving is not working, when it is not: off, or failing since a time.
        public var problem: String? {
            if archiveMode == "off" { return "archiving is off (archive_mode = off): no WAL reaches the repository" }
            if failedCount > 0, let failed = lastFailedAt, lastArchivedAt.map({ $0 < failed }) ?? true {
                let since = lastArchivedAt.map { "the last success was at \(BackupRunner.iso($0))" } ?? "no segment was ever archived"
                return
                    "archiving is failing: \(failedCount) failed attempts, the latest for \(lastFailedWAL ?? "a segment") at \(BackupRunner.iso(failed)); \(since)"
            }
            return nil
        }
    }

    public func archiverStatus(on connection: DatabaseConnection? = nil) async throws -> ArchiverStatus {
        try await using(connection) { c in
            let rows = try await c.query(
                """
                SELECT current_setting('archive_mode'), archived_count, last_archived_wal, last_archived_time,
                       failed_count, last_failed_wal, last_failed_time, clock_timestamp()
                FROM pg_stat_archiver
                """, logger: logger)
            for (mode, archived, lastWAL, lastAt, failed, failedWAL, failedAt, now) in try rows.decode(
                (String, Int, String?, Date?, Int, String?, Date?, Date).self)
            {
                return ArchiverStatus(
                    archiveMode: mode, archivedCount: archived, lastArchivedWAL: lastWAL, lastArchivedAt: lastAt,
                    failedCount: failed, lastFailedWAL: failedWAL, lastFailedAt: failedAt, serverNow: now)
            }
            throw Failure(description: "pg_stat_archiver returned no row")
        }
    }

    /// The span a restore can reach: from the end of the oldest backup to the newest archived WAL.
    public struct RecoveryWindow: Sendable, CustomStringConvertible {
        public var oldest: Date
        public var oldestLabel: String
        public var newest: Date
        public var newestSource: String
        public var description: String {
            "\(BackupRunner.iso(oldest)) (the end of backup \(oldestLabel)) to \(BackupRunner.iso(newest)) (\(newestSource))"
        }
    }

    static func iso(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }

    /// The window from `info` and the primary's archiver. A target past the last archived segment
    /// asks the primary to switch to a new WAL file and waits (up to 60 s) for it to be archived,
    /// so a restore to a minute ago finds the WAL it needs.
    func recoveryWindow(_ info: PgBackRestInfo.Stanza, reaching target: Date?) async throws -> RecoveryWindow {
        guard let oldest = info.backups.first, let newestBackup = info.backups.last else {
            throw PgBackRest.Failure(description: "the repository holds no backup of stanza \(info.name) to restore")
        }
        var newest = newestBackup.stoppedAt
        var source = "the end of the newest backup, \(newestBackup.label); the primary's archiver could not be read"
        if let status = try? await archiverStatus() {
            var current = status
            if let target, current.lastArchivedAt.map({ $0 < target }) ?? true, target <= current.serverNow, current.problem == nil {
                current = (try? await switchAndWait(after: current)) ?? current
            }
            if let at = current.lastArchivedAt, at > newest {
                newest = at
                source = "the newest archived WAL, \(current.lastArchivedWAL ?? "")"
            } else if current.lastArchivedAt != nil {
                source = "the end of the newest backup, \(newestBackup.label)"
            }
            if let problem = current.problem { source += "; \(problem)" }
        }
        return RecoveryWindow(oldest: oldest.stoppedAt, oldestLabel: oldest.label, newest: newest, newestSource: source)
    }

    /// `pg_switch_wal()` on the primary, then waits until the segment it closed is archived.
    private func switchAndWait(after status: ArchiverStatus) async throws -> ArchiverStatus {
        let segment: String? = try await database.withConnection(applicationName: "guardrail restore") { c in
            var name: String?
            for (s) in try await c.query("SELECT pg_walfile_name(pg_switch_wal())", logger: logger).decode(String.self) { name = s }
            return name
        }
        let deadline = Date().addingTimeInterval(60)
        var current = status
        while Date() < deadline {
            current = try await archiverStatus()
            if let segment, let last = current.lastArchivedWAL, last >= segment { return current }
            if current.problem != nil { return current }
            try await Task.sleep(nanoseconds: 250_000_000)
        }
        return current
    }

    // MARK: - Restore

    /// Where a restore recovers to.
    public enum RestoreTarget: Sendable, Equatable {
        /// The end of the archived WAL.
        case newest
        case time(Date)
    }

    /// A finished restore: a promoted cluster on loopback.
    public struct RestoreResult: Sendable {
        public var directory: String
        public var port: Int
        /// `postgres://user@127.0.0.1:port/database`, without a password.
        public var url: String
        public var backupLabel: String
        public var target: String
        /// Seconds from `startedAt` to the cluster accepting queries at the target.
        public var rtoSeconds: Double
        public var window: RecoveryWindow
    }

    /// `guardrail backup restore`: restores the newest backup before `target` plus WAL into `directory`
    /// (new, or empty), starts it on loopback and waits until it is promoted at the target. A target
    /// outside the window is refused before anything is written; any later failure stops the server
    /// and removes what was restored. The primary's data directory is refused as a target.
    public func restore(
        to target: RestoreTarget, into directory: String, port: Int?, startedAt: Date = Date(),
        timeout: TimeInterval = 1800, keepRunning: Bool = true, stanza: String? = nil
    ) async throws -> RestoreResult {
        let pgbackrest = try self.pgbackrest()
        let stanza = stanza ?? pgbackrest.stanza
        let info = try await pgbackrest.info(stanza: stanza)
        if let problem = info.problem {
            throw PgBackRest.Failure(description: Self.repositoryProblem(problem, encrypted: pgbackrest.encrypted))
        }
        let window = try await recoveryWindow(info, reaching: { if case .time(let t) = target { return t } else { return nil } }())
        var arguments = ["--archive-mode=off"]
        let setLabel: String
        let targetText: String
        switch target {
        case .newest:
            setLabel = info.backups.last!.label
            targetText = "the end of the archived WAL"
            arguments += ["--type=default"]
        case .time(let time):
            guard time >= window.oldest, time <= window.newest else {
                throw PgBackRest.Failure(
                    description: "the restore target \(Self.iso(time)) is outside the recoverable window, \(window); nothing was restored")
            }
            guard let set = info.backups.last(where: { $0.stoppedAt <= time }) else {
                throw PgBackRest.Failure(description: "no backup ended before \(Self.iso(time)); the recoverable window is \(window)")
            }
            setLabel = set.label
            targetText = Self.iso(time)
            arguments += ["--type=time", "--target=\(Self.recoveryTime(time))", "--target-action=promote"]
        }
        let dataDirectory: String? = try? await database.withConnection(applicationName: "guardrail restore") { c in
            var value: String?
            for (d) in try await c.query("SELECT current_setting('data_directory')", logger: logger).decode(String.self) { value = d }
            return value
        }
        let cluster = try RestoredCluster.prepare(
            directory, port: try port ?? RestoredCluster.freePort(), pgbackrest: pgbackrest,
            primaryDataDirectory: dataDirectory)
        // The configuration file stays until recovery is over: the restored cluster's restore_command names it.
        let folder: PgBackRest.ConfigurationFolder
        do {
            folder = try pgbackrest.writeConfiguration(stanza: stanza)
        } catch {
            cluster.remove()
            throw error
        }
        defer { folder.remove() }
        do {
            let restored = try await pgbackrest.run(
                "restore", arguments + ["--set=\(setLabel)", "--pg1-path=\(cluster.directory)"], stanza: stanza,
                folder: folder)
            guard restored.status == 0 else {
                throw PgBackRest.Failure(
                    description: Self.repositoryProblem(
                        "pgbackrest restore failed: " + PgBackRest.message(restored),
                        encrypted: pgbackrest.encrypted))
            }
            let deadline = startedAt.addingTimeInterval(timeout)
            try await cluster.start(timeout: max(60, Int(deadline.timeIntervalSinceNow)))
            var url = database.url
            url.host = "127.0.0.1"
            url.port = cluster.port
            url.unixSocketPath = nil
            url.sslMode = .disable
            try await cluster.waitForPromotion(url: url, schema: schema.name, deadline: deadline)
            let rto = Date().timeIntervalSince(startedAt)
            if !keepRunning { await cluster.stop(immediate: false) }
            return RestoreResult(
                directory: cluster.directory, port: cluster.port,
                url: "postgres://\(url.user)@127.0.0.1:\(cluster.port)/\(url.database)", backupLabel: setLabel,
                target: targetText, rtoSeconds: rto, window: window)
        } catch {
            await cluster.discard()
            throw error
        }
    }

    /// `recovery_target_time` in a form Postgres parses exactly: UTC with microseconds.
    static func recoveryTime(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss.SSSSSS"
        return f.string(from: date) + "+00"
    }

    /// pgBackRest's message about a repository it cannot read, with the likely cause when it is encrypted.
    static func repositoryProblem(_ message: String, encrypted: Bool) -> String {
        let text = PgBackRest.printable(message)
        if encrypted, text.contains("FormatError") || text.contains("CryptoError") || text.contains("unable to load info file") {
            return text + " (the repository is encrypted: check that the cipher passphrase is the one it was created with)"
        }
        return text
    }

    // MARK: - Drills

    /// Restores a point in the window (the newest by default, or a random one) into a scratch directory
    /// and port, runs the schedule's checks against it, records the measured RTO and fails when it
    /// exceeds the schedule's `rto`. The scratch cluster is stopped and removed either way.
    func pgBackRestDrill(_ schedule: BackupSchedule, scheduledFor: Date?) async throws -> Drill? {
        let checks = schedule.restoreDrill ?? BackupSchedule.RestoreDrill(schedule: schedule.schedule)
        guard let lease = try await claims.claim("backup_drills", schedule: schedule.name, scheduledFor: scheduledFor) else { return nil }
        return try await lease.holding {
            let id = lease.id
            let started = Date()
            var results: [DrillCheck] = []
            var failure: String?
            var rto: Double?
            var targetText: String?
            let scratch = NSTemporaryDirectory() + "/guardrail-drill-\(schedule.name)-\(id)-\(UUID().uuidString.prefix(6).lowercased())"
            do {
                let pgbackrest = try self.pgbackrest()
                var target = RestoreTarget.newest
                if checks.target == .randomInWindow {
                    let info = try await pgbackrest.info(stanza: schedule.stanza ?? pgbackrest.stanza)
                    let window = try await recoveryWindow(info, reaching: nil)
                    let span = max(0, window.newest.timeIntervalSince(window.oldest))
                    target = .time(window.oldest.addingTimeInterval(Double.random(in: 0...span)))
                }
                let restored = try await restore(
                    to: target, into: scratch, port: nil, startedAt: started, keepRunning: true,
                    stanza: schedule.stanza ?? pgbackrest.stanza)
                rto = restored.rtoSeconds
                targetText = restored.target
                results.append(
                    DrillCheck(
                        name: "restore", passed: true,
                        detail: "backup \(restored.backupLabel) and WAL to \(restored.target), promoted on port \(restored.port)"))
                var scratchURL = database.url
                scratchURL.host = "127.0.0.1"
                scratchURL.port = restored.port
                scratchURL.unixSocketPath = nil
                scratchURL.sslMode = .disable
                let scratchDB = Database(url: scratchURL, schema: schema.name)
                let sourceDB = database
                let logger = self.logger
                do {
                    results += try await DrillChecks.run(checks, restored: scratchDB, source: sourceDB, logger: logger)
                } catch {
                    await RestoredCluster.stopAndRemove(restored.directory, pgbackrest: pgbackrest)
                    throw error
                }
                await RestoredCluster.stopAndRemove(restored.directory, pgbackrest: pgbackrest)
                if let objective = schedule.rto {
                    let limit = Double(objective.milliseconds) / 1000
                    results.append(
                        DrillCheck(
                            name: "rto", passed: restored.rtoSeconds <= limit,
                            detail: String(format: "%.1fs to a promoted cluster (objective %@)", restored.rtoSeconds, objective.description)))
                }
                if let bad = results.first(where: { !$0.passed }) { failure = "check \"\(bad.name)\" failed: \(bad.detail)" }
            } catch {
                failure = PgBackRest.printable((error as? PgBackRest.Failure)?.description ?? (error as? Failure)?.description ?? "\(error)")
            }
            let checksJSON = String(decoding: try JSONEncoder().encode(results), as: UTF8.self)
            _ = try await lease.connection.query(
                """
                UPDATE \(schema.qualifying("backup_drills"))
                SET status = \(failure == nil ? "succeeded" : "failed"), finished_at = clock_timestamp(),
                    checks = \(checksJSON)::jsonb, error = \(failure), rto_seconds = \(rto), target = \(targetText)
                WHERE id = \(id)
                """, logger: logger)
            return try await drills(schedule: schedule.name, limit: 100).first { $0.id == id }
        }
    }
}

extension RestoredCluster {
    /// Stops a finished scratch cluster and removes its directory.
    static func stopAndRemove(_ directory: String, pgbackrest: PgBackRest) async {
        let cluster = RestoredCluster(directory: directory, port: 0, pgbackrest: pgbackrest, createdDirectory: true)
        await cluster.stop(immediate: false)
        cluster.remove()
    }
}

extension PgBackRest {
    /// pgBackRest's text with anything unprintable taken out: an encrypted file read with the wrong
    /// passphrase is quoted back as binary.
    static func printable(_ text: String) -> String {
        var out = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let clean = line.unicodeScalars.filter {
                $0 == "\t" || ($0.value >= 0x20 && $0.value != 0x7F && $0 != "\u{FFFD}" && !$0.properties.isNoncharacterCodePoint)
            }
            // A line that was mostly binary says nothing; keep the text before it.
            if clean.count < line.unicodeScalars.count * 9 / 10 {
                if let colon = line.firstIndex(of: ":") {
                    out += (out.isEmpty ? "" : " ") + line[..<colon].trimmingCharacters(in: .whitespaces) + ": (unreadable bytes)"
                }
                continue
            }
            out += (out.isEmpty ? "" : " ") + String(String.UnicodeScalarView(clean)).trimmingCharacters(in: .whitespaces)
        }
        return String(out.prefix(2000))
    }
}
