import Foundation
import GuardrailTestSupport
import Testing

/// `apply FILE` against a file someone edited, replayed elsewhere, or planned from another
/// configuration. Each attack is refused with exit 1, names the difference, and changes nothing:
/// the tenants and the policies are compared before and after.
@Suite("saved plans under attack", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct SavedPlanTamperingTests {
    struct Fixture {
        var db: TestDatabase
        var dir: URL
        var role: String
        var env: [String: String]
        var transcript = ""

        var planPath: String { dir.appendingPathComponent("plan.json").path }

        mutating func run(_ args: [String], extraEnv: [String: String] = [:]) async throws -> CommandResult {
            let result = try await InProcess.run(args, in: dir, environment: env.merging(extraEnv) { $1 })
            transcript += result.output
            return result
        }

        func write(_ path: String, _ text: String) throws {
            let url = dir.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.replacingOccurrences(of: "{role}", with: role).utf8).write(to: url)
        }

        /// Everything an apply could change here: tenants, and the table's policies and RLS flags.
        func snapshot() async throws -> String {
            let tenants =
                try await db.scalar(
                    """
                    SELECT coalesce(string_agg(name || '|' || id || '|' || display_name || '|' || status, ',' ORDER BY name), '')
                    FROM guardrail.tenants
                    """) ?? ""
            let policies =
                try await db.scalar(
                    """
                    SELECT coalesce(string_agg(policyname || '|' || coalesce(qual, '') || '|' || coalesce(with_check, ''), ',' ORDER BY policyname), '')
                    FROM pg_policies WHERE tablename = 'properties'
                    """) ?? ""
            let flags =
                try await db.scalar(
                    "SELECT relrowsecurity::text || relforcerowsecurity::text FROM pg_class WHERE oid = 'public.properties'::regclass") ?? ""
            return tenants + "\n" + policies + "\n" + flags
        }

        /// Rewrites the saved plan as an attacker with the CI artifact would.
        func tamper(_ edit: (inout [String: Any]) throws -> Void) throws {
            var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: planPath))) as? [String: Any])
            try edit(&object)
            try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted]).write(to: URL(fileURLWithPath: planPath))
        }

        func cleanUp() async {
            await db.drop()
            try? await TestPostgres.execute(adminSQL: "DROP ROLE IF EXISTS \"\(role)\"")
        }
    }

    /// The tenant-isolation manifest of the RLS command tests, for this suite's own role.
    static let isolation = RowLevelSecurityCommandTests.isolation

    /// Four tenants applied; the configuration then renames them, so a plan has four updates.
    func fixture(rls: Bool = false) async throws -> Fixture {
        let db = try await TestPostgres.createDatabase(prefix: "tamper")
        let role = "app_\(db.name.suffix(8))"
        try await db.execute(
            """
            CREATE ROLE \(role);
            CREATE TABLE public.properties (id serial PRIMARY KEY, tenant_id uuid NOT NULL, address text NOT NULL);
            GRANT SELECT ON public.properties TO \(role);
            """)
        let dir = try Fixtures.writeWorkspace(files: [
            "environments/local.yaml": Fixtures.localEnvironmentYAML,
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 4),
        ])
        var f = Fixture(db: db, dir: dir, role: role, env: ["DATABASE_URL": db.urlString])
        let first = try await f.run(["apply", "--env", "local", "--auto-approve"])
        #expect(first.status == 0, "\(first.output)")
        try f.write("manifests/tenants.yaml", Fixtures.tenantsYAML(count: 4, displayPrefix: "Renamed"))
        if rls { try f.write("policies/properties.yaml", Self.isolation) }
        return f
    }

    /// Saves a plan, edits it with `edit`, applies it: refused with `expected` in the message, nothing changed.
    func attack(
        _ f: inout Fixture, rls: Bool = false, expected: String, extraEnv: [String: String] = [:],
        sourceLocation: Testing.SourceLocation = #_sourceLocation, _ edit: (inout [String: Any]) throws -> Void
    ) async throws {
        let plan = try await f.run(["plan", "--env", "local", "--out", f.planPath], extraEnv: extraEnv)
        #expect(plan.status == 0, "\(plan.output)", sourceLocation: sourceLocation)
        try f.tamper(edit)
        let before = try await f.snapshot()
        let apply = try await f.run(["apply", "--env", "local", f.planPath, "--allow-destroy", "--allow-mass-delete"], extraEnv: extraEnv)
        #expect(apply.status == 1, "the tampered plan was applied: \(apply.output)", sourceLocation: sourceLocation)
        #expect(apply.stderr.contains(expected), "\(apply.stderr)", sourceLocation: sourceLocation)
        #expect(try await f.snapshot() == before, "the refused apply changed live state", sourceLocation: sourceLocation)
        #expect(!f.transcript.contains(f.db.password), sourceLocation: sourceLocation)
    }

    static func changes(_ o: [String: Any]) -> [[String: Any]] { o["changes"] as? [[String: Any]] ?? [] }

    @Test("tenant isolation switched off in the file (USING and WITH CHECK set to true) is refused")
    func isolationTurnedOff() async throws {
        var f = try await fixture(rls: true)
        defer { let f = f; Task { await f.cleanUp() } }
        try await attack(&f, expected: "the plan file was modified") { o in
            var changes = Self.changes(o)
            let index = try #require(changes.firstIndex { ($0["address"] as? String)?.hasSuffix(".policy.tenant_isolation") == true })
            var after = try #require(changes[index]["after"] as? [String: Any])
            after["using"] = "true"
            after["with_check"] = "true"
            changes[index]["after"] = after
            o["changes"] = changes
        }
        #expect(try await f.db.scalar("SELECT count(*) FROM pg_policies WHERE tablename = 'properties'") == "0")
    }

    @Test("an update turned into a delete with its hazards stripped is refused, even with --allow-destroy")
    func updateTurnedIntoDelete() async throws {
        var f = try await fixture()
        defer { let f = f; Task { await f.cleanUp() } }
        try await attack(&f, expected: "tenant.brokerage-0: the saved plan's action") { o in
            var changes = Self.changes(o)
            try #require(!changes.isEmpty)
            changes[0]["action"] = "delete"
            changes[0]["after"] = nil
            changes[0]["hazards"] = [[String: Any]]()
            o["changes"] = changes
            o["blocked"] = false
        }
        #expect(try await f.db.scalar("SELECT count(*) FROM guardrail.tenants") == "4")
    }

    @Test("an appended change with no fingerprint (a tenant id rewritten in place) is refused")
    func appendedChange() async throws {
        var f = try await fixture()
        defer { let f = f; Task { await f.cleanUp() } }
        try await attack(&f, expected: "the plan file was modified") { o in
            var changes = Self.changes(o)
            try #require(changes.count == 4)
            var extra = changes[3]
            extra["address"] = "tenant.brokerage-3-copy"
            var after = try #require(extra["after"] as? [String: Any])
            after["id"] = "00000000-0000-4000-8000-000000000099"
            extra["after"] = after
            changes.append(extra)
            o["changes"] = changes
        }
    }

    @Test("emptied fingerprints do not skip the staleness check")
    func emptiedFingerprints() async throws {
        var f = try await fixture()
        defer { let f = f; Task { await f.cleanUp() } }
        try await attack(&f, expected: "the plan file was modified") { o in o["fingerprints"] = [String: Any]() }
    }

    @Test("a saved plan re-written by another JSON tool, content unchanged, is compared in full and applies")
    func reformattedButIdenticalPlanApplies() async throws {
        var f = try await fixture()
        defer { let f = f; Task { await f.cleanUp() } }
        #expect(try await f.run(["plan", "--env", "local", "--out", f.planPath]).status == 0)
        let written = try Data(contentsOf: URL(fileURLWithPath: f.planPath))
        try f.tamper { _ in }
        #expect(try Data(contentsOf: URL(fileURLWithPath: f.planPath)) != written, "the file was not re-written")
        let apply = try await f.run(["apply", "--env", "local", f.planPath])
        #expect(apply.status == 0, "\(apply.output)")
        #expect(apply.stdout.contains("matches it change for change"))
        #expect(apply.stdout.contains("Plan: 0 to add, 4 to change, 0 to destroy."))
        #expect(try await f.db.scalar("SELECT count(*) FROM guardrail.tenants WHERE display_name LIKE 'Renamed%'") == "4")
    }

    @Test("a stripped binding is refused")
    func strippedBinding() async throws {
        var f = try await fixture()
        defer { let f = f; Task { await f.cleanUp() } }
        try await attack(&f, expected: "no binding") { o in o["binding"] = nil }
    }

    @Test("a plan made for one database is refused on another, naming both")
    func anotherDatabase() async throws {
        var f = try await fixture()
        defer { let f = f; Task { await f.cleanUp() } }
        let other = try await TestPostgres.createDatabase(prefix: "tamper2")
        defer { Task { await other.drop() } }
        #expect(try await f.run(["plan", "--env", "local", "--out", f.planPath]).status == 0)
        let apply = try await f.run(["apply", "--env", "local", f.planPath], extraEnv: ["DATABASE_URL": other.urlString])
        #expect(apply.status == 1, "\(apply.output)")
        #expect(apply.stderr.contains("database \(f.db.name) of cluster"), "\(apply.stderr)")
        #expect(apply.stderr.contains("database \(other.name) of cluster"), "\(apply.stderr)")
        #expect(try await other.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'guardrail'") == "0")
        #expect(!f.transcript.contains(f.db.password))
    }

    @Test("a plan made for one environment is refused under another --env, naming both")
    func anotherEnvironment() async throws {
        var f = try await fixture()
        defer { let f = f; Task { await f.cleanUp() } }
        try f.write("environments/other.yaml", Fixtures.localEnvironmentYAML.replacingOccurrences(of: "name: local", with: "name: other"))
        #expect(try await f.run(["plan", "--env", "local", "--out", f.planPath]).status == 0)
        let before = try await f.snapshot()
        let apply = try await f.run(["apply", "--env", "other", f.planPath])
        #expect(apply.status == 1, "\(apply.output)")
        #expect(apply.stderr.contains("environment \"local\""), "\(apply.stderr)")
        #expect(apply.stderr.contains("environment \"other\""), "\(apply.stderr)")
        #expect(try await f.snapshot() == before)
    }

    @Test("a configuration edited after the plan is named file by file")
    func configurationChanged() async throws {
        var f = try await fixture()
        defer { let f = f; Task { await f.cleanUp() } }
        #expect(try await f.run(["plan", "--env", "local", "--out", f.planPath]).status == 0)
        try f.write("manifests/tenants.yaml", Fixtures.tenantsYAML(count: 4, displayPrefix: "Other"))
        let before = try await f.snapshot()
        let apply = try await f.run(["apply", "--env", "local", f.planPath])
        #expect(apply.status == 1, "\(apply.output)")
        #expect(apply.stderr.contains("the configuration changed since this plan was made (manifests/tenants.yaml changed)"), "\(apply.stderr)")
        #expect(try await f.snapshot() == before)
    }

    @Test("an empty saved plan applied after a policy was dropped by hand is refused as stale, not 'No changes'")
    func emptyPlanAfterDrift() async throws {
        var f = try await fixture(rls: true)
        defer { let f = f; Task { await f.cleanUp() } }
        #expect(try await f.run(["apply", "--env", "local", "--auto-approve"]).status == 0)
        #expect(try await f.run(["plan", "--env", "local", "--out", f.planPath, "--detailed-exitcode"]).status == 0)
        try await f.db.execute("DROP POLICY tenant_isolation ON public.properties")
        let apply = try await f.run(["apply", "--env", "local", f.planPath])
        #expect(apply.status == 1, "\(apply.output)")
        #expect(apply.stderr.contains("saved plan is stale"), "\(apply.stderr)")
        #expect(!apply.stdout.contains("No changes"))
        #expect(try await f.db.scalar("SELECT count(*) FROM pg_policies WHERE tablename = 'properties'") == "0")
    }

    @Test("with a signing key, only plans signed with it apply; the file is 0600 and `show` reads it offline")
    func signedPlans() async throws {
        var f = try await fixture()
        defer { let f = f; Task { await f.cleanUp() } }
        let key = ["GUARDRAIL_PLAN_KEY": "ci-key-\(UUID().uuidString)"]
        // Unsigned plan, key at apply: refused.
        #expect(try await f.run(["plan", "--env", "local", "--out", f.planPath]).status == 0)
        let unsigned = try await f.run(["apply", "--env", "local", f.planPath], extraEnv: key)
        #expect(unsigned.status == 1, "\(unsigned.output)")
        #expect(unsigned.stderr.contains("not signed"), "\(unsigned.stderr)")
        // Signed with another key: refused.
        #expect(try await f.run(["plan", "--env", "local", "--out", f.planPath], extraEnv: ["GUARDRAIL_PLAN_KEY": "another"]).status == 0)
        let wrongKey = try await f.run(["apply", "--env", "local", f.planPath], extraEnv: key)
        #expect(wrongKey.status == 1)
        #expect(wrongKey.stderr.contains("signature does not match"), "\(wrongKey.stderr)")
        // Signed, then edited: refused before anything is compared.
        try await attack(&f, expected: "signature does not match", extraEnv: key) { o in
            var changes = Self.changes(o)
            try #require(!changes.isEmpty)
            var after = try #require(changes[0]["after"] as? [String: Any])
            after["display_name"] = "Edited"
            changes[0]["after"] = after
            o["changes"] = changes
        }
        // Signed and untouched: applied.
        let plan = try await f.run(["plan", "--env", "local", "--out", f.planPath], extraEnv: key)
        #expect(plan.stdout.contains("(signed)"), "\(plan.stdout)")
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: f.planPath)[.posixPermissions] as? Int)
        #expect(mode & 0o777 == 0o600, "plan files are private: \(String(mode, radix: 8))")
        let show = try await f.run(["show", f.planPath], extraEnv: key.merging(["DATABASE_URL": ""]) { $1 })
        #expect(show.status == 0, "\(show.output)")
        #expect(show.stdout.contains("Plan: 0 to add, 4 to change, 0 to destroy."))
        #expect(show.stdout.contains("Signed, and the signature is valid."))
        #expect(show.stdout.contains("database \(f.db.name) of cluster"))
        let markdown = try await f.run(["show", f.planPath, "--format", "markdown"])
        #expect(markdown.stdout.hasPrefix("### Guardrail plan for `local`: 0 to add, 4 to change, 0 to destroy"))
        let apply = try await f.run(["apply", "--env", "local", f.planPath], extraEnv: key)
        #expect(apply.status == 0, "\(apply.output)")
        #expect(try await f.db.scalar("SELECT count(*) FROM guardrail.tenants WHERE display_name LIKE 'Renamed%'") == "4")
        #expect(!f.transcript.contains(key.values.first!))
    }

    @Test("--target naming nothing is an error with the closest address, not 'No changes'")
    func unknownTarget() async throws {
        var f = try await fixture()
        defer { let f = f; Task { await f.cleanUp() } }
        let typo = try await f.run(["plan", "--env", "local", "--target", "brokerage-1"])
        #expect(typo.status == 1, "\(typo.output)")
        #expect(typo.stderr.contains("--target brokerage-1 names no object"), "\(typo.stderr)")
        #expect(typo.stderr.contains("Did you mean tenant.brokerage-1?"), "\(typo.stderr)")
        let misspelt = try await f.run(["apply", "--env", "local", "--auto-approve", "--target", "tenant.brokerag-1"])
        #expect(misspelt.status == 1)
        #expect(misspelt.stderr.contains("Did you mean tenant.brokerage-1?"), "\(misspelt.stderr)")
        #expect(try await f.db.scalar("SELECT count(*) FROM guardrail.tenants WHERE display_name LIKE 'Renamed%'") == "0")
        #expect(try await f.run(["plan", "--env", "local", "--target", "tenant"]).status == 0)
    }

    @Test("validate and plan outside a configuration directory fail and point at --dir")
    func noConfiguration() async throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        for args in [["validate"], ["plan", "--env", "local"]] {
            let result = try await InProcess.run(args, in: empty)
            #expect(result.status == 1, "\(args): \(result.output)")
            #expect(result.stderr.contains("no Guardrail configuration in"), "\(result.stderr)")
            #expect(result.stderr.contains("--dir"), "\(result.stderr)")
        }
    }
}
