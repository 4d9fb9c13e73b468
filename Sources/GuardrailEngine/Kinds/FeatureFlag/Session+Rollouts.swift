import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// What one evaluation step did to one flag.
public struct RolloutTickResult: Sendable {
    public var flag: String
    public var status: String
    public var phase: Int
    public var phaseName: String
    public var verdicts: [GuardrailVerdict]
    public var decisions: [RolloutDecision]
}

/// A problem with an operator command: no such flag, no rollout, or the state does not allow it.
public struct RolloutCommandError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(description: String) { self.description = description }
}

extension Session {
    /// One evaluation step for every active rollout, as the controller runs it each interval.
    ///
    /// Reads live state, evaluates the guardrails that are due against `metrics` (concurrently, with
    /// no transaction open), then, in one transaction with the flags' rows locked, feeds the verdicts
    /// to each rollout's state machine and writes what it decided. A flag whose state an operator
    /// changed meanwhile (a kill, a pause) gets a tick without those verdicts.
    public func tick(metrics: any MetricsSource, now: Date = Date(), actor: String = "controller") async throws -> [RolloutTickResult] {
        let schema = self.schema, logger = self.logger
        guard let version = try await Migrations.currentVersion(connection, schema: schema, logger: logger), version >= FlagStore.sinceSchemaVersion
        else {
            return []
        }
        // Tenants are read only when a step needs them (a control group, a cohort change): most
        // ticks of a large estate have neither.
        let (flags, guardrails, runtimes) = try await connection.transaction(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger,
            context: "reading rollouts"
        ) { c in
            (
                try await FlagStore.observe(c, schema: schema, logger: logger),
                try await GuardrailStore.observe(c, schema: schema, logger: logger),
                try await RolloutStore.observe(c, schema: schema, logger: logger)
            )
        }
        var loadedTenants: [Tenant]?
        let guardrailsByName = Dictionary(guardrails.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let active = flags.filter { $0.enabled && $0.rollout != nil && runtimes[$0.name]?.rollout != nil }

        // Which guardrails are due, per flag; only those flags' cohorts are read from the ledger.
        var evaluatedAgainst: [String: RolloutState] = [:]
        var dueByFlag: [(FeatureFlag, [String])] = []
        for flag in active {
            guard var state = runtimes[flag.name]?.rollout else { continue }
            state.killed = runtimes[flag.name]?.killed ?? false
            evaluatedAgainst[flag.name] = state
            let machine = RolloutStateMachine(rollout: flag.rollout!, guardrails: guardrailsByName, timing: environment.rolloutTiming)
            let due = machine.due(state, now: now)
            if !due.isEmpty { dueByFlag.append((flag, due)) }
        }
        let cohorts =
            dueByFlag.isEmpty
            ? [:]
            : try await RolloutStore.ledgerIDs(flags: dueByFlag.map(\.0.name), on: connection, schema: schema, logger: logger)

        // Evaluate every due guardrail of every rollout at once.
        var work: [(flag: String, guardrail: Guardrail, cohort: String?, control: String?)] = []
        for (flag, due) in dueByFlag {
            // Each regex is built once per flag, and the control group's only when a due guardrail needs it.
            let cohort = cohorts[flag.name] ?? []
            let cohortRegex = QueryTemplate.regex(ids: cohort)
            var controlRegex: String?
            if due.contains(where: { guardrailsByName[$0].map(QueryTemplate.needsControl) == true }) {
                if loadedTenants == nil { loadedTenants = try await TenantStore.observe(connection, schema: schema, logger: logger) }
                let tenants = loadedTenants!
                let inCohort = Set(cohort)
                controlRegex = QueryTemplate.regex(ids: CohortPlan(flag: flag, tenants: tenants).rankedIDs.filter { !inCohort.contains($0) })
            }
            for name in due {
                guard let g = guardrailsByName[name] else { continue }
                work.append((flag.name, g, cohortRegex, controlRegex))
            }
        }
        let verdicts = await withTaskGroup(of: (String, GuardrailVerdict).self) { group in
            for item in work {
                group.addTask { (item.flag, await Self.evaluate(item.guardrail, cohort: item.cohort, control: item.control, metrics: metrics)) }
            }
            var out: [String: [GuardrailVerdict]] = [:]
            for await (flag, verdict) in group { out[flag, default: []].append(verdict) }
            return out
        }

        let fence = self.fence
        return try await connection.transaction(logger: logger, context: "advancing rollouts") { c in
            try await fence?.check(c, schema: schema, logger: logger)
            let fresh = try await RolloutStore.observe(c, schema: schema, logger: logger, only: active.map(\.name), forUpdate: true)
            var batch = RolloutBatch()
            var results: [RolloutTickResult] = []
            var tenantsNow = loadedTenants
            for flag in active {
                guard let rollout = flag.rollout, var state = fresh[flag.name]?.rollout else { continue }
                state.killed = fresh[flag.name]?.killed ?? false
                let machine = RolloutStateMachine(rollout: rollout, guardrails: guardrailsByName, timing: environment.rolloutTiming)
                // Verdicts judged another phase or status if someone acted meanwhile; drop them.
                let before = evaluatedAgainst[flag.name]
                let unchanged =
                    before?.phase == state.phase && before?.status == state.status && before?.killed == state.killed
                    && before?.specFingerprint == state.specFingerprint
                let mine = unchanged ? (verdicts[flag.name] ?? []).sorted { $0.guardrail < $1.guardrail } : []
                let (next, actions) = machine.handle(state, .tick(mine), now: now)
                if next != state || !actions.isEmpty {
                    let changesCohort = actions.contains { if case .updateCohort = $0 { true } else { false } }
                    if changesCohort, tenantsNow == nil { tenantsNow = try await TenantStore.observe(c, schema: schema, logger: logger) }
                    batch.apply(flag: flag, state: next, actions: actions, tenants: tenantsNow ?? [], actor: actor)
                }
                results.append(
                    RolloutTickResult(
                        flag: flag.name, status: next.displayStatus, phase: next.phase, phaseName: machine.phaseName(next.phase),
                        verdicts: mine, decisions: actions.compactMap { if case .record(let d) = $0 { d } else { nil } }))
            }
            try await batch.flush(on: c, schema: schema, logger: logger, now: now)
            return results
        }
    }

    /// Runs one guardrail against the cohort: its query, the control group's for `compare`, and the
    /// sample count. The regexes come from `QueryTemplate.regex`; nil means an empty group.
    static func evaluate(_ guardrail: Guardrail, cohort: String?, control controlRegex: String?, metrics: any MetricsSource) async -> GuardrailVerdict
    {
        let usesCohort = QueryTemplate.placeholders(in: guardrail.query).contains("cohort")
        // An empty group matches nothing; a regex of nothing would match unlabelled series instead.
        guard let cohortRegex = cohort ?? (usesCohort ? nil : "") else {
            return guardrail.verdict(for: GuardrailReading(value: .noData("the cohort is empty")))
        }
        func expand(_ q: String, cohort: String) -> String? {
            if controlRegex == nil, QueryTemplate.placeholders(in: q).contains("control") { return nil }
            return QueryTemplate.expand(q, cohort: cohort, control: controlRegex ?? "")
        }
        guard let query = expand(guardrail.query, cohort: cohortRegex) else {
            return guardrail.verdict(for: GuardrailReading(value: .noData("no control tenants: every eligible tenant is in the cohort")))
        }
        async let value = metrics.query(query)
        async let samples: MetricOutcome? = {
            guard let m = guardrail.minSamples else { return nil }
            guard let q = expand(m.query, cohort: cohortRegex) else { return .noData("no control tenants") }
            return await metrics.query(q)
        }()
        async let baseline: MetricOutcome? = {
            guard case .compareToControl = guardrail.condition else { return nil }
            guard let controlRegex, let q = expand(guardrail.query, cohort: controlRegex) else {
                return .noData("no control tenants: every eligible tenant is in the cohort")
            }
            return await metrics.query(q)
        }()
        return guardrail.verdict(for: GuardrailReading(value: await value, baseline: await baseline, samples: await samples))
    }

    /// Runs an operator command (promote, pause, resume, abort, retry, kill, release) on one flag, in
    /// one transaction with the flag's row locked.
    @discardableResult
    public func command(
        _ flagName: String, _ event: RolloutEvent, actor: String, reason: String? = nil, now: Date = Date()
    ) async throws -> [RolloutDecision] {
        try await command([flagName], event, actor: actor, reason: reason, now: now).map(\.decision)
    }

    /// The same command on several flags in one transaction, all or none: an unknown flag or a
    /// refusal for any of them changes nothing. Killing a flag that is already killed (or releasing
    /// one that is not) is not a refusal here; it is reported and skipped, so an emergency kill of a
    /// group always leaves the whole group off.
    @discardableResult
    public func command(
        _ flagNames: [String], _ event: RolloutEvent, actor: String, reason: String? = nil, now: Date = Date()
    ) async throws
        -> [(flag: String, decision: RolloutDecision)]
    {
        let schema = self.schema, logger = self.logger
        guard let version = try await Migrations.currentVersion(connection, schema: schema, logger: logger), version >= FlagStore.sinceSchemaVersion
        else {
            throw RolloutCommandError(description: "Guardrail's schema does not exist in this database yet; run `guardrail apply` first")
        }
        if reason != nil, version < Migrations.reasonsSinceVersion {
            throw RolloutCommandError(
                description:
                    "this database's Guardrail schema (version \(version)) predates recorded reasons; run `guardrail apply` once to upgrade it, then give the reason again"
            )
        }
        let fence = self.fence
        let names = Array(Set(flagNames)).sorted()
        let several = names.count > 1
        let context = several ? "updating \(names.count) flags" : "updating flag.\(names.first ?? "")"
        return try await connection.transaction(logger: logger, context: context) { c in
            try await fence?.check(c, schema: schema, logger: logger)
            // Rows locked in name order, so two multi-flag commands cannot deadlock.
            let runtimes = try await RolloutStore.observe(c, schema: schema, logger: logger, only: names, forUpdate: true)
            let flags = Dictionary(
                try await FlagStore.observe(c, schema: schema, logger: logger).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            if let missing = names.first(where: { runtimes[$0] == nil || flags[$0] == nil }) {
                let hint = Suggestion.closest(to: missing, among: Array(flags.keys)).map { " Did you mean \($0)?" } ?? ""
                throw RolloutCommandError(
                    description: "there is no flag \"\(missing)\" in this environment\(several ? "; no flag was changed" : "").\(hint)")
            }
            let tenants = try await TenantStore.observe(c, schema: schema, logger: logger)
            let guardrails = Dictionary(
                try await GuardrailStore.observe(c, schema: schema, logger: logger).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            var batch = RolloutBatch()
            batch.reason = reason
            var skipped: [(flag: String, decision: RolloutDecision)] = []
            for flagName in names {
                let runtime = runtimes[flagName]!, flag = flags[flagName]!
                if several {
                    switch event {
                    case .kill where runtime.killed:
                        skipped.append(
                            (
                                flagName,
                                RolloutDecision(
                                    kind: .hold, phase: runtime.rollout?.phase ?? 0, message: "already killed; left as it is", actor: actor)
                            ))
                        continue
                    case .release where !runtime.killed:
                        skipped.append(
                            (
                                flagName,
                                RolloutDecision(kind: .hold, phase: runtime.rollout?.phase ?? 0, message: "not killed; left as it is", actor: actor)
                            ))
                        continue
                    default: break
                    }
                }
                if let rollout = flag.rollout, var state = runtime.rollout {
                    state.killed = runtime.killed
                    let (next, actions) = RolloutStateMachine(rollout: rollout, guardrails: guardrails, timing: environment.rolloutTiming).handle(
                        state, event, now: now)
                    batch.apply(flag: flag, state: next, actions: actions, tenants: tenants, actor: actor)
                } else {
                    // No rollout running: only the kill switch applies.
                    switch event {
                    case .kill where runtime.killed, .release where !runtime.killed:
                        batch.rejections.append(runtime.killed ? "the flag is already killed" : "the flag is not killed")
                    case .kill:
                        batch.kills.append((flag.name, true, actor))
                        batch.events.append(
                            (
                                flag.name,
                                RolloutDecision(
                                    kind: .kill, phase: 0, message: "killed by \(actor): off for every tenant until released", actor: actor)
                            ))
                    case .release:
                        batch.kills.append((flag.name, false, actor))
                        batch.events.append((flag.name, RolloutDecision(kind: .release, phase: 0, message: "released by \(actor)", actor: actor)))
                    default:
                        let why =
                            !flag.enabled ? "the flag is disabled (enabled: false)" : "the flag has no rollout; it is on for every eligible tenant"
                        throw RolloutCommandError(description: "flag \"\(flagName)\" has no rollout running: \(why)")
                    }
                }
                if let rejection = batch.rejections.first {
                    throw RolloutCommandError(
                        description: "cannot do that to flag \"\(flagName)\": \(rejection)\(several ? "; no flag was changed" : "")")
                }
            }
            try await batch.flush(on: c, schema: schema, logger: logger, now: now)
            return (batch.events.map { (flag: $0.0, decision: $0.1) } + skipped).sorted { $0.flag < $1.flag }
        }
    }

    /// The timeline, guardrail history and recent decisions of one flag.
    public func rolloutStatus(_ flagName: String, now: Date = Date()) async throws -> RolloutStatusReport {
        let schema = self.schema, logger = self.logger
        return try await connection.transaction(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger, context: "reading flag.\(flagName)"
        ) { c in
            guard let flag = try await FlagStore.observe(c, schema: schema, logger: logger).first(where: { $0.name == flagName }),
                let runtime = try await RolloutStore.observe(c, schema: schema, logger: logger, only: [flagName])[flagName]
            else {
                throw RolloutCommandError(description: "there is no flag \"\(flagName)\" in this environment")
            }
            let tenants = try await TenantStore.observe(c, schema: schema, logger: logger)
            let guardrails = try await GuardrailStore.observe(c, schema: schema, logger: logger)
            let enabled = try await RolloutStore.ledgerIDs(flags: [flagName], on: c, schema: schema, logger: logger)[flagName]?.count ?? 0
            let rows = try await c.query(
                """
                SELECT at, phase, kind, actor, guardrail, query, value, threshold, samples, verdict, message
                FROM \(schema.qualifying("rollout_events")) WHERE flag = \(flagName) ORDER BY id DESC LIMIT 300
                """, logger: logger)
            var events: [RolloutEventRecord] = []
            for (at, phase, kind, actor, guardrail, query, value, threshold, samples, verdict, message) in try rows.decode(
                (Date, Int, String, String?, String?, String?, Double?, String?, Double?, String?, String).self)
            {
                var v: GuardrailVerdict?
                if let guardrail, let verdict, let k = GuardrailVerdict.Kind(rawValue: verdict) {
                    v = GuardrailVerdict(
                        guardrail: guardrail, kind: k, query: query ?? "", value: value, threshold: threshold ?? "", samples: samples,
                        message: message)
                }
                events.append(
                    RolloutEventRecord(
                        at: at,
                        decision: RolloutDecision(
                            kind: RolloutDecision.Kind(rawValue: kind) ?? .hold, phase: phase,
                            message: message, actor: actor, verdict: v)))
            }
            var report = RolloutStatusReport(
                flag: flag, killed: runtime.killed, killedBy: runtime.killedBy, killedAt: runtime.killedAt, state: runtime.rollout,
                guardrails: guardrails, enabledCount: enabled, eligibleCount: CohortPlan(flag: flag, tenants: tenants).eligibleCount,
                events: events, now: now)
            report.timing = environment.rolloutTiming
            return report
        }
    }

    /// Why `flag_enabled(flag, tenant)` answers what it does; `tenant` is a tenant name or id.
    public func explain(_ flagName: String, tenant: String) async throws -> FlagExplanation {
        let schema = self.schema, logger = self.logger
        let rows = try await connection.query(
            """
            SELECT t.name, t.id::text, t.status, f.enabled, f.killed, f.killed_by, c.reason, c.since,
                   \(schema.qualifying("flag_enabled"))(f.name, t.id),
                   t.name = ANY(f.overrides_disable), t.name = ANY(f.overrides_enable), r.status, r.phase,
                   f.rollout -> 'phases' -> r.phase ->> 'name'
            FROM \(schema.qualifying("flags")) f
            JOIN \(schema.qualifying("tenants")) t ON t.name = \(tenant) OR t.id::text = lower(\(tenant))
            LEFT JOIN \(schema.qualifying("flag_cohorts")) c ON c.flag = f.name AND c.tenant_id = t.id
            LEFT JOIN \(schema.qualifying("rollouts")) r ON r.flag = f.name
            WHERE f.name = \(flagName)
            """, logger: logger)
        for (name, id, status, enabled, killed, killedBy, reason, since, answer, off, on, rolloutStatus, phase, phaseName) in try rows.decode(
            (String, String, String, Bool, Bool, String?, String?, Date?, Bool, Bool, Bool, String?, Int?, String?).self)
        {
            return FlagExplanation(
                flag: flagName, tenantName: name, tenantID: id, tenantStatus: status, answer: answer, enabled: enabled, killed: killed,
                killedBy: killedBy, ledgerReason: reason, since: since, overriddenOff: off, overriddenOn: on,
                rolloutStatus: rolloutStatus, phase: phase, phaseName: phaseName)
        }
        throw try await whyNotExplained(flagName, tenant: tenant)
    }

    /// Which of the two is missing, with the closest names: an unknown tenant is not the flag's fault.
    private func whyNotExplained(_ flagName: String, tenant: String) async throws -> RolloutCommandError {
        let rows = try await connection.query(
            """
            SELECT EXISTS (SELECT 1 FROM \(schema.qualifying("flags")) WHERE name = \(flagName)),
                   EXISTS (SELECT 1 FROM \(schema.qualifying("tenants")) WHERE name = \(tenant) OR id::text = lower(\(tenant))),
                   (SELECT coalesce(array_agg(name), '{}') FROM \(schema.qualifying("flags"))),
                   (SELECT coalesce(array_agg(name), '{}') FROM \(schema.qualifying("tenants")))
            """, logger: logger)
        for (flagExists, tenantExists, flags, tenants) in try rows.decode((Bool, Bool, [String], [String]).self) {
            if !flagExists {
                let hint = Suggestion.closest(to: flagName, among: flags).map { " Did you mean \($0)?" } ?? ""
                return RolloutCommandError(description: "no flag \"\(flagName)\" in this environment.\(hint)")
            }
            if !tenantExists {
                let hint = Suggestion.closest(to: tenant, among: tenants).map { " Did you mean \($0)?" } ?? ""
                return RolloutCommandError(
                    description: "no tenant named or with id \"\(tenant)\" in this environment; the flag \(flagName) exists.\(hint)")
            }
        }
        return RolloutCommandError(description: "no flag \"\(flagName)\" with a tenant named or with id \"\(tenant)\" in this environment")
    }
}
