import Foundation
import GuardrailCore

/// Runs pg_dump for a schedule: custom format, no password prompt, no sync of its own (the archive
/// store syncs the file under its final name), into a file created private before pg_dump opens it.
struct BackupDump: Sendable {
    var database: Database
    /// Where pg_dump comes from; tests put a wrapper in its place.
    var pgDumpPath: @Sendable () throws -> String

    /// A pg_dump started before its run was claimed, writing to a `pending` file.
    struct Started: Sendable {
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
    func start(named name: String, now: Date, in archives: BackupArchiveStore) -> Started? {
        let folder = archives.folder(for: name)
        guard (try? BackupArchiveStore.createPrivateDirectory(folder)) != nil else { return nil }
        let stamp = BackupArchiveStore.fileStamp(now)
        let marker = BackupArchiveStore.pendingMarker
        let file = folder.appendingPathComponent(".\(name)-\(stamp)-\(marker)\(UUID().uuidString.prefix(8).lowercased()).dump.partial")
        let running: ExternalCommand.Started
        do {
            try BackupArchiveStore.createPrivateFile(file)
            running = try command(database: nil, to: file, schedule: name).start()
        } catch {
            try? FileManager.default.removeItem(at: file)
            return nil
        }
        return Started(task: Task { await running.wait() }, file: file, stamp: stamp)
    }

    /// Dumps `name` (the environment's database when nil) into a new private file, and waits for it.
    func run(database name: String?, to file: URL, schedule: String) async throws -> ExternalCommand.Result {
        try BackupArchiveStore.createPrivateFile(file)
        return try await command(database: name, to: file, schedule: schedule).run()
    }

    private func command(database name: String?, to file: URL, schedule: String) throws -> ExternalCommand {
        let env = database.url.libpqEnvironment(database: name, applicationName: "guardrail backup \(schedule)")
        return ExternalCommand(
            executable: try pgDumpPath(),
            arguments: ["--format=custom", "--file=\(file.path)", "--no-password", "--no-sync"], environment: env)
    }
}
