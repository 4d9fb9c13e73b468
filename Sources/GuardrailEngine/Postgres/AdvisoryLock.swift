import Crypto
import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// The apply lock: a session-level Postgres advisory lock keyed by schema and environment, held on a
/// connection of its own so it outlives any transaction and dies with the process.
public final class AdvisoryLock: Sendable {
    private let connection: PostgresConnection
    private let logger: Logger
    public let key: Int64

    private init(connection: PostgresConnection, logger: Logger, key: Int64) {
        self.connection = connection
        self.logger = logger
        self.key = key
    }

    /// A stable 64-bit key for "this environment's state in this schema".
    public static func key(schema: String, environment: String) -> Int64 {
        let digest = Array(SHA256.hash(data: Array("guardrail/\(schema)/\(environment)".utf8)))
        var value: UInt64 = 0
        for byte in digest.prefix(8) { value = value << 8 | UInt64(byte) }
        return Int64(bitPattern: value)
    }

    /// Who holds a lock, as `pg_stat_activity` tells it.
    public struct Holder: Sendable, CustomStringConvertible {
        public var applicationName: String
        public var pid: Int
        public var since: Date?
        public var user: String?

        public var description: String {
            var text = "\"\(applicationName)\" (pid \(pid)"
            if let user { text += ", user \(user)" }
            if let since { text += ", since \(ISO8601DateFormatter().string(from: since))" }
            return text + ")"
        }
    }

    public struct Timeout: Error, CustomStringConvertible, Sendable {
        public var environment: String
        public var waited: GuardrailDuration
        public var holder: Holder?

        public var description: String {
            let who = holder.map { "It is held by \($0)." } ?? "The holder could not be identified."
            return "another Guardrail process holds the apply lock for environment \"\(environment)\"; waited \(waited). \(who) Retry when it finishes, or raise --lock-timeout."
        }
    }

    /// Takes the lock, polling until `timeout` has passed; then fails naming the holder.
    /// `reusing` is an open connection to take it on (one a previous `releaseKeepingConnection` gave
    /// back), which saves a connection's handshake on every tick of a controller.
    public static func acquire(database: Database, environment: String, applicationName: String,
                               timeout: GuardrailDuration, reusing: PostgresConnection? = nil) async throws -> AdvisoryLock {
        let key = key(schema: database.schema.name, environment: environment)
        let connection: PostgresConnection
        let reused = reusing.map { !$0.isClosed } ?? false
        if let reusing, reused {
            connection = reusing
        } else {
            if let reusing { try? await reusing.close() }
            connection = try await database.connect(applicationName: applicationName)
        }
        do {
            // The holder's name is what a blocked apply prints; a new connection was opened with it.
            if reused {
                try await connection.query("SELECT pg_catalog.set_config('application_name', \(applicationName), false)", logger: database.logger)
            }
            let deadline = ContinuousClock.now + .milliseconds(timeout.milliseconds)
            var delay = Duration.milliseconds(50)
            while true {
                var acquired = false
                for try await (ok) in try await connection.query("SELECT pg_try_advisory_lock(\(key))", logger: database.logger).decode(Bool.self) {
                    acquired = ok
                }
                if acquired { return AdvisoryLock(connection: connection, logger: database.logger, key: key) }
                if ContinuousClock.now >= deadline { break }
                try await Task.sleep(for: min(delay, deadline - ContinuousClock.now))
                delay = min(delay * 2, .milliseconds(500))
            }
            throw Timeout(environment: environment, waited: timeout, holder: try await Self.holder(of: key, on: connection, logger: database.logger))
        } catch {
            try? await connection.close()
            if error is Timeout || error is CancellationError { throw error }
            throw DatabaseError.wrap(error, context: "taking the apply lock")
        }
    }

    static func holder(of key: Int64, on connection: PostgresConnection, logger: Logger) async throws -> Holder? {
        // A bigint advisory key is stored as classid = high 32 bits, objid = low 32 bits, objsubid = 1.
        let high = Int64(UInt64(bitPattern: key) >> 32)
        let low = Int64(UInt64(bitPattern: key) & 0xFFFF_FFFF)
        let rows = try await connection.query("""
            SELECT a.application_name, a.pid, a.state_change, a.usename::text
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND l.classid = \(high)::oid AND l.objid = \(low)::oid
              -- Advisory locks belong to one database; another database's lock with the same key is not ours.
              AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
            """, logger: logger)
        for try await (name, pid, since, user) in rows.decode((String?, Int, Date?, String?).self) {
            return Holder(applicationName: name ?? "", pid: pid, since: since, user: user)
        }
        return nil
    }

    /// Releases the lock and closes its connection. Closing alone would release it too.
    public func release() async {
        try? await releaseKeepingConnection()?.close()
    }

    /// Releases the lock and hands its connection back for the next `acquire`; nil (and the
    /// connection closed) when the unlock did not answer as expected.
    public func releaseKeepingConnection() async -> PostgresConnection? {
        var released = false
        if !connection.isClosed, let rows = try? await connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger) {
            do {
                for try await (ok) in rows.decode(Bool.self) { released = ok }
            } catch {
                released = false
            }
        }
        guard released else {
            try? await connection.close()
            return nil
        }
        return connection
    }
}
