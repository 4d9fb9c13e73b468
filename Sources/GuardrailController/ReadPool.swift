import Foundation
import GuardrailEngine
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import ServiceLifecycle

/// The controller's connections for its read paths (backup status, the dashboard's decision log):
/// a postgres-nio `PostgresClient` pool, run as a service of the controller's ServiceGroup, instead
/// of each read opening a connection of its own. The leader lock, the apply lock and the flag
/// listener keep their dedicated connections.
///
/// It follows the environment the reconciler publishes: when the manifests move the environment to
/// another database, the pool for the old one is shut down and one for the new one started.
/// Every use is bounded by the environment's query deadline, so a database that stopped answering
/// fails a read instead of holding the loop; and results are read whole through
/// `DatabaseConnection`, as everywhere else.
public final class ReadPool: Service, Sendable {
    private let database: @Sendable () async -> Database
    private let logger: Logger
    /// At most this many pooled connections per replica.
    public static let maximumConnections = 4
    private let current = NIOLockedValueBox<(client: PostgresClient, database: Database)?>(nil)

    /// `database` is the database the environment in use names, asked again every second.
    public init(database: @escaping @Sendable () async -> Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let database = await self.database()
            var configuration = database.url.clientConfiguration(applicationName: "guardrail controller reads")
            // A few reads at a time (the backup status, the dashboard's rollout read): a handful of
            // connections, not the library's default twenty per replica.
            configuration.options.maximumConnections = Self.maximumConnections
            let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
            current.withLockedValue { $0 = (client, database) }
            await cancelWhenGracefulShutdown {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await client.run() }
                    group.addTask { [self] in
                        // Ends when the environment names another database, or when cancelled.
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .seconds(1))
                            let now = await self.database()
                            if now.url.description != database.url.description { return }
                        }
                    }
                    await group.next()
                    // Reads from now on go to the next pool; one that took this pool and fails as it
                    // shuts down is run again there (`withConnection`).
                    self.current.withLockedValue { $0 = nil }
                    group.cancelAll()
                }
            }
            current.withLockedValue { $0 = nil }
        }
    }

    /// Runs `body` on a pooled connection, within the database's query deadline. Before the pool
    /// runs (or between two databases), on a connection of its own.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (DatabaseConnection) async throws -> T) async throws -> T {
        guard let (client, database) = current.withLockedValue({ $0 }) else {
            return try await self.database().withConnection(applicationName: "guardrail controller reads", body)
        }
        do {
            return try await withConnection(client, database, body)
        } catch  where current.withLockedValue({ $0?.client !== client }) {
            // The pool was replaced (the environment moved) while this read used it.
            return try await withConnection(body)
        }
    }

    private func withConnection<T: Sendable>(
        _ client: PostgresClient, _ database: Database,
        _ body: @escaping @Sendable (DatabaseConnection) async throws -> T
    ) async throws -> T {
        let deadline = database.queryTimeout
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await client.withConnection { raw in try await body(DatabaseConnection(raw, queryTimeout: deadline)) }
            }
            group.addTask {
                try await Task.sleep(for: deadline)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw DatabaseError.other("no pooled connection to \(database.url.redacted) within \(deadline)")
            }
            return value
        }
    }
}
