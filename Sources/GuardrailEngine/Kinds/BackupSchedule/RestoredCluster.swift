import Foundation
import GuardrailCore
import Logging

/// A cluster restored by pgBackRest into a directory of its own, started on a loopback port.
///
/// Created empty and 0700 before pgBackRest writes into it, and removed whole (after an immediate
/// stop) when anything fails, so a failed restore leaves neither a running server nor a directory.
struct RestoredCluster: Sendable {
    var directory: String
    var port: Int
    var pgbackrest: PgBackRest
    /// Whether Guardrail created the directory (and so removes it, rather than only its contents).
    var createdDirectory: Bool

    var logFile: String { directory + "/guardrail-restore.log" }

    /// Makes `path` ready to restore into: absolute, outside the primary's data directory, empty or
    /// missing (then created), 0700 and owned by the cluster's user.
    static func prepare(_ path: String, port: Int, pgbackrest: PgBackRest, primaryDataDirectory: String?) throws -> RestoredCluster {
        let fm = FileManager.default
        let absolute = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: fm.currentDirectoryPath)).standardizedFileURL.path
        guard !absolute.contains("'"), !absolute.contains("\n") else {
            throw PgBackRest.Failure(description: "the restore directory \(absolute) contains a quote or a line break; choose a plainer path")
        }
        let parent = (absolute as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw PgBackRest.Failure(description: "the restore directory's parent \(parent) does not exist")
        }
        let resolved = Self.realPath(parent) + "/" + (absolute as NSString).lastPathComponent
        for primary in [pgbackrest.pgPath, primaryDataDirectory].compactMap({ $0 }) {
            let p = Self.realPath(primary)
            if resolved == p || resolved.hasPrefix(p + "/") || p.hasPrefix(resolved + "/") {
                throw PgBackRest.Failure(
                    description: "\(absolute) is the primary's data directory or overlaps it (\(primary)); a restore never writes there")
            }
        }
        var created = false
        if fm.fileExists(atPath: absolute, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw PgBackRest.Failure(description: "\(absolute) exists and is not a directory") }
            guard ((try? fm.contentsOfDirectory(atPath: absolute)) ?? ["?"]).isEmpty else {
                throw PgBackRest.Failure(description: "\(absolute) is not empty; restore into a new or empty directory")
            }
        } else {
            guard mkdir(absolute, 0o700) == 0 else {
                throw PgBackRest.Failure(description: "cannot create \(absolute): \(String(cString: strerror(errno)))")
            }
            created = true
        }
        let cluster = RestoredCluster(directory: absolute, port: port, pgbackrest: pgbackrest, createdDirectory: created)
        do {
            // The server refuses a data directory others can read; the mode is exact whatever the umask.
            guard chmod(absolute, 0o700) == 0 else {
                throw PgBackRest.Failure(description: "cannot make \(absolute) private: \(String(cString: strerror(errno)))")
            }
            if let owner = try pgbackrest.commandUser() {
                guard chown(absolute, owner.uid, owner.gid) == 0 else {
                    throw PgBackRest.Failure(description: "cannot give \(absolute) to \(owner.name): \(String(cString: strerror(errno)))")
                }
            }
        } catch {
            cluster.remove()
            throw error
        }
        return cluster
    }

    static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return URL(fileURLWithPath: path).standardizedFileURL.path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The settings a standby must not set below the primary's (`pg_controldata` of the restored
    /// directory records them), as `-c` options.
    func controlSettings() async throws -> [String] {
        let result = try await ExternalCommand(executable: try PostgresTools.path(of: "pg_controldata"), arguments: [directory]).run()
        guard result.status == 0 else { throw PgBackRest.Failure(description: "pg_controldata failed: " + BackupRunner.lastLines(result.stderr)) }
        var options: [String] = []
        for line in result.stdout.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, parts[0].hasSuffix(" setting"), let value = Int(parts[1]) else { continue }
            let name = String(parts[0].dropLast(" setting".count))
            if ["max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_xacts", "max_locks_per_xact"].contains(name) {
                options.append(
                    "-c \(name == "max_prepared_xacts" ? "max_prepared_transactions" : name == "max_locks_per_xact" ? "max_locks_per_transaction" : name)=\(value)"
                )
            }
        }
        return options
    }

    /// `pg_ctl start` on loopback, with archiving off (the restored cluster must never push WAL into
    /// the primary's archive). Returns once the server accepts connections; recovery may go on.
    func start(timeout: Int) async throws {
        // No Unix socket: Guardrail connects over TCP, and a socket path inside a deep directory can
        // exceed the 107 bytes a socket address holds.
        let options =
            (["-c listen_addresses=127.0.0.1", "-p \(port)", "-c unix_socket_directories=''", "-c archive_mode=off"]
            + (try await controlSettings())).joined(separator: " ")
        let (program, args) = try pgbackrest.asCommandUser(
            try PostgresTools.path(of: "pg_ctl"),
            ["-D", directory, "-l", logFile, "-w", "-t", String(timeout), "-o", options, "start"])
        // The server inherits this environment: its restore_command (pgbackrest archive-get) needs the secrets.
        let status = try await ExternalCommand(
            executable: program, arguments: args, environment: pgbackrest.childEnvironment,
            removing: pgbackrest.sourceVariables
        ).runDetached()
        guard status == 0 else {
            throw PgBackRest.Failure(description: "the restored cluster did not start: " + serverMessage())
        }
    }

    /// Whether the postmaster is still there (it removes its pid file when it exits).
    var isRunning: Bool { FileManager.default.fileExists(atPath: directory + "/postmaster.pid") }

    /// FATAL and PANIC lines of the server's log (what recovery said when it stopped), else its tail.
    func serverMessage() -> String {
        let text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n").map(String.init)
        let fatal = lines.filter { $0.contains("FATAL:") || $0.contains("PANIC:") }
        let chosen = fatal.isEmpty ? Array(lines.suffix(3)) : Array(fatal.suffix(2))
        return chosen.isEmpty
            ? "no server log"
            : chosen.map { line in
                // Drop the log line prefix (time and pid); keep the message.
                if let r = line.range(of: "FATAL:") ?? line.range(of: "PANIC:") { return String(line[r.lowerBound...]) }
                return line
            }.joined(separator: " | ")
    }

    /// Stops the server: `fast` when done with it, `immediate` when abandoning a failed restore.
    func stop(immediate: Bool) async {
        guard isRunning, let pgCtl = try? PostgresTools.path(of: "pg_ctl"),
            let (program, args) = try? pgbackrest.asCommandUser(
                pgCtl, ["-D", directory, "-m", immediate ? "immediate" : "fast", "-w", "-t", "60", "stop"])
        else { return }
        _ = try? await ExternalCommand(executable: program, arguments: args).run()
    }

    /// Removes what the restore wrote: the directory Guardrail created, or the contents of the empty one it was given.
    func remove() {
        let fm = FileManager.default
        if createdDirectory {
            try? fm.removeItem(atPath: directory)
        } else {
            for name in (try? fm.contentsOfDirectory(atPath: directory)) ?? [] { try? fm.removeItem(atPath: directory + "/" + name) }
        }
    }

    /// Stops (immediately) and removes: a failed restore leaves nothing behind.
    func discard() async {
        await stop(immediate: true)
        remove()
    }

    /// Waits until the server has finished recovery and been promoted (it has reached its target
    /// and accepts writes), polling `pg_is_in_recovery()`; fails with the server's own message when
    /// recovery stops short.
    func waitForPromotion(url: DatabaseURL, schema: String, deadline: Date) async throws {
        let database = Database(url: url, schema: schema)
        while true {
            if !isRunning {
                throw PgBackRest.Failure(description: "recovery stopped: " + serverMessage())
            }
            let inRecovery: Bool? = try? await database.withConnection(applicationName: "guardrail restore") { c in
                var value = true
                for (flag) in try await c.query("SELECT pg_is_in_recovery()", logger: database.logger).decode(Bool.self) { value = flag }
                return value
            }
            if inRecovery == false { return }
            guard Date() < deadline else {
                throw PgBackRest.Failure(description: "recovery did not reach its target in time: " + serverMessage())
            }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
    }

    /// A free TCP port on loopback, for a cluster started without `--port`.
    static func freePort() throws -> Int {
        guard let (fd, port) = LoopbackSocket.bind() else { throw PgBackRest.Failure(description: "cannot find a free port on loopback") }
        close(fd)
        return port
    }
}

extension PgBackRest {
    /// `program arguments`, run as `osUser` through runuser when Guardrail runs as root.
    func asCommandUser(_ program: String, _ arguments: [String]) throws -> (String, [String]) {
        guard let user = try commandUser() else { return (program, arguments) }
        return (try Self.tool("runuser", in: ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]), ["-u", user.name, "--", program] + arguments)
    }
}
