import GuardrailCore
import Logging
import PostgresNIO

/// Reads and changes row-level security in the Postgres catalog.
///
/// Observing is one query for every table in scope, partitioned tables included: the RLS flags,
/// the owner, and each policy with its roles as a set (`{0}` is PUBLIC) and its expressions as
/// `pg_get_expr` prints them. The caller's transaction runs with `search_path = ''`, so the text is
/// fully qualified and matches what the canonicalizer produces for desired policies.
enum RowLevelSecurityStore {
    struct Observation: Sendable {
        var tables: [QualifiedName: RowLevelSecurity] = [:]
        var facts: [QualifiedName: CatalogState.TableFacts] = [:]
    }

    static func observe(
        _ connection: DatabaseConnection, tables: Set<QualifiedName>, policyRoles: Set<String>, logger: Logger
    ) async throws -> Observation {
        var observation = Observation()
        guard !tables.isEmpty else { return observation }
        let wanted = tables.sorted()
        let rows = try await connection.query(
            """
            SELECT n.nspname::text, c.relname::text, c.relkind = 'p', c.relrowsecurity, c.relforcerowsecurity,
                   pg_catalog.pg_get_userbyid(c.relowner)::text, facts.owner_members, facts.first_column, facts.columns,
                   p.polname::text, p.polcmd::text, p.polpermissive,
                   ARRAY(SELECT CASE WHEN x.r = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(x.r)::text END
                         FROM pg_catalog.unnest(p.polroles) AS x(r)),
                   pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
            FROM unnest(\(wanted.map(\.schema))::text[], \(wanted.map(\.name))::text[]) AS want(schema_name, table_name)
            JOIN pg_catalog.pg_namespace n ON n.nspname = want.schema_name
            JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = want.table_name AND c.relkind IN ('r', 'p')
            -- Once per table, not once per policy row (OFFSET 0 keeps the planner from inlining it).
            CROSS JOIN LATERAL (
                SELECT ARRAY(SELECT r.rolname::text FROM pg_catalog.pg_roles r
                             WHERE r.rolname = ANY(\(policyRoles.sorted())::text[]) AND pg_catalog.pg_has_role(r.oid, c.relowner, 'USAGE')) AS owner_members,
                       (SELECT a.attname::text FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum LIMIT 1) AS first_column,
                       c.oid::text || ':' || coalesce((SELECT pg_catalog.string_agg(a.attnum::text || ' ' || a.attname::text || ' ' || a.atttypid::text || ' ' || a.atttypmod::text
                                                                       || ' ' || a.attisdropped::text || ' ' || a.attgenerated::text, ',' ORDER BY a.attnum)
                                                       FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0), '') AS columns
                OFFSET 0
            ) facts
            LEFT JOIN pg_catalog.pg_policy p ON p.polrelid = c.oid
            """, logger: logger)
        typealias Row = (String, String, Bool, Bool, Bool, String, [String], String?, String, String?, String?, Bool?, [String]?, String?, String?)
        var policies: [QualifiedName: [RowLevelSecurity.Policy]] = [:]
        for row in try rows.decode(Row.self) {
            let table = QualifiedName(schema: row.0, name: row.1)
            if observation.tables[table] == nil {
                observation.tables[table] = RowLevelSecurity(table: table, enabled: row.3, forced: row.4)
                observation.facts[table] = CatalogState.TableFacts(
                    owner: row.5, partitioned: row.2, rolesWithOwnerPrivileges: Set(row.6), firstColumn: row.7,
                    columns: row.8)
            }
            guard let name = row.9, let code = row.10, let permissive = row.11, let roles = row.12 else { continue }
            guard let command = RowLevelSecurity.Command(catalogCode: code) else {
                throw DatabaseError.other("policy \(name) on \(table) has a command Guardrail does not know (polcmd \(code))")
            }
            policies[table, default: []].append(
                RowLevelSecurity.Policy(
                    name: name, command: command, mode: permissive ? .permissive : .restrictive, roles: roles, using: row.13, withCheck: row.14))
        }
        for (table, list) in policies { observation.tables[table]?.policies = list.sorted { $0.name < $1.name } }
        return observation
    }

