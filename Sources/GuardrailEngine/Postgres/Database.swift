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
    /// The client-side deadline of every query and of the connection handshake, on top of the
    /// server's `statement_timeout`: a server that stops answering (frozen, partitioned away) would
    /// otherwise hold a query forever. `ResolvedEnvironment` derives it from the environment's timeouts.
    public var queryTimeout: Duration

    /// Used when the environment sets no `statementTimeout`.
    public static let defaultQueryTimeout: Duration = .seconds(60)

    public init(
        url: DatabaseURL, schema: String, queryTimeout: Duration = Database.defaultQueryTimeout,
        logger: Logger = Logger(label: "guardrail.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.url = url
        self.schema = SQLIdentifier(schema)
        self.queryTimeout = queryTimeout
        self.logger = logger
    }

    /// The deadline for an environment: the longest the server itself may take (its statement or
    /// lock timeout), plus a few seconds for the answer to travel.
    public static func queryTimeout(lockTimeout: GuardrailDuration, statementTimeout: GuardrailDuration?) -> Duration {
        let server = max(
            statementTimeout.map { Duration.milliseconds($0.milliseconds) } ?? defaultQueryTimeout, .milliseconds(lockTimeout.milliseconds))
        return server + .seconds(5)
    }

    private static let connectionIDs = NIOLockedValueBox(0)

    /// Opens a connection named `applicationName` (shown in `pg_stat_activity` and lock-holder messages).
    /// The handshake has the same deadline as a query: a server that accepts the TCP connection but
    /// never answers (stopped with SIGSTOP, or its host gone) must not hold the caller.
    public func connect(applicationName: String) async throws -> DatabaseConnection {
        let configuration: PostgresConnection.Configuration
        do {
            configuration = try url.connectionConfiguration(applicationName: applicationName)
        } catch {
            throw DatabaseError.connect(url: url.redacted, underlying: error)
        }
        let id = Self.connectionIDs.withLockedValue { value in
            value += 1
            return value
        }
        let logger = self.logger, timeout = queryTimeout
        do {
            let raw = try await withThrowingTaskGroup(of: PostgresConnection?.self) { group -> PostgresConnection in
                // Both children end when cancelled: postgres-nio's connect closes its half-open
                // channel on cancellation, and the sleep returns at once.
                group.addTask { try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger) }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return nil
                }
                let first: Result<PostgresConnection?, any Error>
                do { first = .success(try await group.next() ?? nil) } catch { first = .failure(error) }
                group.cancelAll()
                // A handshake that finished just after the deadline is closed, never left open.
                while let late = try? await group.next() {
                    if let late { try? await late.close().get() }
                }
                switch first {
                case .success(let connection?): return connection
                case .success(nil): throw DatabaseError.other("no answer within \(DatabaseConnection.seconds(timeout))")
                case .failure(let error): throw error
                }
            }
            return DatabaseConnection(raw, queryTimeout: timeout)
        } catch {
            throw DatabaseError.connect(url: url.redacted, underlying: error)
        }
    }

    /// Runs `body` on a fresh connection and closes it afterwards.
    @discardableResult
    public func withConnection<T: Sendable>(applicationName: String, _ body: (DatabaseConnection) async throws -> T) async throws -> T {
        let connection = try await connect(applicationName: applicationName)
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }
}

