import Foundation
import GuardrailController
import GuardrailCore
import GuardrailEngine
import GuardrailTestSupport
import Logging
import NIOConcurrencyHelpers
import Testing

/// The controller's read pool against a real Postgres: reads go through pooled connections (one
/// backend serves many reads), the pool moves when the environment names another database, and a
/// database that does not answer fails a read within the deadline instead of holding it.
@Suite("controller read pool", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct ReadPoolTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func database(of db: TestDatabase, timeout: Duration = .seconds(10)) -> Database {
        Database(url: db.url, schema: "guardrail", queryTimeout: timeout)
    }

    @Test("reads share pooled connections, and follow the environment to another database")
    func pooledAndFollowing() async throws {
        let first = try await TestPostgres.createDatabase(), second = try await TestPostgres.createDatabase()
        let target = NIOLockedValueBox(Self.database(of: first))
        let pool = ReadPool(database: { target.withLockedValue { $0 } }, logger: Self.logger)
        let running = Task { try await pool.run() }
        func read() async throws -> (database: String, backend: Int) {
            try await pool.withConnection { c in
                let rows = try await c.query("SELECT current_database(), pg_backend_pid()", logger: Self.logger)
                for (name, backend) in try rows.decode((String, Int).self) { return (name, backend) }
                throw DatabaseError.other("no row")
            }
        }
        // Give the pool its first client; before that a read opens a connection of its own.
        try await Task.sleep(for: .milliseconds(300))
        var backends: Set<Int> = []
        for _ in 0..<10 {
            let r = try await read()
            #expect(r.database == first.name)
            backends.insert(r.backend)
        }
        #expect(backends.count < 10, "ten sequential reads reuse pooled backends: \(backends)")

        target.withLockedValue { $0 = Self.database(of: second) }
        let deadline = Date().addingTimeInterval(10)
        var moved = false
        while Date() < deadline, !moved {
            moved = try await read().database == second.name
            if !moved { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(moved, "the pool reads from the database the environment now names")
        running.cancel()
        _ = try? await running.value
        await first.drop()
        await second.drop()
    }

    @Test("a database that accepts connections but never answers fails a read within the query deadline")
    func deadDatabaseFailsWithinTheDeadline() async throws {
        // A listening socket that never speaks Postgres: connections hang in the handshake.
        let silent = try SilentListener()
        defer { silent.close() }
        let url = try DatabaseURL(parsing: "postgres://nobody@127.0.0.1:\(silent.port)/none?sslmode=disable")
        let database = Database(url: url, schema: "guardrail", queryTimeout: .seconds(2))
        let pool = ReadPool(database: { database }, logger: Self.logger)
        let running = Task { try await pool.run() }
        try await Task.sleep(for: .milliseconds(300))
        let started = ContinuousClock.now
        await #expect(throws: (any Error).self) {
            try await pool.withConnection { c in try await c.query("SELECT 1", logger: Self.logger).count }
        }
        let took = ContinuousClock.now - started
        #expect(took < .seconds(10), "failed after \(took)")
        running.cancel()
        _ = try? await running.value
    }
}

/// A TCP listener on loopback that accepts connections and never writes a byte.
struct SilentListener {
    let fd: Int32
    let port: Int

    init() throws {
        guard let (fd, port) = LoopbackSocket.bind(), listen(fd, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        self.fd = fd
        self.port = port
    }

    func close() { _ = Glibc.close(fd) }
}
