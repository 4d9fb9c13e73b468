import GuardrailCore
import Logging
import PostgresNIO

/// The Postgres-catalog stages of a session: row-level security and role grants.
///
/// Observe reads the tables and roles in scope (the configuration's, plus those Guardrail manages);
/// prepare checks the configuration against what exists and puts desired policy expressions in the
/// server's canonical form; apply runs the plan's catalog changes in plan order, under table locks
/// taken in one fixed order, and records which tables and roles Guardrail now manages.
enum CatalogPipeline {
    /// Reads the catalog state for `scope`. Call inside the observing transaction.
    static func observe(
        _ c: DatabaseConnection, schema: SQLIdentifier, schemaVersion: Int?, scope: CatalogScope, logger: Logger
    ) async throws -> CatalogState {
        var state = CatalogState()
        if let version = schemaVersion, version >= ManagedCatalogObjects.sinceSchemaVersion {
            let record = try await ManagedCatalogObjects.read(c, schema: schema, logger: logger)
            state.managedTables = record.tables
            state.managedRoles = record.roles
        }
        let tables = scope.tables.union(state.managedTables)
        let rls = try await RowLevelSecurityStore.observe(c, tables: tables, policyRoles: scope.policyRoles, logger: logger)
        state.tables = rls.tables
        state.tableFacts = rls.facts
        let grants = try await RoleGrantsStore.observe(
            c, grantRoles: scope.grantRoles.union(state.managedRoles), otherRoles: scope.policyRoles,
            schemas: scope.grantSchemas, tables: scope.grantTables, ownSchema: schema.name, logger: logger)
        state.roles = grants.roles
        state.roleGrants = grants.grants
        state.tablesInSchema = grants.tablesInSchema
        state.grantTableOwners = grants.owners
        state.existingSchemas = grants.existingSchemas
        return state
    }

    /// Checks the configuration against the live catalog and canonicalizes its policy expressions.
    ///
    /// Every problem is reported at the manifest line that causes it, with Postgres's own message
    /// where Postgres found it; any error stops the plan.
    static func prepare(
        _ configuration: Configuration, live: CatalogState, ownSchema: String,
        on connection: DatabaseConnection, logger: Logger, cache: PolicyCanonicalizer.Cache? = nil
    ) async throws -> Configuration {
        guard !configuration.rowLevelSecurity.isEmpty || !configuration.roleGrants.isEmpty else { return configuration }
        var diagnostics: [Diagnostic] = []
        let ownSchemaProblem = "Guardrail keeps its own state in schema \(IdentifierSyntax.display(ownSchema)) and manages its access itself."
        for rls in configuration.rowLevelSecurity where rls.table.schema == ownSchema {
            diagnostics.append(.error("\(rls.table) belongs to Guardrail", detail: ownSchemaProblem, at: configuration.locations[rls.address]))
        }
        for grants in configuration.roleGrants {
            for table in grants.namedTables.sorted() where table.schema == ownSchema {
                diagnostics.append(.error("\(table) belongs to Guardrail", detail: ownSchemaProblem, at: grants.sources[.table(table)]))
            }
            if grants.namedSchemas.contains(ownSchema) {
                diagnostics.append(
                    .error(
                        "schema \(IdentifierSyntax.display(ownSchema)) belongs to Guardrail", detail: ownSchemaProblem,
                        at: grants.sources[.schema(ownSchema)]))
            }
        }
        guard diagnostics.isEmpty else { throw DiagnosticError(diagnostics) }
        let declaredRoles = Set(configuration.roleGrants.map(\.role))
        var present: [RowLevelSecurity] = []
        for rls in configuration.rowLevelSecurity {
            guard live.tables[rls.table] != nil else {
                diagnostics.append(
                    .error(
                        "table \(rls.table) does not exist",
                        detail:
                            "Postgres has no table or partitioned table \(rls.table) in this database; row-level security needs one. Create it first, or fix the name (names are case-sensitive).",
                        at: configuration.locations[rls.address]))
                continue
            }
            present.append(rls)
            for policy in rls.policies {
                for role in policy.roles where role != RowLevelSecurity.Policy.publicRole && live.roles[role] == nil && !declaredRoles.contains(role)
                {
                    diagnostics.append(
                        .error(
                            "role \"\(role)\" does not exist",
                            detail:
                                "Policy \"\(policy.name)\" on \(rls.table) names it. Create the role, or declare it with a RoleGrants manifest so Guardrail creates it.",
                            at: policy.source.roles ?? configuration.locations[rls.address]))
                }
            }
        }
        for grants in configuration.roleGrants {
            for table in grants.namedTables.sorted() where live.grantTableOwners[table] == nil {
                diagnostics.append(
                    .error(
                        "table \(table) does not exist",
                        detail: "RoleGrants \(grants.role) grants privileges on it; create it first, or fix the name.",
                        at: grants.sources[.table(table)] ?? configuration.locations[grants.address]))
            }
            for schema in grants.namedSchemas.sorted() where !live.existingSchemas.contains(schema) {
                diagnostics.append(
                    .error(
                        "schema \(IdentifierSyntax.display(schema)) does not exist",
                        detail: "RoleGrants \(grants.role) grants privileges on its tables.",
                        at: grants.sources[.schema(schema)] ?? configuration.locations[grants.address]))
            }
        }
        let canonical = try await PolicyCanonicalizer.canonicalize(
            present, facts: live.tableFacts, locations: configuration.locations,
            on: connection, logger: logger, cache: cache)
        diagnostics += canonical.diagnostics
        guard diagnostics.isEmpty else { throw DiagnosticError(diagnostics) }
        var prepared = configuration
        prepared.rowLevelSecurity = canonical.tables
        return prepared
    }