    /// The DDL for one change. Identifiers go through `SQLIdentifier`; expressions were checked by
    /// `PolicyExpressionSyntax` when the manifest was read and are in the server's canonical form.
    static func statements(for change: Change) throws -> [String] {
        let attributes = change.after ?? change.before ?? [:]
        let table = SQLIdentifier.qualified(try unreadable(change) { try QualifiedName(attributes: attributes, kind: change.kind) })
        switch change.kind {
        case RowLevelSecurity.kind:
            let before = change.before, after = change.after
            let wasEnabled = before?["enabled"]?.boolValue ?? false, willBeEnabled = after?["enabled"]?.boolValue ?? false
            let wasForced = before?["forced"]?.boolValue ?? false, willBeForced = after?["forced"]?.boolValue ?? false
            var sql: [String] = []
            // Off before on: a change is placed before its table's policy drops when it turns RLS off,
            // and after the policy creates when it turns it on.
            if wasEnabled, !willBeEnabled { sql.append("ALTER TABLE \(table) DISABLE ROW LEVEL SECURITY") }
            if wasForced, !willBeForced { sql.append("ALTER TABLE \(table) NO FORCE ROW LEVEL SECURITY") }
            if !wasForced, willBeForced { sql.append("ALTER TABLE \(table) FORCE ROW LEVEL SECURITY") }
            if !wasEnabled, willBeEnabled { sql.append("ALTER TABLE \(table) ENABLE ROW LEVEL SECURITY") }
            return sql
        case RowLevelSecurity.policyKind:
            switch change.action {
            case .create:
                return [createPolicy(try policy(change.after, change), on: table)]
            case .delete:
                return [dropPolicy(try policy(change.before, change), on: table)]
            case .replace:
                return [dropPolicy(try policy(change.before, change), on: table), createPolicy(try policy(change.after, change), on: table)]
            case .update:
                return [alterPolicy(try policy(change.after, change), on: table)]
            }
        default:
            throw DatabaseError.other("\(change.address) is a \(change.kind) change, which the row-level security store does not apply")
        }
    }

    private static func policy(_ attributes: Attributes?, _ change: Change) throws -> RowLevelSecurity.Policy {
        let policy = try unreadable(change) { try RowLevelSecurity.Policy(attributes: attributes ?? [:]) }
        // A saved plan is a file someone could edit; its expressions get the same check as a manifest's.
        for expression in [policy.using, policy.withCheck].compactMap({ $0 }) {
            if let problem = PolicyExpressionSyntax.problem(in: expression) {
                throw DatabaseError.other("the plan's entry for \(change.address) has an expression Guardrail will not run: \(problem)")
            }
        }
        return policy
    }

    private static func unreadable<T>(_ change: Change, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw DatabaseError.other("the plan's entry for \(change.address) is unreadable: \(error)")
        }
    }

    static func createPolicy(_ policy: RowLevelSecurity.Policy, on table: String) -> String {
        var sql = "CREATE POLICY \(SQLIdentifier(policy.name)) ON \(table) AS \(policy.mode.rawValue.uppercased())"
        sql += " FOR \(policy.command.rawValue.uppercased()) TO \(SQLIdentifier.roleList(policy.roles))"
        return sql + expressions(policy)
    }

    static func alterPolicy(_ policy: RowLevelSecurity.Policy, on table: String) -> String {
        "ALTER POLICY \(SQLIdentifier(policy.name)) ON \(table) TO \(SQLIdentifier.roleList(policy.roles))" + expressions(policy)
    }

    static func dropPolicy(_ policy: RowLevelSecurity.Policy, on table: String) -> String {
        "DROP POLICY \(SQLIdentifier(policy.name)) ON \(table)"
    }

    /// ` USING (...) WITH CHECK (...)`; each expression on lines of its own so a trailing `--` comment cannot swallow the parenthesis.
    private static func expressions(_ policy: RowLevelSecurity.Policy) -> String {
        var sql = ""
        if let using = policy.using { sql += " USING (\n\(using)\n)" }
        if let check = policy.withCheck { sql += " WITH CHECK (\n\(check)\n)" }
        return sql
    }
}
