import Foundation

/// One row of the rollout event log, as read back.
public struct RolloutEventRecord: Hashable, Sendable {
    public var at: Date
    public var decision: RolloutDecision
    /// The reason a person gave with the command (`--reason`, or the admin API's `"reason"`).
    public var reason: String?

    public init(at: Date, decision: RolloutDecision, reason: String? = nil) {
        self.at = at
        self.decision = decision
        self.reason = reason
    }
}

/// What `guardrail rollout status FLAG` shows: the phase timeline, each guardrail's recent values
/// and verdicts, and the latest decisions. Built by the engine, rendered here.
public struct RolloutStatusReport: Sendable {
    public var flag: FeatureFlag
    public var killed: Bool
    public var killedBy: String?
    public var killedAt: Date?
    public var state: RolloutState?
    public var guardrails: [Guardrail]
    /// Tenants the ledger has the flag on for.
    public var enabledCount: Int
    public var eligibleCount: Int
    /// Newest first.
    public var events: [RolloutEventRecord]
    public var now: Date
    /// The environment's caps on bakes (`rollouts.maxBake`): the bake shown and counted down is the
    /// one the controller runs, not the manifest's when the environment shortens it.
    public var timing = RolloutTiming()

    public init(
        flag: FeatureFlag, killed: Bool, killedBy: String?, killedAt: Date?, state: RolloutState?, guardrails: [Guardrail],
        enabledCount: Int, eligibleCount: Int, events: [RolloutEventRecord], now: Date
    ) {
        self.flag = flag
        self.killed = killed
        self.killedBy = killedBy
        self.killedAt = killedAt
        self.state = state
        self.guardrails = guardrails
        self.enabledCount = enabledCount
        self.eligibleCount = eligibleCount
        self.events = events
        self.now = now
    }

    /// `3s (capped from 7d by rollouts.maxBake)` when the environment shortens the manifest's bake.
    static func bake(_ declared: GuardrailDuration, _ timing: RolloutTiming) -> String {
        let runs = timing.bake(declared)
        return runs == declared ? "\(declared)" : "\(runs) (capped from \(declared) by rollouts.maxBake)"
    }

    static func time(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: date)
    }

    static func span(_ seconds: Double) -> String {
        GuardrailDuration(milliseconds: Int64(max(0, seconds) * 1000) / 1000 * 1000).description
    }

    public func render() -> String {
        var out = "flag.\(flag.name): "
        let shown = killed ? "killed" : (state?.status.rawValue ?? (flag.enabled ? "on (no rollout)" : "off"))
        out += shown.uppercased()
        out += "  \(enabledCount) of \(eligibleCount) eligible tenant\(eligibleCount == 1 ? "" : "s") enabled"
        if killed { out += " in the ledger, none while killed" }
        out += "\n"
        if killed {
            out +=
                "  killed" + (killedBy.map { " by \($0)" } ?? "") + (killedAt.map { " at \(Self.time($0))" } ?? "")
                + "; `guardrail flag release \(flag.name)` turns it back on\n"
        }
        if !flag.enabled { out += "  the manifest says enabled: false, so the flag is off for everyone\n" }
        guard let rollout = flag.rollout else { return out }
        if let state {
            out += "  \(state.reason)\n"
        }
        out += "\nPhases (on breach: \(rollout.onBreach.rawValue)):\n"
        for (i, phase) in rollout.phases.enumerated() {
            let mark: String
            var note = ""
            if let state {
                if state.status == .rolledBack {
                    mark = i <= state.phase ? "x" : " "
                } else if i < state.phase || (i == state.phase && state.status == .completed) {
                    mark = "✓"
                } else if i == state.phase {
                    mark = state.status == .paused ? "‖" : "▶"
                    let bakeEnds = state.phaseStartedAt.addingTimeInterval(timing.bake(phase.bake).seconds)
                    note = "  since \(Self.time(state.phaseStartedAt))"
                    note += now < bakeEnds ? ", bake ends in \(Self.span(bakeEnds.timeIntervalSince(now)))" : ", bake done"
                } else {
                    mark = "·"
                }
            } else {
                mark = "·"
            }
            var what: [String] = []
            if !phase.tenants.isEmpty { what.append(phase.tenants.joined(separator: ", ")) }
            if !phase.selector.isEmpty { what.append(phase.selector.keys.sorted().map { "\($0)=\(phase.selector[$0]!)" }.joined(separator: ",")) }
            if let p = phase.percent { what.append("\(p)%") }
            out +=
                "  \(mark) \(i + 1). \(phase.name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(what.joined(separator: " + ").padding(toLength: 24, withPad: " ", startingAt: 0)) bake \(Self.bake(phase.bake, timing))\(note)\n"
        }
        if !rollout.guardrails.isEmpty {
            out += "\nGuardrails (newest value last):\n"
            let byName = Dictionary(guardrails.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let width = rollout.guardrails.map(\.count).max() ?? 0
            for name in rollout.guardrails {
                let g = byName[name]
                let recent = events.filter { $0.decision.verdict?.guardrail == name }.prefix(6).reversed()
                let values = recent.map { record -> String in
                    let v = record.decision.verdict!
                    let value = v.value.map(MetricNumber.text) ?? "-"
                    return "\(value) \(Self.symbol(v.kind))"
                }
                let track = state?.tracks[name]
                var streak = ""
                if let track, let g, track.consecutiveFailures > 0 { streak = "  failing \(track.consecutiveFailures)/\(g.failures)" }
                if let track, let g, track.consecutiveErrors > 0 { streak += "  errors \(track.consecutiveErrors)/\(g.errorLimit)" }
                out +=
                    "  \(name.padding(toLength: width, withPad: " ", startingAt: 0))  \((g?.thresholdDescription ?? "undefined").padding(toLength: 18, withPad: " ", startingAt: 0)) "
                out += (values.isEmpty ? "not evaluated yet" : values.joined(separator: "  ")) + streak + "\n"
            }
            out += "  (✓ pass  ✗ fail  ? no data  ~ too few samples  ! query error)\n"
        }
        let decisions = events.filter { $0.decision.kind != .evaluation }.prefix(8)
        if !decisions.isEmpty {
            out += "\nRecent decisions:\n"
            for record in decisions {
                out +=
                    "  \(Self.time(record.at))  \(record.decision.kind.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)) \(record.decision.message)"
                    + (record.decision.actor.map { " [\($0)]" } ?? "") + "\n"
            }
        }
        return out
    }

    static func symbol(_ kind: GuardrailVerdict.Kind) -> String {
        switch kind {
        case .pass: "✓"
        case .fail: "✗"
        case .noData: "?"
        case .insufficientSamples: "~"
        case .error: "!"
        }
    }
}

