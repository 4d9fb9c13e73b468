extension BackupSchedule: KindDefinition {
    public static var allowedSpecKeys: [String] { specKeys }
    public static var schemaShape: KindShape? { shape }
    public static var summaryRank: Int { 3 }

    public static func decode(_ document: ManifestDocument, references: inout [ManifestReference]) -> DecodedObject<BackupSchedule>? {
        decode(metadata: document.metadata, spec: document.spec).map { DecodedObject($0, metadata: document.metadata) }
    }

    /// The name-by-name diff, each change saying when the schedule runs next.
    public static func changes(desired: Configuration, live: LiveState, context: PlanBuilder.Context, notes: inout [String]) -> [Change] {
        let observed = live.backupSchedules
        let changes = Diff.guardMassDeletes(
            Diff.changes(desired: desired.backupSchedules, observed: observed),
            observedCount: [kind: observed.count])
        return describe(changes, desired: desired.backupSchedules, now: context.now)
    }
}