    static func isCatalogKind(_ kind: String) -> Bool {
        kind == RowLevelSecurity.kind || kind == RowLevelSecurity.policyKind || kind == RoleGrants.kind
    }

    /// Locks the tables whose row-level security the plan changes, in name order, before live state
    /// is re-read. Policy DDL takes ACCESS EXCLUSIVE anyway; taking it up front, in one order, means
    /// two appliers never deadlock and nothing changes between the staleness check and the DDL.
    static func lockTables(for changes: [Change], on c: DatabaseConnection, logger: Logger) async throws {
        var tables: Set<QualifiedName> = []
        for change in changes where change.kind == RowLevelSecurity.kind || change.kind == RowLevelSecurity.policyKind {
            if let attributes = change.after ?? change.before, let table = try? QualifiedName(attributes: attributes, kind: change.kind) {
                tables.insert(table)
            }
        }
        for table in tables.sorted() {
            do {
                try await c.query("LOCK TABLE \(SQLIdentifier.Qualified(table)) IN ACCESS EXCLUSIVE MODE", logger: logger)
            } catch {
                throw DatabaseError.wrap(error, context: "locking \(table)")
            }
        }
    }

    /// Runs the catalog changes in plan order and updates the record of managed tables and roles.
    static func apply(_ changes: [Change], on c: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws {
        guard !changes.isEmpty else { return }
        // Policy expressions were checked for string boundaries under standard_conforming_strings = on.
        try await c.query("SELECT pg_catalog.set_config('standard_conforming_strings', 'on', true)", logger: logger)
        var adoptedTables: Set<QualifiedName> = [], releasedTables: Set<QualifiedName> = []
        var adoptedRoles: Set<String> = [], releasedRoles: Set<String> = [], createdRoles: Set<String> = []
        for change in changes {
            let statements =
                change.kind == RoleGrants.kind
                ? try RoleGrantsStore.statements(for: change) : try RowLevelSecurityStore.statements(for: change)
            for statement in statements {
                do {
                    try await c.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                } catch {
                    throw DatabaseError.wrap(error, context: "applying \(change.address)")
                }
            }
            switch change.kind {
            case RoleGrants.kind:
                guard let role = (change.after ?? change.before)?["role"]?.stringValue else { continue }
                if change.action == .delete { releasedRoles.insert(role) } else { adoptedRoles.insert(role) }
                if change.action == .create { createdRoles.insert(role) }
            default:
                guard let table = try? QualifiedName(attributes: change.after ?? change.before ?? [:], kind: change.kind) else { continue }
                if change.kind == RowLevelSecurity.kind, change.action == .delete {
                    releasedTables.insert(table)
                } else {
                    adoptedTables.insert(table)
                }
            }
        }
        adoptedTables.subtract(releasedTables)
        try await ManagedCatalogObjects.adopt(
            tables: adoptedTables.sorted(), roles: adoptedRoles.sorted(), createdRoles: createdRoles,
            on: c, schema: schema, logger: logger)
        try await ManagedCatalogObjects.release(tables: releasedTables.sorted(), roles: releasedRoles.sorted(), on: c, schema: schema, logger: logger)
    }
}
