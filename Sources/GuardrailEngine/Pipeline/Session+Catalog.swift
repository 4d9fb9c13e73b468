import GuardrailCore
import Logging
import PostgresNIO

extension Session {
    /// Live tables with row-level security or policies that `declared` does not list, read the way
    /// plans read them, for `guardrail import rls`.
    public func discoverRowLevelSecurity(excluding declared: Set<QualifiedName>) async throws -> [RowLevelSecurity] {
        let schema = self.schema, logger = self.logger
        return try await connection.transaction(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger, context: "reading row-level security"
        ) { c in
            try await c.query("SELECT pg_catalog.set_config('search_path', '', true)", logger: logger)
            let rows = try await c.query(
                """
                SELECT n.nspname::text, c.relname::text
                FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p')
                  AND (c.relrowsecurity OR c.relforcerowsecurity OR EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid))
                  AND n.nspname NOT IN ('pg_catalog', 'information_schema', \(schema.name)) AND n.nspname NOT LIKE 'pg\\_%'
                """, logger: logger)
            var tables: Set<QualifiedName> = []
            for (s, t) in try rows.decode((String, String).self) {
                let table = QualifiedName(schema: s, name: t)
                if !declared.contains(table) { tables.insert(table) }
            }
            let observed = try await RowLevelSecurityStore.observe(c, tables: tables, policyRoles: [], logger: logger)
            return observed.tables.values.sorted { $0.table < $1.table }
        }
    }

    /// Roles holding SELECT/INSERT/UPDATE/DELETE on tables outside the system schemas (other than as
    /// owners) that `declared` does not list, with those privileges, for `guardrail import grants`.
    public func discoverRoleGrants(excluding declared: Set<String>) async throws -> [RoleGrantsState] {
        let schema = self.schema, logger = self.logger
        return try await connection.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger, context: "reading role grants") {
            c in
            try await c.query("SELECT pg_catalog.set_config('search_path', '', true)", logger: logger)
            let rows = try await c.query(
                """
                SELECT DISTINCT g.rolname::text
                FROM pg_catalog.pg_class c
                JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) AS a
                JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
                WHERE c.relkind IN \(RoleGrantsStore.relationKinds) AND c.relacl IS NOT NULL AND a.grantee <> c.relowner
                  AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
                  AND n.nspname NOT IN ('pg_catalog', 'information_schema', \(schema.name)) AND n.nspname NOT LIKE 'pg\\_%'
                  AND g.rolname NOT LIKE 'pg\\_%'
                """, logger: logger)
            var roles: Set<String> = []
            for (role) in try rows.decode(String.self) where !declared.contains(role) { roles.insert(role) }
            let observed = try await RoleGrantsStore.observe(
                c, grantRoles: roles, otherRoles: [], schemas: [], tables: [],
                ownSchema: schema.name, logger: logger)
            return observed.grants.values.sorted { $0.role < $1.role }
        }
    }

    /// The SELECT/INSERT/UPDATE/DELETE that `roles` hold on `tables`, by role: what `import rls`
    /// writes into those roles' manifests, since adopting a table makes its privileges managed.
    public func privileges(of roles: Set<String>, on tables: Set<QualifiedName>) async throws -> [String: [QualifiedName: Set<RoleGrants.Privilege>]]
    {
        guard !roles.isEmpty, !tables.isEmpty else { return [:] }
        let schema = self.schema, logger = self.logger
        return try await connection.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger, context: "reading role grants") {
            c in
            try await c.query("SELECT pg_catalog.set_config('search_path', '', true)", logger: logger)
            let observed = try await RoleGrantsStore.observe(
                c, grantRoles: roles, otherRoles: [], schemas: [], tables: tables,
                ownSchema: schema.name, logger: logger)
            var result: [String: [QualifiedName: Set<RoleGrants.Privilege>]] = [:]
            for (role, state) in observed.grants {
                let held = state.privileges.filter { tables.contains($0.key) }
                if !held.isEmpty { result[role] = held }
            }
            return result
        }
    }

    /// Records tables and roles as managed by Guardrail (adoption), under the apply lock, creating
    /// Guardrail's schema if needed. Their live state is not changed.
    public func adopt(tables: [QualifiedName], roles: [String], record: AuditLog.Import? = nil) async throws {
        guard lock != nil else { throw ApplyRefusal.notLocked }
        let schema = self.schema, logger = self.logger, environment = self.environment.name
        try await connection.transaction(logger: logger, context: "recording the imported objects") { c in
            try await Migrations.migrate(c, schema: schema, logger: logger)
            try await ManagedCatalogObjects.adopt(tables: tables, roles: roles, on: c, schema: schema, logger: logger)
            if let record {
                let objects = tables.map { RowLevelSecurity.address($0).description } + roles.map { RoleGrants.address($0).description }
                try await AuditLog.record(record, objects: objects, environment: environment, on: c, schema: schema, logger: logger)
            }
        }
    }

    /// Runs the isolation checks in a transaction that is always rolled back.
    public func verifyIsolation(_ options: IsolationVerifier.Options) async throws -> IsolationVerifier.Report {
        try await IsolationVerifier.verify(options, on: connection, logger: logger)
    }
}
