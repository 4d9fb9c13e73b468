import Foundation
import GuardrailCore
import GuardrailEngine
import GuardrailTestSupport
import Testing

/// How row-level security and grants are applied: the order of statements, what Guardrail claims,
/// all-or-nothing failure, and that names and expressions can never become other SQL.
@Suite("Row-level security apply", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct RowLevelSecurityApplyTests {
    static let setup = """
        CREATE ROLE app_{s};
        CREATE TABLE public.properties (id serial PRIMARY KEY, tenant_id uuid NOT NULL, status text);
        CREATE TABLE public.offers (id serial PRIMARY KEY, tenant_id uuid NOT NULL, amount numeric);
        """

    static func manifest(_ table: String = "public.properties", enabled: Bool = true, forced: Bool = false, policies: [String]) -> String {
        """
        apiVersion: guardrail/v1
        kind: RowLevelSecurity
        metadata: {name: \(table)}
        spec:
          enabled: \(enabled)
          forced: \(forced)
          searchPath: [public]
          policies: [\(policies.joined(separator: ", "))]

        """
    }

    static let tenantPolicy = #"{name: tenant, roles: [app_{s}], using: "tenant_id = current_setting('app.current_tenant_id')::uuid"}"#

    @Test("a new policy and ENABLE in one plan: the policy is created first, then RLS is enabled")
    func createBeforeEnable() async throws {
        try await CatalogHarness.with(Self.setup) { h in
            let plan = try await h.apply(Self.manifest(forced: true, policies: [Self.tenantPolicy]))
            #expect(plan.changes.map(\.address.description) == ["rls.public.properties.policy.tenant", "rls.public.properties"])
            #expect(plan.changes.last?.hazards.map(\.kind) == [.mayBreakQueries, .mayBreakQueries])
            #expect(try await h.flags("public.properties") == ["t", "t"])
            #expect(try await h.plan(Self.manifest(forced: true, policies: [Self.tenantPolicy])).changes.isEmpty)
        }
    }

    @Test("dropping every policy and disabling RLS: DISABLE comes first, and both need --allow-destroy")
    func disableBeforeDroppingTheLastPolicies() async throws {
        try await CatalogHarness.with(Self.setup) { h in
            try await h.apply(
                Self.manifest(policies: [Self.tenantPolicy, #"{name: extra, command: select, roles: [PUBLIC], using: "status = 'x'"}"#]))
            let off = Self.manifest(enabled: false, policies: [])
            let plan = try await h.plan(off)
            #expect(
                plan.changes.map(\.address.description) == [
                    "rls.public.properties", "rls.public.properties.policy.extra", "rls.public.properties.policy.tenant",
                ])
            #expect(plan.changes.map(\.action) == [.update, .delete, .delete])
            #expect(plan.changes.allSatisfy { $0.hazards.contains { $0.kind == .destroys } })
            await #expect(throws: Session.ApplyRefusal.self) {
                try await h.session.apply(plan, overrides: HazardOverrides(), osUser: "tester")
            }
            #expect(try await h.policies("public.properties").count == 2)
            _ = try await h.session.apply(plan, overrides: HazardOverrides(allowDestroy: true), osUser: "tester")
            #expect(try await h.flags("public.properties") == ["f", "f"])
            #expect(try await h.policies("public.properties").isEmpty)
            #expect(try await h.plan(off).changes.isEmpty)
        }
    }

    @Test("a table without a manifest is never read into a plan, even with RLS and policies of its own")
    func unmanagedTablesAreNotClaimed() async throws {
        let setup =
            Self.setup + """
                ALTER TABLE public.offers ENABLE ROW LEVEL SECURITY;
                CREATE POLICY theirs ON public.offers USING (amount > 0);
                """
        try await CatalogHarness.with(setup) { h in
            let plan = try await h.apply(Self.manifest(policies: [Self.tenantPolicy]))
            #expect(!plan.changes.contains { $0.address.description.hasPrefix("rls.public.offers") })
            #expect(plan.compared[CatalogPlan.comparedTables] == 1)
            #expect(try await h.policies("public.offers").map { $0[0] } == ["theirs"])
        }
    }

    @Test("deleting a manifest of a table Guardrail changed plans DISABLE and DROP with destroy hazards, then forgets the table")
    func deletedManifestReleasesTheTable() async throws {
        try await CatalogHarness.with(Self.setup) { h in
            let both =
                Self.manifest(policies: [Self.tenantPolicy]) + "---\n" + Self.manifest("public.offers", forced: true, policies: [Self.tenantPolicy])
            try await h.apply(both)
            #expect(
                try await h.db.rows("SELECT kind, schema_name, name FROM guardrail.managed_catalog_objects ORDER BY name")
                    == [["RowLevelSecurity", "public", "offers"], ["RowLevelSecurity", "public", "properties"]])
            let onlyProperties = Self.manifest(policies: [Self.tenantPolicy])
            let plan = try await h.plan(onlyProperties)
            #expect(plan.changes.map(\.address.description) == ["rls.public.offers", "rls.public.offers.policy.tenant"])
            #expect(plan.changes.map(\.action) == [.delete, .delete])
            #expect(plan.changes[0].hazards.map(\.kind) == [.destroys, .widensAccess])
            _ = try await h.session.apply(plan, overrides: HazardOverrides(allowDestroy: true), osUser: "tester")
            #expect(try await h.flags("public.offers") == ["f", "f"])
            #expect(try await h.policies("public.offers").isEmpty)
            #expect(try await h.plan(onlyProperties).changes.isEmpty)
            #expect(try await h.db.scalar("SELECT count(*) FROM guardrail.managed_catalog_objects WHERE name = 'offers'") == "0")
        }
    }

    @Test("deleting every RLS manifest is a mass delete, refused without --allow-mass-delete")
    func emptyPoliciesFolderIsAMassDelete() async throws {
        try await CatalogHarness.with(Self.setup) { h in
            try await h.apply(Self.manifest(policies: [Self.tenantPolicy]))
            let plan = try await h.session.plan(Configuration())
            #expect(plan.changes.first { $0.kind == RowLevelSecurity.kind }?.hazards.contains { $0.kind == .massDelete } == true)
            await #expect(throws: Session.ApplyRefusal.self) {
                try await h.session.apply(plan, overrides: HazardOverrides(allowDestroy: true), osUser: "tester")
            }
            #expect(try await h.flags("public.properties") == ["t", "f"])
        }
    }

    @Test("a statement failing part-way through an apply leaves every table's RLS, policies and grants as they were")
    func failedApplyChangesNothing() async throws {
        let setup = Self.setup + "CREATE ROLE reader_{s};"
        try await CatalogHarness.with(setup) { h in
            let yaml =
                Self.manifest(forced: true, policies: [Self.tenantPolicy])
                + "---\n" + Self.manifest("public.offers", policies: [#"{name: big, roles: [app_{s}], using: "amount > 1000"}"#])
                    + """
                    ---
                    apiVersion: guardrail/v1
                    kind: RoleGrants
                    metadata: {name: reader_{s}}
                    spec: {grants: [{tables: [public.properties, public.offers], privileges: [select]}]}

                    """
            let plan = try await h.plan(yaml)
            // The column the last policy names disappears after planning; its CREATE POLICY fails after
            // the grants, the properties policy and its ENABLE have already run.
            try await h.db.execute("ALTER TABLE public.offers DROP COLUMN amount")
            let error = await #expect(throws: DatabaseError.self) {
                try await h.session.apply(plan, overrides: HazardOverrides(), osUser: "tester")
            }
            #expect(error?.sqlState == "42703")
            #expect("\(error.map { "\($0)" } ?? "")".contains("applying rls.public.offers.policy.big"))
            #expect(try await h.flags("public.properties") == ["f", "f"])
            #expect(try await h.policies("public.properties").isEmpty)
            #expect(try await h.db.scalar("SELECT has_table_privilege('reader_\(h.suffix)', 'public.properties', 'SELECT')") == "f")
            // The failed apply was the first, so not even Guardrail's schema (and its record of managed tables) exists.
            #expect(try await h.db.scalar("SELECT to_regclass('guardrail.managed_catalog_objects') IS NULL") == "t")
        }
    }

    @Test("Postgres's own error for an unknown column or function is reported at the manifest's line at plan time, every one of them")
    func invalidExpressionsAreReportedAtTheirLines() async throws {
        try await CatalogHarness.with(Self.setup) { h in
            let yaml = """
                apiVersion: guardrail/v1
                kind: RowLevelSecurity
                metadata: {name: public.properties}
                spec:
                  searchPath: [public]
                  policies:
                    - name: typo
                      roles: [app_{s}]
                      using: tenant_idd = current_setting('app.current_tenant_id')::uuid
                      withCheck: no_such_function(tenant_id)
                ---
                apiVersion: guardrail/v1
                kind: RowLevelSecurity
                metadata: {name: public.missing_table}
                spec: {searchPath: [public]}

                """
            let error = await #expect(throws: DiagnosticError.self) { try await h.plan(yaml) }
            let lines = (error?.diagnostics ?? []).map(\.description)
            #expect(
                lines.contains {
                    $0.hasPrefix("policies/test.yaml:9:14: error: Postgres rejects the using expression of policy \"typo\" on public.properties")
                        && $0.contains("column \"tenant_idd\" does not exist (SQLSTATE 42703)")
                }, "\(lines)")
            #expect(
                lines.contains {
                    $0.hasPrefix("policies/test.yaml:10:18: error: Postgres rejects the withCheck expression")
                        && $0.contains("function no_such_function(uuid) does not exist")
                }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("policies/test.yaml:14:18: error: table public.missing_table does not exist") }, "\(lines)")
        }
    }

    @Test("a policy naming a role that neither exists nor is declared fails the plan at the roles line")
    func unknownRoleIsAPlanError() async throws {
        try await CatalogHarness.with(Self.setup) { h in
            let yaml = Self.manifest(policies: [#"{name: t, roles: [ghost_{s}], using: "true"}"#])
            let error = await #expect(throws: DiagnosticError.self) { try await h.plan(yaml) }
            #expect(error?.diagnostics.first?.summary == "role \"ghost_\(h.suffix)\" does not exist")
            #expect(error?.diagnostics.first?.location?.line == 8)
        }
    }

    @Test("a role declared by RoleGrants can be named by a policy in the same plan: the role is created first")
    func roleCreatedBeforeThePolicyNamingIt() async throws {
        try await CatalogHarness.with(Self.setup) { h in
            let yaml =
                Self.manifest(policies: [#"{name: t, roles: [fresh_{s}], using: "true"}"#]) + """
                    ---
                    apiVersion: guardrail/v1
                    kind: RoleGrants
                    metadata: {name: fresh_{s}}
                    spec: {grants: [{tables: [public.properties], privileges: [select]}]}

                    """
            let plan = try await h.apply(yaml)
            #expect(plan.changes.first?.address.description == "grants.fresh_\(h.suffix)")
            #expect(plan.changes.first?.action == .create)
            #expect(try await h.db.scalar("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'fresh_\(h.suffix)'") == "f")
            #expect(try await h.plan(yaml).changes.isEmpty)
        }
    }

    @Test("SQL in table, role and policy names is quoted and never executed; SQL breaking out of an expression is refused")
    func injectionIsQuotedOrRefused() async throws {
        let setup = Self.setup + "CREATE TABLE public.victim (x int);"
        try await CatalogHarness.with(setup) { h in
            // A table name that is SQL: just a name, which does not exist.
            let table = #"""
                apiVersion: guardrail/v1
                kind: RowLevelSecurity
                metadata: {name: 'public."x""; DROP TABLE public.victim; --"'}
                spec: {searchPath: [public]}

                """#
            let error = await #expect(throws: DiagnosticError.self) { try await h.plan(table) }
            #expect(error?.diagnostics.first?.summary == #"table public."x""; DROP TABLE public.victim; --" does not exist"#)

            // Role and policy names that are SQL: created under exactly those names.
            let role = "r\"; DROP TABLE public.victim; --_\(h.suffix)"
            let roles = #"""
                apiVersion: guardrail/v1
                kind: RoleGrants
                metadata: {name: 'r"; DROP TABLE public.victim; --_{s}'}
                spec: {grants: [{tables: [public.properties], privileges: [select]}]}
                ---
                apiVersion: guardrail/v1
                kind: RowLevelSecurity
                metadata: {name: public.properties}
                spec:
                  searchPath: [public]
                  policies:
                    - {name: 'p"; DROP TABLE public.victim; --', roles: ['r"; DROP TABLE public.victim; --_{s}'], using: "true"}

                """#
            try await h.apply(roles)
            #expect(try await h.db.scalar("SELECT count(*) FROM pg_roles WHERE rolname = '\(role.replacingOccurrences(of: "'", with: "''"))'") == "1")
            #expect(try await h.policies("public.properties").map { $0[0] } == ["p\"; DROP TABLE public.victim; --"])
            #expect(try await h.plan(roles).changes.isEmpty)

            // An expression that tries to close the USING clause never reaches Postgres.
            let breakout = Self.manifest(policies: [#"{name: t, roles: [app_{s}], using: "true) WITH CHECK (true); DROP TABLE public.victim; --"}"#])
            let refused = await #expect(throws: DiagnosticError.self) { try await h.plan(breakout) }
            #expect(refused?.diagnostics.first?.summary == "invalid using expression in policy \"t\"")
            #expect(try await h.db.scalar("SELECT to_regclass('public.victim') IS NOT NULL") == "t")
        }
    }

    @Test(
        "grants converge: schema grants expand to the schema's tables and views but not partitions, extra privileges are revoked, and login is managed"
    )
    func grantsConverge() async throws {
        let setup =
            Self.setup + """
                CREATE SCHEMA reporting;
                CREATE TABLE reporting.daily (day date);
                CREATE VIEW reporting.weekly AS SELECT day FROM reporting.daily;
                CREATE TABLE reporting.parted (day date) PARTITION BY RANGE (day);
                CREATE TABLE reporting.parted_2025 PARTITION OF reporting.parted FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
                CREATE ROLE analyst_{s} LOGIN;
                GRANT SELECT, TRUNCATE ON public.offers TO analyst_{s};
                GRANT INSERT ON public.properties TO analyst_{s};
                """
        try await CatalogHarness.with(setup) { h in
            let yaml = """
                apiVersion: guardrail/v1
                kind: RoleGrants
                metadata: {name: analyst_{s}}
                spec:
                  grants:
                    - {tables: [public.properties, public.offers], privileges: [select, update]}
                    - {schemas: [reporting], privileges: [select]}

                """
            let plan = try await h.plan(yaml)
            let change = try #require(plan.changes.first)
            #expect(change.action == .update)
            #expect(change.hazards.map(\.kind) == [.widensAccess, .mayBreakQueries, .mayBreakQueries])
            #expect(change.hazards[1].message == "revokes INSERT on public.properties")
            _ = try await h.session.apply(plan, overrides: HazardOverrides(), osUser: "tester")
            #expect(try await h.plan(yaml).changes.isEmpty)
            let privileges = try await h.db.rows(
                """
                SELECT table_schema || '.' || table_name, string_agg(privilege_type, ',' ORDER BY privilege_type)
                FROM information_schema.role_table_grants WHERE grantee = 'analyst_\(h.suffix)' GROUP BY 1 ORDER BY 1
                """)
            #expect(
                privileges == [
                    ["public.offers", "SELECT,TRUNCATE,UPDATE"], ["public.properties", "SELECT,UPDATE"],
                    ["reporting.daily", "SELECT"], ["reporting.parted", "SELECT"], ["reporting.weekly", "SELECT"],
                ])
            #expect(try await h.db.scalar("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'analyst_\(h.suffix)'") == "f")
        }
    }

    @Test("findings warn when a policy cannot bind its role: BYPASSRLS, superuser, or the owner of an unforced table")
    func findingsForRolesThePolicyDoesNotBind() async throws {
        let setup =
            Self.setup + """
                CREATE ROLE bypass_{s} BYPASSRLS;
                CREATE ROLE super_{s} SUPERUSER;
                CREATE ROLE owner_{s};
                ALTER TABLE public.offers OWNER TO owner_{s};
                """
        try await CatalogHarness.with(setup) { h in
            let yaml = Self.manifest("public.offers", policies: [#"{name: t, roles: [app_{s}, bypass_{s}, super_{s}, owner_{s}], using: "true"}"#])
            let plan = try await h.plan(yaml)
            let messages = plan.findings.map(\.message)
            #expect(messages.contains("the policy does nothing for bypass_\(h.suffix): it has BYPASSRLS"))
            #expect(messages.contains("the policy does nothing for super_\(h.suffix): superusers bypass row-level security"))
            #expect(messages.contains { $0.hasPrefix("the policy does nothing for owner_\(h.suffix): it owns public.offers") })
            #expect(!messages.contains { $0.contains("app_\(h.suffix)") })
            let forced = try await h.plan(
                Self.manifest("public.offers", forced: true, policies: [#"{name: t, roles: [app_{s}, owner_{s}], using: "true"}"#]))
            #expect(forced.findings.isEmpty)
        }
    }

    @Test("a saved plan is refused when a policy it touches was changed by someone else since, naming the policy")
    func stalePolicyPlanIsRefused() async throws {
        try await CatalogHarness.with(Self.setup) { h in
            try await h.apply(Self.manifest(policies: [Self.tenantPolicy]))
            let plan = try await h.plan(Self.manifest(policies: [#"{name: tenant, roles: [PUBLIC], using: "tenant_id IS NOT NULL"}"#]))
            #expect(plan.changes.map(\.address.description) == ["rls.public.properties.policy.tenant"])
            try await h.db.execute("ALTER POLICY tenant ON public.properties USING (tenant_id IS NULL)")
            let error = await #expect(throws: Session.ApplyRefusal.self) {
                try await h.session.apply(plan, overrides: HazardOverrides(), osUser: "tester")
            }
            #expect(
                "\(error.map { "\($0)" } ?? "")".contains("rls.public.properties.policy.tenant existed when the plan was made and has since changed"))
            #expect(try await h.policies("public.properties").first?[4] == "(tenant_id IS NULL)")
        }
    }

    @Test("planning row-level security and grants needs only SELECT and TEMP, as CI's read-only role has, and leaves nothing behind")
    func planWorksWithAReadOnlyRole() async throws {
        try await CatalogHarness.with(Self.setup) { h in
            let yaml =
                Self.manifest(policies: [Self.tenantPolicy]) + """
                    ---
                    apiVersion: guardrail/v1
                    kind: RoleGrants
                    metadata: {name: app_{s}}
                    spec: {grants: [{tables: [public.properties], privileges: [select]}]}

                    """
            try await h.apply(yaml)
            let reader = "ro_\(h.suffix)"
            try await h.db.execute(
                """
                CREATE ROLE \(reader) LOGIN PASSWORD 'ro-secret';
                GRANT CONNECT, TEMPORARY ON DATABASE \(h.db.name) TO \(reader);
                GRANT USAGE ON SCHEMA guardrail TO \(reader);
                GRANT SELECT ON ALL TABLES IN SCHEMA guardrail TO \(reader);
                GRANT SELECT ON public.properties TO \(reader);
                """)
            var url = h.db.url
            url.user = reader
            url.password = Secret("ro-secret")
            let session = try await Session.open(
                ResolvedEnvironment(name: "local", database: Database(url: url, schema: "guardrail")), applicationName: "ci")
            let plan: Plan
            do {
                plan = try await session.plan(try h.configuration(yaml))
                await session.close()
            } catch {
                await session.close()
                throw error
            }
            #expect(plan.changes.isEmpty, "\(plan.changes.map(\.address))")
            #expect(try await h.db.scalar("SELECT count(*) FROM pg_class WHERE relpersistence = 't'") == "0")
            try await h.db.execute("DROP OWNED BY \(reader); DROP ROLE \(reader)")
        }
    }
}