/// Why a flag is on or off for one tenant: `guardrail flag eval FLAG --tenant T`.
public struct FlagExplanation: Sendable {
    public var flag: String
    public var tenantName: String
    public var tenantID: String
    public var tenantStatus: String
    /// What `flag_enabled` answered: the truth applications see.
    public var answer: Bool
    public var enabled: Bool
    public var killed: Bool
    public var killedBy: String?
    public var ledgerReason: String?
    public var since: Date?
    public var overriddenOff: Bool
    public var overriddenOn: Bool
    public var rolloutStatus: String?
    public var phase: Int?
    public var phaseName: String?

    public init(
        flag: String, tenantName: String, tenantID: String, tenantStatus: String, answer: Bool, enabled: Bool, killed: Bool,
        killedBy: String?, ledgerReason: String?, since: Date?, overriddenOff: Bool, overriddenOn: Bool,
        rolloutStatus: String?, phase: Int?, phaseName: String?
    ) {
        self.flag = flag
        self.tenantName = tenantName
        self.tenantID = tenantID
        self.tenantStatus = tenantStatus
        self.answer = answer
        self.enabled = enabled
        self.killed = killed
        self.killedBy = killedBy
        self.ledgerReason = ledgerReason
        self.since = since
        self.overriddenOff = overriddenOff
        self.overriddenOn = overriddenOn
        self.rolloutStatus = rolloutStatus
        self.phase = phase
        self.phaseName = phaseName
    }

    /// The reasons, most decisive first.
    public var reasons: [String] {
        var out: [String] = []
        if killed { out.append("the flag is killed" + (killedBy.map { " (by \($0))" } ?? "") + "; it is off for every tenant until released") }
        if !enabled { out.append("the manifest sets enabled: false, so it is off for every tenant") }
        if overriddenOff { out.append("overrides.disable names this tenant") }
        if let ledgerReason {
            var line = "the cohort ledger has it on, reason \"\(ledgerReason)\""
            if let since { line += ", since \(RolloutStatusReport.time(since))" }
            out.append(line)
        } else if enabled && !overriddenOff {
            if tenantStatus != "active" && !overriddenOn {
                out.append("the tenant is \(tenantStatus); rollouts and flags that are on for everyone include active tenants only")
            } else if let rolloutStatus, let phase {
                out.append(
                    "not in the cohort: the rollout is \(rolloutStatus) at phase \(phase + 1)" + (phaseName.map { " (\($0))" } ?? "")
                        + (rolloutStatus == "rolled-back"
                            ? ", which keeps only the pre-rollout cohort" : ", and this tenant's rank is not reached yet"))
            } else {
                out.append("not in the cohort ledger")
            }
        }
        return out
    }

    public func render() -> String {
        var out = "flag.\(flag) for tenant \(tenantName) (\(tenantID)): \(answer ? "ON" : "OFF")\n"
        for reason in reasons { out += "  - \(reason)\n" }
        return out
    }
}
