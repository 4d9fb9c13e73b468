import Foundation
import GuardrailCore
@testable import GuardrailEngine
import GuardrailTestSupport
import Logging
import PostgresNIO
import Testing

/// `DatabaseConnection`, the one way Guardrail queries: a connection lost in the middle of a large
/// result fails the query and nothing else (postgres-nio's streamed row sequence stops the whole
/// process there, see the type's documentation), a closed connection fails at once, and no query
/// outlives its deadline or its task.
@Suite("Postgres connections", .serialized, .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct DatabaseConnectionTests {
    static let logger = TestDatabase.logger
    /// 300,000 rows of about 200 bytes: far more than a socket buffer, so the server is still
    /// sending when its backend is terminated.
    static let large: PostgresQuery = "SELECT g, repeat('x', 200) FROM generate_series(1, 300000) g"

    static func backendPID(_ c: DatabaseConnection) async throws -> Int {
        try #require(try await c.query("SELECT pg_backend_pid()", logger: logger).decode(Int.self).first)
    }

    @Test(
        "a backend terminated while it streams 300,000 rows, ten times at different moments: each query fails as a lost connection, and the process lives on"
    )
    func terminatedMidResult() async throws {
        let db = try await TestPostgres.createDatabase()
        let database = Database(url: db.url, schema: "guardrail")
        var lost = 0
        for round in 0..<10 {
            let c = try await database.connect(applicationName: "terminated mid-result")
            let pid = try await Self.backendPID(c)
            let killer = Task {
                try await Task.sleep(for: .milliseconds(50 + round * 40))
                try await db.execute("SELECT pg_terminate_backend(\(pid))")
            }
            var failed = false
            do {
                let rows = try await c.query(Self.large, logger: Self.logger)
                // The whole result arrived before the kill: a fast round, still a correct one.
                #expect(rows.count == 300_000)
            } catch {
                let wrapped = DatabaseError.wrap(error, context: "reading rows")
                #expect((wrapped as? DatabaseError)?.isConnectionLoss == true, "round \(round): \(wrapped)")
                #expect(!"\(wrapped)".contains("xxxx"), "no row contents in the message: \(wrapped)")
                lost += 1
                failed = true
            }
            try await killer.value
            // Only a query that failed proves the backend went while it ran; after a fast round the
            // terminate lands later and the close may not have been seen yet.
            #expect(c.isClosed || !failed, "a terminated backend's connection is closed")
            await c.close()
        }
        #expect(lost > 0, "no round was terminated mid-result")
        await db.drop()
    }

    @Test("a query on a connection that is already closed fails at once, as a lost connection")
    func closedConnectionFailsAtOnce() async throws {
        let db = try await TestPostgres.createDatabase()
        let c = try await Database(url: db.url, schema: "guardrail").connect(applicationName: "closed")
        let pid = try await Self.backendPID(c)
        try await db.execute("SELECT pg_terminate_backend(\(pid))")
        let started = ContinuousClock.now
        var error: (any Error)?
        for _ in 0..<3 {
            do { try await c.query("SELECT 1", logger: Self.logger) } catch let e { error = e }
        }
        let took = ContinuousClock.now - started
        #expect(took < .seconds(5), "\(took)")
        #expect((DatabaseError.wrap(try #require(error), context: "x") as? DatabaseError)?.isConnectionLoss == true, "\(String(describing: error))")
        await c.close()
        await db.drop()
    }

    @Test("a query that outlives its deadline fails, and its connection is closed (its state is unknown)")
    func deadline() async throws {
        let db = try await TestPostgres.createDatabase()
        let c = try await Database(url: db.url, schema: "guardrail", queryTimeout: .seconds(1)).connect(applicationName: "deadline")
        let started = ContinuousClock.now
        let error = await #expect(throws: DatabaseError.self) { try await c.query("SELECT pg_sleep(30)", logger: Self.logger) }
        let took = ContinuousClock.now - started
        #expect(took >= .milliseconds(900) && took < .seconds(15), "\(took)")
        #expect("\(error.map { "\($0)" } ?? "")".contains("did not answer within 1s"), "\(String(describing: error))")
        #expect(c.isClosed)
        // A longer deadline for one query overrides the connection's.
        let other = try await Database(url: db.url, schema: "guardrail", queryTimeout: .seconds(1)).connect(applicationName: "deadline")
        try await other.query("SELECT pg_sleep(1.5)", logger: Self.logger, timeout: .seconds(10))
        await other.close()
        await db.drop()
    }

    @Test("cancelling the task ends its query at once and closes the connection")
    func cancellation() async throws {
        let db = try await TestPostgres.createDatabase()
        let c = try await Database(url: db.url, schema: "guardrail").connect(applicationName: "cancelled")
        let task = Task { try await c.query("SELECT pg_sleep(30)", logger: Self.logger) }
        try await Task.sleep(for: .milliseconds(300))
        let started = ContinuousClock.now
        task.cancel()
        let outcome = await task.result
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect((try? outcome.get()) == nil, "the query was cancelled")
        #expect(c.isClosed)
        await db.drop()
    }

    @Test("the client deadline of an environment: its statement or lock timeout, whichever is longer, plus 5s; 60s when it sets no statement timeout")
    func deadlineOfAnEnvironment() {
        #expect(Database.queryTimeout(lockTimeout: .seconds(30), statementTimeout: .seconds(600)) == .seconds(605))
        #expect(Database.queryTimeout(lockTimeout: .seconds(30), statementTimeout: .seconds(10)) == .seconds(35))
        #expect(Database.queryTimeout(lockTimeout: .seconds(10), statementTimeout: nil) == .seconds(65))
    }
}
