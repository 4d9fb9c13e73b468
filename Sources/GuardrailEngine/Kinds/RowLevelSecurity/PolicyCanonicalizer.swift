import Crypto
import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// Rewrites desired policy expressions into the text Postgres itself would store for them.
///
/// Postgres does not keep a policy's expression as written: it parses it under the search_path of
/// the moment, resolves every name and cast, and prints it back from the parse tree. Comparing
/// manifest text with catalog text would never settle. So, in a transaction that is always rolled
/// back, the canonicalizer:
///
/// 1. sets search_path to the manifest's `searchPath`, with `pg_temp` last so a scratch table never
///    shadows the real one in a subquery;
/// 2. creates a temporary table with the real table's name, `(LIKE schema.table)`, so qualified
///    column references (`properties.tenant_id`) and dropped columns behave as on the real table
///    (partitioned, so that it has no storage to create);
/// 3. creates one policy per distinct expression on it;
/// 4. reads each back with `pg_get_expr` under `search_path = ''`, exactly as live policies are read.
///
/// All of this runs in one call of a temporary plpgsql function, with the statements passed as bound
/// arrays: four round trips whatever the number of policies. Each statement runs in its own
/// exception block, so every invalid expression is reported with Postgres's own message, not just
/// the first.
enum PolicyCanonicalizer {
    struct Result: Sendable {
        var tables: [RowLevelSecurity]
        var diagnostics: [Diagnostic]
    }

    static func canonicalize(
        _ desired: [RowLevelSecurity], facts: [QualifiedName: CatalogState.TableFacts], locations: SourceLocations,
        on connection: DatabaseConnection, logger: Logger, cache: Cache? = nil
    ) async throws -> Result {
        let work = Work(desired, facts: facts)
        guard !work.expressions.isEmpty else { return Result(tables: desired, diagnostics: []) }
        let key = cache.map { _ in work.cacheKey(facts: facts) }
        if let cache, let key, let rows = cache.value(for: key) {
            return work.finish(rows, locations: locations)
        }
        let rows: [Row]
        do {
            try await connection.query("BEGIN", logger: logger)
        } catch {
            throw DatabaseError.wrap(error, context: "starting the scratch transaction for policy expressions")
        }
        do {
            try await connection.query(PostgresQuery(unsafeSQL: functionDefinition), logger: logger)
            let result = try await connection.query(
                """
                SELECT o_table, o_expr, o_canonical, o_state, o_message, o_detail, o_hint
                FROM pg_temp.guardrail_canonicalize(\(work.tableNames)::text[], \(work.tablePaths)::text[], \(work.tableSetup)::text[],
                                                    \(work.tableTeardown)::text[], \(work.expressionTable)::integer[], \(work.expressionSQL)::text[])
                """, logger: logger)
            var collected: [Row] = []
            for row in try result.decode((Int, Int?, String?, String?, String?, String?, String?).self) {
                collected.append(Row(table: row.0, expression: row.1, canonical: row.2, sqlState: row.3, message: row.4, detail: row.5, hint: row.6))
            }
            rows = collected
            try await connection.query("ROLLBACK", logger: logger)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw DatabaseError.wrap(error, context: "canonicalizing policy expressions")
        }
        if let cache, let key { cache.store(rows, for: key) }
        return work.finish(rows, locations: locations)
    }

    /// The scratch transaction's answers, kept while its inputs stay the same: every statement it
    /// runs and, for each table copied, the live table's oid and columns. A controller re-plans every
    /// few seconds with the same manifests; this keeps those plans from redoing 200 policies' DDL.
    /// Entries expire after `maxAge`, so a change the key cannot see (a function an expression
    /// calls, moved to another schema) is picked up within that time.
    typealias Cache = ObservationCache<[Row]>
    static let cacheMaxAge: Duration = .seconds(600)

    struct Row: Sendable {
        var table: Int
        var expression: Int?
        var canonical: String?
        var sqlState: String?
        var message: String?
        var detail: String?
        var hint: String?
    }

