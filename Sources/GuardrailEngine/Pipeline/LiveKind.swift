import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// How one kind is read from and written to live systems: the engine's half of a kind, beside its
/// `KindDefinition` in the core. `Session` and the controller find each registered kind's `LiveKind`
/// conformance at run time; a kind registered without one is refused when a plan changes it.
///
/// `observe` runs inside the session's read transaction (REPEATABLE READ) and `apply` inside the
/// apply's transaction, after the tables of every kind are locked in registry order and the plan is
/// checked against a fresh observation. Neither opens connections or transactions of its own, and
/// each reads or writes all of the kind's objects in a few set-based statements, never one round
/// trip per object.
public protocol LiveKind: KindDefinition {
    /// The Guardrail schema version that created the kind's tables; nil when observing it needs no
    /// table of Guardrail's (the Postgres catalog). Kinds with `migrations` of their own leave it nil
    /// and are observed once their first migration has run.
    static var sinceSchemaVersion: Int? { get }
    /// The migrations that create and change the kind's own tables, by step, in Guardrail's schema.
    static var migrations: [KindMigration] { get }
    /// The tables `apply` writes; every kind's are locked in one statement, in registry order.
    static var lockedTables: [String] { get }

    /// Reads every object of the kind into `live`.
    static func observe(_ context: ObservationContext, into live: inout LiveState) async throws
    /// Takes locks beyond `lockedTables` (per-object locks, in a fixed order) before live state is re-read.
    static func lock(for changes: [Change], _ context: ApplyContext) async throws
    /// Makes the plan's changes of this kind, in plan order.
    static func apply(_ changes: [Change], _ context: ApplyContext) async throws
}

/// One step of a kind's own schema: its statements, given Guardrail's schema.
public struct KindMigration: Sendable {
    public var step: Int
    public var name: String
    public var statements: @Sendable (SQLIdentifier) -> [String]

    public init(step: Int, name: String, statements: @escaping @Sendable (SQLIdentifier) -> [String]) {
        self.step = step
        self.name = name
        self.statements = statements
    }
}

/// What a kind's `observe` reads with.
public struct ObservationContext: Sendable {
    public let connection: DatabaseConnection
    public let schema: SQLIdentifier
    /// Guardrail's schema version; nil before the first apply.
    public let schemaVersion: Int?
    /// The catalog objects the configuration names.
    public let scope: CatalogScope
    public let logger: Logger
    /// The last step of each kind's own migrations that has run.
    public let kindSteps: [String: Int]
    /// Tenants kept across plans while their rows are unchanged (plans only).
    let tenantCache: ObservationCache<[Tenant]>?
    /// The Alertmanager whose secrets digest is read, when the environment has one.
    let alertmanager: String?

    /// Whether `kind`'s tables exist in this database yet.
    func hasTables<K: LiveKind>(of kind: K.Type) -> Bool {
        if !K.migrations.isEmpty { return kindSteps[K.kind] != nil }
        guard let since = K.sinceSchemaVersion else { return true }
        return (schemaVersion ?? 0) >= since
    }
}

/// A kind that lives outside Postgres, on a server Guardrail reaches over HTTP: alert rules on the
/// environment's ruler, the routing in its Alertmanager. Its `observe` reads only what Postgres keeps
/// about it. The session reads its objects beside the Postgres snapshot for a plan, reads them again
/// before an apply whose plan touches them (so a stale plan is refused before anything is written),
/// and writes them once the Postgres transaction has committed, in registry order: a failure then is
/// a `Session.PartialApply`, which says that Postgres's part is in and to plan again.
public protocol ExternalLiveKind: LiveKind {
    /// Reads the live objects a plan of `configuration` is compared with into `live`, and sets in
    /// `plan` what the plan needs to know about them.
    static func observe(
        for configuration: Configuration, _ context: ExternalContext, into live: inout LiveState, plan: inout PlanBuilder.Context
    ) async throws
    /// Reads them again before an apply whose plan changes or fingerprints the kind; `changes` are
    /// the plan's changes of the kind.
    static func observe(forApplying changes: [Change], _ context: ExternalContext, into live: inout LiveState) async throws
    /// Makes `changes` (at least one) once the Postgres transaction has committed, against `live`
    /// as read before it; one line per step taken.
    static func applyExternal(_ changes: [Change], live: LiveState, _ context: ExternalContext) async throws -> [String]
}

/// What an external kind reads and writes with.
public struct ExternalContext: Sendable {
    public let environment: ResolvedEnvironment
    /// The external kinds' objects of the configuration the session last planned: what an apply
    /// writes where the plan shows less (the routing's secrets are `***` in a plan).
    public let planned: KindObjects
    /// The session's connection, outside any transaction once the apply has committed.
    public let connection: DatabaseConnection
    public let schema: SQLIdentifier
    public let logger: Logger
}

/// What a kind's `apply` writes with.
public struct ApplyContext: Sendable {
    public let connection: DatabaseConnection
    public let schema: SQLIdentifier
    public let logger: Logger
}

extension LiveKind {
    public static var sinceSchemaVersion: Int? { nil }
    public static var migrations: [KindMigration] { [] }
    public static var lockedTables: [String] { [] }
    public static func lock(for changes: [Change], _ context: ApplyContext) async throws {}
    public static func apply(_ changes: [Change], _ context: ApplyContext) async throws {
        throw DatabaseError.other("the plan contains \(kind) changes, which this Guardrail cannot apply")
    }
}

/// The registry's kinds, as the engine runs them.
extension KindRegistry {
    /// Each registered kind's live half, in registry order; kinds without one (environments) are left out.
    var liveKinds: [any LiveKind.Type] { kinds.compactMap { $0 as? any LiveKind.Type } }

    /// The kinds that live behind HTTP, in registry order.
    var externalKinds: [any ExternalLiveKind.Type] { kinds.compactMap { $0 as? any ExternalLiveKind.Type } }

    /// The live kind that applies changes of this `Change.kind`.
    func liveKind(ofChange changeKind: String) -> (any LiveKind.Type)? { kind(ofChange: changeKind) as? any LiveKind.Type }
}

/// Kinds whose rows `KindStore` reads and writes: observing and applying is the store's.
protocol StoredLiveKind: LiveKind where Object: Resource {
    associatedtype Store: KindStore where Store.Object == Object
}

extension StoredLiveKind {
    public static var sinceSchemaVersion: Int? { Store.sinceSchemaVersion }
    public static var lockedTables: [String] { Store.tables }

    public static func observe(_ context: ObservationContext, into live: inout LiveState) async throws {
        guard context.hasTables(of: Self.self) else { return }
        live.objects[Self.self] = try await Store.observe(context.connection, schema: context.schema, logger: context.logger)
    }

    public static func apply(_ changes: [Change], _ context: ApplyContext) async throws {
        try await Store.apply(changes, on: context.connection, schema: context.schema, logger: context.logger)
    }
}
