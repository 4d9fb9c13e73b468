import Foundation
import GuardrailCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

/// A connection to the environment's Postgres, and the one place Postgres errors become readable ones.
public struct Database: Sendable {
    public let url: DatabaseURL
    public let schema: SQLIdentifier
    public let logger: Logger

    public init(url: DatabaseURL, schema: String, logger: Logger = Logger(label: "guardrail.postgres", factory: { _ in SwiftLogNoOpLogHandler() })) {
        self.url = url
        self.schema = SQLIdentifier(schema)
        self.logger = logger
    }

    private static let connectionIDs = ManagedAtomicCounter()

    /// Opens a connection named `applicationName` (shown in `pg_stat_activity` and lock-holder messages).
    public func connect(applicationName: String) async throws -> PostgresConnection {
        do {
            let configuration = try url.connectionConfiguration(applicationName: applicationName)
            return try await PostgresConnection.connect(configuration: configuration, id: Self.connectionIDs.next(), logger: logger)
        } catch {
            throw DatabaseError.connect(url: url.redacted, underlying: error)
        }
    }

    /// Runs `body` on a fresh connection and closes it afterwards.
    public func withConnection<T: Sendable>(applicationName: String, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await connect(applicationName: applicationName)
        do {
            let result = try await body(connection)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

/// Hands out connection ids for postgres-nio's logs.
final class ManagedAtomicCounter: Sendable {
    private let value = NIOLockedValueBox(0)
    func next() -> Int {
        value.withLockedValue { value in
            value += 1
            return value
        }
    }
}

/// A failure talking to Postgres, described by SQLSTATE and the server's message only.
///
/// postgres-nio's own description can include the query and its bound values; those may hold data
/// from manifests, so they are never shown.
public enum DatabaseError: Error, CustomStringConvertible, Sendable {
    case connect(url: String, underlying: any Error)
    case server(sqlState: String, message: String, detail: String?, hint: String?, context: String)
    case other(String)

    /// Classifies any error thrown by postgres-nio during `context` ("reading tenants", "applying changes").
    public static func wrap(_ error: any Error, context: String) -> any Error {
        if error is DatabaseError || error is DiagnosticError || error is Diagnostic { return error }
        if let transaction = error as? PostgresTransactionError {
            if let e = transaction.closureError { return wrap(e, context: context) }
            if let e = transaction.commitError { return wrap(e, context: context + " (commit)") }
            if let e = transaction.beginError { return wrap(e, context: context + " (begin)") }
        }
        if let psql = error as? PSQLError {
            if let info = psql.serverInfo, let state = info[.sqlState] {
                return DatabaseError.server(sqlState: state, message: info[.message] ?? "unknown error", detail: info[.detail],
                                            hint: info[.hint], context: context)
            }
            return DatabaseError.other("\(context): \(psql.code)")
        }
        // Guardrail's own errors (refusals, diagnostics, cancellation) pass through unchanged.
        return error
    }

    public var sqlState: String? {
        if case .server(let state, _, _, _, _) = self { return state }
        return nil
    }

    public var description: String {
        switch self {
        case .connect(let url, let underlying):
            var reason = "\(underlying)"
            if let psql = underlying as? PSQLError {
                if let info = psql.serverInfo, let message = info[.message] {
                    reason = message
                } else if let inner = psql.underlying {
                    reason = "\(inner)"
                } else {
                    reason = "\(psql.code)"
                }
            }
            return "cannot connect to Postgres at \(url): \(reason)"
        case .server(let state, let message, let detail, let hint, let context):
            var text = "\(context): \(message) (SQLSTATE \(state))"
            if let detail { text += "\n  \(detail)" }
            if let hint { text += "\n  hint: \(hint)" }
            return text
        case .other(let text):
            return text
        }
    }
}

extension PostgresConnection {
    /// Runs `body` in a transaction; the Postgres error, not a wrapper, is what callers see.
    func transaction<T>(_ begin: PostgresQuery = "BEGIN", logger: Logger, context: String,
                        _ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            try await query(begin, logger: logger)
        } catch {
            throw DatabaseError.wrap(error, context: context)
        }
        do {
            let value = try await body(self)
            try await query("COMMIT", logger: logger)
            return value
        } catch {
            _ = try? await query("ROLLBACK", logger: logger)
            throw DatabaseError.wrap(error, context: context)
        }
    }
}
