import ArgumentParser
import GuardrailEngine

/// `guardrail backup drill NAME`: restore the newest good backup into a scratch database and check it.
struct BackupDrillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill",
        abstract: "Restore the newest backup into a scratch database, run the schedule's checks, and record the result.",
        discussion: "Exits 1 when the restore or any check fails. The scratch database is dropped afterwards either way.")

    @OptionGroup var options: BackupOptions

    @Argument(help: "The backup schedule's name.", completion: Completions.backupSchedules)
    var name: String

    func run() async throws {
        let runner = try options.runner()
        let drill = try await withDiagnostics {
            let schedule = try await runner.schedule(named: name)
            return try await runner.drill(schedule)
        }
        guard let drill else { return }
        var rows = [["CHECK", "RESULT", "DETAIL"]]
        for check in drill.checks { rows.append([check.name, check.passed ? "pass" : "FAIL", check.detail]) }
        if rows.count > 1 { Console.out(BackupFormat.table(rows)) }
        if let rto = drill.rtoSeconds {
            Console.out(
                String(format: "RTO %.1fs: from the start of the drill to the restored cluster answering at %@.\n", rto, drill.target ?? "its target")
            )
        }
        if drill.status == "succeeded" {
            Console.out("Restore drill of \(name) passed.\n")
        } else {
            Console.error("error: restore drill of \(name) failed: \(drill.error ?? "unknown reason")")
            throw ExitCode.failure
        }
    }
}