    /// The scratch statements for a set of tables, numbered 1-based as plpgsql arrays are.
    struct Work {
        var desired: [RowLevelSecurity]
        var tableNames: [String] = [], tablePaths: [String] = [], tableSetup: [String] = [], tableTeardown: [String] = []
        var expressionTable: [Int] = [], expressionSQL: [String] = []
        /// The source text of each expression, by 1-based index.
        var expressions: [String] = []
        /// Expression index by table index and text, so a text used twice on a table is canonicalized once.
        var index: [Int: [String: Int]] = [:]

        init(_ desired: [RowLevelSecurity], facts: [QualifiedName: CatalogState.TableFacts] = [:]) {
            self.desired = desired
            for (offset, rls) in desired.enumerated() {
                let t = offset + 1
                let texts = rls.policies.flatMap { [$0.using, $0.withCheck].compactMap { $0 } }
                guard !texts.isEmpty else { continue }
                let scratch = SQLIdentifier(rls.table.name).quoted
                tableNames.append(rls.table.name)
                tablePaths.append(SQLIdentifier.searchPath(rls.searchPath))
                // Partitioned, the copy has no storage (no file, no TOAST table), which makes it several
                // times cheaper; any column works as the key through `IS NULL`, which is always boolean.
                var setup = "CREATE TEMPORARY TABLE \(scratch) (LIKE \(SQLIdentifier.qualified(rls.table)))"
                if let column = facts[rls.table]?.firstColumn { setup += " PARTITION BY LIST ((\(SQLIdentifier(column).quoted) IS NULL))" }
                tableSetup.append(setup)
                // Two manifests' tables can share a name in different schemas; the scratch copy of
                // the first must be gone before the second is made.
                let reused = desired[(offset + 1)...].contains { $0.table.name == rls.table.name }
                tableTeardown.append(reused ? "DROP TABLE pg_temp.\(scratch)" : "")
                let tableIndex = tableNames.count
                for text in texts where index[t]?[text] == nil {
                    expressions.append(text)
                    let e = expressions.count
                    index[t, default: [:]][text] = e
                    expressionTable.append(tableIndex)
                    expressionSQL.append("CREATE POLICY \(SQLIdentifier(String(e)).quoted) ON pg_temp.\(scratch) USING (\n\(text)\n)")
                }
            }
        }

        /// A digest of everything the scratch transaction depends on that Guardrail can see.
        func cacheKey(facts: [QualifiedName: CatalogState.TableFacts]) -> String {
            var hasher = SHA256()
            func add(_ parts: [String]) {
                for part in parts {
                    hasher.update(data: Array(part.utf8))
                    hasher.update(data: [0])
                }
                hasher.update(data: [1])
            }
            add(tableNames); add(tablePaths); add(tableSetup); add(tableTeardown)
            add(expressionTable.map(String.init)); add(expressionSQL)
            add(desired.map { facts[$0.table]?.columns ?? "-" })
            return Hex.string(hasher.finalize())
        }

