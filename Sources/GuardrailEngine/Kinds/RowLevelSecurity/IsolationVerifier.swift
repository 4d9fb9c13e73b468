import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// Proves tenant isolation by trying to break it: as each application role, acting for tenant A,
/// it reads, inserts, moves, updates and deletes rows of tenant B.
///
/// Everything happens in one transaction that is always rolled back. For each table it first
/// inserts one row for tenant A and one for tenant B as the connecting user (which must bypass
/// row-level security: a superuser or a BYPASSRLS role), so a leak has something to show. Then, for
/// each role, in a savepoint: `SET LOCAL ROLE`, set the tenant setting to A, and run the checks.
/// A rejected write (row-level security or a missing privilege) and an invisible row are isolation;
/// a visible or writable row of B is a leak; any other error means the check could not run.
public enum IsolationVerifier {
    public struct Options: Sendable {
        public var tables: [QualifiedName]
        public var roles: [String]
        public var tenantColumn: String
        public var setting: String
        public var tenantA: String
        public var tenantB: String

        public init(
            tables: [QualifiedName], roles: [String], tenantColumn: String = "tenant_id",
            setting: String = "app.current_tenant_id", tenantA: String, tenantB: String
        ) {
            self.tables = tables
            self.roles = roles
            self.tenantColumn = tenantColumn
            self.setting = setting
            self.tenantA = tenantA
            self.tenantB = tenantB
        }
    }

    public enum Outcome: String, Sendable {
        /// The role could not see or write the other tenant's rows.
        case isolated
        /// The role saw or wrote a row of the other tenant.
        case leak = "LEAK"
        /// The check did not apply (the table has no tenant column).
        case skipped
        /// The check could not run; isolation is unproven.
        case failed = "could not check"
    }

    public struct Check: Sendable {
        public var table: QualifiedName
        public var role: String
        public var name: String
        public var outcome: Outcome
        public var detail: String
    }

    public struct Report: Sendable {
        public var checks: [Check]
        public var leaks: Int { checks.filter { $0.outcome == .leak }.count }
        public var failures: Int { checks.filter { $0.outcome == .failed }.count }
        public var proven: Bool { leaks == 0 && failures == 0 }
    }

    struct Column: Sendable {
        var name: String
        var category: String
        var typeName: String
        var required: Bool
        var firstEnumLabel: String?
    }

    static func verify(_ options: Options, on c: DatabaseConnection, logger: Logger) async throws -> Report {
        try await c.query("BEGIN", logger: logger)
        do {
            let report = try await run(options, on: c, logger: logger)
            try await c.query("ROLLBACK", logger: logger)
            return report
        } catch {
            _ = try? await c.query("ROLLBACK", logger: logger)
            throw DatabaseError.wrap(error, context: "verifying tenant isolation")
        }
    }

    private static func run(_ options: Options, on c: DatabaseConnection, logger: Logger) async throws -> Report {
        try await c.query("SELECT pg_catalog.set_config('search_path', '', true)", logger: logger)
        let columns = try await observeColumns(options.tables, on: c, logger: logger)
        var checks: [Check] = []
        for table in options.tables {
            let cols = columns[table] ?? []
            guard cols.contains(where: { $0.name == options.tenantColumn }) else {
                checks.append(
                    Check(
                        table: table, role: "-", name: "tenant column", outcome: .skipped,
                        detail: cols.isEmpty ? "the table does not exist" : "no \(options.tenantColumn) column"))
                continue
            }
            let fixture = Fixture(table: table, columns: cols, tenantColumn: options.tenantColumn)
            // The connecting user writes one row per tenant; it must not be subject to the policies,
            // and row_security = off makes Postgres say so instead of filtering silently.
            try await c.query("SAVEPOINT guardrail_fixture", logger: logger)
            do {
                try await c.query("SELECT pg_catalog.set_config('row_security', 'off', true)", logger: logger)
                for tenant in [options.tenantA, options.tenantB] {
                    try await c.query(fixture.insert(tenant: tenant), logger: logger)
                }
                try await c.query("SELECT pg_catalog.set_config('row_security', 'on', true)", logger: logger)
                try await c.query("RELEASE SAVEPOINT guardrail_fixture", logger: logger)
            } catch {
                try await c.query("ROLLBACK TO SAVEPOINT guardrail_fixture", logger: logger)
                checks.append(
                    Check(
                        table: table, role: "-", name: "test rows", outcome: .failed,
                        detail:
                            "could not insert a row per tenant as the connecting user: \(message(error)). Run verify as a superuser or a BYPASSRLS role."
                    ))
                continue
            }
            for role in options.roles {
                checks += try await checkRole(role, table: table, fixture: fixture, options: options, on: c, logger: logger)
            }
        }
        checks += try await checkPartitions(options, on: c, logger: logger)
        return Report(checks: checks)
    }

