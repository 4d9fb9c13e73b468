import ArgumentParser
import GuardrailEngine

/// `guardrail backup run NAME`: one backup now, then pruning by retention.
struct BackupRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one backup of a schedule now, then prune old backups by its retention.")

    @OptionGroup var options: BackupOptions

    @Argument(help: "The backup schedule's name.", completion: Completions.backupSchedules)
    var name: String

    func run() async throws {
        let runner = try options.runner()
        let run = try await withDiagnostics { try await runner.backup(named: name) }
        guard let run else { return }
        if let label = run.label {
            let wal = run.walStart.map { " WAL \($0) to \(run.walStop ?? "?")" } ?? ""
            Console.out(
                "Backup \(name) succeeded: pgBackRest \(run.backupType ?? "") backup \(label) (\(BackupFormat.size(run.sizeBytes)) stored;\(wal)).\n")
            return
        }
        Console.out("Backup \(name) succeeded: \(run.file ?? "") (\(BackupFormat.size(run.sizeBytes)), sha256 \(run.sha256 ?? "")).\n")
    }
}
