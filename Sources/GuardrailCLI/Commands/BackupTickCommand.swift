import ArgumentParser
import Foundation
import GuardrailEngine

/// `guardrail backup tick`: whatever backups and drills are due, once each. The controller runs the same step.
struct BackupTickCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tick",
        abstract: "Run the backups and restore drills that are due, including ones missed while nothing ran (once each).")

    @OptionGroup var options: BackupOptions

    func run() async throws {
        let runner = try options.runner()
        let report = try await withDiagnostics { try await runner.tick() }
        for abandoned in report.abandoned { Console.out("\(abandoned): its runner stopped before finishing; marked failed\n") }
        for run in report.backups {
            Console.out("backup \(run.schedule): \(run.status.rawValue)\((run.file ?? run.label).map { " \($0)" } ?? "")\n")
        }
        for drill in report.drills { Console.out("drill \(drill.schedule): \(drill.status)\n") }
        for claimed in report.alreadyClaimed { Console.out("\(claimed): already taken by another runner\n") }
        if report.backups.isEmpty, report.drills.isEmpty, report.alreadyClaimed.isEmpty { Console.out("Nothing is due.\n") }
        if !report.errors.isEmpty {
            Console.error(report.errors.map { "error: \($0)" }.joined(separator: "\n"))
            throw ExitCode.failure
        }
    }
}