    /// A partition queried directly is governed by its own row-level security, not its parent's: a
    /// role with privileges on a partition that has none reads and writes every tenant's rows there.
    private static func checkPartitions(_ options: Options, on c: DatabaseConnection, logger: Logger) async throws -> [Check] {
        let rows = try await c.query(
            """
            SELECT n.nspname::text, cl.relname::text, pn.nspname::text, pc.relname::text, pc.relrowsecurity, r.role,
                   ARRAY(SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS p
                         WHERE pg_catalog.has_table_privilege(r.role, pc.oid, p))
            FROM unnest(\(options.tables.map(\.schema))::text[], \(options.tables.map(\.name))::text[]) AS want(schema_name, table_name)
            JOIN pg_catalog.pg_namespace n ON n.nspname = want.schema_name
            JOIN pg_catalog.pg_class cl ON cl.relnamespace = n.oid AND cl.relname = want.table_name AND cl.relkind = 'p'
            CROSS JOIN LATERAL pg_catalog.pg_partition_tree(cl.oid) AS tree
            JOIN pg_catalog.pg_class pc ON pc.oid = tree.relid AND pc.oid <> cl.oid
            JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
            CROSS JOIN unnest(\(options.roles)::text[]) AS r(role)
            WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles x WHERE x.rolname = r.role)
            ORDER BY 1, 2, 3, 4, 6
            """, logger: logger)
        var checks: [Check] = []
        for (_, parent, schema, name, secured, role, privileges) in try rows.decode((String, String, String, String, Bool, String, [String]).self) {
            let partition = QualifiedName(schema: schema, name: name)
            let check = "partition of \(IdentifierSyntax.display(parent)) used directly"
            if privileges.isEmpty {
                checks.append(Check(table: partition, role: role, name: check, outcome: .isolated, detail: "no privileges on the partition"))
            } else if secured {
                checks.append(
                    Check(
                        table: partition, role: role, name: check, outcome: .isolated,
                        detail: "\(privileges.joined(separator: ", ")) granted, under the partition's own row-level security"))
            } else {
                checks.append(
                    Check(
                        table: partition, role: role, name: check, outcome: .leak,
                        detail: "\(privileges.joined(separator: ", ")) granted on a partition without row-level security"))
            }
        }
        return checks
    }

