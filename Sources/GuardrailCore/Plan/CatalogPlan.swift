/// The Postgres-catalog part of a plan: role grants, then row-level security. Pure.
public enum CatalogPlan {
    /// Labels of the `compared` counts in a plan.
    public static let comparedTables = "RLS table"
    public static let comparedPolicies = "RLS policy"
    public static let comparedRoles = "role"

    /// Grants come first, so a role exists before a policy names it; then each table's RLS changes
    /// in their safe order, as the two kinds plan them.
    public static func changes(desired: Configuration, live: CatalogState) -> [Change] {
        var state = LiveState(schemaVersion: nil)
        state.catalog = live
        var notes: [String] = []
        let context = PlanBuilder.Context(environment: "", planID: "", createdAt: "")
        return RoleGrants.changes(desired: desired, live: state, context: context, notes: &notes)
            + RowLevelSecurity.changes(desired: desired, live: state, context: context, notes: &notes)
    }

    public static func compared(desired: Configuration, live: CatalogState) -> [String: Int] {
        guard !desired.rowLevelSecurity.isEmpty || !desired.roleGrants.isEmpty || !live.managedTables.isEmpty || !live.managedRoles.isEmpty else {
            return [:]
        }
        var tables = Set(desired.rowLevelSecurity.map(\.table))
        tables.formUnion(live.managedTables.intersection(live.tables.keys))
        var policies: Set<String> = []
        for rls in desired.rowLevelSecurity {
            for p in rls.policies { policies.insert(RowLevelSecurity.address(rls.table, policy: p.name).description) }
        }
        for table in tables {
            for p in live.tables[table]?.policies ?? [] { policies.insert(RowLevelSecurity.address(table, policy: p.name).description) }
        }
        let roles = Set(desired.roleGrants.map(\.role)).union(live.managedRoles.intersection(live.roleGrants.keys))
        return [comparedTables: tables.count, comparedPolicies: policies.count, comparedRoles: roles.count]
    }
}
