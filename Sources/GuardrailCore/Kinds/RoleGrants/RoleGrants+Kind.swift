extension RoleGrants: KindDefinition {
    public static var allowedSpecKeys: [String] { specKeys }
    public static var schemaShape: KindShape? { shape }
    public static var summaryRank: Int { 6 }
    /// Roles, grants and row-level security commit together: policies name the roles.
    public static var applyGroup: String { "catalog" }

    public static func decode(_ document: ManifestDocument, references: inout [ManifestReference]) -> DecodedObject<RoleGrants>? {
        decode(metadata: document.metadata, spec: document.spec).map { DecodedObject($0, metadata: document.metadata) }
    }

    public static func name(of object: RoleGrants) -> String { object.address.name }

    public static func declared(in configuration: Configuration) -> [(kind: String, count: Int)] {
        [(CatalogPlan.comparedRoles, configuration.roleGrants.count)]
    }

    /// Deleting every managed role (or more than half) is a mass delete.
    public static func changes(desired: Configuration, live: LiveState, context: PlanBuilder.Context, notes: inout [String]) -> [Change] {
        let catalog = live.catalog
        return Diff.guardMassDeletes(
            changes(desired: desired.roleGrants, live: catalog),
            observedCount: [kind: catalog.managedRoles.intersection(catalog.roleGrants.keys).count])
    }

    public static func liveAttributes(prefix: String, in live: LiveState) -> [String: Attributes] {
        var byName: [String: Attributes] = [:]
        for (role, grants) in live.catalog.roleGrants { byName[address(role).name] = grants.attributes }
        return byName
    }
}
