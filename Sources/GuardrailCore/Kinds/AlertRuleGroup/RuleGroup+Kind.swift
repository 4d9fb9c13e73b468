extension RuleGroup: KindDefinition {
    public static var allowedSpecKeys: [String] { [] }
    public static var schemaShape: KindShape? { RuleFile.shape }
    /// Rule groups are Prometheus rule files in alerts/, not Guardrail documents.
    public static var folders: [String] { [] }
    public static var placement: String { "alert rules are Prometheus rule files in alerts/" }
    public static var summaryRank: Int { 7 }

    public static func decode(_ document: ManifestDocument, references: inout [ManifestReference]) -> DecodedObject<RuleGroup>? { nil }

    /// The configuration's groups and the ones Guardrail generates from it, when the environment has
    /// an alerts target; otherwise a note says why alerts/ is not planned. Applied last, over HTTP,
    /// once the Postgres transaction has committed.
    public static func changes(desired: Configuration, live: LiveState, context: PlanBuilder.Context, notes: inout [String]) -> [Change] {
        guard context.managesAlerts else {
            if !desired.ruleGroups.isEmpty {
                notes.append(
                    context.unmanagedAlertsReason
                        ?? "Environment \"\(context.environment)\" has no alerts target, so the \(KindNames.count(desired.ruleGroups.count, of: kind)) in alerts/ are not planned."
                )
            }
            return []
        }
        return changes(desired: desired.ruleGroups + GeneratedRules.groups(for: desired), live: live.ruleGroups)
    }

    public static func compared(desired: Configuration, live: LiveState, context: PlanBuilder.Context) -> [String: Int] {
        guard context.managesAlerts else { return [:] }
        let desiredNames = (desired.ruleGroups + GeneratedRules.groups(for: desired)).map(\.name)
        let n = Set(desiredNames).union(live.ruleGroups.map(\.name)).count
        return n > 0 ? [kind: n] : [:]
    }

    /// A rule group's plan shows live expressions as the configuration spells them; its fingerprint is
    /// of the normalized form, which both spellings share.
    public static func liveAttributes(prefix: String, in live: LiveState) -> [String: Attributes] {
        var byName: [String: Attributes] = [:]
        for group in live.ruleGroups { byName[group.name] = fingerprintForm(group.attributes) }
        return byName
    }
}
