import ArgumentParser
import Foundation
@testable import GuardrailCLI
import GuardrailTestSupport
import Testing

/// `guardrail import` and `guardrail verify isolation`, run as a user runs them.
@Suite("row-level security from the command line", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct RowLevelSecurityCommandTests {
    /// A database with a tenant table and a role of this test's own, and a workspace pointing at it.
    struct Fixture {
        var db: TestDatabase
        var dir: URL
        var role: String
        var env: [String: String]

        func run(_ args: [String]) async throws -> CommandResult {
            try await InProcess.run(args, in: dir, environment: env)
        }

        func write(_ path: String, _ text: String) throws {
            let url = dir.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.replacingOccurrences(of: "{role}", with: role).utf8).write(to: url)
        }

        func cleanUp() async {
            await db.drop()
            try? await TestPostgres.execute(adminSQL: "DROP ROLE IF EXISTS \"\(role)\"")
        }
    }

    func fixture(_ sql: String = "") async throws -> Fixture {
        let db = try await TestPostgres.createDatabase(prefix: "rlscli")
        let role = "app_\(db.name.suffix(8))"
        try await db.execute(
            """
            CREATE ROLE \(role);
            CREATE TABLE public.properties (id serial PRIMARY KEY, tenant_id uuid NOT NULL, address text NOT NULL, price numeric NOT NULL);
            GRANT SELECT, INSERT, UPDATE, DELETE ON public.properties TO \(role);
            GRANT USAGE ON SEQUENCE public.properties_id_seq TO \(role);
            \(sql.replacingOccurrences(of: "{role}", with: role))
            """)
        let dir = try Fixtures.writeWorkspace(files: [
            "environments/local.yaml": Fixtures.localEnvironmentYAML,
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 2),
        ])
        return Fixture(db: db, dir: dir, role: role, env: ["DATABASE_URL": db.urlString])
    }

    static let isolation = """
        apiVersion: guardrail/v1
        kind: RowLevelSecurity
        metadata: {name: public.properties}
        spec:
          forced: true
          searchPath: [public]
          policies:
            - name: tenant_isolation
              roles: [{role}]
              using: tenant_id = current_setting('app.current_tenant_id')::uuid
              withCheck: tenant_id = current_setting('app.current_tenant_id')::uuid

        """

    @Test("import rls and grants write manifests that plan empty, and the objects become managed")
    func importThenPlanIsEmpty() async throws {
        let f = try await fixture(
            #"""
            ALTER TABLE public.properties ENABLE ROW LEVEL SECURITY;
            CREATE POLICY tenant_isolation ON public.properties TO {role}
                USING (tenant_id = current_setting('app.current_tenant_id')::UUID);
            CREATE POLICY "Big ""deals""" ON public.properties AS RESTRICTIVE FOR SELECT TO {role} USING (price > 100);
            """#)
        defer { Task { await f.cleanUp() } }
        let rls = try await f.run(["import", "--env", "local", "rls", "--reason", "adopting the hand-made policies"])
        #expect(rls.status == 0, "\(rls.output)")
        #expect(rls.stdout.contains("Imported 1 table with row-level security into policies/imported-rls.yaml"))
        // The import is in the audit trail: who, what it adopted, and why.
        let history = try await f.run(["history", "--env", "local", "--kind", "import"])
        let line = history.stdout.split(separator: "\n").first { $0.contains("  import  ") }.map(String.init) ?? ""
        #expect(line.contains("imported rls into policies/imported-rls.yaml: public.properties"), "\(history.output)")
        let user = ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
        #expect(line.contains("(reason: adopting the hand-made policies)") && line.contains(user), "\(history.output)")
        #expect(try await f.run(["history", "--env", "local", "--object", "rls.public.properties"]).stdout.contains("  import  "))
        let json = try await f.run(["history", "--env", "local", "--kind", "import", "--format", "json"])
        let actions = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]], "\(json.output)")
        #expect(actions.count == 1 && actions.first?["kind"] as? String == "import", "\(json.output)")
        let id = try #require(actions.first?["id"] as? String)
        let shown = try await f.run(["history", "show", id, "--env", "local"])
        #expect(shown.status == 0 && shown.stdout.contains("adopting the hand-made policies"), "\(shown.output)")
        let grants = try await f.run(["import", "--env", "local", "grants"])
        #expect(grants.status == 0, "\(grants.output)")
        let written = try String(contentsOf: f.dir.appendingPathComponent("policies/imported-rls.yaml"), encoding: .utf8)
        #expect(written.contains(#"- name: "Big \"deals\"""#))
        #expect(written.contains(#"using: "(tenant_id = (current_setting('app.current_tenant_id'::text))::uuid)""#))

        let plan = try await f.run(["plan", "--env", "local", "--detailed-exitcode", "--target", "rls", "--target", "grants"])
        #expect(plan.status == 0, "\(plan.output)")
        #expect(plan.stdout.contains("No changes."))

        let again = try await f.run(["import", "--env", "local", "rls"])
        #expect(again.status == 1)
        #expect(again.stderr.contains("policies/imported-rls.yaml already exists"))
        let nothing = try await f.run(["import", "--env", "local", "rls", "--out", "policies/more.yaml"])
        #expect(nothing.status == 0)
        #expect(nothing.stderr.contains("Nothing to import"))

        // Imported means managed: deleting the manifest plans the removal, behind --allow-destroy.
        try FileManager.default.removeItem(at: f.dir.appendingPathComponent("policies/imported-rls.yaml"))
        let removal = try await f.run(["plan", "--env", "local", "--detailed-exitcode", "--target", "rls"])
        #expect(removal.status == 3, "\(removal.output)")
        #expect(removal.stdout.contains("- rls \"public.properties\" {"))
        #expect(removal.stdout.contains("destroys: disables row-level security on public.properties"))
    }

    @Test("verify isolation passes on tenant-isolated tables, printing a check per table, role and operation")
    func verifyPasses() async throws {
        let f = try await fixture()
        defer { Task { await f.cleanUp() } }
        try f.write("policies/rls.yaml", Self.isolation)
        let apply = try await f.run(["apply", "--env", "local", "--auto-approve"])
        #expect(apply.status == 0, "\(apply.output)")
        let verify = try await f.run(["verify", "isolation", "--env", "local"])
        #expect(verify.status == 0, "\(verify.output)")
        let lines = verify.stdout.split(separator: "\n")
        #expect(lines.filter { $0.hasPrefix("public.properties") && $0.contains(f.role) && $0.contains("isolated") }.count == 5, "\(verify.stdout)")
        #expect(verify.stdout.contains("5 checks: 5 isolated, 0 leaks, 0 could not run."))
        #expect(try await f.db.scalar("SELECT count(*) FROM public.properties") == "0", "verify leaves no rows behind")
    }

    @Test("verify isolation catches a deliberately leaky policy and exits 1")
    func verifyCatchesALeak() async throws {
        let f = try await fixture()
        defer { Task { await f.cleanUp() } }
        // Reads are isolated, but the OR lets inserts for any tenant through. (Moving a row is still
        // refused: Postgres also checks an updated row against the USING expression.)
        try f.write(
            "policies/rls.yaml",
            Self.isolation.replacingOccurrences(
                of: "withCheck: tenant_id = current_setting('app.current_tenant_id')::uuid",
                with: "withCheck: tenant_id = current_setting('app.current_tenant_id')::uuid OR price > 0"))
        #expect(try await f.run(["apply", "--env", "local", "--auto-approve"]).status == 0)
        let verify = try await f.run(["verify", "isolation", "--env", "local"])
        #expect(verify.status == 1, "\(verify.output)")
        #expect(verify.stdout.contains("insert a row for tenant B  LEAK"), "\(verify.stdout)")
        #expect(verify.stdout.contains("move a row to tenant B     isolated"), "\(verify.stdout)")
        #expect(verify.stdout.contains("read other tenants' rows   isolated"), "\(verify.stdout)")
        #expect(verify.stderr.contains("tenant isolation is broken: 1 check reached another tenant's rows"))

        // A policy that shows everything is caught on the read and the delete.
        try f.write(
            "policies/rls.yaml",
            Self.isolation.replacingOccurrences(
                of: "using: tenant_id = current_setting('app.current_tenant_id')::uuid", with: "using: \"true\""))
        #expect(try await f.run(["apply", "--env", "local", "--auto-approve"]).status == 0)
        let open = try await f.run(["verify", "isolation", "--env", "local"])
        #expect(open.status == 1)
        #expect(open.stdout.contains("read other tenants' rows   LEAK"), "\(open.stdout)")
        #expect(open.stdout.contains("delete tenant B's rows     LEAK"), "\(open.stdout)")
        #expect(open.stdout.contains("2 leaks"), "\(open.stdout)")
    }

    @Test("verify isolation flags a partition the role can query directly, bypassing its parent's policies")
    func verifyCatchesAnOpenPartition() async throws {
        let f = try await fixture(
            """
            CREATE TABLE public.events (tenant_id uuid NOT NULL, at timestamptz NOT NULL DEFAULT now()) PARTITION BY RANGE (at);
            CREATE TABLE public.events_old PARTITION OF public.events FOR VALUES FROM ('2000-01-01') TO ('2001-01-01');
            CREATE TABLE public.events_rest PARTITION OF public.events DEFAULT;
            GRANT SELECT, INSERT ON public.events TO {role};
            """)
        defer { Task { await f.cleanUp() } }
        try f.write("policies/rls.yaml", Self.isolation.replacingOccurrences(of: "public.properties", with: "public.events"))
        #expect(try await f.run(["apply", "--env", "local", "--auto-approve"]).status == 0)
        let closed = try await f.run(["verify", "isolation", "--env", "local"])
        #expect(closed.status == 0, "\(closed.output)")
        #expect(
            closed.stdout.contains("public.events_rest  \(f.role)  partition of events used directly  isolated  no privileges on the partition"),
            "\(closed.stdout)")

        try await f.db.execute("GRANT SELECT ON public.events_old TO \(f.role)")
        let open = try await f.run(["verify", "isolation", "--env", "local"])
        #expect(open.status == 1, "\(open.output)")
        #expect(
            open.stdout.contains(
                "public.events_old   \(f.role)  partition of events used directly  LEAK      SELECT granted on a partition without row-level security"
            ), "\(open.stdout)")
    }

    @Test("plan shows findings as warnings in text and JSON, and an invalid expression fails at its line with Postgres's message")
    func findingsAndPlanTimeErrors() async throws {
        let f = try await fixture("ALTER ROLE {role} BYPASSRLS;")
        defer { Task { await f.cleanUp() } }
        try f.write("policies/rls.yaml", Self.isolation)
        let text = try await f.run(["plan", "--env", "local"])
        #expect(text.status == 0, "\(text.output)")
        #expect(
            text.stdout.contains(
                "Warnings:\n  ! rls.public.properties.policy.tenant_isolation: the policy does nothing for \(f.role): it has BYPASSRLS"))
        let json = try await f.run(["plan", "--env", "local", "--format", "json"])
        let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let findings = document?["findings"] as? [[String: Any]]
        #expect(findings?.first?["address"] as? String == "rls.public.properties.policy.tenant_isolation")

        try f.write("policies/rls.yaml", Self.isolation.replacingOccurrences(of: "using: tenant_id", with: "using: tenant"))
        let broken = try await f.run(["plan", "--env", "local"])
        #expect(broken.status == 1)
        #expect(
            broken.stderr.contains(
                "policies/rls.yaml:10:14: error: Postgres rejects the using expression of policy \"tenant_isolation\" on public.properties"),
            "\(broken.stderr)")
        #expect(broken.stderr.contains("column \"tenant\" does not exist (SQLSTATE 42703)"))
    }

    @Test("import takes rls or grants and nothing else; verify isolation takes repeated --role")
    func parsing() async throws {
        #expect(throws: (any Error).self) { try GuardrailCommand.parseAsRoot(["import", "tenants"]) }
        do {
            _ = try GuardrailCommand.parseAsRoot(["import", "policies"])
        } catch {
            #expect(GuardrailCommand.message(for: error).contains("rls"))
        }
        let parsed = try GuardrailCommand.parseAsRoot(["verify", "isolation", "--role", "a", "--role", "b", "--tenant-column", "org_id"])
        let command = try #require(parsed as? VerifyIsolationCommand)
        #expect(command.role == ["a", "b"])
        #expect(command.tenantColumn == "org_id")
    }
}

/// `import rls` on a database whose roles already have manifests: the privileges those roles hold on
/// an imported table go into their manifests, so the promised empty plan holds.
@Suite("import rls with the example roles", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct ImportWithDeclaredRolesTests {
    @Test("import rls writes the example roles' privileges on the imported table into policies/roles.yaml, and the next plan is empty")
    func importKeepsDeclaredRolesPrivileges() async throws {
        let db = try await TestPostgres.createDatabase(prefix: "imprls")
        // Roles are cluster-wide and other suites apply the example's roles at the same time: this test
        // gives the example's six roles names of its own, so neither can see the other's half-made role.
        let suffix = "_" + db.name.suffix(8)
        let names = ["app_user", "admin", "analyst", "underwriter", "ops", "viewer"]
        func own(_ role: String) -> String { role + suffix }
        defer {
            Task {
                await db.drop()
                for role in names { try? await TestPostgres.execute(adminSQL: "DROP ROLE IF EXISTS \(own(role))") }
            }
        }
        try await db.execute(try Fixtures.appSchemaSQL())
        for role in names { try await TestPostgres.execute(adminSQL: "CREATE ROLE \(own(role)) \(role == "app_user" ? "LOGIN" : "NOLOGIN")") }
        var roles = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("policies/roles.yaml"), encoding: .utf8)
        for role in names { roles = roles.replacingOccurrences(of: "metadata: {name: \(role)}", with: "metadata: {name: \(own(role))}") }
        let dir = try Fixtures.writeWorkspace(files: [
            "environments/local.yaml": Fixtures.localEnvironmentYAML,
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 2),
            "policies/roles.yaml": roles,
        ])
        let env = ["DATABASE_URL": db.urlString]
        let apply = try await InProcess.run(["apply", "--env", "local", "--auto-approve"], in: dir, environment: env)
        #expect(apply.status == 0, "\(apply.output)")
        try await db.execute(
            """
            CREATE TABLE public.listing_notes (id serial PRIMARY KEY, tenant_id uuid NOT NULL, note text NOT NULL);
            ALTER TABLE public.listing_notes ENABLE ROW LEVEL SECURITY;
            CREATE POLICY tenant_isolation ON public.listing_notes TO \(own("app_user"))
                USING (tenant_id = current_setting('app.current_tenant_id')::uuid);
            GRANT SELECT, INSERT ON public.listing_notes TO \(own("app_user"));
            GRANT SELECT ON public.listing_notes TO \(own("viewer")), \(own("analyst"));
            """)
        let imported = try await InProcess.run(["import", "--env", "local", "rls"], in: dir, environment: env)
        #expect(imported.status == 0, "\(imported.output)")
        #expect(
            imported.stdout.contains(
                "Added the privileges \(own("analyst")), \(own("app_user")), \(own("viewer")) hold on the imported tables to their grants in policies/roles.yaml."
            ),
            "\(imported.stdout)")
        let edited = try String(contentsOf: dir.appendingPathComponent("policies/roles.yaml"), encoding: .utf8)
        #expect(edited.contains("# The role matrix from the launch runbook"), "comments are kept")
        #expect(edited.contains("    - tables: [public.listing_notes]\n      privileges: [select, insert]\n"), "\(edited)")
        let plan = try await InProcess.run(["plan", "--env", "local", "--detailed-exitcode"], in: dir, environment: env)
        #expect(plan.status == 0, "\(plan.output)")
        #expect(plan.stdout.contains("No changes."), "\(plan.stdout)")
        #expect(try await db.scalar("SELECT has_table_privilege('\(own("viewer"))', 'public.listing_notes', 'SELECT')") == "t")
    }
}
