import Foundation
import GuardrailCore
import GuardrailEngine
import GuardrailTestSupport
import Testing

/// Apply, then plan again: the second plan is empty. Each case is one that naive tools get wrong
/// because Postgres stores something other than what was written.
@Suite("Row-level security convergence", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct RowLevelSecurityConvergenceTests {
    static let tenantTable = """
        CREATE ROLE app_{s};
        CREATE TABLE public.properties (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL,
            owner_name text,
            list_price numeric(12, 2),
            status text NOT NULL DEFAULT 'open',
            created_at timestamptz NOT NULL DEFAULT now()
        );
        """

    /// Applies `yaml`, then checks that a fresh plan is empty; returns the applied plan.
    @discardableResult
    func converges(_ h: CatalogHarness, _ yaml: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) async throws -> Plan {
        let applied = try await h.apply(yaml)
        let again = try await h.plan(yaml)
        #expect(
            again.changes.isEmpty, "plan after apply: \(again.changes.map { "\($0.action) \($0.address) \($0.changedAttributes)" })",
            sourceLocation: sourceLocation)
        return applied
    }

    static func manifest(
        table: String = "public.properties", enabled: Bool = true, forced: Bool = false,
        searchPath: String = "[public]", policies: String
    ) -> String {
        let indented = policies.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n")
        return """
            apiVersion: guardrail/v1
            kind: RowLevelSecurity
            metadata: {name: '\(table)'}
            spec:
              enabled: \(enabled)
              forced: \(forced)
              searchPath: \(searchPath)
              policies:
            \(indented)
            """
    }

    @Test("casts written the short way (::uuid, ::numeric, interval literals) converge")
    func castsConverge() async throws {
        try await CatalogHarness.with(Self.tenantTable) { h in
            let plan = try await converges(
                h,
                Self.manifest(
                    policies: """
                        - name: tenant_isolation
                          roles: [app_{s}]
                          using: tenant_id = current_setting('app.current_tenant_id')::uuid
                          withCheck: tenant_id = current_setting('app.current_tenant_id')::UUID AND list_price >= 0
                        - name: recent_and_cheap
                          command: select
                          roles: [app_{s}]
                          using: created_at > now() - interval '30 days' and list_price < 1e6 and status::text = 'open'
                        """))
            #expect(plan.changes.map(\.address.description).contains("rls.public.properties.policy.tenant_isolation"))
            let stored = try await h.policies("public.properties")
            #expect(stored.first { $0[0] == "tenant_isolation" }?[4] == "(tenant_id = (current_setting('app.current_tenant_id'::text))::uuid)")
        }
    }

    @Test("functions and operators resolved through searchPath converge, and the catalog holds them schema-qualified")
    func searchPathDependentNamesConverge() async throws {
        let setup =
            Self.tenantTable + """
                CREATE SCHEMA sec;
                CREATE FUNCTION sec.current_tenant() RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT current_setting('app.current_tenant_id')::uuid $$;
                CREATE TABLE sec.memberships (tenant_id uuid NOT NULL, role_name text NOT NULL);
                """
        try await CatalogHarness.with(setup) { h in
            try await converges(
                h,
                Self.manifest(
                    searchPath: "[sec, public]",
                    policies: """
                        - name: tenant_isolation
                          roles: [app_{s}]
                          using: tenant_id = current_tenant() AND EXISTS (SELECT 1 FROM memberships m WHERE m.tenant_id = properties.tenant_id AND m.role_name = current_user)
                        """))
            let stored = try await h.policies("public.properties")
            let using = stored.first?[4] ?? ""
            #expect(using.contains("sec.current_tenant()"), "\(using)")
            #expect(using.contains("FROM sec.memberships m"), "\(using)")
        }
    }

    @Test("a qualified reference to the table's own name and a self-join resolve to the real table, not the scratch copy")
    func selfReferencesConverge() async throws {
        try await CatalogHarness.with(Self.tenantTable) { h in
            try await converges(
                h,
                Self.manifest(
                    policies: """
                        - name: same_owner
                          command: select
                          roles: [app_{s}]
                          using: EXISTS (SELECT 1 FROM properties p2 WHERE p2.owner_name = properties.owner_name AND p2.tenant_id = current_setting('app.current_tenant_id')::uuid)
                        """))
            let using = try await h.policies("public.properties").first?[4] ?? ""
            #expect(using.contains("FROM public.properties p2"), "\(using)")
            #expect(!using.contains("pg_temp"), "\(using)")
        }
    }

    @Test("PUBLIC, and roles listed out of order, compare as sets")
    func publicAndRoleOrderConverge() async throws {
        let setup = Self.tenantTable + "CREATE ROLE zeta_{s}; CREATE ROLE alpha_{s};"
        try await CatalogHarness.with(setup) { h in
            try await converges(
                h,
                Self.manifest(
                    policies: """
                        - {name: everyone, command: select, roles: [PUBLIC], using: "status = 'open'"}
                        - {name: some, command: select, roles: [zeta_{s}, alpha_{s}, app_{s}], using: "status = 'closed'"}
                        """))
            let stored = try await h.policies("public.properties")
            #expect(stored.map { $0[3] } == ["PUBLIC", "alpha_\(h.suffix),app_\(h.suffix),zeta_\(h.suffix)"])
            // Reordering the roles in the manifest is still no change.
            let reordered = try await h.plan(
                Self.manifest(
                    policies: """
                        - {name: everyone, command: select, roles: [public], using: "status = 'open'"}
                        - {name: some, command: select, roles: [app_{s}, alpha_{s}, zeta_{s}], using: "status = 'closed'"}
                        """))
            #expect(reordered.changes.isEmpty)
        }
    }

    @Test("a NULL WITH CHECK and an explicit copy of USING are different policies, and each converges")
    func nullWithCheckDiffersFromExplicitCopy() async throws {
        try await CatalogHarness.with(Self.tenantTable) { h in
            let implicit = Self.manifest(
                policies: """
                    - {name: t, roles: [app_{s}], using: "tenant_id = current_setting('app.current_tenant_id')::uuid"}
                    """)
            let explicit = Self.manifest(
                policies: """
                    - {name: t, roles: [app_{s}], using: "tenant_id = current_setting('app.current_tenant_id')::uuid",
                       withCheck: "tenant_id = current_setting('app.current_tenant_id')::uuid"}
                    """)
            try await converges(h, implicit)
            #expect(try await h.policies("public.properties").first?[5] == nil)
            let change = try await h.plan(explicit)
            #expect(change.changes.map(\.action) == [.update])
            #expect(change.changes.first?.changedAttributes == ["with_check"])
            try await converges(h, explicit)
            #expect(try await h.policies("public.properties").first?[5] != nil)
            // Going back needs a drop and create: ALTER POLICY cannot remove a WITH CHECK.
            let back = try await converges(h, implicit)
            #expect(back.changes.map(\.action) == [.replace])
            #expect(try await h.policies("public.properties").first?[5] == nil)
        }
    }

    @Test("restrictive policies converge, and switching permissive to restrictive is a replace flagged may-break-queries")
    func restrictivePoliciesConverge() async throws {
        try await CatalogHarness.with(Self.tenantTable) { h in
            let permissive = Self.manifest(
                policies: """
                    - {name: tenant, roles: [app_{s}], using: "tenant_id = current_setting('app.current_tenant_id')::uuid"}
                    - {name: open_only, as: permissive, command: select, roles: [app_{s}], using: "status = 'open'"}
                    """)
            try await converges(h, permissive)
            let restrictive = permissive.replacingOccurrences(of: "as: permissive", with: "as: restrictive")
            let plan = try await converges(h, restrictive)
            let change = try #require(plan.changes.first)
            #expect(change.action == .replace)
            #expect(change.hazards.contains { $0.kind == .mayBreakQueries })
            #expect(try await h.policies("public.properties").map { $0[2] } == ["f", "t"])
        }
    }

    @Test("a partitioned table converges, with its policies on the parent")
    func partitionedTableConverges() async throws {
        let setup = """
            CREATE ROLE app_{s};
            CREATE TABLE public.events (tenant_id uuid NOT NULL, at timestamptz NOT NULL, body text) PARTITION BY RANGE (at);
            CREATE TABLE public.events_2025 PARTITION OF public.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
            """
        try await CatalogHarness.with(setup) { h in
            try await converges(
                h,
                Self.manifest(
                    table: "public.events", forced: true,
                    policies: """
                        - {name: tenant, roles: [app_{s}], using: "tenant_id = current_setting('app.current_tenant_id')::uuid"}
                        """))
            #expect(try await h.flags("public.events") == ["t", "t"])
            #expect(try await h.policies("public.events").count == 1)
        }
    }

    @Test("a table with a dropped column (attnum gaps) converges, and a policy on the dropped column's successor is exact")
    func droppedColumnConverges() async throws {
        let setup =
            Self.tenantTable + """
                ALTER TABLE public.properties DROP COLUMN owner_name;
                ALTER TABLE public.properties ADD COLUMN owner_name text;
                """
        try await CatalogHarness.with(setup) { h in
            try await converges(
                h,
                Self.manifest(
                    policies: """
                        - {name: t, roles: [app_{s}], using: "tenant_id = current_setting('app.current_tenant_id')::uuid AND owner_name IS NOT NULL"}
                        """))
        }
    }

    @Test("two tables with the same name in different schemas canonicalize against their own columns")
    func sameTableNameInTwoSchemas() async throws {
        let setup =
            Self.tenantTable + """
                CREATE SCHEMA archive;
                CREATE TABLE archive.properties (tenant_id uuid NOT NULL, archived_at timestamptz);
                """
        try await CatalogHarness.with(setup) { h in
            let yaml =
                Self.manifest(
                    policies: """
                        - {name: t, roles: [app_{s}], using: "status = 'open'"}
                        """) + "\n---\n"
                + Self.manifest(
                    table: "archive.properties",
                    policies: """
                        - {name: t, roles: [app_{s}], using: "archived_at IS NOT NULL"}
                        """)
            try await converges(h, yaml)
        }
    }

    @Test("names with quotes, spaces, dots and mixed case round-trip through manifests, addresses and the catalog")
    func awkwardIdentifiersRoundTrip() async throws {
        let setup = #"""
            CREATE SCHEMA "My Schema";
            CREATE TABLE "My Schema"."Lease ""Terms"".v2" ("Tenant Id" uuid NOT NULL);
            CREATE ROLE "App User ""{s}""";
            """#
        try await CatalogHarness.with(setup) { h in
            let role = "App User \"\(h.suffix)\""
            let yaml = #"""
                apiVersion: guardrail/v1
                kind: RowLevelSecurity
                metadata: {name: '"My Schema"."Lease ""Terms"".v2"'}
                spec:
                  searchPath: ['My Schema']
                  policies:
                    - name: 'allow "tenant" rows; --'
                      roles: ['App User "{s}"']
                      using: '"Tenant Id" = current_setting(''app.current_tenant_id'')::uuid'
                """#
            let plan = try await converges(h, yaml)
            #expect(
                plan.changes.map(\.address.description) == [
                    "rls.\"My Schema\".\"Lease \"\"Terms\"\".v2\".policy.\"allow \"\"tenant\"\" rows; --\"",
                    "rls.\"My Schema\".\"Lease \"\"Terms\"\".v2\"",
                ])
            let stored = try await h.db.rows(
                #"""
                SELECT polname, pg_get_userbyid(polroles[1]) FROM pg_policy WHERE polrelid = '"My Schema"."Lease ""Terms"".v2"'::regclass
                """#)
            #expect(stored == [["allow \"tenant\" rows; --", role]])
        }
    }
}
