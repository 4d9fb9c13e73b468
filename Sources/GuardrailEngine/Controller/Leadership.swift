import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// The proof a controller leads: its epoch. Every write a leader makes runs `check` in its
/// transaction first; a standby that took over has raised the epoch, so a deposed leader's write
/// fails instead of landing.
public struct LeaderFence: Sendable, Equatable {
    public var environment: String
    public var epoch: Int64

    public init(environment: String, epoch: Int64) {
        self.environment = environment
        self.epoch = epoch
    }

    /// Raised when the epoch moved on: another replica leads now.
    public struct Lost: Error, CustomStringConvertible, Sendable {
        public var mine: Int64
        public var current: Int64?
        public var description: String {
            "this controller lost leadership: it led with epoch \(mine), and the environment's epoch is now \(current.map(String.init) ?? "gone")"
        }
    }

    /// Locks the epoch row for share until the transaction ends (a takeover waits for it) and
    /// throws `Lost` when it is not ours, or when another environment's controller took over since
    /// (environments that share a database and schema share leadership; its row is then the newest).
    func check(_ c: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws {
        let table = schema.qualifying("controller_leader")
        let rows = try await c.query("""
            SELECT epoch, (SELECT environment FROM \(unescaped: table) ORDER BY acquired_at DESC LIMIT 1)
            FROM \(unescaped: table) WHERE environment = \(environment) FOR SHARE
            """, logger: logger)
        var current: Int64?
        var newest: String?
        for (epoch, latest) in try rows.decode((Int64, String?).self) { (current, newest) = (epoch, latest) }
        guard current == epoch, newest == environment else { throw Lost(mine: epoch, current: newest == environment ? current : nil) }
    }
}

/// Leader election among controller replicas: a session-level advisory lock (keyed apart from the
/// apply lock) on a connection of its own, plus the epoch row. The lock dies with the process or
/// its connection, so a standby's next attempt succeeds; taking it raises the epoch.
public final class Leadership: @unchecked Sendable {
    public let database: Database
    public let environment: String
    public let holder: String
    public let lockTimeout: GuardrailDuration
    private var connection: DatabaseConnection?
    public private(set) var fence: LeaderFence?
    /// Who led when this replica last failed to take the lock: another environment's controller
    /// when two environment files point at one database and schema.
    public private(set) var leaderElsewhere: AdvisoryLock.Holder?

    public init(database: Database, environment: String, holder: String, lockTimeout: GuardrailDuration) {
        self.database = database
        self.environment = environment
        self.holder = holder
        self.lockTimeout = lockTimeout
    }

    var logger: Logger { database.logger }
    var schema: SQLIdentifier { database.schema }
    /// Apart from the apply lock: the leader takes that one only while it applies.
    /// Keyed by the schema alone, like the apply lock: two environments on one database and schema
    /// elect one leader between them.
    var key: Int64 { AdvisoryLock.key("\(schema.name)/controller-leader") }

    /// Tries once to lead. Returns the fence when this replica leads (already, or from now on).
    public func tryLead() async throws -> LeaderFence? {
        if let fence, await stillHolds() { return fence }
        let name = AdvisoryLock.lockApplicationName("guardrail controller \(holder) leader lock", environment: environment)
        let connection = try await database.connect(applicationName: name)
        do {
            var acquired = false
            for (ok) in try await connection.query("SELECT pg_try_advisory_lock(\(key))", logger: logger).decode(Bool.self) { acquired = ok }
            guard acquired else {
                leaderElsewhere = try? await AdvisoryLock.holder(of: key, on: connection, logger: logger)
                await connection.close()
                return nil
            }
            leaderElsewhere = nil
            let epoch = try await raiseEpoch(on: connection)
            self.connection = connection
            let fence = LeaderFence(environment: environment, epoch: epoch)
            self.fence = fence
            return fence
        } catch {
            await connection.close()
            throw DatabaseError.wrap(error, context: "taking controller leadership")
        }
    }

    /// Migrates the schema (under the apply lock, so a human apply cannot race it) and raises the epoch.
    private func raiseEpoch(on connection: DatabaseConnection) async throws -> Int64 {
        let schema = self.schema, logger = self.logger, environment = self.environment, holder = self.holder
        let applyKey = AdvisoryLock.applyKey(schema: schema.name)
        let lockTimeout = self.lockTimeout
        return try await connection.transaction(logger: logger, context: "raising the leader epoch") { c in
            try await c.query("SELECT set_config('lock_timeout', \("\(lockTimeout.milliseconds)ms"), true)", logger: logger)
            try await c.query("SELECT pg_advisory_xact_lock(\(applyKey))", logger: logger)
            try await Migrations.migrate(c, schema: schema, logger: logger)
            // Waits for every leader's fenced transaction in flight, whatever its environment
            // (EXCLUSIVE conflicts with their FOR SHARE), and holds new ones until this takeover commits.
            try await c.query("LOCK TABLE \(unescaped: schema.qualifying("controller_leader")) IN EXCLUSIVE MODE", logger: logger)
            let rows = try await c.query("""
                INSERT INTO \(unescaped: schema.qualifying("controller_leader")) AS l (environment, epoch, holder)
                VALUES (\(environment), 1, \(holder))
                ON CONFLICT (environment) DO UPDATE SET epoch = l.epoch + 1, holder = excluded.holder, acquired_at = clock_timestamp()
                RETURNING epoch
                """, logger: logger)
            for (epoch) in try rows.decode(Int64.self) { return epoch }
            throw DatabaseError.other("the leader epoch row was not written")
        }
    }

    /// Whether the lock connection is alive (and so the lock still ours). Steps down when not.
    /// Bounded in time: a connection the server cut may never answer at all.
    public func stillHolds() async -> Bool {
        guard let connection else { return false }
        guard !connection.isClosed else {
            await stepDown(connectionAlive: false)
            return false
        }
        let logger = self.logger
        let alive = await Self.within(seconds: 5) {
            _ = try await connection.query("SELECT 1", logger: logger, timeout: .seconds(5))
        }
        if !alive { await stepDown(connectionAlive: false) }
        return alive
    }

    /// Releases the lock; a standby takes over at its next attempt.
    public func stepDown() async { await stepDown(connectionAlive: true) }

    private func stepDown(connectionAlive: Bool) async {
        if let connection {
            let logger = self.logger, key = self.key
            if connectionAlive {
                _ = await Self.within(seconds: 5) { _ = try await connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger) }
            }
            // Closing is local (it never waits for the server), so a cut connection cannot hold it.
            await connection.close()
        }
        connection = nil
        fence = nil
    }

    /// Runs `body`, giving up after `seconds`; true when it finished without an error. The body runs
    /// in a task of its own that is left behind on timeout: a query on a cut connection may ignore
    /// cancellation, and a task group would wait for it.
    static func within(seconds: Double, _ body: @escaping @Sendable () async throws -> Void) async -> Bool {
        final class Once: @unchecked Sendable {
            private let lock = NSLock()
            private var continuation: CheckedContinuation<Bool, Never>?
            init(_ c: CheckedContinuation<Bool, Never>) { continuation = c }
            func resume(_ value: Bool) {
                lock.lock()
                let c = continuation
                continuation = nil
                lock.unlock()
                c?.resume(returning: value)
            }
        }
        return await withCheckedContinuation { continuation in
            let once = Once(continuation)
            let work = Task { once.resume((try? await body()) != nil) }
            Task {
                try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                work.cancel()
                once.resume(false)
            }
        }
    }
}