/// Guardrail's connection to Postgres: every query is read whole, fails at once when the connection
/// is gone, and is bounded by a client-side deadline.
///
/// Why every result is read whole on the event loop, rather than through postgres-nio's async
/// `PostgresRowSequence`: postgres-nio 1.33.2 (the only version on the machines that run Guardrail)
/// crashes the process when the server closes a connection in the middle of a back-pressured result.
/// - `RowStreamStateMachine.channelReadComplete()` (`New/Connection State Machine/RowStreamStateMachine.swift`,
///   line 91–94) has a `preconditionFailure` for a `channelReadComplete` that arrives while the stream
///   waits for the consumer's demand (`.waitingForDemand`, `.waitingForReadOrDemand`, `.waitingForRead`).
/// - That happens on every connection loss mid-result: on EOF, SwiftNIO drains the socket without
///   waiting for a `read()` and always fires `channelReadComplete` (`BaseSocketChannel.readEOF0()` and
///   `readable0()`, "For EOF, we always fire read complete").
/// - The async sequence never has demand outstanding at that moment: its `AdaptiveRowBuffer.didYield`
///   (`New/PostgresRowSequence.swift`, line 131–138) always returns false, so every delivered batch
///   stops production until the consuming task asks again, and that request has to hop onto the
///   event loop (`PSQLRowStream.demand()`), which is busy in the EOF drain. The precondition's message
///   also prints the buffered rows, which is how tenant names reached the log as hex.
/// - postgres-nio's collecting path (`PSQLRowStream.all()`, state `.waitingForAll`, `New/PSQLRowStream.swift`
///   line 180–196 and 320–327) asks for the next rows synchronously, on the event loop, as each batch
///   arrives, so a `read` is always outstanding and the drained bytes land in `.waitingForRows`.
///   `PostgresConnection.query(_:logger:)`'s EventLoopFuture form uses it, and `query` reads through it.
/// - postgres-nio's `onRow` path (state `.iteratingRows`, same file, line 301–312) likewise hands each
///   batch to a callback on the event loop and asks for more at once; `fold` reads through it, for
///   results too large to hold as rows (100,000 tenants).
///
/// Why the query is started on the event loop: a query written to a connection after SwiftNIO
/// removed its handlers is never answered (its promise is dropped with the pipeline). On the event
/// loop the `isClosed` check and the write cannot be split by the channel closing.
public struct DatabaseConnection: Sendable {
    let raw: PostgresConnection
    /// How long one query may take before the connection is given up.
    public let queryTimeout: Duration

    package init(_ raw: PostgresConnection, queryTimeout: Duration) {
        self.raw = raw
        self.queryTimeout = queryTimeout
    }

    /// True once the connection is closed, by either side.
    public var isClosed: Bool { raw.isClosed }

    /// Runs `query` and returns every row it produced. Fails at once when the connection is closed
    /// (before or during the query), and after `timeout` (by default `queryTimeout`) closes the
    /// connection and fails: a query that outlived its deadline leaves the connection in an unknown state.
    /// Cancelling the calling task does the same at once.
    @discardableResult
    public func query(
        _ query: PostgresQuery, logger: Logger, timeout: Duration? = nil,
        file: String = #fileID, line: Int = #line
    ) async throws -> QueryRows {
        QueryRows(
            try await bounded(timeout) { raw in
                raw.query(query, logger: logger, file: file, line: line).map(\.rows)
            })
    }

    /// Runs `query` and folds its rows into `initial` with `consume` as they arrive, bounded and
    /// failing like `query`. Only the folded value is kept: a result of 100,000 rows is never held
    /// whole, in rows or in the buffers they point into.
    ///
    /// `consume` runs on the connection's event loop, one row at a time, with the next rows asked
    /// for as each batch is consumed (postgres-nio's `onRow` path), so no read waits on the task
    /// (see the type's note on back-pressure). It should only decode.
    public func fold<State: Sendable>(
        _ query: PostgresQuery, into initial: State, logger: Logger, timeout: Duration? = nil,
        file: String = #fileID, line: Int = #line,
        _ consume: @escaping @Sendable (inout State, PostgresRow) throws -> Void
    ) async throws -> State {
        try await bounded(timeout) { raw in
            // Touched only on the event loop: by each row, then once when the query completes.
            let state = NIOLoopBoundBox(initial, eventLoop: raw.eventLoop)
            return raw.query(query, logger: logger, file: file, line: line) { row in try consume(&state.value, row) }
                .map { _ in
                    let value = state.value
                    state.value = initial
                    return value
                }
        }
    }

