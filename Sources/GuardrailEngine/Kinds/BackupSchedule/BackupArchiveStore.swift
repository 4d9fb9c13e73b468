import Crypto
import Foundation
import GuardrailCore
import PostgresNIO

/// Where pg_dump schedules keep their archives, one folder per schedule under the environment's
/// backup directory, and what makes an archive good before it has its final name: private modes,
/// an in-process read of the whole archive (`CustomArchive`), a checksum and a sync to disk.
/// Retention (`BackupRunner.prune`) removes the files it no longer keeps.
public struct BackupArchiveStore: Sendable {
    /// The environment's backup directory; empty when only pgBackRest schedules can run.
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// The folder of one schedule's archives.
    func folder(for schedule: String) -> URL {
        URL(fileURLWithPath: directory).appendingPathComponent(schedule, isDirectory: true)
    }

    /// Names the dumps started before a claim; the reaper removes such files once they are old.
    static let pendingMarker = "pending"

    /// An archive holds the whole database: only the owner may read it.
    public static let archiveMode: mode_t = 0o600
    /// Folders Guardrail creates for archives: only the owner may list or enter them.
    public static let directoryMode: mode_t = 0o700

    /// Creates `folder` and any missing parents 0700; folders that exist keep their mode.
    static func createPrivateDirectory(_ folder: URL) throws {
        try FileManager.default.createDirectory(
            at: folder, withIntermediateDirectories: true,
            attributes: [.posixPermissions: Int(directoryMode)])
    }

    /// Creates the empty file pg_dump will write, 0600 before any byte is in it: pg_dump opens an
    /// existing file without changing its mode, whatever the umask would give a new one.
    static func createPrivateFile(_ file: URL) throws {
        let fd = open(file.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, archiveMode)
        guard fd >= 0 else { throw BackupRunner.Failure(description: "cannot create \(file.path): \(String(cString: strerror(errno)))") }
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

    /// Removes the files of the runs retention no longer keeps.
    func removeFiles(of runs: [BackupRunner.Run]) {
        for run in runs {
            if let file = run.file { try? FileManager.default.removeItem(atPath: file) }
        }
    }

    /// Removes partial files no run is writing: a run's partial file once `isRunning` says its run
    /// ended, and a dump started before its claim once pg_dump has not written it for ten minutes.
    func removeLeftoverPartials(isRunning: (_ schedule: String, _ id: Int) async throws -> Bool) async throws {
        let fm = FileManager.default
        for schedule in (try? fm.contentsOfDirectory(atPath: directory)) ?? [] {
            let folder = URL(fileURLWithPath: directory).appendingPathComponent(schedule)
            for name in (try? fm.contentsOfDirectory(atPath: folder.path)) ?? [] where name.hasSuffix(".dump.partial") {
                if name.contains("-\(Self.pendingMarker)") {
                    // A dump started before its claim takes its run's name within moments (or, when the
                    // claim came first, as it finishes); one that pg_dump has not written for ten
                    // minutes belongs to a runner that died.
                    let path = folder.appendingPathComponent(name).path
                    if let modified = (try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                        modified < Date().addingTimeInterval(-600)
                    {
                        try? fm.removeItem(atPath: path)
                    }
                    continue
                }
                guard let id = name.dropLast(".dump.partial".count).split(separator: "-").last.flatMap({ Int($0) }) else { continue }
                if try await !isRunning(schedule, id) {
                    try? fm.removeItem(at: folder.appendingPathComponent(name))
                }
            }
        }
    }

    /// `20261201T020000Z`: the UTC time in a file name. Broken down by the C library, so starting a
    /// backup does not wait for Foundation to load its calendar and locale data.
    static func fileStamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)" + two(parts.tm_mon + 1) + two(parts.tm_mday) + "T" + two(parts.tm_hour) + two(parts.tm_min)
            + two(parts.tm_sec) + "Z"
    }

    /// Proves the archive is readable: its header, its whole table of contents, and the data block
    /// at every offset the contents list (`CustomArchive`), read in-process. An archive format
    /// Guardrail does not know is checked by `pg_restore --list` instead.
    static func verify(_ url: URL) async throws {
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
            throw BackupRunner.Failure(description: "the archive pg_dump wrote is not readable: \(problem)")
        }
        let list = try await ExternalCommand(executable: try PostgresTools.path(of: "pg_restore"), arguments: ["--list", url.path]).run(limit: 4096)
        guard list.status == 0 else {
            throw BackupRunner.Failure(description: "the archive pg_dump wrote is not readable by pg_restore: " + BackupRunner.lastLines(list.stderr))
        }
    }

    /// Size and SHA-256 of a file, read in chunks.
    static func checksum(_ url: URL) throws -> (Int, String) {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw BackupRunner.Failure(description: "cannot read \(url.path)")
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
            guard fd >= 0 else { throw BackupRunner.Failure(description: "cannot open \(path) to sync it: \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            guard fsync(fd) == 0 else { throw BackupRunner.Failure(description: "cannot sync \(path) to disk: \(String(cString: strerror(errno)))") }
        }
    }
}

extension BackupRunner {
    /// Deletes the files of backups that retention no longer keeps, newest good backup excepted.
    public func prune(_ schedule: BackupSchedule, now: Date, on connection: DatabaseConnection? = nil) async throws -> [Int] {
        try await prune(schedule, runs: try await runs(schedule: schedule.name, limit: 100_000, on: connection), now: now, on: connection)
    }

    /// `prune`, given the schedule's runs as just read.
    func prune(_ schedule: BackupSchedule, runs: [Run], now: Date, on connection: DatabaseConnection?) async throws -> [Int] {
        let good = runs.filter { $0.status == .succeeded }
        let prunable = BackupRetention.prunable(
            good.compactMap { run in run.finishedAt.map { .init(id: run.id, finishedAt: $0) } },
            retention: schedule.retention, now: now)
        guard !prunable.isEmpty else { return [] }
        archives.removeFiles(of: good.filter { prunable.contains($0.id) })
        try await using(connection) { c in
            _ = try await c.query(
                """
                UPDATE \(schema.qualifying("backup_runs")) SET status = 'pruned', pruned_at = clock_timestamp()
                WHERE id = ANY(\(prunable))
                """, logger: logger)
        }
        return prunable
    }
}
