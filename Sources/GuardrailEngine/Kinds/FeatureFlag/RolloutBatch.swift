import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// Collects what state-machine actions ask for across many flags, then writes it all with a fixed
/// handful of set-based statements: rollout rows, ledgers, kill switches, events.
struct RolloutBatch {
    var states: [String: RolloutState] = [:]
    var removed: [String] = []
    var ledgers: [String: [LedgerEntry]] = [:]
    var kills: [(flag: String, killed: Bool, actor: String)] = []
    var events: [(flag: String, decision: RolloutDecision)] = []
    var rejections: [String] = []
    /// Why a person ran the command, recorded with each of its events.
    var reason: String?

    /// Records a transition's new state and runs its actions.
    mutating func apply(flag: FeatureFlag, state: RolloutState, actions: [RolloutAction], tenants: [Tenant], actor: String) {
        states[flag.name] = state
        for action in actions {
            switch action {
            case .updateCohort(let exposure): setExposure(flag, exposure, tenants: tenants)
            case .setKilled(let killed): kills.append((flag.name, killed, actor))
            case .record(var decision):
                // The state machine leaves the actor empty for what it decides by itself (a bake that
                // passed, a breach); the event log names who ran it, as the audit log does.
                if decision.actor == nil { decision.actor = actor }
                events.append((flag.name, decision))
            case .reject(let why): rejections.append(why)
            }
        }
    }

    mutating func setExposure(_ flag: FeatureFlag, _ exposure: Exposure, tenants: [Tenant]) {
        ledgers[flag.name] = CohortPlan.ledger(flag: flag, exposure: exposure, tenants: tenants)
    }

    func flush(on c: DatabaseConnection, schema: SQLIdentifier, logger: Logger, now: Date) async throws {
        for kill in kills {
            try await RolloutStore.setKilled(kill.flag, killed: kill.killed, by: kill.actor, on: c, schema: schema, logger: logger)
        }
        try await RolloutStore.save(states, removing: removed, on: c, schema: schema, logger: logger)
        let names = ledgers.keys.sorted()
        let entries = names.flatMap { name in ledgers[name]!.map { (flag: name, entry: $0) } }
        try await RolloutStore.syncLedger(flags: names, entries: entries, now: now, on: c, schema: schema, logger: logger)
        try await RolloutStore.record(events, reason: reason, on: c, schema: schema, logger: logger)
    }
}

/// After an apply's writes, brings every touched flag's rollout and ledger in line with what is
/// now declared: starts rollouts, follows spec changes, and lowers exposure at once.
enum RolloutReconciler {
    static func afterApply(
        _ c: DatabaseConnection, schema: SQLIdentifier, logger: Logger, before: LiveState, changes: [Change],
        now: Date, actor: String
    ) async throws {
        let flagChanges = Set(changes.filter { $0.kind == FeatureFlag.kind }.map(\.address.name))
        let tenantsChanged = changes.contains { $0.kind == Tenant.kind }
        let guardrailsChanged = changes.contains { $0.kind == Guardrail.kind }
        guard !flagChanges.isEmpty || tenantsChanged || guardrailsChanged else { return }
        // What the apply just wrote is the state observed under the lock with the plan's changes made:
        // worked out here, not read back.
        let flags = try Diff.applying(changes, to: before.flags)
        // Tenants joining or leaving change every percent cohort; other changes touch only their flags.
        let touched = tenantsChanged ? Set(flags.map(\.name)) : flagChanges
        guard !touched.isEmpty else { return }
        let tenants = try Diff.applying(changes, to: before.tenants)
        let guardrails = Dictionary(try Diff.applying(changes, to: before.guardrails).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let runtimes = try await RolloutStore.observe(c, schema: schema, logger: logger, only: touched.sorted())
        let previous = Dictionary(before.flags.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let starting = flags.filter { touched.contains($0.name) && $0.enabled && $0.rollout != nil && runtimes[$0.name]?.rollout == nil }.map(\.name)
        let baselines = try await RolloutStore.ledgerIDs(flags: starting, excludingReason: "override", on: c, schema: schema, logger: logger)

        var batch = RolloutBatch()
        for flag in flags where touched.contains(flag.name) {
            let runtime = runtimes[flag.name] ?? FlagRuntime()
            guard flag.enabled, let rollout = flag.rollout else {
                if runtime.rollout != nil { batch.removed.append(flag.name) }
                if !flag.enabled, previous[flag.name]?.enabled == true {
                    batch.events.append(
                        (
                            flag.name,
                            RolloutDecision(
                                kind: .specChange, phase: runtime.rollout?.phase ?? 0,
                                message: "disabled by apply: off for every tenant at once", actor: actor)
                        ))
                }
                batch.setExposure(flag, flag.enabled ? .full : .none, tenants: tenants)
                continue
            }
            let machine = RolloutStateMachine(rollout: rollout, guardrails: guardrails)
            if var state = runtime.rollout {
                state.killed = runtime.killed
                if state.specFingerprint != rollout.fingerprint {
                    let (next, actions) = machine.handle(state, .specChanged(previous: previous[flag.name]?.rollout ?? rollout), now: now)
                    batch.apply(flag: flag, state: next, actions: actions, tenants: tenants, actor: actor)
                }
                // Overrides and tenants may have changed even when the rollout did not.
                batch.setExposure(flag, (batch.states[flag.name] ?? state).exposure, tenants: tenants)
            } else {
                let prior = previous[flag.name]
                let alreadyFull = prior?.enabled == true && prior?.rollout == nil
                var (state, actions) = machine.start(now: now, baseline: baselines[flag.name] ?? [], alreadyFull: alreadyFull, by: actor)
                state.killed = runtime.killed
                batch.apply(flag: flag, state: state, actions: actions, tenants: tenants, actor: actor)
            }
        }
        try await batch.flush(on: c, schema: schema, logger: logger, now: now)
    }
}
