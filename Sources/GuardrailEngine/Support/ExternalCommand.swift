import Foundation
import NIOPosix

/// Runs a program such as `pg_dump` and waits for it without blocking a Swift concurrency thread.
///
/// Secrets travel in the child's environment (`PGPASSWORD`), never in its arguments, which any
/// user on the machine can read from the process table.
struct ExternalCommand: Sendable {
    var executable: String
    var arguments: [String]
    var environment: [String: String] = [:]
    /// Variables of Guardrail's own environment the program does not get (a secret it receives under another name).
    var removing: [String] = []

    struct Result: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    struct LaunchError: Error, CustomStringConvertible {
        var executable: String
        var reason: String
        var description: String { "cannot run \(executable): \(reason)" }
    }

    /// Runs to completion. Output beyond `limit` bytes per stream is dropped (the tail of stderr is what explains a failure).
    func run(limit: Int = 64 * 1024) async throws -> Result {
        try Task.checkCancellation()
        let started = try start()
        return await started.wait(limit: limit)
    }

    /// Runs to completion with its output discarded, for a program that leaves a server running
    /// behind it (`pg_ctl start`): the server would inherit the ends of any pipe and hold them open
    /// for as long as it runs. No descriptor above stderr reaches it (every one is marked
    /// close-on-exec first: Guardrail never hands descriptors to programs but as their standard
    /// streams), and it is waited for with waitpid (the server outlives the program, which
    /// Foundation's Process was seen to miss).
    func runDetached() async throws -> Int32 {
        try Task.checkCancellation()
        var env = ProcessInfo.processInfo.environment
        for key in removing { env[key] = nil }
        for (key, value) in environment { env[key] = value }
        let executable = self.executable, arguments = self.arguments
        let environmentLines = env.map { "\($0.key)=\($0.value)" }
        let pid: pid_t = try {
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            for fd: Int32 in 0...2 { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
            for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
                guard let fd = Int32(name), fd > 2 else { continue }
                let flags = fcntl(fd, F_GETFD)
                if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
            }
            let argv = ([executable] + arguments).map { strdup($0) } + [nil]
            let envp = environmentLines.map { strdup($0) } + [nil]
            defer {
                argv.forEach { free($0) }
                envp.forEach { free($0) }
            }
            var pid: pid_t = 0
            let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
            guard spawned == 0 else { throw LaunchError(executable: executable, reason: String(cString: strerror(spawned))) }
            return pid
        }()
        return try await Self.pipeThreads.runIfActive {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        }
    }

    /// Starts the program now, on the calling thread: a backup's pg_dump is under way before the
    /// rest of the command has connected to anything.
    func start() throws -> Started {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for key in removing { env[key] = nil }
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw LaunchError(executable: executable, reason: error.localizedDescription)
        }
        return Started(process: RunningProcess(process: process), out: out, err: err)
    }

    /// A started program, to be waited for once.
    ///
    /// `@unchecked Sendable` is safe: every field is a `let`; `Pipe` and its file handles are only
    /// read by `wait`, which runs once, and the process is touched through `RunningProcess`.
    struct Started: @unchecked Sendable {
        fileprivate let process: RunningProcess
        fileprivate let out: Pipe, err: Pipe

        /// Waits for the program to exit. Cancelling the task stops the program (SIGTERM); the result then reports how it ended.
        func wait(limit: Int = 64 * 1024) async -> Result {
            let running = process, out = out, err = err
            return await withTaskCancellationHandler {
                await ExternalCommand.wait(for: running.process, out: out, err: err, limit: limit)
            } onCancel: {
                running.terminate()
            }
        }
    }

    /// A process the cancellation handler may stop from another thread.
    ///
    /// `@unchecked Sendable` is safe: Foundation's `Process` guards `isRunning` and `terminate()`
    /// with its own lock, and those are the only members used from another thread.
    fileprivate struct RunningProcess: @unchecked Sendable {
        let process: Process
        func terminate() { if process.isRunning { process.terminate() } }
    }

    /// Threads for reading programs' pipes and waiting for their exit: blocking calls that last as long
    /// as the program runs (a pg_dump of a large database runs for minutes). They get a pool of their
    /// own so they never hold the shared `NIOThreadPool.singleton` that hashing and rendering use, nor
    /// Swift's cooperative pool (with two cores, a running pg_dump then held up every other task).
    /// Two threads per program; eight run four programs at once, more than any command starts.
    static let pipeThreads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 8)
        pool.start()
        return pool
    }()

    /// Reads both pipes to their end and waits for the exit on `pipeThreads`.
    fileprivate static func wait(for process: Process, out: Pipe, err: Pipe, limit: Int) async -> Result {
        let stderrFile = err.fileHandleForReading, stdoutFile = out.fileHandleForReading
        let running = RunningProcess(process: process)
        async let errData = (try? await pipeThreads.runIfActive { read(stderrFile, limit: limit) }) ?? Data()
        async let outData =
            (try? await pipeThreads.runIfActive {
                let data = read(stdoutFile, limit: limit)
                running.process.waitUntilExit()
                return data
            }) ?? Data()
        let stdout = await outData, stderr = await errData
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Reads a pipe to its end, keeping the last `limit` bytes.
    private static func read(_ handle: FileHandle, limit: Int) -> Data {
        var kept = Data()
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            kept.append(chunk)
            if kept.count > limit { kept = kept.suffix(limit) }
        }
        return kept
    }
}

/// Where the PostgreSQL client programs are: `GUARDRAIL_PG_BIN`, else the newest
/// `/usr/lib/postgresql/N/bin` (pg_dump must be at least the server's version), else `PATH`.
enum PostgresTools {
    static func path(of tool: String) throws -> String {
        let fm = FileManager.default
        if let dir = ProcessInfo.processInfo.environment["GUARDRAIL_PG_BIN"], !dir.isEmpty {
            let candidate = dir + "/" + tool
            if fm.isExecutableFile(atPath: candidate) { return candidate }
        }
        if let versions = try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
            for version in versions.compactMap(Int.init).sorted(by: >) {
                let candidate = "/usr/lib/postgresql/\(version)/bin/\(tool)"
                if fm.isExecutableFile(atPath: candidate) { return candidate }
            }
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(tool)"
            if fm.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw ExternalCommand.LaunchError(executable: tool, reason: "not found; install postgresql-client or set GUARDRAIL_PG_BIN")
    }
}

extension DatabaseURL {
    /// libpq environment variables for this URL, for pg_dump and pg_restore. The password goes here,
    /// not on the command line.
    func libpqEnvironment(database: String? = nil, applicationName: String) -> [String: String] {
        var env: [String: String] = [
            "PGUSER": user,
            "PGDATABASE": database ?? self.database,
            "PGAPPNAME": applicationName,
            "PGSSLMODE": sslMode.rawValue,
            "PGCONNECT_TIMEOUT": "10",
        ]
        if let socket = unixSocketPath {
            env["PGHOST"] = (socket as NSString).deletingLastPathComponent
        } else {
            env["PGHOST"] = host
        }
        env["PGPORT"] = String(port)
        env["PGPASSWORD"] = password?.value ?? ""
        return env
    }
}
