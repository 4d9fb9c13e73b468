import Foundation
#if canImport(Glibc)
import Glibc
#endif
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

    /// Runs `program` and waits with waitpid: Foundation's `Process.waitUntilExit` was seen to miss
    /// the exit of a script whose children (pg_ctl, the server) outlive it. Output goes through files.
    static func run(_ program: String, _ arguments: [String]) throws -> (Int32, String, String) {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-pp-\(UUID().uuidString).out")
        let err = out.deletingPathExtension().appendingPathExtension("err")
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, out.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, err.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, nil, argv, environ)
        guard spawned == 0 else { throw Failed(description: "cannot run \(program): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let code = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        let text = { (url: URL) in (try? String(contentsOf: url, encoding: .utf8)) ?? "" }
        return (code, text(out), text(err))
    }

    deinit { stop() }
}
