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
        let (status, out, err) = try SystemCommand.run(script, ["start", dir.path])
        guard status == 0, let url = out.split(separator: "\n").last.map(String.init), url.hasPrefix("postgres://") else {
            throw Failed(description: "private-postgres start failed (\(status)): \(err.suffix(2_000))")
        }
        return PrivatePostgres(adminURL: url, directory: dir)
    }

    /// `pg_ctl restart -m fast` (or `-m immediate`): every connection is cut; returns once the server
    /// accepts connections again.
    public func restart(immediate: Bool = false) throws {
        try script("restart", immediate ? ["immediate"] : [])
    }

    /// `pg_ctl stop -m immediate`: the backends die at once without telling their clients, as in a crash.
    public func halt() throws { try script("halt") }

    /// Starts the server again after `halt`, on the same port.
    public func resume() throws { try script("resume") }

    private func script(_ name: String, _ arguments: [String] = []) throws {
        let (status, _, err) = try SystemCommand.run(directory.appendingPathComponent(name).path, arguments)
        guard status == 0 else { throw Failed(description: "\(name) failed (\(status)): \(err.suffix(2_000))") }
    }

    public func stop() {
        _ = try? SystemCommand.run(directory.appendingPathComponent("stop").path, [])
    }

    deinit { stop() }
}
