import Crypto
import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// The apply lock: a session-level Postgres advisory lock keyed by Guardrail's schema, held on a
/// connection of its own so it outlives any transaction and dies with the process.
///
/// Advisory locks live in one database (`pg_locks.database`), so the schema name is all the key
/// needs: two environment files that point at the same database and schema share the lock, whatever
/// they are called, and environments on different databases never meet.
public final class AdvisoryLock: Sendable {
    private let connection: DatabaseConnection
    private let logger: Logger
    public let key: Int64

    private init(connection: DatabaseConnection, logger: Logger, key: Int64) {
        self.connection = connection
        self.logger = logger
        self.key = key
    }

    /// A stable 64-bit key for `name` ("guardrail/<name>" hashed).
    public static func key(_ name: String) -> Int64 {
        let digest = Array(SHA256.hash(data: Array("guardrail/\(name)".utf8)))
        var value: UInt64 = 0
        for byte in digest.prefix(8) { value = value << 8 | UInt64(byte) }
        return Int64(bitPattern: value)
    }

    /// The apply lock of Guardrail's state in `schema` of the connected database.
    public static func applyKey(schema: String) -> Int64 { key("\(schema)/apply") }

    /// How a lock connection names itself: the environment first, so Postgres's 63-byte limit on
    /// `application_name` cuts the host name rather than the environment.
    static func lockApplicationName(_ applicationName: String, environment: String) -> String {
        "\(environment): \(applicationName)"
    }

    /// Who holds a lock, as `pg_stat_activity` tells it.
    public struct Holder: Sendable, CustomStringConvertible {
        public var applicationName: String
        /// The holder's environment, when it named itself the way Guardrail's lock connections do.
        public var environment: String?
        public var pid: Int
        public var since: Date?
        public var user: String?

        public init(applicationName rawName: String, pid: Int, since: Date?, user: String?) {
            if let colon = rawName.range(of: ": "), !rawName[..<colon.lowerBound].contains(" ") {
                environment = String(rawName[..<colon.lowerBound])
                applicationName = String(rawName[colon.upperBound...])
            } else {
                environment = nil
                applicationName = rawName
            }
            self.pid = pid
            self.since = since
            self.user = user
        }

        public var description: String {
            var text = "\"\(applicationName)\" ("
            if let environment { text += "environment \"\(environment)\", " }
            text += "pid \(pid)"
            if let user { text += ", user \(user)" }
            if let since { text += ", since \(ISO8601DateFormatter().string(from: since))" }
            return text + ")"
        }
    }

    public struct Timeout: Error, CustomStringConvertible, Sendable {
        public var environment: String
        public var schema: String
        public var waited: GuardrailDuration
        public var holder: Holder?

        public var description: String {
            var who = holder.map { "It is held by \($0)." } ?? "The holder could not be identified."
            if let other = holder?.environment, other != environment {
                who += " Environment \"\(other)\" uses the same database and schema as \"\(environment)\"."
            }
            return
                "another Guardrail process holds the apply lock (schema \"\(schema)\" in the database of environment \"\(environment)\"); waited \(waited). \(who) Retry when it finishes, or raise --lock-timeout."
        }
    }

    /// Takes the lock, polling until `timeout` has passed; then fails naming the holder.
    /// `reusing` is an open connection to take it on (one a previous `releaseKeepingConnection` gave
    /// back), which saves a connection's handshake on every tick of a controller. `onWait` is
    /// called once, after a second of waiting, with the holder (nil when it could not be read).
    public static func acquire(
        database: Database, environment: String, applicationName: String,
        timeout: GuardrailDuration, reusing: DatabaseConnection? = nil,
        onWait: (@Sendable (Holder?) -> Void)? = nil
    ) async throws -> AdvisoryLock {
        let key = applyKey(schema: database.schema.name)
        let name = lockApplicationName(applicationName, environment: environment)
        let connection: DatabaseConnection
        let reused = reusing.map { !$0.isClosed } ?? false
        if let reusing, reused {
            connection = reusing
        } else {
            if let reusing { await reusing.close() }
            connection = try await database.connect(applicationName: name)
        }
        do {
            // The holder's name is what a blocked apply prints; a new connection was opened with it.
            if reused {
                try await connection.query("SELECT pg_catalog.set_config('application_name', \(name), false)", logger: database.logger)
            }
            let started = ContinuousClock.now
            let deadline = started + .milliseconds(timeout.milliseconds)
            var delay = Duration.milliseconds(50)
            var announced = onWait == nil
            while true {
                var acquired = false
                for (ok) in try await connection.query("SELECT pg_try_advisory_lock(\(key))", logger: database.logger).decode(Bool.self) {
                    acquired = ok
                }
                if acquired { return AdvisoryLock(connection: connection, logger: database.logger, key: key) }
                // Before the deadline check: a slow round trip on a loaded server must not skip the notice.
                if !announced, ContinuousClock.now - started >= .seconds(1) {
                    announced = true
                    onWait?(try await Self.holder(of: key, on: connection, logger: database.logger))
                }
                if ContinuousClock.now >= deadline { break }
                try await Task.sleep(for: min(delay, deadline - ContinuousClock.now))
                delay = min(delay * 2, .milliseconds(500))
            }
            throw Timeout(
                environment: environment, schema: database.schema.name, waited: timeout,
                holder: try await Self.holder(of: key, on: connection, logger: database.logger))
        } catch {
            await connection.close()
            if error is Timeout || error is CancellationError { throw error }
            throw DatabaseError.wrap(error, context: "taking the apply lock")
        }
    }

    static func holder(of key: Int64, on connection: DatabaseConnection, logger: Logger) async throws -> Holder? {
        // A bigint advisory key is stored as classid = high 32 bits, objid = low 32 bits, objsubid = 1.
        let high = Int64(UInt64(bitPattern: key) >> 32)
        let low = Int64(UInt64(bitPattern: key) & 0xFFFF_FFFF)
        let rows = try await connection.query(
            """
            SELECT a.application_name, a.pid, a.state_change, a.usename::text
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND l.classid = \(high)::oid AND l.objid = \(low)::oid
              -- Advisory locks belong to one database; another database's lock with the same key is not ours.
              AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
            """, logger: logger)
        for (name, pid, since, user) in try rows.decode((String?, Int, Date?, String?).self) {
            return Holder(applicationName: name ?? "", pid: pid, since: since, user: user)
        }
        return nil
    }

    /// Releases the lock and closes its connection. Closing alone would release it too.
    public func release() async {
        await releaseKeepingConnection()?.close()
    }

    /// Releases the lock and hands its connection back for the next `acquire`; nil (and the
    /// connection closed) when the unlock did not answer as expected.
    public func releaseKeepingConnection() async -> DatabaseConnection? {
        var released = false
        if !connection.isClosed, let rows = try? await connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger) {
            released = (try? rows.decode(Bool.self).first) == true
        }
        guard released else {
            await connection.close()
            return nil
        }
        return connection
    }
}