    private static func checkRole(
        _ role: String, table: QualifiedName, fixture: Fixture, options: Options,
        on c: DatabaseConnection, logger: Logger
    ) async throws -> [Check] {
        try await c.query("SAVEPOINT guardrail_role", logger: logger)
        var checks: [Check] = []
        func check(_ name: String, _ outcome: Outcome, _ detail: String) {
            checks.append(Check(table: table, role: role, name: name, outcome: outcome, detail: detail))
        }
        do {
            try await c.query("SET LOCAL ROLE \(SQLIdentifier(role))", logger: logger)
            try await c.query("SELECT pg_catalog.set_config(\(options.setting), \(options.tenantA), true)", logger: logger)
        } catch {
            try await c.query("ROLLBACK TO SAVEPOINT guardrail_role", logger: logger)
            return [Check(table: table, role: role, name: "act as role", outcome: .failed, detail: message(error))]
        }
        let t = SQLIdentifier.Qualified(table), col = SQLIdentifier(options.tenantColumn)
        let a = options.tenantA, b = options.tenantB

        // Reading: no row of any tenant but A may be visible. A's own test row should be.
        var own = 0
        switch try await attempt(
            on: c, logger: logger,
            {
                let rows = try await c.query(
                    """
                    SELECT count(*) FILTER (WHERE \(col)::text IS DISTINCT FROM \(a)), count(*) FILTER (WHERE \(col)::text = \(a))
                    FROM \(t)
                    """, logger: logger)
                var other = 0
                for (n, mine) in try rows.decode((Int, Int).self) { other = n; own = mine }
                return other
            })
        {
        case .value(let n):
            n == 0
                ? check("read other tenants' rows", .isolated, "none visible; \(own) of tenant A's visible")
                : check("read other tenants' rows", .leak, "\(n) row\(n == 1 ? "" : "s") of other tenants visible")
        case .rejected(let why): check("read other tenants' rows", .isolated, why)
        case .error(let why): check("read other tenants' rows", .failed, why)
        }
        // Inserting a row for B.
        switch try await attempt(
            on: c, logger: logger,
            {
                try await c.query(fixture.insert(tenant: b), logger: logger); return 1
            })
        {
        case .value: check("insert a row for tenant B", .leak, "the insert succeeded")
        case .rejected(let why): check("insert a row for tenant B", .isolated, why)
        case .error(let why): check("insert a row for tenant B", .failed, why)
        }
        // Moving A's row to B.
        switch try await attempt(
            on: c, logger: logger,
            {
                try await count(
                    c,
                    """
                    WITH u AS (UPDATE \(t) SET \(col) = (pg_catalog.json_populate_record(NULL::\(t), \(fixture.tenantJSON(b))::json)).\(col)
                               WHERE \(col)::text = \(a) RETURNING 1)
                    SELECT count(*) FROM u
                    """, logger: logger)
            })
        {
        case .value(let n):
            n == 0
                ? check("move a row to tenant B", .isolated, "no row of tenant A visible to move")
                : check("move a row to tenant B", .leak, "\(n) row\(n == 1 ? "" : "s") moved to tenant B")
        case .rejected(let why): check("move a row to tenant B", .isolated, why)
        case .error(let why): check("move a row to tenant B", .failed, why)
        }
        // Updating and deleting B's rows.
        let writes: [(String, String, PostgresQuery)] = [
            (
                "update tenant B's rows", "updated",
                "WITH u AS (UPDATE \(t) SET \(col) = \(col) WHERE \(col)::text = \(b) RETURNING 1) SELECT count(*) FROM u"
            ),
            (
                "delete tenant B's rows", "deleted",
                "WITH d AS (DELETE FROM \(t) WHERE \(col)::text = \(b) RETURNING 1) SELECT count(*) FROM d"
            ),
        ]
        for (name, verb, query) in writes {
            switch try await attempt(on: c, logger: logger, { try await count(c, query, logger: logger) }) {
            case .value(let n): n == 0 ? check(name, .isolated, "no rows \(verb)") : check(name, .leak, "\(n) row\(n == 1 ? "" : "s") \(verb)")
            case .rejected(let why): check(name, .isolated, why)
            case .error(let why): check(name, .failed, why)
            }
        }
        try await c.query("ROLLBACK TO SAVEPOINT guardrail_role", logger: logger)
        return checks
    }

    enum Attempt {
        case value(Int)
        /// Postgres refused: row-level security or a missing privilege.
        case rejected(String)
        case error(String)
    }

    /// Runs one check in a savepoint that is always rolled back, so checks never see each other's writes.
    private static func attempt(on c: DatabaseConnection, logger: Logger, _ body: () async throws -> Int) async throws -> Attempt {
        try await c.query("SAVEPOINT guardrail_check", logger: logger)
        let result: Attempt
        do {
            result = .value(try await body())
        } catch {
            let wrapped = DatabaseError.wrap(error, context: "check")
            if let db = wrapped as? DatabaseError, case .server(let state, let text, _, _, _) = db, state == "42501" {
                result = .rejected(text.contains("row-level security") ? "rejected by row-level security" : "rejected: \(text)")
            } else {
                result = .error(message(error))
            }
        }
        try await c.query("ROLLBACK TO SAVEPOINT guardrail_check", logger: logger)
        return result
    }

