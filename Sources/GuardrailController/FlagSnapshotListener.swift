import Foundation
import GuardrailCore
import GuardrailEngine
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import ServiceLifecycle

/// Keeps the controller's flag snapshot current: loads it, then LISTENs on the channel Postgres
/// notifies when flags, the cohort ledger or tenants change, and reloads after each notification
/// (several in a burst become one reload). Every replica runs it, leader or not, so OFREP answers
/// on standbys too. A lost connection is retried with backoff; until it is back the last snapshot
/// keeps serving, and a reload every `refreshEvery` (at least a minute) bounds how stale it can get.
public struct FlagSnapshotListener: Service {
    public let database: Database
    public let state: ControllerState
    public let refreshEvery: GuardrailDuration
    public let logger: Logger

    public init(database: Database, state: ControllerState, refreshEvery: GuardrailDuration, logger: Logger) {
        self.database = database
        self.state = state
        // NOTIFY carries every change; the periodic reload is only a safety net, and reading a
        // large ledger every second would cost more than it protects.
        self.refreshEvery = max(refreshEvery, .seconds(60))
        self.logger = logger
    }

    public func run() async throws {
        var backoff = Backoff(base: 0.5, cap: 30)
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                let connected = try await cancelWhenGracefulShutdown { try await listen() }
                if connected { backoff.succeeded() }
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
                await state.databaseReachable(false)
                let delay = backoff.delay
                logger.warning("flag snapshot connection lost; retrying", metadata: ["address": "flags", "error": "\(error)", "retry_in": "\(delay)s"])
                try? await cancelWhenGracefulShutdown { try await Task.sleep(nanoseconds: UInt64(delay * 1e9)) }
                backoff.failed()
            }
        }
    }

    /// Returns when the stream ends; throws when the connection fails. The connection is closed
    /// here, in this task, on every path.
    private func listen() async throws -> Bool {
        let connection = try await database.connect(applicationName: "guardrail controller flag snapshot")
        do {
            let listened = try await listen(on: connection)
            await connection.close(within: 5)
            return listened
        } catch {
            await connection.close(within: 5)
            throw error
        }
    }

    private func listen(on connection: PostgresConnection) async throws -> Bool {
        let schema = database.schema
        // Listen first, then load: a change between the two is then never missed.
        let notifications = try await connection.listen(FlagSnapshotStore.channel(schema))
        try await reload(connection)
        await state.databaseReachable(true)
        let lastYield = NIOLockedValueBox(Date())
        try await withThrowingTaskGroup(of: Void.self) { group in
            let (ticks, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
            group.addTask {
                for try await _ in notifications { continuation.yield() }
                continuation.finish()
                throw DatabaseError.other("the notification stream ended")
            }
            group.addTask {
                while true {
                    try await Task.sleep(nanoseconds: UInt64(min(refreshEvery.seconds, 1) * 1e9))
                    if connection.isClosed { throw DatabaseError.other("the flag snapshot connection was closed") }
                    let due = lastYield.withLockedValue { last in
                        guard Date().timeIntervalSince(last) >= refreshEvery.seconds else { return false }
                        last = Date()
                        return true
                    }
                    if due { continuation.yield() }
                }
            }
            group.addTask {
                for await _ in ticks { try await reload(connection) }
            }
            try await group.next()
            group.cancelAll()
        }
        return true
    }

    private func reload(_ connection: PostgresConnection) async throws {
        // A query on a connection the server cut never answers: treat it as lost and reconnect.
        guard !connection.isClosed else { throw DatabaseError.other("the flag snapshot connection was closed") }
        let snapshot = try await FlagSnapshotStore.load(connection, schema: database.schema, logger: database.logger)
        await state.setSnapshot(snapshot)
    }
}
