import Foundation
import GuardrailCore
import Logging
import NIOConcurrencyHelpers
import PostgresNIO

/// How one kind is read from and written to Postgres. Each kind's folder has one.
///
/// `observe` reads every object of the kind in one query, whatever their number. `apply` executes
/// that kind's changes from a plan with a few set-based statements (deletes, updates, inserts), never
/// one round trip per object. Both run inside a transaction the pipeline owns.
protocol KindStore {
    associatedtype Object: Resource
    /// The schema version that created this kind's table; older schemas have none of these objects.
    static var sinceSchemaVersion: Int { get }
    /// The tables `apply` writes, locked in this order before the plan is checked.
    static var tables: [String] { get }
    static func observe(_ connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws -> [Object]
    static func apply(_ changes: [Change], on connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws
}

extension KindStore {
    /// The objects of each change's `after` side: the diff's objects, or rebuilt from a saved plan's attributes.
    static func objects(_ changes: [Change]) throws -> [Object] {
        try changes.compactMap(object(of:))
    }

    /// The object of `change`'s `after` side; nil for a delete.
    static func object(of change: Change) throws -> Object? {
        // The diff's own object when there is one: the same object the attributes are made from.
        if let object = change.desiredObject(as: Object.self) { return object }
        guard let after = change.after else { return nil }
        do {
            return try Object(name: change.address.name, attributes: after)
        } catch {
            throw DatabaseError.other("the plan's entry for \(change.address) is unreadable: \(error)")
        }
    }

    /// A plan's changes split the way every store writes them: names to delete (deletes and the old
    /// half of replaces), objects to update, objects to insert (creates and the new half of replaces).
    static func split(_ changes: [Change]) throws -> (removed: [String], updated: [Object], created: [Object]) {
        let parts = try partition(changes)
        return (parts.removed, parts.updated, try parts.created.compactMap(object(of:)))
    }

    /// `split`, with the inserts left as their changes: for a store that reads each new object as it
    /// writes it (`object(of:)`) rather than gathering them all first.
    static func partition(_ changes: [Change]) throws -> (removed: [String], updated: [Object], created: [Change]) {
        (
            changes.filter { $0.action == .delete || $0.action == .replace }.map(\.address.name),
            try objects(changes.filter { $0.action == .update }),
            changes.filter { $0.action == .create || $0.action == .replace }
        )
    }

    /// Deletes the named rows of `table` in one statement.
    static func delete(_ names: [String], from table: SQLIdentifier.Qualified, on connection: DatabaseConnection, logger: Logger) async throws {
        guard !names.isEmpty else { return }
        try await connection.query("DELETE FROM \(table) WHERE name = ANY(\(names))", logger: logger)
    }
}

/// One value kept with a digest of what it was derived from: the controller's last observation of
/// the tenants, or its canonical policy texts. It answers only for the same digest, and, with a
/// `maxAge`, only while younger than that (for inputs the digest cannot see).
final class ObservationCache<Value: Sendable>: Sendable {
    private struct State {
        var entry: (digest: String, storedAt: ContinuousClock.Instant, value: Value)?
        var hits = 0
    }

    private let state = NIOLockedValueBox(State())
    let maxAge: Duration?
    var hits: Int { state.withLockedValue { $0.hits } }

    init(maxAge: Duration? = nil) { self.maxAge = maxAge }

    func value(for digest: String) -> Value? {
        state.withLockedValue { state in
            guard let entry = state.entry, entry.digest == digest else { return nil }
            if let maxAge, ContinuousClock.now - entry.storedAt >= maxAge { return nil }
            state.hits += 1
            return entry.value
        }
    }

    func store(_ value: Value, for digest: String) {
        state.withLockedValue { $0.entry = (digest, .now, value) }
    }

    /// Forgets the value, as when the manifests change.
    func clear() { state.withLockedValue { $0.entry = nil } }
}
