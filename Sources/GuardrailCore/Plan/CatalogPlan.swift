/// The Postgres-catalog part of a plan: role grants, then row-level security. Pure.
public enum CatalogPlan {
    /// Labels of the `compared` counts in a plan.
    public static let comparedTables = "RLS table"
    public static let comparedPolicies = "RLS policy"
    public static let comparedRoles = "role"

    /// Grants come first, so a role exists before a policy names it; then each table's RLS changes
    /// in their safe order. Deleting every managed table or role (or more than half) is a mass delete;
    /// policy deletes are judged by their table's manifest, not counted on their own.
    public static func changes(desired: Configuration, live: CatalogState) -> [Change] {
        let grants = Diff.guardMassDeletes(RoleGrants.changes(desired: desired.roleGrants, live: live),
                                           observedCount: [RoleGrants.kind: live.managedRoles.intersection(live.roleGrants.keys).count])
        var rls = RowLevelSecurity.changes(desired: desired.rowLevelSecurity, live: live)
        let tableLevel = rls.indices.filter { rls[$0].kind == RowLevelSecurity.kind }
        let guarded = Diff.guardMassDeletes(tableLevel.map { rls[$0] },
                                            observedCount: [RowLevelSecurity.kind: live.managedTables.intersection(live.tables.keys).count])
        for (index, change) in zip(tableLevel, guarded) { rls[index] = change }
        return grants + rls
    }

    public static func compared(desired: Configuration, live: CatalogState) -> [String: Int] {
        guard !desired.rowLevelSecurity.isEmpty || !desired.roleGrants.isEmpty || !live.managedTables.isEmpty || !live.managedRoles.isEmpty else {
            return [:]
        }
        var tables = Set(desired.rowLevelSecurity.map(\.table))
        tables.formUnion(live.managedTables.intersection(live.tables.keys))
        var policies: Set<String> = []
        for rls in desired.rowLevelSecurity { for p in rls.policies { policies.insert(RowLevelSecurity.address(rls.table, policy: p.name).description) } }
        for table in tables { for p in live.tables[table]?.policies ?? [] { policies.insert(RowLevelSecurity.address(table, policy: p.name).description) } }
        let roles = Set(desired.roleGrants.map(\.role)).union(live.managedRoles.intersection(live.roleGrants.keys))
        return [comparedTables: tables.count, comparedPolicies: policies.count, comparedRoles: roles.count]
    }

    public static func findings(desired: Configuration, live: CatalogState) -> [Finding] {
        RowLevelSecurity.findings(desired: desired.rowLevelSecurity, live: live)
    }
}
