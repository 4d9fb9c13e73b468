import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// One run's connection to an environment: observes live state, and applies plans under the apply lock.
///
/// `plan` only reads, in one read-only REPEATABLE READ transaction, and takes no lock. `apply` takes the
/// environment's advisory lock on a separate connection, then makes every Postgres change of the
/// plan in one transaction: migrations, each kind's statements and the audit record commit together
/// or not at all.
///
/// `@unchecked Sendable` is safe because a session is confined to one task at a time: a CLI command
/// opens and closes its own in `run()`, and the controller's lives inside the `Reconciler` actor and
/// is only used from its isolated methods (admin actions open sessions of their own). Its mutable
/// fields (`lock`, `fence`, the spare lock connection, the caches' references) are never touched by
/// two tasks at once; the caches themselves lock inside.
public final class Session: @unchecked Sendable {
    public let environment: ResolvedEnvironment
    public let connection: DatabaseConnection
    /// The kinds this session observes and applies.
    public let registry: KindRegistry
    private(set) var lock: AdvisoryLock?
    /// Set by a controller that leads: every write transaction checks it first.
    public var fence: LeaderFence?
    var logger: Logger { environment.database.logger }
    var schema: SQLIdentifier { environment.database.schema }

    private init(environment: ResolvedEnvironment, connection: DatabaseConnection, registry: KindRegistry) {
        self.environment = environment
        self.connection = connection
        self.registry = registry
    }

    public static func open(_ environment: ResolvedEnvironment, applicationName: String, registry: KindRegistry = .builtIn) async throws -> Session {
        let connection = try await environment.database.connect(applicationName: applicationName)
        return Session(environment: environment, connection: connection, registry: registry)
    }

    public func close() async {
        await lock?.release()
        lock = nil
        hold = nil
        // Closing is local (it never waits for the server), so a connection the server cut is closed here at once.
        if let spare = spareLockConnection { await spare.close() }
        spareLockConnection = nil
        await connection.close()
    }

    /// Releases the apply lock but keeps the session open, as the controller does after each
    /// correction and rollout step. The lock's connection is kept for the next `acquireLock`.
    public func releaseLock() async {
        if let lock { spareLockConnection = await lock.releaseKeepingConnection() }
        lock = nil
        hold = nil
    }

    /// One taking of the apply lock, as `acquireLock` returned it. Only the step holding it can
    /// release the lock with it: a stale hold (from a step that already released, whose lock
    /// another step has taken since) releases nothing.
    public struct LockHold: Sendable, Equatable {
        let serial: UInt64
    }

    private var hold: LockHold?
    private var holds: UInt64 = 0
    /// Releases refused because they named a hold this session no longer has.
    public private(set) var refusedReleases = 0

    /// Releases the lock only when `hold` is the current one; otherwise counts and logs the
    /// attempt and leaves the lock with whoever holds it now.
    public func releaseLock(_ hold: LockHold) async {
        guard hold == self.hold else {
            refusedReleases += 1
            logger.warning("refused to release the apply lock for a step that does not hold it", metadata: ["address": "apply-lock"])
            return
        }
        await releaseLock()
    }

    /// The connection of a released lock, reused by the next `acquireLock`.
    private var spareLockConnection: DatabaseConnection?

    /// Takes the apply lock, waiting up to `timeout`, and returns the hold that releases it
    /// (`releaseLock(_:)`). Released by `close()` too. Already held: the current hold. `onWait` is
    /// called once, after a second of waiting, with the holder.
    @discardableResult
    public func acquireLock(
        timeout: GuardrailDuration, applicationName: String,
        onWait: (@Sendable (AdvisoryLock.Holder?) -> Void)? = nil
    ) async throws -> LockHold {
        if lock != nil, let hold { return hold }
        let spare = spareLockConnection
        spareLockConnection = nil
        lock = try await AdvisoryLock.acquire(
            database: environment.database, environment: environment.name,
            applicationName: applicationName, timeout: timeout, reusing: spare, onWait: onWait)
        holds += 1
        let hold = LockHold(serial: holds)
        self.hold = hold
        return hold
    }

