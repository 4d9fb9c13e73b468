import Foundation

/// The rollout a flag change would start, as the plan shows it: every phase with its cohort (the
/// tenant names it adds, the exact count against the requested percent), bake and guardrails.
public struct RolloutPreview: Hashable, Sendable, Codable {
    public struct Phase: Hashable, Sendable, Codable {
        public var name: String
        public var percent: Int?
        /// p/100 × N before rounding up, for "5% of 13 = 0.65 → 1".
        public var exactByPercent: Double?
        public var requestedByPercent: Int
        public var pickedByPercent: Int
        /// Tenants in the cohort at this phase, cumulative.
        public var cohortSize: Int
        public var addedCount: Int
        /// The first names this phase adds, in rank order (at most `RolloutPreview.namesShown`).
        public var added: [String]
        public var bake: String
    }

    public struct GuardrailSummary: Hashable, Sendable, Codable {
        public var name: String
        public var threshold: String
        public var interval: String
        public var failures: Int
    }

    /// Names listed per phase; the count is always exact.
    public static let namesShown = 12

    /// True when applying starts (or restarts) the rollout; false when the flag stays disabled.
    public var startsOnApply: Bool
    public var eligible: Int
    public var phases: [Phase]
    public var guardrails: [GuardrailSummary]
    public var onBreach: String

    enum CodingKeys: String, CodingKey {
        case startsOnApply = "starts_on_apply", eligible, phases, guardrails, onBreach = "on_breach"
    }

    public init(
        flag: FeatureFlag, tenants: [Tenant], guardrails: [Guardrail], startsOnApply: Bool,
        selections: CohortPlan.Selections = CohortPlan.Selections()
    ) {
        let plan = CohortPlan(flag: flag, tenants: tenants, selections: selections)
        let byName = Dictionary(guardrails.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let rollout = flag.rollout ?? Rollout(phases: [])
        self.startsOnApply = startsOnApply
        eligible = plan.eligibleCount
        phases = zip(rollout.phases, plan.phases).map { spec, cohort in
            Phase(
                name: spec.name, percent: spec.percent, exactByPercent: spec.percent.map { Double($0) * Double(plan.eligibleCount) / 100 },
                requestedByPercent: cohort.requestedByPercent, pickedByPercent: cohort.pickedByPercent, cohortSize: cohort.memberCount,
                addedCount: cohort.addedCount,
                added: cohort.added(first: Self.namesShown), bake: spec.bake.description)
        }
        self.guardrails = rollout.guardrails.map { name in
            let g = byName[name]
            return GuardrailSummary(
                name: name, threshold: g?.thresholdDescription ?? "?", interval: g?.interval.description ?? "?", failures: g?.failures ?? 1)
        }
        onBreach = rollout.onBreach.rawValue
    }

    /// Adds a preview to every flag change whose rollout applying would start or restart, and to
    /// new flags with a rollout that stay disabled (so reviewers see the plan before it is switched on).
    public static func annotate(_ changes: [Change], desired: Configuration) -> [Change] {
        guard changes.contains(where: { $0.kind == FeatureFlag.kind }) else { return changes }
        let flags = Dictionary(desired.flags.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var work: [(index: Int, flag: FeatureFlag, starts: Bool)] = []
        for (index, change) in changes.enumerated() {
            guard change.kind == FeatureFlag.kind, change.action != .delete, let flag = flags[change.address.name], flag.rollout != nil else {
                continue
            }
            let wasEnabled = change.before?["enabled"]?.boolValue ?? false
            let rolloutChanged = change.before?["rollout"] != change.after?["rollout"]
            let starts = flag.enabled && (!wasEnabled || rolloutChanged)
            guard starts || (change.action == .create && !flag.enabled) || rolloutChanged else { continue }
            work.append((index, flag, starts))
        }
        // Each preview ranks every tenant for its flag's salt; they are independent, so use every core.
        let jobs = work
        let tenants = desired.tenants, guardrails = desired.guardrails
        let selections = CohortPlan.Selections()
        var previews = [RolloutPreview?](repeating: nil, count: jobs.count)
        previews.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out
            DispatchQueue.concurrentPerform(iterations: jobs.count) { i in
                out[i] = RolloutPreview(
                    flag: jobs[i].flag, tenants: tenants, guardrails: guardrails, startsOnApply: jobs[i].starts,
                    selections: selections)
            }
        }
        var annotated = changes
        for (i, item) in jobs.enumerated() { annotated[item.index].rollout = previews[i] }
        return annotated
    }

    /// The preview as plan text, indented to sit under the object's attributes.
    public func lines(indent: Int) -> [String] {
        let pad = String(repeating: " ", count: indent)
        var out: [String] = []
        let when = startsOnApply ? "starts at phase 1 on apply" : "starts when enabled is true"
        out.append(pad + "rollout: \(when); on breach: \(onBreach); \(eligible) eligible tenant\(eligible == 1 ? "" : "s")")
        let nameWidth = phases.map(\.name.count).max() ?? 0
        for (i, phase) in phases.enumerated() {
            var selection: String
            if let percent = phase.percent, let exact = phase.exactByPercent {
                selection = "\(percent)% of \(eligible) = \(Self.format(exact)) -> \(phase.requestedByPercent)"
                selection +=
                    phase.pickedByPercent < phase.requestedByPercent
                    ? " (every one of the \(phase.pickedByPercent) not named)" : " by rank"
            } else {
                selection = "named tenants only"
            }
            let share = eligible == 0 ? 0 : Double(phase.cohortSize) * 100 / Double(eligible)
            selection += "; cohort \(phase.cohortSize) (\(Self.format(share))%)"
            var line = pad + "  \(i + 1). " + phase.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  " + selection
            line += "; bake \(phase.bake)"
            out.append(line)
            if phase.addedCount > 0 {
                var names = phase.added.joined(separator: ", ")
                if phase.addedCount > phase.added.count { names += " and \(phase.addedCount - phase.added.count) more" }
                out.append(pad + "     adds \(phase.addedCount): \(names)")
            } else {
                out.append(pad + "     adds nobody")
            }
        }
        if guardrails.isEmpty {
            out.append(pad + "guardrails: none (phases advance on bake time alone)")
        } else {
            out.append(
                pad + "guardrails: "
                    + guardrails.map { "\($0.name) \($0.threshold) every \($0.interval), breach after \($0.failures) failing" }.joined(
                        separator: "; "))
        }
        return out
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded() { return String(Int(value)) }
        return String(format: "%.2f", value).replacingOccurrences(of: #"0+$"#, with: "", options: .regularExpression)
    }
}
