import ArgumentParser
import Foundation
import GuardrailCore
import GuardrailEngine

/// `guardrail backup list`: each schedule against its RPO, then recent runs and drills.
struct BackupListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Show each schedule's recovery-point status, and recent backups and drills.")

    @OptionGroup var options: BackupOptions

    @Argument(help: "Only this schedule.", completion: Completions.backupSchedules)
    var name: String?

    @Option(name: .long, help: "How many runs to list.")
    var limit: Int = 20

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, prometheus }

    @Option(name: .long, help: "text, or prometheus for the metrics exposition format (last success, duration, size, RPO, drill result).")
    var format: Format = .text

    func run() async throws {
        let runner = try options.runner()
        // Older archives may have been written 0644; each still readable by others is named on stderr.
        Console.diagnostics(
            runner.archives.exposedArchives().map { archive in
                .warning(
                    "\(archive.path) can be read by other users (mode \(String(archive.mode, radix: 8)))",
                    detail: "A backup holds the whole database; run chmod 600 on it. Guardrail writes new archives 0600.")
            })
        let now = Date()
        let (statuses, runs, drills) = try await withDiagnostics {
            (
                try await runner.status(now: now), try await runner.runs(schedule: name, limit: limit),
                try await runner.drills(schedule: name, limit: limit)
            )
        }
        if format == .prometheus {
            Console.out(BackupMetrics.render(statuses.filter { name == nil || $0.schedule.name == name }))
            return
        }
        let iso = ISO8601DateFormatter()
        let shown = statuses.filter { name == nil || $0.schedule.name == name }
        let pgbackrest = shown.contains { $0.schedule.method == .pgbackrest }
        var summary = [
            ["SCHEDULE", "LAST GOOD BACKUP", "RPO", "STATUS", "NEXT RUN", "LAST DRILL"] + (pgbackrest ? ["ARCHIVE LAG", "LAST RTO"] : [])
        ]
        for s in shown {
            var row = [
                s.schedule.name, BackupFormat.age(s.age), s.schedule.rpo.description, s.meetsRPO ? "ok" : "RPO BREACHED",
                s.nextRun.map { iso.string(from: $0) } ?? "-", s.lastDrill?.status ?? "never",
            ]
            if pgbackrest {
                let lag = s.schedule.method == .pgbackrest ? (s.archiver?.lagSeconds.map { String(format: "%.0fs", $0) } ?? "none archived") : "-"
                row += [lag, s.lastDrill?.rtoSeconds.map { String(format: "%.1fs", $0) } ?? "-"]
            }
            summary.append(row)
        }
        guard summary.count > 1 else {
            Console.out("No backup schedules are applied in this environment.\n")
            return
        }
        Console.out(BackupFormat.table(summary))
        // One finding per distinct archiving problem: they are the primary's, shared by its schedules.
        for problem in Set(shown.compactMap(\.archiveProblem)).sorted() {
            Console.out("\nfinding: \(problem)\n")
        }
        if !runs.isEmpty {
            var rows = [["RUN", "SCHEDULE", "STATUS", "STARTED", "AGE", "SIZE", "FILE / ERROR"]]
            for r in runs {
                rows.append([
                    String(r.id), r.schedule, r.status.rawValue, iso.string(from: r.startedAt),
                    BackupFormat.age(r.finishedAt.map { now.timeIntervalSince($0) }), BackupFormat.size(r.sizeBytes),
                    r.error ?? r.file ?? r.label.map { "pgBackRest \(r.backupType ?? "") \($0)" } ?? "",
                ])
            }
            Console.out("\n" + BackupFormat.table(rows))
        }
        if !drills.isEmpty {
            var rows = [["DRILL", "SCHEDULE", "STATUS", "STARTED", "DURATION", "CHECKS"]]
            for d in drills {
                let duration = d.finishedAt.map { String(format: "%.1fs", $0.timeIntervalSince(d.startedAt)) } ?? "-"
                let passed = d.checks.filter(\.passed).count
                rows.append([String(d.id), d.schedule, d.status, iso.string(from: d.startedAt), duration, "\(passed)/\(d.checks.count) passed"])
            }
            Console.out("\n" + BackupFormat.table(rows))
        }
    }
}