    private static func count(_ c: DatabaseConnection, _ query: PostgresQuery, logger: Logger) async throws -> Int {
        let rows = try await c.query(query, logger: logger)
        for (n) in try rows.decode(Int.self) { return n }
        return 0
    }

    private static func message(_ error: any Error) -> String {
        let wrapped = DatabaseError.wrap(error, context: "check")
        if let db = wrapped as? DatabaseError, case .server(let state, let text, _, _, _) = db { return "\(text) (SQLSTATE \(state))" }
        return "\(wrapped)"
    }

    private static func observeColumns(_ tables: [QualifiedName], on c: DatabaseConnection, logger: Logger) async throws -> [QualifiedName: [Column]]
    {
        let rows = try await c.query(
            """
            SELECT n.nspname::text, cl.relname::text, a.attname::text, t.typcategory::text, coalesce(bt.typname, t.typname)::text,
                   a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = '',
                   (SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = coalesce(bt.oid, t.oid) ORDER BY e.enumsortorder LIMIT 1)
            FROM unnest(\(tables.map(\.schema))::text[], \(tables.map(\.name))::text[]) AS want(schema_name, table_name)
            JOIN pg_catalog.pg_namespace n ON n.nspname = want.schema_name
            JOIN pg_catalog.pg_class cl ON cl.relnamespace = n.oid AND cl.relname = want.table_name
            JOIN pg_catalog.pg_attribute a ON a.attrelid = cl.oid AND a.attnum > 0 AND NOT a.attisdropped
            JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype AND t.typtype = 'd'
            ORDER BY 1, 2, a.attnum
            """, logger: logger)
        var result: [QualifiedName: [Column]] = [:]
        for (schema, table, name, category, typeName, required, label) in try rows.decode(
            (String, String, String, String, String, Bool, String?).self)
        {
            result[QualifiedName(schema: schema, name: table), default: []].append(
                Column(name: name, category: category, typeName: typeName, required: required, firstEnumLabel: label))
        }
        return result
    }

    /// The test row for a tenant: the tenant column, plus a plausible value for every column that
    /// needs one (NOT NULL without a default), given as JSON and typed by `json_populate_record`.
    struct Fixture: Sendable {
        var table: QualifiedName
        var columns: [Column]
        var tenantColumn: String

        var filled: [Column] { columns.filter { $0.name == tenantColumn || $0.required } }

        func json(tenant: String) -> String {
            var fields: [String] = []
            for column in filled {
                let value = column.name == tenantColumn ? AttributeValue.jsonQuote(tenant) : Self.sample(column)
                fields.append(AttributeValue.jsonQuote(column.name) + ":" + value)
            }
            return "{" + fields.joined(separator: ",") + "}"
        }

        func tenantJSON(_ tenant: String) -> String {
            "{" + AttributeValue.jsonQuote(tenantColumn) + ":" + AttributeValue.jsonQuote(tenant) + "}"
        }

        func insert(tenant: String) -> PostgresQuery {
            let t = SQLIdentifier.Qualified(table)
            let names = filled.map { SQLIdentifier($0.name) }
            return "INSERT INTO \(t) (\(names)) SELECT \(names) FROM pg_catalog.json_populate_record(NULL::\(t), \(json(tenant: tenant))::json)"
        }

        static func sample(_ column: Column) -> String {
            switch column.typeName {
            case "uuid": return AttributeValue.jsonQuote(UUID().uuidString.lowercased())
            case "json", "jsonb": return "{}"
            case "date": return "\"2025-06-01\""
            case "timestamp", "timestamptz": return "\"2025-06-01T00:00:00Z\""
            case "time", "timetz": return "\"12:00:00\""
            case "interval": return "\"1 hour\""
            case "bool": return "false"
            default: break
            }
            switch column.category {
            case "S": return AttributeValue.jsonQuote("gv-" + String(UUID().uuidString.prefix(6)).lowercased())
            case "N": return String(Int.random(in: 1...1_000_000))
            case "A": return "[]"
            case "E": return AttributeValue.jsonQuote(column.firstEnumLabel ?? "")
            default: return "null"
            }
        }
    }
}
