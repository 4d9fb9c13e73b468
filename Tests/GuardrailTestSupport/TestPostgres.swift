import Foundation
import GuardrailCore
import GuardrailEngine
import Logging
import PostgresNIO

/// The Postgres that `scripts/test` starts on loopback, and throwaway databases inside it.
///
/// Each test gets a database of its own, so tests run in parallel without seeing each other.
/// The server comes from `GUARDRAIL_TEST_ADMIN_URL`; with `GUARDRAIL_REQUIRE_INTEGRATION=1` (as
/// `scripts/test` and CI set it) a missing server is a failure, never a silent skip.
public enum TestPostgres {
    public static var adminURL: String? {
        ProcessInfo.processInfo.environment["GUARDRAIL_TEST_ADMIN_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public static var required: Bool { ProcessInfo.processInfo.environment["GUARDRAIL_REQUIRE_INTEGRATION"] == "1" }

    /// True when integration tests should run: the server is configured, or it is required (and the test will fail loudly).
    public static var isAvailable: Bool { adminURL != nil || required }

    public struct Missing: Error, CustomStringConvertible {
        public var description: String { "GUARDRAIL_TEST_ADMIN_URL is not set; run the tests through ./scripts/test, which starts Postgres" }
    }

    /// A new, empty database with a unique name.
    public static func createDatabase(prefix: String = "t") async throws -> TestDatabase {
        guard let adminURL else { throw Missing() }
        let admin = try DatabaseURL(parsing: adminURL)
        let name = "\(prefix)_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16))"
        let adminDatabase = Database(url: admin, schema: "guardrail")
        try await adminDatabase.withConnection(applicationName: "guardrail tests") { c in
            try await c.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(SQLIdentifier(name).quoted)"), logger: TestDatabase.logger)
        }
        var url = admin
        url.database = name
        return TestDatabase(name: name, url: url, adminURL: admin)
    }

    /// Runs one statement on the server's maintenance database as the admin user (roles are
    /// cluster-wide, so tests drop the ones they made here).
    public static func execute(adminSQL: String) async throws {
        guard let adminURL else { throw Missing() }
        let database = Database(url: try DatabaseURL(parsing: adminURL), schema: "guardrail")
        try await database.withConnection(applicationName: "guardrail tests") { c in
            try await c.query(PostgresQuery(unsafeSQL: adminSQL), logger: TestDatabase.logger)
        }
    }
}

/// One throwaway database.
public struct TestDatabase: Sendable {
    public static let logger = Logger(label: "guardrail.tests", factory: { _ in SwiftLogNoOpLogHandler() })

    public var name: String
    public var url: DatabaseURL
    public var adminURL: DatabaseURL

    /// `postgres://user:password@host:port/name?sslmode=disable`: what `DATABASE_URL` gets in CLI tests.
    public var urlString: String {
        let password = url.password?.value ?? ""
        let encoded = password.addingPercentEncoding(withAllowedCharacters: .urlPasswordAllowed) ?? password
        return "postgres://\(url.user):\(encoded)@\(url.host):\(url.port)/\(name)?sslmode=disable"
    }

    public var password: String { url.password?.value ?? "" }

    public func environment(
        name env: String = "local", schema: String = "guardrail", lockTimeout: GuardrailDuration = .seconds(5)
    ) -> ResolvedEnvironment {
        ResolvedEnvironment(name: env, database: Database(url: url, schema: schema), lockTimeout: lockTimeout)
    }

    /// Runs SQL text through `psql`, so several statements may be given at once (tests only: the
    /// product binds every value).
    public func execute(_ sql: String) async throws {
        _ = try psql(sql)
    }

    /// Rows of a query as `psql` prints them (text form; NULL as nil), in the order the query returns them.
    public func rows(_ sql: String) async throws -> [[String?]] {
        let output = try psql(sql, tuplesOnly: true)
        guard !output.isEmpty else { return [] }
        return output.split(separator: "\u{1E}", omittingEmptySubsequences: false).map { record in
            record.split(separator: "\u{1F}", omittingEmptySubsequences: false).map { $0 == "\u{1D}" ? nil : String($0) }
        }
    }

    public struct PSQLFailure: Error, CustomStringConvertible {
        public var description: String
    }

    private func psql(_ sql: String, tuplesOnly: Bool = false) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        var args = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", url.host, "-p", String(url.port), "-U", url.user, "-d", name]
        if tuplesOnly { args += ["-A", "-t", "-F", "\u{1F}", "-R", "\u{1E}", "-P", "null=\u{1D}"] }
        process.arguments = args + ["-c", sql]
        var env = ProcessInfo.processInfo.environment
        env["PGPASSWORD"] = password
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw PSQLFailure(description: "psql failed: \(String(decoding: errors, as: UTF8.self))")
        }
        var text = String(decoding: data, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// The first column of the first row.
    public func scalar(_ sql: String) async throws -> String? {
        try await rows(sql).first?.first ?? nil
    }

    /// A text dump of a table, ordered, for before/after comparisons.
    public func snapshot(_ table: String, orderBy: String) async throws -> [[String?]] {
        try await rows("SELECT * FROM \(table) ORDER BY \(orderBy)")
    }

    public func drop() async {
        let admin = Database(url: adminURL, schema: "guardrail")
        _ = try? await admin.withConnection(applicationName: "guardrail tests") { c in
            try await c.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(SQLIdentifier(name).quoted) WITH (FORCE)"), logger: Self.logger)
        }
    }
}

extension TestDatabase {
    /// A session on this database holding the apply lock, as `guardrail apply` runs.
    public func lockedSession(_ environment: ResolvedEnvironment? = nil) async throws -> Session {
        let session = try await Session.open(environment ?? self.environment(), applicationName: "test")
        do {
            try await session.acquireLock(timeout: .seconds(5), applicationName: "test lock")
        } catch {
            // Never dropped open: postgres-nio asserts that every connection is closed.
            await session.close()
            throw error
        }
        return session
    }
}
