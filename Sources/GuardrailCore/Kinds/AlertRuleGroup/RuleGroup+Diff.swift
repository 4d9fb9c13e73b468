/// Planning alert rule groups. Pure.
extension RuleGroup {
    /// Changes that turn the live groups into the desired ones, in the shared apply order.
    ///
    /// Groups compare in normalized form (durations as durations, maps as maps, PromQL after
    /// normalizing spacing), and an expression that differs only in spacing is shown as the
    /// configuration writes it, so the plan lists only real changes. Deleting every managed group,
    /// or more than half, is a mass delete.
    public static func changes(desired: [RuleGroup], live: [RuleGroup]) -> [Change] {
        let desiredByName = Dictionary(desired.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let aligned = live.map { group -> RuleGroup in
            guard let wanted = desiredByName[group.name] else { return group }
            var copy = group
            for index in copy.rules.indices where index < wanted.rules.count {
                let (have, want) = (copy.rules[index], wanted.rules[index])
                if have.expr != want.expr, PromQLText.comparisonKey(have.expr) == PromQLText.comparisonKey(want.expr) {
                    copy.rules[index].expr = want.expr
                }
            }
            return copy
        }
        return Diff.guardMassDeletes(Diff.changes(desired: desired, observed: aligned), observedCount: [kind: live.count])
    }

    /// Attributes with every expression replaced by its comparison key: what a saved plan's
    /// fingerprint covers, so spacing-only edits on the live side do not make a plan stale.
    public static func fingerprintForm(_ attributes: Attributes) -> Attributes {
        var copy = attributes
        for (key, value) in attributes where key.hasPrefix("rules[") {
            guard var rule = value.mapValue, let expr = rule["expr"]?.stringValue else { continue }
            rule["expr"] = .string(PromQLText.comparisonKey(expr))
            copy[key] = .map(rule)
        }
        return copy
    }

    /// The rules of a change that are new or different: what the plan checks for noise.
    public static func changedRules(in change: Change) -> [Int] {
        guard let after = change.after else { return [] }
        var indexes: [Int] = []
        var index = 0
        while let rule = after[ruleKey(index)] {
            if change.before?[ruleKey(index)] != rule { indexes.append(index) }
            index += 1
        }
        return indexes
    }
}
