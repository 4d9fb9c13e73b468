import GuardrailCore
import Logging
import PostgresNIO

/// Reads and changes roles and their table privileges.
///
/// Observing is one query: the attributes of every role asked about, the managed privileges
/// (SELECT/INSERT/UPDATE/DELETE from each table's ACL, through `aclexplode`) of the roles in scope,
/// and the tables of the schemas that `schemas:` grants name. A role's privileges on tables it owns
/// are implicit, so they are neither observed nor managed; nor are privileges on Guardrail's own schema.
/// A `schemas:` grant covers the schema's tables, views and foreign tables but not partitions: a
/// role that can query a partition directly bypasses the row-level security of its parent.
enum RoleGrantsStore {
    struct Observation: Sendable {
        var roles: [String: CatalogState.RoleFacts] = [:]
        var grants: [String: RoleGrantsState] = [:]
        var tablesInSchema: [String: [QualifiedName]] = [:]
        var existingSchemas: Set<String> = []
        var existingTables: Set<QualifiedName> = []
        var owners: [QualifiedName: String] = [:]
    }

    static let relationKinds: SQLFragment = "('r', 'p', 'v', 'm', 'f')"

    static func observe(
        _ connection: DatabaseConnection, grantRoles: Set<String>, otherRoles: Set<String>,
        schemas: Set<String>, tables: Set<QualifiedName>, ownSchema: String, logger: Logger
    ) async throws -> Observation {
        var observation = Observation()
        let askedRoles = grantRoles.union(otherRoles).sorted()
        guard !askedRoles.isEmpty || !schemas.isEmpty || !tables.isEmpty else { return observation }
        let wanted = tables.sorted()
        let rows = try await connection.query(
            """
            SELECT 'role', r.rolname::text, NULL::text, NULL::text, NULL::text, r.rolcanlogin, r.rolsuper, r.rolbypassrls
            FROM pg_catalog.pg_roles r WHERE r.rolname = ANY(\(askedRoles)::text[])
            UNION ALL
            SELECT 'grant', g.rolname::text, n.nspname::text, c.relname::text, lower(a.privilege_type), NULL, NULL, NULL
            FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) AS a
            JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
            WHERE c.relkind IN \(relationKinds) AND c.relacl IS NOT NULL
              AND n.nspname NOT IN ('pg_catalog', 'information_schema', \(ownSchema)) AND n.nspname NOT LIKE 'pg\\_toast%'
              AND g.rolname = ANY(\(grantRoles.sorted())::text[]) AND a.grantee <> c.relowner
              AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
            UNION ALL
            SELECT 'schema', NULL, n.nspname::text, NULL, NULL, NULL, NULL, NULL
            FROM pg_catalog.pg_namespace n WHERE n.nspname = ANY(\(schemas.sorted())::text[])
            UNION ALL
            SELECT 'table', pg_catalog.pg_get_userbyid(c.relowner)::text, n.nspname::text, c.relname::text,
                   CASE WHEN n.nspname = ANY(\(schemas.sorted())::text[]) AND NOT c.relispartition THEN 'in-schema' END, NULL, NULL, NULL
            FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN \(relationKinds)
              AND (n.nspname = ANY(\(schemas.sorted())::text[])
                   OR (n.nspname, c.relname) IN (SELECT * FROM unnest(\(wanted.map(\.schema))::text[], \(wanted.map(\.name))::text[])))
            """, logger: logger)
        var privileges: [String: [QualifiedName: Set<RoleGrants.Privilege>]] = [:]
        var owners: [QualifiedName: String] = [:]
        for row in try rows.decode((String, String?, String?, String?, String?, Bool?, Bool?, Bool?).self) {
            switch row.0 {
            case "role":
                guard let name = row.1 else { continue }
                observation.roles[name] = CatalogState.RoleFacts(login: row.5 ?? false, superuser: row.6 ?? false, bypassRLS: row.7 ?? false)
            case "grant":
                guard let role = row.1, let schema = row.2, let table = row.3, let privilege = row.4.flatMap(RoleGrants.Privilege.init(rawValue:))
                else { continue }
                privileges[role, default: [:]][QualifiedName(schema: schema, name: table), default: []].insert(privilege)
            case "schema":
                if let schema = row.2 { observation.existingSchemas.insert(schema) }
            case "table":
                guard let schema = row.2, let name = row.3 else { continue }
                let table = QualifiedName(schema: schema, name: name)
                observation.existingTables.insert(table)
                if let owner = row.1 { owners[table] = owner }
                if row.4 == "in-schema" { observation.tablesInSchema[schema, default: []].append(table) }
            default:
                continue
            }
        }
        for schema in observation.tablesInSchema.keys { observation.tablesInSchema[schema]!.sort() }
        for role in grantRoles {
            guard let facts = observation.roles[role] else { continue }
            observation.grants[role] = RoleGrantsState(role: role, login: facts.login, privileges: privileges[role] ?? [:])
        }
        observation.owners = owners
        return observation
    }

    static func statements(for change: Change) throws -> [String] {
        func state(_ attributes: Attributes?) throws -> RoleGrantsState? {
            guard let attributes else { return nil }
            do {
                return try RoleGrantsState(attributes: attributes)
            } catch {
                throw DatabaseError.other("the plan's entry for \(change.address) is unreadable: \(error)")
            }
        }
        let before = try state(change.before), after = try state(change.after)
        guard let role = (after ?? before)?.role else { return [] }
        let quoted = SQLIdentifier(role).quoted
        var sql: [String] = []
        if change.action == .create {
            sql.append("CREATE ROLE \(quoted) \(after?.login == true ? "LOGIN" : "NOLOGIN")")
        } else if let before, let after, before.login != after.login {
            sql.append("ALTER ROLE \(quoted) \(after.login ? "LOGIN" : "NOLOGIN")")
        }
        let (grant, revoke) = RoleGrants.delta(from: before?.privileges ?? [:], to: after?.privileges ?? [:])
        sql += grouped(revoke).map { "REVOKE \($0.privileges) ON TABLE \($0.tables) FROM \(quoted)" }
        sql += grouped(grant).map { "GRANT \($0.privileges) ON TABLE \($0.tables) TO \(quoted)" }
        return sql
    }

    /// One statement per distinct privilege set, naming all its tables: `SELECT, INSERT` on `"public"."a", "public"."b"`.
    private static func grouped(_ privileges: [QualifiedName: Set<RoleGrants.Privilege>]) -> [(privileges: String, tables: String)] {
        var bySet: [[RoleGrants.Privilege]: [QualifiedName]] = [:]
        for (table, set) in privileges { bySet[set.sorted(), default: []].append(table) }
        return bySet.keys.sorted { $0.map(\.rawValue).joined() < $1.map(\.rawValue).joined() }.map { set in
            (set.map(\.sql).joined(separator: ", "), bySet[set]!.sorted().map(SQLIdentifier.qualified).joined(separator: ", "))
        }
    }
}
