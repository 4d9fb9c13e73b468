import Foundation
import GuardrailCore
import Logging
import NIOConcurrencyHelpers
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

    /// Locks the epoch row until the transaction ends and throws `Lost` when it is not ours, or when
    /// another environment's controller took over since (environments that share a database and
    /// schema share leadership; its row is then the newest). `FOR KEY SHARE` because it must not
    /// conflict with the leader's own lease renewals (a plain UPDATE of `renewed_at` takes `FOR NO
    /// KEY UPDATE`), while a takeover's `LOCK TABLE ... EXCLUSIVE` still waits for every write
    /// transaction in flight.
    func check(_ c: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws {
        let table = schema.qualifying("controller_leader")
        let rows = try await c.query(
            """
            SELECT epoch, (SELECT environment FROM \(table) ORDER BY acquired_at DESC LIMIT 1)
            FROM \(table) WHERE environment = \(environment) FOR KEY SHARE
            """, logger: logger)
        var current: Int64?
        var newest: String?
        for (epoch, latest) in try rows.decode((Int64, String?).self) { (current, newest) = (epoch, latest) }
        guard current == epoch, newest == environment else { throw Lost(mine: epoch, current: newest == environment ? current : nil) }
    }
}

/// Leader election among controller replicas, with Kubernetes Lease semantics: a session-level
/// advisory lock (keyed apart from the apply lock) on a connection of its own, the epoch row, and
/// a lease the leader renews every interval (`renewed_at`).
///
/// A dead leader's lock dies with its connection, so a standby's next attempt succeeds. A *stalled*
/// leader (SIGSTOP, a hung host) keeps its connections and its lock; a standby that finds its lease
/// older than `leaseDuration` terminates the holder's backends (the lock's through `pg_locks`, and
/// every connection named after the holder, so no transaction of it stays open), takes the lock
/// and raises the epoch. When the stalled leader wakes, its connections are gone and its epoch is
/// stale: it writes nothing and stands by.
///
/// An actor: the reconcile loop (`tryLead`) and the lease renewal (`renew`) run in different tasks.
public actor Leadership {
    public let database: Database
    public let environment: String
    public let holder: String
    public let lockTimeout: GuardrailDuration
    /// Follows the configuration: `update(leaseDuration:)` at every tick.
    public private(set) var leaseDuration: GuardrailDuration
    /// The controller's logger: takeovers and step-downs are decisions an operator reads.
    let log: Logger
    private var connection: DatabaseConnection?
    public private(set) var fence: LeaderFence?
    /// Who led when this replica last failed to take the lock: another environment's controller
    /// when two environment files point at one database and schema.
    public private(set) var leaderElsewhere: AdvisoryLock.Holder?

    public init(
        database: Database, environment: String, holder: String, lockTimeout: GuardrailDuration, leaseDuration: GuardrailDuration,
        logger: Logger? = nil
    ) {
        self.log = logger ?? database.logger
        self.database = database
        self.environment = environment
        self.holder = holder
        self.lockTimeout = lockTimeout
        self.leaseDuration = leaseDuration
    }

    var logger: Logger { database.logger }
    var schema: SQLIdentifier { database.schema }
    /// Apart from the apply lock: the leader takes that one only while it applies. Keyed by the
    /// schema alone, like the apply lock: two environments on one database and schema elect one
    /// leader between them.
    var key: Int64 { AdvisoryLock.key("\(schema.name)/controller-leader") }
    /// Every connection a replica opens is named after it; a takeover ends the stalled holder's.
    static func applicationPrefix(_ holder: String) -> String { "guardrail controller \(holder)" }

    /// A reloaded configuration's lease applies from the next check on.
    public func update(leaseDuration: GuardrailDuration) { self.leaseDuration = leaseDuration }

    /// Tries once to lead. Returns the fence when this replica leads (already, or from now on).
    public func tryLead() async throws -> LeaderFence? {
        if let fence, await renew() { return fence }
        let connection = try await database.connect(
            applicationName: AdvisoryLock.lockApplicationName("\(Self.applicationPrefix(holder)) leader lock", environment: environment))
        do {
            var acquired = try await tryLock(connection)
            if !acquired, let stalled = try await expiredLease(on: connection) {
                log.warning(
                    "the leader's lease expired; ending its connections and taking over",
                    metadata: [
                        "address": "leader", "holder": .string(stalled.holder), "epoch": "\(stalled.epoch)",
                        "lease_age_seconds": .string(String(format: "%.1f", stalled.age)),
                    ])
                try await terminate(stalled, on: connection)
                // pg_terminate_backend only signals; the lock goes when the backend has exited.
                let deadline = ContinuousClock.now + .seconds(5)
                while !acquired, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(100))
                    acquired = try await tryLock(connection)
                }
            }
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

    private func tryLock(_ connection: DatabaseConnection) async throws -> Bool {
        var acquired = false
        for (ok) in try await connection.query("SELECT pg_try_advisory_lock(\(key))", logger: logger).decode(Bool.self) { acquired = ok }
        return acquired
    }

    struct Stalled: Sendable {
        var holder: String
        var epoch: Int64
        var age: Double
    }

    /// The current leader's lease when it expired, by the server's clock (replicas' clocks may
    /// disagree; the server's is the one every renewal was stamped with).
    /// Leadership is shared by every environment on this database and schema, so the lease read is
    /// the newest leader's, whichever environment it runs.
    private func expiredLease(on connection: DatabaseConnection) async throws -> Stalled? {
        // An older schema has no lease; its leader cannot be judged, so it is never taken over.
        guard let version = try await Migrations.currentVersion(connection, schema: schema, logger: logger), version >= 9 else { return nil }
        let rows = try await connection.query(
            """
            SELECT holder, epoch, extract(epoch FROM clock_timestamp() - renewed_at)::float8
            FROM \(schema.qualifying("controller_leader")) ORDER BY acquired_at DESC LIMIT 1
            """, logger: logger)
        for (holder, epoch, age) in try rows.decode((String, Int64, Double).self) where age > leaseDuration.seconds {
            return Stalled(holder: holder, epoch: epoch, age: age)
        }
        return nil
    }

    /// Ends the stalled leader's backends: the one holding the leader lock, and every connection
    /// named after it (its session may sit in a transaction holding the epoch row, and its apply
    /// lock connection holds the apply lock).
    ///
    /// When the stalled holder is this replica itself (its old lock connection stopped answering),
    /// only that backend is ended: the session this tick runs on is not stalled.
    private func terminate(_ stalled: Stalled, on connection: DatabaseConnection) async throws {
        let prefix = Self.applicationPrefix(stalled.holder), others = stalled.holder != holder
        let high = Int64(UInt64(bitPattern: key) >> 32), low = Int64(UInt64(bitPattern: key) & 0xFFFF_FFFF)
        // Postgres keeps 63 bytes of an application name, so the prefix is compared as truncated too.
        try await connection.query(
            """
            SELECT pg_terminate_backend(pid) FROM (
                SELECT l.pid FROM pg_locks l
                WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid = \(high)::oid AND l.objid = \(low)::oid
                  AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
                UNION
                SELECT a.pid FROM pg_stat_activity a
                WHERE \(others) AND a.datname = pg_catalog.current_database() AND a.pid <> pg_backend_pid()
                  AND (a.application_name = left(\(prefix), 63) OR starts_with(a.application_name, left(\(prefix + " "), 63))
                       OR position(\(": " + prefix + " ") IN a.application_name) > 0)
            ) AS stalled
            """, logger: logger)
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
            // Waits for every leader's fenced transaction in flight, whatever its environment (EXCLUSIVE
            // conflicts with their FOR KEY SHARE), and holds new ones until this takeover commits, so
            // none of them commits after the epoch moved.
            try await c.query("LOCK TABLE \(schema.qualifying("controller_leader")) IN EXCLUSIVE MODE", logger: logger)
            let rows = try await c.query(
                """
                INSERT INTO \(schema.qualifying("controller_leader")) AS l (environment, epoch, holder)
                VALUES (\(environment), 1, \(holder))
                ON CONFLICT (environment) DO UPDATE
                SET epoch = l.epoch + 1, holder = excluded.holder, acquired_at = clock_timestamp(), renewed_at = clock_timestamp()
                RETURNING epoch
                """, logger: logger)
            for (epoch) in try rows.decode(Int64.self) { return epoch }
            throw DatabaseError.other("the leader epoch row was not written")
        }
    }

    /// Renews the lease; false (and stepped down) when the lock connection is gone, the renewal did
    /// not answer in time, or the epoch moved on. Bounded in time: a connection the server cut may
    /// never answer at all.
    @discardableResult
    public func renew() async -> Bool {
        guard let connection, let fence else { return false }
        guard !connection.isClosed else {
            log.warning("the leader lock connection was closed (a restart, or a standby took over); stepping down", metadata: ["address": "leader"])
            await stepDown(connectionAlive: false)
            return false
        }
        let logger = self.logger, schema = self.schema
        let renewed = NIOLockedValueBox(false)
        let answered = await Self.within(seconds: max(5, min(leaseDuration.seconds / 2, 30))) {
            let rows = try await connection.query(
                """
                UPDATE \(schema.qualifying("controller_leader")) SET renewed_at = clock_timestamp()
                WHERE environment = \(fence.environment) AND epoch = \(fence.epoch) RETURNING epoch
                """, logger: logger)
            if !rows.isEmpty { renewed.withLockedValue { $0 = true } }
        }
        let ok = answered && renewed.withLockedValue { $0 }
        if !ok {
            log.warning(
                "the leader lease could not be renewed; stepping down",
                metadata: [
                    "address": "leader",
                    "reason": .string(answered ? "another replica raised the epoch" : "the lock connection failed or did not answer in time"),
                ])
            await stepDown(connectionAlive: answered)
        }
        return ok
    }

    /// Releases the lock; a standby takes over at its next attempt.
    public func stepDown() async { await stepDown(connectionAlive: true) }

    private func stepDown(connectionAlive: Bool) async {
        let connection = self.connection
        self.connection = nil
        fence = nil
        guard let connection else { return }
        let logger = self.logger, key = self.key
        if connectionAlive {
            _ = await Self.within(seconds: 5) { _ = try await connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger) }
        }
        // Closing is local (it never waits for the server), so a cut connection cannot hold it.
        await connection.close()
    }

    /// Runs `body`, giving up after `seconds`; true when it finished without an error. The body runs
    /// in a task of its own that is left behind on timeout: a query on a cut connection may ignore
    /// cancellation, and a task group would wait for it. The caller waits for whichever comes first.
    static func within(seconds: Double, _ body: @escaping @Sendable () async throws -> Void) async -> Bool {
        let timer = NIOLockedValueBox<Task<Void, Never>?>(nil)
        let finished = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            // Resumed exactly once, by the body or by the deadline, whichever takes it first.
            let pending = NIOLockedValueBox<CheckedContinuation<Bool, Never>?>(continuation)
            let resume: @Sendable (Bool) -> Void = { value in
                pending.withLockedValue { c -> CheckedContinuation<Bool, Never>? in
                    defer { c = nil }; return c
                }?.resume(returning: value)
            }
            let work = Task { resume((try? await body()) != nil) }
            timer.withLockedValue {
                $0 = Task {
                    try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                    work.cancel()
                    resume(false)
                }
            }
        }
        // The deadline is moot once the body answered: stop its sleep now rather than after `seconds`.
        timer.withLockedValue { $0?.cancel() }
        return finished
    }
}