        /// Applies canonical texts to the desired tables, or reports what Postgres rejected.
        func finish(_ rows: [Row], locations: SourceLocations) -> Result {
            var canonical: [Int: String] = [:]
            var expressionErrors: [Int: Row] = [:]
            var tableErrors: [Int: Row] = [:]
            for row in rows {
                if row.sqlState != nil {
                    if let e = row.expression { expressionErrors[e] = row } else { tableErrors[row.table] = row }
                } else if let e = row.expression, let text = row.canonical {
                    canonical[e] = text
                }
            }
            // Scratch tables are numbered among the tables that have expressions; map back to manifests.
            var scratchIndex: [Int: Int] = [:]
            var n = 0
            for (offset, rls) in desired.enumerated() where rls.policies.contains(where: { $0.using != nil || $0.withCheck != nil }) {
                n += 1
                scratchIndex[offset + 1] = n
            }
            var diagnostics: [Diagnostic] = []
            var tables = desired
            for (offset, rls) in desired.enumerated() {
                let t = offset + 1
                if let s = scratchIndex[t], let error = tableErrors[s] {
                    diagnostics.append(
                        .error(
                            "Postgres cannot copy \(rls.table) to check its policy expressions",
                            detail: Self.describe(error), at: locations[rls.address]))
                    continue
                }
                for (p, policy) in rls.policies.enumerated() {
                    for (key, text, location) in [
                        ("using", policy.using, policy.source.using), ("withCheck", policy.withCheck, policy.source.withCheck),
                    ] {
                        guard let text, let e = index[t]?[text] else { continue }
                        if let error = expressionErrors[e] {
                            diagnostics.append(
                                .error(
                                    "Postgres rejects the \(key) expression of policy \"\(policy.name)\" on \(rls.table)",
                                    detail: Self.describe(error), at: location ?? locations[rls.address]))
                        } else if let form = canonical[e] {
                            if key == "using" { tables[offset].policies[p].using = form } else { tables[offset].policies[p].withCheck = form }
                        } else {
                            diagnostics.append(
                                .error(
                                    "Postgres returned no canonical form for the \(key) expression of policy \"\(policy.name)\" on \(rls.table)",
                                    detail: "This is a bug in Guardrail; the expression was: \(text)", at: location))
                        }
                    }
                }
            }
            return Result(tables: tables, diagnostics: diagnostics)
        }

        static func describe(_ row: Row) -> String {
            var text = "\(row.message ?? "unknown error") (SQLSTATE \(row.sqlState ?? "?"))."
            if let detail = row.detail, !detail.isEmpty { text += "\n\(detail)" }
            if let hint = row.hint, !hint.isEmpty { text += "\nhint: \(hint)" }
            return text
        }
    }

    /// The scratch function. Static text: everything variable reaches it as a bound array.
    static let functionDefinition = """
        CREATE FUNCTION pg_temp.guardrail_canonicalize(
            table_names text[], table_paths text[], table_setup text[], table_teardown text[],
            expr_table integer[], expr_sql text[])
        RETURNS TABLE (o_table integer, o_expr integer, o_canonical text, o_state text, o_message text, o_detail text, o_hint text)
        LANGUAGE plpgsql AS $guardrail_canonicalize$
        DECLARE
            t integer;
            e integer := 1;
            n_expr integer := coalesce(pg_catalog.array_length(expr_table, 1), 0);
            rel oid;
            st text; msg text; det text; hnt text;
        BEGIN
            PERFORM pg_catalog.set_config('standard_conforming_strings', 'on', true);
            FOR t IN 1 .. coalesce(pg_catalog.array_length(table_names, 1), 0) LOOP
                PERFORM pg_catalog.set_config('search_path', table_paths[t], true);
                BEGIN
                    EXECUTE table_setup[t];
                EXCEPTION WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
                    o_table := t; o_expr := NULL; o_canonical := NULL; o_state := st; o_message := msg; o_detail := det; o_hint := hnt;
                    RETURN NEXT;
                    WHILE e <= n_expr AND expr_table[e] = t LOOP e := e + 1; END LOOP;
                    CONTINUE;
                END;
                SELECT c.oid INTO rel FROM pg_catalog.pg_class c
                 WHERE c.relname = table_names[t] AND c.relnamespace = pg_catalog.pg_my_temp_schema();
                WHILE e <= n_expr AND expr_table[e] = t LOOP
                    BEGIN
                        EXECUTE expr_sql[e];
                    EXCEPTION WHEN OTHERS THEN
                        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
                        o_table := t; o_expr := e; o_canonical := NULL; o_state := st; o_message := msg; o_detail := det; o_hint := hnt;
                        RETURN NEXT;
                    END;
                    e := e + 1;
                END LOOP;
                PERFORM pg_catalog.set_config('search_path', '', true);
                RETURN QUERY
                    SELECT t, p.polname::text::integer, pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                           NULL::text, NULL::text, NULL::text, NULL::text
                    FROM pg_catalog.pg_policy p WHERE p.polrelid = rel;
                IF table_teardown[t] <> '' THEN
                    EXECUTE table_teardown[t];
                END IF;
            END LOOP;
        END
        $guardrail_canonicalize$
        """
}