    /// Starts `start` on the event loop unless the connection is closed, and gives up (closing the
    /// connection) after `timeout` or when the calling task is cancelled.
    private func bounded<Value: Sendable>(
        _ timeout: Duration?, _ start: @escaping @Sendable (PostgresConnection) -> EventLoopFuture<Value>
    ) async throws -> Value {
        let raw = self.raw
        let limit = timeout ?? queryTimeout
        let eventLoop = raw.eventLoop
        let answer = eventLoop.makePromise(of: Value.self)
        eventLoop.execute {
            guard !raw.isClosed else {
                answer.fail(DatabaseError.connectionLost(context: nil, reason: DatabaseError.alreadyClosed, outcomeUnknown: false))
                return
            }
            let deadline = eventLoop.scheduleTask(in: TimeAmount(limit)) {
                answer.fail(
                    DatabaseError.connectionLost(context: nil, reason: "\(DatabaseError.noAnswer) \(Self.seconds(limit))", outcomeUnknown: false))
                raw.close().whenComplete { _ in }
            }
            start(raw).whenComplete { outcome in
                deadline.cancel()
                answer.completeWith(outcome)
            }
        }
        do {
            return try await withTaskCancellationHandler {
                try await answer.futureResult.get()
            } onCancel: {
                answer.fail(CancellationError())
                raw.close().whenComplete { _ in }
            }
        } catch {
            // A query given up (deadline or cancellation) closes its connection; the caller sees
            // it closed, so nothing reuses it. Closing is local and ends quickly.
            if error is CancellationError || (error as? DatabaseError)?.isNoAnswer == true { try? await raw.closeFuture.get() }
            throw error
        }
    }

    /// `COPY table (columns) FROM STDIN` with the rows `writeData` writes, bounded like a query.
    public func copyFrom(
        table: String, columns: [String], logger: Logger,
        writeData: (PostgresCopyFromWriter) async throws -> Void
    ) async throws {
        guard !raw.isClosed else { throw DatabaseError.connectionLost(context: nil, reason: DatabaseError.alreadyClosed, outcomeUnknown: false) }
        let raw = self.raw, limit = queryTimeout
        // The copy has no future of its own to race; past the deadline the connection is closed,
        // which fails the copy inside postgres-nio.
        let deadline = raw.eventLoop.scheduleTask(in: TimeAmount(limit)) { raw.close().whenComplete { _ in } }
        defer { deadline.cancel() }
        try await withTaskCancellationHandler {
            try await raw.copyFrom(table: table, columns: columns, logger: logger, writeData: writeData)
        } onCancel: {
            raw.close().whenComplete { _ in }
        }
    }

    /// Notifications on `channel` for as long as `consume` runs (postgres-nio UNLISTENs afterwards).
    /// A lost connection ends the sequence with an error.
    public func listen<Value>(on channel: String, consume: (PostgresNotificationSequence) async throws -> Value) async throws -> Value {
        try await raw.listen(on: channel, consume: consume)
    }

    /// Closes the connection. Local: it never waits for the server, so it returns even when the
    /// server is gone or frozen.
    public func close() async {
        try? await raw.close().get()
    }

    static func seconds(_ duration: Duration) -> String {
        let c = duration.components
        let s = Double(c.seconds) + Double(c.attoseconds) / 1e18
        return s == s.rounded() ? "\(Int(s))s" : String(format: "%.1fs", s)
    }
}

/// The rows of one query, read whole.
public struct QueryRows: Sendable, RandomAccessCollection {
    public let rows: [PostgresRow]

    init(_ rows: [PostgresRow]) { self.rows = rows }

    public var startIndex: Int { rows.startIndex }
    public var endIndex: Int { rows.endIndex }
    public subscript(position: Int) -> PostgresRow { rows[position] }

    /// Every row's single column as `Column`.
    public func decode<Column: PostgresDecodable>(_: Column.Type, file: String = #fileID, line: Int = #line) throws -> [Column] {
        try rows.map { try $0.decode(Column.self, file: file, line: line) }
    }

    /// Every row as a tuple of `Column`s.
    public func decode<each Column: PostgresDecodable>(
        _ types: (repeat each Column).Type, file: String = #fileID, line: Int = #line
    ) throws
        -> [(repeat each Column)]
    {
        var out: [(repeat each Column)] = []
        out.reserveCapacity(rows.count)
        for row in rows { out.append(try row.decode(types, file: file, line: line)) }
        return out
    }
}

/// A failure talking to Postgres, described by SQLSTATE and the server's message only.
///
/// postgres-nio's own description can include the query and its bound values; those may hold data
/// from manifests, so they are never shown. Row contents are never part of any case.
public enum DatabaseError: Error, CustomStringConvertible, Sendable {
    case connect(url: String, underlying: any Error)
    case server(sqlState: String, message: String, detail: String?, hint: String?, context: String)
    /// The connection went away, or stopped answering, while `context` ran. `outcomeUnknown` when
    /// it happened during a COMMIT: the server may have committed before it went away.
    case connectionLost(context: String?, reason: String, outcomeUnknown: Bool)
    case other(String)

