import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A `guardrail controller` running as its own process, as in production: its JSON log lines are
/// collected, its HTTP port read from the "listening" line. `kill9` and `terminate` end it.
public final class ControllerProcess: @unchecked Sendable {
    public let replica: String
    private let process = Process()
    private let lock = NSLock()
    private var lines: [String] = []
    private var partial = ""

    public init(replica: String, directory: URL, environment: [String: String] = [:], extraArguments: [String] = []) throws {
        self.replica = replica
        process.executableURL = URL(fileURLWithPath: CommandRunner.binary)
        process.arguments = ["controller", "--env", "local", "--listen", "127.0.0.1:0", "--replica", replica] + extraArguments
        process.currentDirectoryURL = directory
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": NSTemporaryDirectory(), "NO_COLOR": "1"]
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        err.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.withLock {
                self.partial += String(decoding: data, as: UTF8.self)
                while let newline = self.partial.firstIndex(of: "\n") {
                    self.lines.append(String(self.partial[..<newline]))
                    self.partial = String(self.partial[self.partial.index(after: newline)...])
                }
            }
        }
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var log: [String] { lock.withLock { lines } }

    /// The port from the "listening" log line, once the HTTP server is up.
    public func port(timeout: Double = 30) async throws -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            for line in log where line.contains("\"message\":\"listening\"") {
                if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    let port = (object["port"] as? String).flatMap(Int.init)
                {
                    return port
                }
            }
            guard process.isRunning else { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        throw CocoaError(
            .fileReadUnknown,
            userInfo: [NSLocalizedDescriptionKey: "controller \(replica) did not report its port; log:\n" + log.joined(separator: "\n")])
    }

    /// SIGKILL: the process dies at once, its connections with it.
    public func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGSTOP: the process freezes with every connection open, as a stalled host or a debugger leaves it.
    public func stop() { kill(process.processIdentifier, SIGSTOP) }

    /// SIGCONT: a stopped process runs again.
    public func resume() { kill(process.processIdentifier, SIGCONT) }

    /// Waits up to `timeout` seconds for the process to exit by itself; its exit status, or nil.
    public func waitForExit(timeout: Double) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { try? await Task.sleep(nanoseconds: 50_000_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// GET `path` on the controller's port: the status code and body, or nil when nothing answered.
    public func get(_ path: String, port: Int) async -> (status: Int, body: String)? {
        guard let url = URL(string: "http://127.0.0.1:\(port)\(path)"),
            let (data, response) = try? await URLSession.shared.data(from: url),
            let http = response as? HTTPURLResponse
        else { return nil }
        return (http.statusCode, String(decoding: data, as: UTF8.self))
    }

    /// SIGTERM, then waits up to `timeout` seconds; returns the exit status, or nil if it is still running.
    public func terminate(timeout: Double) async -> Int32? {
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { try? await Task.sleep(nanoseconds: 50_000_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    deinit {
        // SIGKILL ends a stopped process too.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
