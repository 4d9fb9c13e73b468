import ArgumentParser
import Foundation
import GuardrailEngine

/// `guardrail backup restore --to TIME --into DIR`: point-in-time recovery from the environment's
/// pgBackRest repository into a new cluster on loopback. Putting it into service stays a human step.
struct BackupRestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore the database as it was at a point in time into a new directory, and start it on a loopback port.",
        discussion: """
            Restores the newest pgBackRest backup before --to plus archived WAL into --into (new or empty, made 0700), \
            starts it on 127.0.0.1 with archiving off, waits until recovery has reached the target and the cluster is promoted, \
            and prints its connection URL and the measured recovery time. The primary's data directory is never written. \
            A target outside the recoverable window is refused before anything is restored; any later failure stops the \
            restored server and removes what was restored.
            """)

    @OptionGroup var options: BackupOptions

    @Option(name: .long, help: "The point in time: an ISO 8601 time with a zone (2026-12-02T14:05:00Z), or latest for the end of the archive.")
    var to: String

    @Option(name: .long, help: "The directory to restore into: new, or empty.")
    var into: String

    @Option(name: .long, help: "The loopback port to start the restored cluster on (default: a free port).")
    var port: Int?

    @Option(name: .long, help: "How long the restore and recovery may take, in seconds.")
    var timeout: Int = 1800

    func validate() throws {
        if to != "latest", Self.parseTime(to) == nil {
            throw ValidationError("--to must be an ISO 8601 time with a zone, such as 2026-12-02T14:05:00Z, or latest")
        }
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be between 1 and 65535") }
    }

    static func parseTime(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: text) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: text)
    }

    func run() async throws {
        let started = Date()
        let runner = try options.runner()
        let target: BackupRunner.RestoreTarget = to == "latest" ? .newest : .time(Self.parseTime(to)!)
        let result = try await withDiagnostics {
            try await runner.restore(to: target, into: Console.path(into), port: port, startedAt: started, timeout: TimeInterval(timeout))
        }
        Console.out(
            """
            Restored backup \(result.backupLabel) and WAL to \(result.target) into \(result.directory).
            The restored cluster is running on 127.0.0.1:\(result.port) (recoverable window: \(result.window)).
            Connection URL: \(result.url)
            RTO: \(String(format: "%.1f", result.rtoSeconds))s from the start of the command to the cluster accepting queries at the target.

            """)
    }
}