    /// The reason when a query was never sent: the connection was closed before it.
    static let alreadyClosed = "the connection was already closed"
    /// The reason when a query outlived its deadline (followed by the deadline).
    static let noAnswer = "Postgres did not answer within"

    var isNoAnswer: Bool {
        if case .connectionLost(_, let reason, _) = self { return reason.hasPrefix(Self.noAnswer) }
        return false
    }

    /// Classifies any error thrown by postgres-nio during `context` ("reading tenants", "applying changes").
    public static func wrap(_ error: any Error, context: String) -> any Error {
        if case .connectionLost(nil, let reason, let unknown) = error as? DatabaseError {
            return DatabaseError.connectionLost(context: context, reason: reason, outcomeUnknown: unknown)
        }
        if error is DatabaseError || error is DiagnosticError || error is Diagnostic { return error }
        if let transaction = error as? PostgresTransactionError {
            if let e = transaction.closureError { return wrap(e, context: context) }
            if let e = transaction.commitError { return wrap(e, context: context + " (commit)") }
            if let e = transaction.beginError { return wrap(e, context: context + " (begin)") }
        }
        if let psql = error as? PSQLError {
            if let info = psql.serverInfo, let state = info[.sqlState] {
                // 57P0x: the server is shutting down or restarting (pg_ctl stop/restart, a crash of
                // another backend); class 08: the connection itself failed.
                if state.hasPrefix("57P0") || state.hasPrefix("08") {
                    return DatabaseError.connectionLost(
                        context: context, reason: "\(info[.message] ?? "the server ended the session") (SQLSTATE \(state))",
                        outcomeUnknown: false)
                }
                return DatabaseError.server(
                    sqlState: state, message: info[.message] ?? "unknown error", detail: info[.detail],
                    hint: info[.hint], context: context)
            }
            switch psql.code {
            case .serverClosedConnection, .connectionError, .uncleanShutdown:
                return DatabaseError.connectionLost(context: context, reason: "the server closed the connection", outcomeUnknown: false)
            case .clientClosedConnection:
                return DatabaseError.connectionLost(context: context, reason: "the connection was closed", outcomeUnknown: false)
            default:
                return DatabaseError.other("\(context): \(psql.code)")
            }
        }
        // Guardrail's own errors (refusals, diagnostics, cancellation) pass through unchanged.
        return error
    }

    public var sqlState: String? {
        if case .server(let state, _, _, _, _) = self { return state }
        return nil
    }

    /// True when the connection was lost (or stopped answering), as opposed to Postgres refusing a statement.
    public var isConnectionLoss: Bool {
        if case .connectionLost = self { return true }
        return false
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
        case .connectionLost(let context, let reason, let unknown):
            var text = "lost the connection to Postgres" + (context.map { " while \($0)" } ?? "") + ": \(reason)"
            if unknown { text += "; the COMMIT was sent, so the changes may or may not have been applied" }
            return text
        case .other(let text):
            return text
        }
    }
}

extension DatabaseConnection {
    /// Runs `body` in a transaction; the Postgres error, not a wrapper, is what callers see.
    func transaction<T>(
        _ begin: PostgresQuery = "BEGIN", logger: Logger, context: String,
        _ body: (DatabaseConnection) async throws -> T
    ) async throws -> T {
        do {
            try await query(begin, logger: logger)
        } catch {
            throw DatabaseError.wrap(error, context: context)
        }
        let value: T
        do {
            value = try await body(self)
        } catch {
            // A ROLLBACK on a lost connection fails at once; the server rolls back by itself.
            if !isClosed { _ = try? await query("ROLLBACK", logger: logger) }
            throw DatabaseError.wrap(error, context: context)
        }
        do {
            try await query("COMMIT", logger: logger)
        } catch {
            let wrapped = DatabaseError.wrap(error, context: context)
            // Unknown only when the COMMIT may have reached the server.
            if case .connectionLost(let c, let reason, _) = wrapped as? DatabaseError, reason != DatabaseError.alreadyClosed {
                throw DatabaseError.connectionLost(context: c, reason: reason, outcomeUnknown: true)
            }
            throw wrapped
        }
        return value
    }
}
