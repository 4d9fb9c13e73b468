extension RowLevelSecurity: KindDefinition {
    public static var allowedSpecKeys: [String] { specKeys }
    public static var schemaShape: KindShape? { shape }
    public static var changeKinds: [String] { [kind, policyKind] }
    public static var summaryRank: Int { 5 }
    public static var applyGroup: String { RoleGrants.applyGroup }

    public static func decode(_ document: ManifestDocument, references: inout [ManifestReference]) -> DecodedObject<RowLevelSecurity>? {
        decode(metadata: document.metadata, spec: document.spec).map { DecodedObject($0, metadata: document.metadata) }
    }

    public static func name(of object: RowLevelSecurity) -> String { object.address.name }

    public static func declared(in configuration: Configuration) -> [(kind: String, count: Int)] {
        [(CatalogPlan.comparedTables, configuration.rowLevelSecurity.count)]
    }

    /// Each table's changes in their safe order. Deleting every managed table (or more than half) is
    /// a mass delete; policy deletes are judged by their table's manifest, not counted on their own.
    public static func changes(desired: Configuration, live: LiveState, context: PlanBuilder.Context, notes: inout [String]) -> [Change] {
        let catalog = live.catalog
        var rls = changes(desired: desired.rowLevelSecurity, live: catalog)
        let tableLevel = rls.indices.filter { rls[$0].kind == kind }
        let guarded = Diff.guardMassDeletes(
            tableLevel.map { rls[$0] },
            observedCount: [kind: catalog.managedTables.intersection(catalog.tables.keys).count])
        for (index, change) in zip(tableLevel, guarded) { rls[index] = change }
        return rls
    }

    /// Tables, policies and roles are counted together, for the roles the policies name.
    public static func compared(desired: Configuration, live: LiveState, context: PlanBuilder.Context) -> [String: Int] {
        CatalogPlan.compared(desired: desired, live: live.catalog)
    }

    public static func findings(desired: Configuration, live: LiveState) -> [Finding] {
        findings(desired: desired.rowLevelSecurity, live: live.catalog)
    }

    public static func liveAttributes(prefix: String, in live: LiveState) -> [String: Attributes] {
        var byName: [String: Attributes] = [:]
        for (table, rls) in live.catalog.tables {
            byName[rls.address.name] = rls.attributes
            for policy in rls.policies { byName[address(table, policy: policy.name).name] = policy.attributes(on: table) }
        }
        return byName
    }
}
