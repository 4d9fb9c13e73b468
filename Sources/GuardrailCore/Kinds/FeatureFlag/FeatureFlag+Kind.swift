import Foundation

extension FeatureFlag: KindDefinition {
    public static var allowedSpecKeys: [String] { specKeys }
    public static var schemaShape: KindShape? { shape }
    public static var summaryRank: Int { 1 }
    public static var applyGroup: String { "flags" }

    public static func decode(_ document: ManifestDocument, references: inout [ManifestReference]) -> DecodedObject<FeatureFlag>? {
        decode(metadata: document.metadata, spec: document.spec, references: &references).map { DecodedObject($0, metadata: document.metadata) }
    }

    /// Keeps the flag's labels: what `flag kill --selector` picks flags by.
    public static func admit(
        _ decoded: DecodedObject<FeatureFlag>, state: inout NoAdmission, into configuration: inout Configuration,
        reader: NodeReader
    ) -> Bool {
        if !decoded.metadata.labels.isEmpty { configuration.flagLabels[decoded.object.name] = decoded.metadata.labels }
        return true
    }

    /// The name-by-name diff, with each starting rollout's first cohorts previewed.
    public static func changes(desired: Configuration, live: LiveState, context: PlanBuilder.Context, notes: inout [String]) -> [Change] {
        let observed = live.flags
        let changes = Diff.guardMassDeletes(Diff.changes(desired: desired.flags, observed: observed), observedCount: [kind: observed.count])
        return RolloutPreview.annotate(changes, desired: desired)
    }
}