    /// Reads every kind in one consistent snapshot. Never writes, so it works with a read-only role
    /// and against a database Guardrail has never touched. `scope` names the catalog objects
    /// (tables, roles) the configuration declares; the ones Guardrail manages are added to it.
    public func observe(scope: CatalogScope = CatalogScope()) async throws -> LiveState {
        let tenantCache = self.tenantCache
        let alertmanager = environment.alertmanager?.baseURL
        return try await connection.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger, context: "reading live state") {
            c in
            try await Self.observeAll(
                c, schema: schema, scope: scope, logger: logger, registry: registry, tenantCache: tenantCache,
                alertmanager: alertmanager)
        }
    }

    /// Every registered kind's live state, in one snapshot. `tenantCache` is for plans only: an apply
    /// re-reads everything under its lock.
    static func observeAll(
        _ c: DatabaseConnection, schema: SQLIdentifier, scope: CatalogScope, logger: Logger, registry: KindRegistry,
        tenantCache: ObservationCache<[Tenant]>? = nil, alertmanager: String? = nil
    ) async throws -> LiveState {
        // Every name Guardrail writes is schema-qualified; an empty search_path makes pg_get_expr
        // print policy expressions fully qualified, and nothing can be shadowed.
        try await c.query("SELECT pg_catalog.set_config('search_path', '', true)", logger: logger)
        let version = try await Migrations.currentVersion(c, schema: schema, logger: logger)
        let kinds = registry.liveKinds
        let kindSteps =
            version != nil && kinds.contains(where: { !$0.migrations.isEmpty })
            ? try await Migrations.kindSteps(c, schema: schema, logger: logger) : [:]
        let context = ObservationContext(
            connection: c, schema: schema, schemaVersion: version, scope: scope, logger: logger, kindSteps: kindSteps,
            tenantCache: tenantCache, alertmanager: alertmanager)
        var live = LiveState(schemaVersion: version, registry: registry)
        for kind in kinds { try await kind.observe(context, into: &live) }
        return live
    }

    /// A plan for `configuration` against live state now.
    /// `checkRules: false` skips asking Prometheus about rule expressions (the controller checks them
    /// only when the manifests change).
    public func plan(
        _ configuration: Configuration, targets: [String] = [], gitCommit: String? = nil, now: Date = Date(),
        checkRules: Bool = true
    ) async throws -> Plan {
        var clock = StepClock()
        var live = try await observe(scope: CatalogScope(configuration))
        clock.mark("observe")
        var context = PlanBuilder.Context(
            environment: environment.name, planID: UUID().uuidString.lowercased(),
            createdAt: ISO8601DateFormatter().string(from: now), gitCommit: gitCommit,
            schema: schema.name, targets: targets, now: now, managesAlerts: environment.rulesTarget != nil)
        context.unmanagedAlertsReason = environment.alertsNote
        context.managesRouting = environment.alertmanager != nil
        context.unmanagedRoutingReason = environment.alertmanagerNote
        // Kinds behind HTTP (alert rules, routing): read beside the snapshot, and what was planned
        // kept for the apply, which writes what a plan shows only in part.
        var planned = KindObjects()
        let external = externalContext(planned: planned)
        for kind in registry.externalKinds {
            try await kind.observe(for: configuration, external, into: &live, plan: &context)
            planned.take(kind, from: configuration.objects)
        }
        self.planned = planned
        clock.mark("rules")
        let configuration = try await CatalogPipeline.prepare(
            configuration, live: live.catalog, ownSchema: schema.name, on: connection, logger: logger,
            cache: canonicalCache)
        clock.mark("canonicalize")
        defer { lastPlanSteps = clock.steps }
        let plan = PlanBuilder.plan(desired: configuration, live: live, context: context)
        clock.mark("diff")
        guard checkRules else { return plan }
        let checked = try await self.checkRules(await checkPgBackRest(plan, configuration: configuration), configuration: configuration, now: now)
        clock.mark("check rules")
        return checked
    }

    /// The external kinds' objects the last `plan` was made for: apply renders Alertmanager's file
    /// from the routing there, since a plan shows secrets only as `***`.
    var planned = KindObjects()

    func externalContext(planned: KindObjects) -> ExternalContext {
        ExternalContext(environment: environment, planned: planned, connection: connection, schema: schema, logger: logger)
    }

    /// How long each part of the last `plan` took, for the controller's tick report.
    public private(set) var lastPlanSteps: [String: TimeInterval] = [:]
    /// Canonical policy expressions kept across plans while nothing they depend on changed; the
    /// controller sets one, so a no-change tick does not redo the scratch transaction.
    var canonicalCache: PolicyCanonicalizer.Cache?
    /// Tenants kept across plans while the table's rows are unchanged; set by the controller.
    var tenantCache: ObservationCache<[Tenant]>?

    /// Seconds between marks, by name.
    struct StepClock {
        var last = ContinuousClock.now
        var steps: [String: TimeInterval] = [:]
        mutating func mark(_ name: String) {
            let now = ContinuousClock.now
            let d = now - last
            steps[name] = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            last = now
        }
    }

    public struct ApplyReport: Sendable {
        public var summary: Plan.Summary
        public var migrations: [Int]
        /// What the alert rules target did, after the Postgres transaction committed.
        public var alertSteps: [String] = []
    }

    /// The Postgres part of an apply committed, but a change over HTTP (alert rules) failed afterwards.
    public struct PartialApply: Error, CustomStringConvertible, Sendable {
        public var planID: String
        public var reason: String
        public var description: String {
            "the Postgres changes of plan \(planID) were committed, but \(reason)\n  Run `guardrail plan` to see what is left."
        }
    }

    public enum ApplyRefusal: Error, CustomStringConvertible, Sendable {
        case wrongEnvironment(plan: String, requested: String)
        case alreadyApplied(planID: String, at: String)
        case stale(PlanBuilder.Staleness)
        case blocked([String])
        case unsupportedFormat(String)
        case notLocked

        /// The refusal for a plan whose hazards need approval: one line per blocked hazard.
        public static func blocked(by hazards: [(Change, Hazard)]) -> ApplyRefusal {
            .blocked(hazards.map { "\($0.0.address): \($0.1.kind.rawValue): \($0.1.message) (needs \($0.1.kind.override ?? "review"))" })
        }

        public var description: String {
            switch self {
            case .wrongEnvironment(let plan, let requested):
                "the saved plan is for environment \"\(plan)\", not \"\(requested)\"; run apply with --env \(plan)"
            case .alreadyApplied(let id, let at):
                "saved plan \(id) was already applied at \(at); a plan can be applied once. Run `guardrail plan` again for a new one"
            case .stale(let staleness):
                "saved plan is stale: the plan file can no longer be applied because \(staleness). Run `guardrail plan` again"
            case .blocked(let lines):
                "the plan has hazards that need explicit approval:\n" + lines.map { "  " + $0 }.joined(separator: "\n")
            case .unsupportedFormat(let version):
                "the saved plan has format_version \(version), which this Guardrail cannot read (it reads \(Plan.currentFormatVersion))"
            case .notLocked:
                "apply needs the apply lock; this is a bug in Guardrail"
            }
        }
    }

    /// Applies exactly the plan's changes, after checking that every object it touches is as it was.
    public func apply(_ plan: Plan, overrides: HazardOverrides, osUser: String, reason: String? = nil) async throws -> ApplyReport {
        guard lock != nil else { throw ApplyRefusal.notLocked }
        guard plan.formatVersion == Plan.currentFormatVersion else { throw ApplyRefusal.unsupportedFormat(plan.formatVersion) }
        guard plan.environment == environment.name else {
            throw ApplyRefusal.wrongEnvironment(plan: plan.environment, requested: environment.name)
        }
        let blocked = plan.blockingHazards(overrides)
        guard blocked.isEmpty else {
            throw ApplyRefusal.blocked(by: blocked)
        }
        let schema = self.schema, logger = self.logger, environment = self.environment
        // The plan's changes by the kind that applies them, once, for the HTTP kinds and the transaction.
        var grouped: [String: [Change]] = [:]
        for change in plan.changes {
            guard let kind = registry.liveKind(ofChange: change.kind) else {
                throw DatabaseError.other("the plan contains \(change.kind) changes, which this Guardrail cannot apply")
            }
            grouped[kind.kind, default: []].append(change)
        }
        let byKind = grouped
        // Kinds behind HTTP (alert rules, routing) are read now, so a stale plan is refused before
        // anything changes, and written once the transaction has committed.
        let external = externalContext(planned: planned)
        var externalLive = LiveState(schemaVersion: nil, registry: registry)
        var externalChanges: [(kind: any ExternalLiveKind.Type, changes: [Change])] = []
        for kind in registry.externalKinds {
            let changes = byKind[kind.kind] ?? []
            let prefixes = kind.addressPrefixes.map { $0 + "." }
            guard !changes.isEmpty || plan.fingerprints.keys.contains(where: { key in prefixes.contains { key.hasPrefix($0) } }) else {
                continue
            }
            try await kind.observe(forApplying: changes, external, into: &externalLive)
            externalChanges.append((kind, changes))
        }
        let observedExternal = externalLive
        let fence = self.fence
        // The audit record (the plan compressed, a summary) is built on another core while Postgres migrates, checks and writes.
        let auditRecord = BackgroundWork { Result { try AuditLog.prepare(plan, overrides: overrides) } }
        var report = try await connection.transaction(logger: logger, context: "applying the plan") { c in
            try await fence?.check(c, schema: schema, logger: logger)
            try await c.query("SELECT set_config('lock_timeout', \("\(environment.lockTimeout.milliseconds)ms"), true)", logger: logger)
            if let statementTimeout = environment.statementTimeout {
                try await c.query("SELECT set_config('statement_timeout', \("\(statementTimeout.milliseconds)ms"), true)", logger: logger)
            }
            let wasVersion = try await Migrations.currentVersion(c, schema: schema, logger: logger)
            let migrated = try await Migrations.migrate(c, schema: schema, logger: logger, registry: registry)

            if wasVersion != nil {
                let rows = try await c.query(
                    "SELECT applied_at::text FROM \(schema.qualifying("audit_log")) WHERE plan_id = \(UUID(uuidString: plan.id) ?? UUID())",
                    logger: logger)
                for (at) in try rows.decode(String.self) { throw ApplyRefusal.alreadyApplied(planID: plan.id, at: at) }
            }
            // A fixed lock order, so two writers can never deadlock on these tables: one statement,
            // which takes its tables' locks in the order listed (the registry's).
            let kinds = registry.liveKinds
            let tables = kinds.flatMap { $0.lockedTables }.map { schema.qualifying($0) }
            try await c.query("LOCK TABLE \(tables) IN SHARE ROW EXCLUSIVE MODE", logger: logger)
            let applying = ApplyContext(connection: c, schema: schema, logger: logger)
            for kind in kinds { if let changes = byKind[kind.kind] { try await kind.lock(for: changes, applying) } }
            var live = try await Self.observeAll(c, schema: schema, scope: CatalogScope(plan), logger: logger, registry: registry)
            for kind in registry.externalKinds { live.objects.take(kind, from: observedExternal.objects) }
            if let staleness = PlanBuilder.staleness(of: plan, against: live) { throw ApplyRefusal.stale(staleness) }

            for kind in kinds where !(kind is any ExternalLiveKind.Type) {
                if let changes = byKind[kind.kind] { try await kind.apply(changes, applying) }
            }
            try await AppliedConfiguration.record(plan.changes, planID: plan.id, actor: osUser, on: c, schema: schema, logger: logger)
            try await RolloutReconciler.afterApply(c, schema: schema, logger: logger, before: live, changes: plan.changes, now: Date(), actor: osUser)
            try await AuditLog.record(
                plan, prepared: try await auditRecord.value.get(), osUser: osUser, reason: reason,
                on: c, schema: schema, logger: logger)
            return ApplyReport(summary: plan.summary, migrations: migrated.map(\.version))
        }
        for (kind, changes) in externalChanges where !changes.isEmpty {
            do {
                report.alertSteps += try await kind.applyExternal(changes, live: observedExternal, external)
            } catch {
                throw PartialApply(planID: plan.id, reason: "\(error)")
            }
        }
        return report
    }

    /// The most recent applies, newest first.
    public func history(limit: Int) async throws -> [AuditLog.Entry] {
        guard try await Migrations.currentVersion(connection, schema: schema, logger: logger) != nil else { return [] }
        return try await AuditLog.recent(limit: limit, on: connection, schema: schema, logger: logger)
    }
}
