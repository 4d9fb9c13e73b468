import Foundation
import GuardrailEngine

/// A Postgres cluster of one test's own, started by `scripts/lib/private-postgres`, so the test can
/// restart the server without disturbing the shared one every other test uses.
public final class PrivatePostgres: @unchecked Sendable {
    public let adminURL: String
    public let directory: URL

    public struct Failed: Error, CustomStringConvertible {
        public var description: String
    }

    private init(adminURL: String, directory: URL) {
        self.adminURL = adminURL
        self.directory = directory
    }

    public static func start() throws -> PrivatePostgres {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-private-pg-\(UUID().uuidString)")
        let script = Fixtures.repositoryRoot.appendingPathComponent("scripts/lib/private-postgres").path
        let (status, out, err) = try run(script, ["start", dir.path])
        guard status == 0, let url = out.split(separator: "\n").last.map(String.init), url.hasPrefix("postgres://") else {
            throw Failed(description: "private-postgres start failed (\(status)): \(err.suffix(2_000))")
        }
        return PrivatePostgres(adminURL: url, directory: dir)
    }

    /// `pg_ctl restart -m fast`: every connection is cut; returns once the server accepts connections again.
    public func restart() throws {
        let (status, _, err) = try Self.run(directory.appendingPathComponent("restart").path, [])
        guard status == 0 else { throw Failed(description: "restart failed (\(status)): \(err.suffix(2_000))") }
    }

    public func stop() {
        _ = try? Self.run(directory.appendingPathComponent("stop").path, [])
    }

    static func run(_ program: String, _ arguments: [String]) throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        group.enter()
        DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.wait()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    deinit { stop() }
}
