import Foundation
import GuardrailCore

extension BackupRunner {
    /// What one tick did.
    public struct TickReport: Sendable {
        public var backups: [Run] = []
        public var drills: [Drill] = []
        /// Due work that another runner had already claimed.
        public var alreadyClaimed: [String] = []
        public var errors: [String] = []
        /// Runs whose runner died, marked failed before this tick's work.
        public var abandoned: [String] = []
    }

    /// Runs every backup and drill that is due: the latest cron time at or before `now` that has no run
    /// yet. A time missed while nothing was running is caught up once; older missed times are not
    /// replayed. Claims are rows with a unique (schedule, time), so concurrent ticks never double up.
    /// One schedule's failure does not stop the others.
    public func tick(now: Date = Date()) async throws -> TickReport {
        var report = TickReport()
        report.abandoned = try await reapAbandoned()
        for schedule in try await schedules() {
            if let due = schedule.schedule.previousRun(atOrBefore: now, in: schedule.timeZone) {
                do {
                    if let run = try await backup(schedule, scheduledFor: due, now: { now }) {
                        report.backups.append(run)
                    } else {
                        report.alreadyClaimed.append("backup.\(schedule.name) at \(due)")
                    }
                } catch {
                    report.errors.append("\(error)")
                }
            }
            if let drill = schedule.restoreDrill, let due = drill.schedule.previousRun(atOrBefore: now, in: schedule.timeZone) {
                do {
                    if let result = try await self.drill(schedule, scheduledFor: due) {
                        report.drills.append(result)
                        if result.status != "succeeded" { report.errors.append("drill of \(schedule.name) failed: \(result.error ?? "")") }
                    } else {
                        report.alreadyClaimed.append("drill of backup.\(schedule.name) at \(due)")
                    }
                } catch {
                    report.errors.append("\(error)")
                }
            }
        }
        return report
    }

    /// Where a schedule stands against its recovery point objective.
    public struct Status: Sendable {
        public var schedule: BackupSchedule
        public var lastSuccess: Run?
        public var lastRun: Run?
        public var lastDrill: Drill?
        /// Seconds since the newest good backup finished; nil when there is none.
        public var age: TimeInterval?
        public var meetsRPO: Bool
        public var nextRun: Date?
        /// pgBackRest schedules: the primary's archiver, whose lag is the real recovery point.
        public var archiver: ArchiverStatus? = nil
        /// pgBackRest schedules: why the recovery point is not known or not kept (archiving off or failing, the archiver unreadable).
        public var archiveProblem: String? = nil
    }

    /// Every schedule's status, read on `connection` (or one of its own) in a fixed number of
    /// queries, whatever the number of schedules: the schedules, each one's newest run and newest
    /// good run, each one's newest drill, and the archiver.
    public func status(now: Date = Date(), on connection: DatabaseConnection? = nil) async throws -> [Status] {
        try await using(connection) { c in
            var result: [Status] = []
            let all = try await schedules(on: c)
            var archiver: ArchiverStatus?
            var archiverProblem: String?
            if all.contains(where: { $0.method == .pgbackrest }) {
                do {
                    archiver = try await archiverStatus(on: c)
                } catch {
                    archiverProblem = "cannot read pg_stat_archiver: \(error)"
                }
            }
            let newest = try await newestRuns(on: c)
            let drills = try await newestDrills(on: c)
            for schedule in all {
                let success = newest.succeeded[schedule.name]
                let age = success?.finishedAt.map { now.timeIntervalSince($0) }
                result.append(
                    Status(
                        schedule: schedule, lastSuccess: success, lastRun: newest.any[schedule.name],
                        lastDrill: drills[schedule.name], age: age,
                        meetsRPO: age.map { $0 * 1000 <= Double(schedule.rpo.milliseconds) } ?? false,
                        nextRun: schedule.nextRuns(after: now, count: 1).first))
                if schedule.method == .pgbackrest {
                    // The archive is the recovery point: a weekly full with WAL archived a minute ago loses a minute.
                    let lag = archiver?.lagSeconds
                    let problem =
                        archiverProblem ?? archiver?.problem ?? (archiver != nil && lag == nil ? "no WAL segment has been archived yet" : nil)
                    result[result.count - 1].archiver = archiver
                    result[result.count - 1].archiveProblem = problem
                    result[result.count - 1].meetsRPO =
                        success != nil && problem == nil && (lag.map { $0 * 1000 <= Double(schedule.rpo.milliseconds) } ?? false)
                }
            }
            return result
        }
    }

    /// Each schedule's newest run, and its newest good run, in one query.
    private func newestRuns(on c: DatabaseConnection) async throws -> (any: [String: Run], succeeded: [String: Run]) {
        let rows = try await c.query(
            """
            SELECT * FROM (
                (SELECT DISTINCT ON (schedule) false, id, schedule, scheduled_for, status, started_at, finished_at, size_bytes, sha256, file, error,
                        to_jsonb(r)->>'label', to_jsonb(r)->>'backup_type', to_jsonb(r)->>'wal_start', to_jsonb(r)->>'wal_stop'
                 FROM \(schema.qualifying("backup_runs")) r ORDER BY schedule, started_at DESC, id DESC)
                UNION ALL
                (SELECT DISTINCT ON (schedule) true, id, schedule, scheduled_for, status, started_at, finished_at, size_bytes, sha256, file, error,
                        to_jsonb(r)->>'label', to_jsonb(r)->>'backup_type', to_jsonb(r)->>'wal_start', to_jsonb(r)->>'wal_stop'
                 FROM \(schema.qualifying("backup_runs")) r WHERE status = 'succeeded' ORDER BY schedule, started_at DESC, id DESC)
            ) newest
            """, logger: logger)
        var any: [String: Run] = [:], succeeded: [String: Run] = [:]
        for (good, id, name, due, status, started, finished, size, sha, file, error, label, type, walStart, walStop)
            in try rows.decode(
                (Bool, Int, String, Date?, String, Date, Date?, Int?, String?, String?, String?, String?, String?, String?, String?).self)
        {
            let run = Run(
                id: id, schedule: name, scheduledFor: due, status: Run.Status(rawValue: status) ?? .failed,
                startedAt: started, finishedAt: finished, sizeBytes: size, sha256: sha, file: file, error: error,
                label: label, backupType: type, walStart: walStart, walStop: walStop)
            if good { succeeded[name] = run } else { any[name] = run }
        }
        return (any, succeeded)
    }
}
