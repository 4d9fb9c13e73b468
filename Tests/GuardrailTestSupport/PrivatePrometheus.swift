import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A Prometheus of a test's own (Debian's `prometheus`, which scripts/test installs), on a free
/// loopback port with `--web.enable-lifecycle`, loading rule files from a directory only this test
/// writes. Tests that reload or break their rules cannot disturb each other this way.
public final class PrivatePrometheus: @unchecked Sendable {
    public let url: String
    public let root: URL
    /// The directory Guardrail owns: `rule_files` includes `<rulesDirectory>/*.yaml`.
    public var rulesDirectory: String { root.appendingPathComponent("rules").path }
    /// Another directory Prometheus also loads rules from, which Guardrail must never touch.
    public var otherRulesDirectory: String { root.appendingPathComponent("other-rules").path }
    private var process: Process
    private let binary: String
    private let port: Int

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    public static func start() async throws -> PrivatePrometheus {
        guard let binary = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"].first(where: FileManager.default.isExecutableFile) else {
            throw Unavailable(description: "prometheus is not installed; run the tests through ./scripts/test, which installs it")
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-prom-\(UUID().uuidString)")
        for dir in ["rules", "other-rules", "data"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        let port = try freePort()
        let config = """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            rule_files:
              - \(root.path)/rules/*.yaml
              - \(root.path)/other-rules/*.yaml

            """
        try Data(config.utf8).write(to: root.appendingPathComponent("prometheus.yml"))
        let instance = PrivatePrometheus(
            url: "http://127.0.0.1:\(port)", root: root, process: try launch(binary, root: root, port: port),
            binary: binary, port: port)
        try await instance.waitUntilReady()
        return instance
    }

    static func launch(_ binary: String, root: URL, port: Int) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "--config.file=\(root.path)/prometheus.yml", "--storage.tsdb.path=\(root.path)/data",
            "--web.listen-address=127.0.0.1:\(port)", "--web.enable-lifecycle",
        ]
        let logPath = root.appendingPathComponent("prometheus.log").path
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = FileHandle(forWritingAtPath: logPath)!
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        return process
    }

    func waitUntilReady() async throws {
        for _ in 0..<200 {
            if let (_, response) = try? await URLSession.shared.data(from: URL(string: url + "/-/ready")!),
                (response as? HTTPURLResponse)?.statusCode == 200
            {
                return
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        stop()
        throw Unavailable(description: "the private Prometheus did not become ready")
    }

    /// Starts the server again after `kill()`, on the same port, with the same data and rules.
    public func restart() async throws {
        process = try Self.launch(binary, root: root, port: port)
        try await waitUntilReady()
    }

    private init(url: String, root: URL, process: Process, binary: String, port: Int) {
        self.url = url
        self.root = root
        self.process = process
        self.binary = binary
        self.port = port
    }

    /// Stops the server (and waits for it) and removes its directory.
    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: root)
    }

    /// Stops the server but keeps its files, to test what happens when Prometheus is gone.
    public func kill() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    deinit { stop() }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Unavailable(description: "socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw Unavailable(description: "bind() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
