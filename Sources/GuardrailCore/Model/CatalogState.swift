/// What Guardrail observed in the Postgres catalog for row-level security and role grants.
///
/// Only tables and roles in scope are observed: those the configuration declares, and those
/// Guardrail recorded as managed when it last changed them. Anything else in the database is never
/// read into a plan, so it can never be changed by one.
public struct CatalogState: Sendable {
    /// Tables in scope that exist, with their RLS flags and policies (the live side has no searchPath).
    public var tables: [QualifiedName: RowLevelSecurity]
    public var tableFacts: [QualifiedName: TableFacts]
    /// Tables Guardrail changed before and has not released: a deleted manifest plans their removal.
    public var managedTables: Set<QualifiedName>
    /// Attributes of the roles asked about (policy roles, granted roles, table owners) that exist.
    public var roles: [String: RoleFacts]
    /// The managed privileges of each role in scope that exists.
    public var roleGrants: [String: RoleGrantsState]
    /// Roles Guardrail created or granted to before and has not released.
    public var managedRoles: Set<String>
    /// The tables each schema named by a `schemas:` grant holds now.
    public var tablesInSchema: [String: [QualifiedName]]
    /// The owner of every table grants name, or that a granted schema holds; absent tables do not exist.
    public var grantTableOwners: [QualifiedName: String]
    /// Which schemas named by `schemas:` grants exist.
    public var existingSchemas: Set<String>

    public init(
        tables: [QualifiedName: RowLevelSecurity] = [:], tableFacts: [QualifiedName: TableFacts] = [:],
        managedTables: Set<QualifiedName> = [], roles: [String: RoleFacts] = [:],
        roleGrants: [String: RoleGrantsState] = [:], managedRoles: Set<String> = [],
        tablesInSchema: [String: [QualifiedName]] = [:], grantTableOwners: [QualifiedName: String] = [:],
        existingSchemas: Set<String> = []
    ) {
        self.tables = tables
        self.tableFacts = tableFacts
        self.managedTables = managedTables
        self.roles = roles
        self.roleGrants = roleGrants
        self.managedRoles = managedRoles
        self.tablesInSchema = tablesInSchema
        self.grantTableOwners = grantTableOwners
        self.existingSchemas = existingSchemas
    }

    /// Facts about a table that decide whether its policies bind anyone, never changed by Guardrail.
    public struct TableFacts: Hashable, Sendable {
        public var owner: String
        public var partitioned: Bool
        /// Policy roles (from the configuration) that own the table or have its owner's privileges.
        public var rolesWithOwnerPrivileges: Set<String>
        /// The first ordinary (not generated) column. The canonicalizer partitions its scratch copy
        /// by it, because a partitioned table has no storage and is several times cheaper to create.
        public var firstColumn: String?
        /// The table's identity and columns (oid, then number, name, type, typmod, dropped and
        /// generated of each): what a scratch copy of it is made from. Canonical policy texts are
        /// reused while it stays the same.
        public var columns: String

        public init(
            owner: String, partitioned: Bool = false, rolesWithOwnerPrivileges: Set<String> = [], firstColumn: String? = nil,
            columns: String = ""
        ) {
            self.columns = columns
            self.owner = owner
            self.partitioned = partitioned
            self.rolesWithOwnerPrivileges = rolesWithOwnerPrivileges
            self.firstColumn = firstColumn
        }
    }

    public struct RoleFacts: Hashable, Sendable {
        public var login: Bool
        public var superuser: Bool
        public var bypassRLS: Bool

        public init(login: Bool = false, superuser: Bool = false, bypassRLS: Bool = false) {
            self.login = login
            self.superuser = superuser
            self.bypassRLS = bypassRLS
        }
    }

    /// The live attributes of every `rls.` and `grants.` address in scope, for saved-plan fingerprints.
    public func attributesByAddress() -> [Address: Attributes] {
        var index: [Address: Attributes] = [:]
        for (table, rls) in tables {
            index[rls.address] = rls.attributes
            for policy in rls.policies { index[RowLevelSecurity.address(table, policy: policy.name)] = policy.attributes(on: table) }
        }
        for (role, grants) in roleGrants { index[RoleGrants.address(role)] = grants.attributes }
        return index
    }
}

/// What the engine must observe for a configuration: its tables, roles and grant targets.
public struct CatalogScope: Hashable, Sendable {
    public var tables: Set<QualifiedName>
    /// Roles whose grants are managed.
    public var grantRoles: Set<String>
    /// Roles named by policies, whose attributes decide whether a policy binds them.
    public var policyRoles: Set<String>
    public var grantSchemas: Set<String>
    public var grantTables: Set<QualifiedName>

    public init(
        tables: Set<QualifiedName> = [], grantRoles: Set<String> = [], policyRoles: Set<String> = [],
        grantSchemas: Set<String> = [], grantTables: Set<QualifiedName> = []
    ) {
        self.tables = tables
        self.grantRoles = grantRoles
        self.policyRoles = policyRoles
        self.grantSchemas = grantSchemas
        self.grantTables = grantTables
    }

    public init(_ configuration: Configuration) {
        self.init(
            tables: Set(configuration.rowLevelSecurity.map(\.table)),
            grantRoles: Set(configuration.roleGrants.map(\.role)),
            policyRoles: Set(configuration.rowLevelSecurity.flatMap { $0.policies.flatMap(\.roles) }).subtracting([RowLevelSecurity.Policy.publicRole]
            ),
            grantSchemas: configuration.roleGrants.reduce(into: Set<String>()) { $0.formUnion($1.namedSchemas) },
            grantTables: configuration.roleGrants.reduce(into: Set<QualifiedName>()) { $0.formUnion($1.namedTables) })
    }

    /// The tables and roles a saved plan's changes touch, so apply re-observes exactly those.
    public init(_ plan: Plan) {
        self.init()
        for change in plan.changes {
            guard let attributes = change.after ?? change.before else { continue }
            switch change.kind {
            case RowLevelSecurity.kind, RowLevelSecurity.policyKind:
                if let table = try? QualifiedName(attributes: attributes, kind: change.kind) { tables.insert(table) }
            case RoleGrants.kind:
                if let state = try? RoleGrantsState(attributes: attributes) {
                    grantRoles.insert(state.role)
                    grantTables.formUnion(state.privileges.keys)
                }
                if let before = change.before, let state = try? RoleGrantsState(attributes: before) { grantTables.formUnion(state.privileges.keys) }
            default:
                continue
            }
        }
    }

    public var isEmpty: Bool { tables.isEmpty && grantRoles.isEmpty && policyRoles.isEmpty }
}
