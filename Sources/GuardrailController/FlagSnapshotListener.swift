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
///
/// Nothing here can wait forever on a dead connection: every reload is a bounded query that fails
/// at once when the connection is closed (see `DatabaseConnection`), a closed connection is noticed
/// within a second, and each attempt's tasks are children of one task group, so a lost connection
/// always ends the attempt and the next one reconnects.
///
/// It follows the environment the reconciler publishes after each tick (`ControllerState`): when
/// the manifests move the environment to another database or schema, the listener reconnects there.
public struct FlagSnapshotListener: Service {
    /// The database until the reconciler has published an environment.
    public let initial: Database
    public let state: ControllerState
    public let refreshEvery: GuardrailDuration
    public let logger: Logger

    public init(initial: Database, state: ControllerState, refreshEvery: GuardrailDuration, logger: Logger) {
        self.initial = initial
        self.state = state
        // NOTIFY carries every change; the periodic reload is only a safety net, and reading a
        // large ledger every second would cost more than it protects.
        self.refreshEvery = max(refreshEvery, .seconds(60))
        self.logger = logger
    }

    /// Why one attempt ended; `loaded` when it had loaded a snapshot first (the backoff starts over).
    struct Lost: Error {
        var loaded: Bool
        var underlying: any Error
    }

    public func run() async throws {
        var backoff = Backoff(base: 0.5, cap: 30)
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await listen() }
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
                let lost = error as? Lost
                if lost?.loaded == true { backoff.succeeded() }
                await state.databaseReachable(false)
                let delay = backoff.delay
                logger.warning(
                    "flag snapshot connection lost; reconnecting",
                    metadata: [
                        "address": "flags", "error": "\(lost?.underlying ?? error)", "retry_in": "\(delay)s",
                    ])
                try? await cancelWhenGracefulShutdown { try await Task.sleep(nanoseconds: UInt64(delay * 1e9)) }
                backoff.failed()
            }
        }
    }

    /// One connection's life: returns only when cancelled; throws `Lost` when the connection fails.
    /// The database the environment in use names.
    private func current() async -> Database { await state.resolvedEnvironment?.database ?? initial }

    private func listen() async throws {
        let database = await current()
        let connection = try await database.connect(applicationName: "guardrail controller flag snapshot")
        let loaded = LoadedFlag()
        do {
            try await follow(connection, database: database, loaded: loaded)
            await connection.close()
        } catch {
            await connection.close()
            if error is CancellationError { throw error }
            throw Lost(loaded: loaded.value, underlying: error)
        }
    }

    private func follow(_ connection: DatabaseConnection, database: Database, loaded: LoadedFlag) async throws {
        let refreshEvery = Duration.milliseconds(self.refreshEvery.milliseconds)
        // Listen first, then load: a change between the two is then never missed.
        try await connection.listen(on: FlagSnapshotStore.channel(database.schema)) { notifications in
            try await reload(connection, database)
            loaded.set()
            await state.databaseReachable(true)
            let (ticks, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // postgres-nio fails the listeners when the connection closes.
                    for try await _ in notifications { continuation.yield() }
                    throw DatabaseError.other("the notification stream ended")
                }
                group.addTask {
                    var last = ContinuousClock.now
                    while true {
                        try await Task.sleep(for: .seconds(1))
                        if connection.isClosed { throw DatabaseError.other("the flag snapshot connection was closed") }
                        let now = await current()
                        if now.url.description != database.url.description || now.schema != database.schema {
                            throw DatabaseError.other("the environment now names another database; reconnecting there")
                        }
                        if ContinuousClock.now - last >= refreshEvery {
                            last = ContinuousClock.now
                            continuation.yield()
                        }
                    }
                }
                group.addTask {
                    for await _ in ticks { try await reload(connection, database) }
                }
                // The first child to end (always with an error, or by cancellation) ends the attempt;
                // the others are cancelled, and each of them returns promptly when cancelled.
                defer { continuation.finish() }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    private func reload(_ connection: DatabaseConnection, _ database: Database) async throws {
        let snapshot = try await FlagSnapshotStore.load(connection, schema: database.schema, logger: database.logger)
        await state.setSnapshot(snapshot)
    }
}

/// Set once the attempt loaded a snapshot; read after its tasks ended.
private final class LoadedFlag: Sendable {
    private let box = NIOLockedValueBox(false)
    func set() { box.withLockedValue { $0 = true } }
    var value: Bool { box.withLockedValue { $0 } }
}
