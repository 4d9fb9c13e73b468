import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// An Alertmanager of a test's own (Debian's `prometheus-alertmanager`, which scripts/test installs),
/// on a free loopback port with clustering off, loading a configuration file only this test writes.
public final class PrivateAlertmanager: @unchecked Sendable {
    public let url: String
    public let root: URL
    /// The file Guardrail owns: Alertmanager's `--config.file`.
    public var configFile: String { root.appendingPathComponent("alertmanager.yml").path }
    private let process: Process

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    public static var binary: String? {
        ["/usr/bin/prometheus-alertmanager", "/usr/local/bin/alertmanager", "/usr/bin/alertmanager"].first(
            where: FileManager.default.isExecutableFile)
    }

    /// The configuration a fresh Alertmanager starts with: one receiver that sends nothing.
    public static let initialConfiguration = "route: {receiver: blackhole}\nreceivers: [{name: blackhole}]\n"

    public static func start(configuration: String = initialConfiguration) async throws -> PrivateAlertmanager {
        guard let binary else {
            throw Unavailable(description: "prometheus-alertmanager is not installed; run the tests through ./scripts/test, which installs it")
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-am-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("data"), withIntermediateDirectories: true)
        try Data(configuration.utf8).write(to: root.appendingPathComponent("alertmanager.yml"))
        let port = try PrivatePrometheus.freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "--config.file=\(root.path)/alertmanager.yml", "--storage.path=\(root.path)/data",
            "--web.listen-address=127.0.0.1:\(port)", "--cluster.listen-address=",
        ]
        let logPath = root.appendingPathComponent("alertmanager.log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let instance = PrivateAlertmanager(url: "http://127.0.0.1:\(port)", root: root, process: process)
        // Generous: a busy 2-core machine can take seconds to start a Go binary.
        for _ in 0..<600 {
            if let (_, response) = try? await URLSession.shared.data(from: URL(string: instance.url + "/-/ready")!),
                (response as? HTTPURLResponse)?.statusCode == 200
            {
                return instance
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        instance.stop()
        throw Unavailable(description: "the private Alertmanager did not become ready")
    }

    private init(url: String, root: URL, process: Process) {
        self.url = url
        self.root = root
        self.process = process
    }

    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: root)
    }

    deinit { stop() }
}
