import Foundation
import GuardrailCore
import GuardrailEngine
import GuardrailTestSupport

/// A throwaway database with a locked session, for row-level security and grant tests.
///
/// Roles are cluster-wide, so every role a test creates carries the test's own suffix (`r("app")`),
/// and parallel tests never see each other's roles. The roles are dropped afterwards.
struct CatalogHarness {
    let db: TestDatabase
    let session: Session
    let suffix: String

    /// A role name unique to this test.
    func r(_ base: String) -> String { "\(base)_\(suffix)" }

    /// Runs `body` against a fresh database prepared with `setup`, where `{s}` stands for the suffix.
    static func with(_ setup: String = "", _ body: (CatalogHarness) async throws -> Void) async throws {
        let db = try await TestPostgres.createDatabase(prefix: "rls")
        let suffix = String(db.name.suffix(8))
        if !setup.isEmpty { try await db.execute(setup.replacingOccurrences(of: "{s}", with: suffix)) }
        let session = try await Session.open(db.environment(), applicationName: "test")
        let harness = CatalogHarness(db: db, session: session, suffix: suffix)
        do {
            try await session.acquireLock(timeout: .seconds(10), applicationName: "test lock")
            try await body(harness)
        } catch {
            await harness.cleanUp()
            throw error
        }
        await harness.cleanUp()
    }

    func cleanUp() async {
        await session.close()
        let roles =
            (try? await db.rows("SELECT rolname FROM pg_roles WHERE rolname LIKE '%\\_\(suffix)' ESCAPE '\\'"))?.compactMap { $0.first ?? nil } ?? []
        await db.drop()
        for role in roles {
            _ = try? await TestPostgres.execute(adminSQL: "DROP ROLE IF EXISTS \(SQLIdentifier(role).quoted)")
        }
    }

    func configuration(_ yaml: String) throws -> Configuration {
        try Fixtures.configuration(["policies/test.yaml": yaml.replacingOccurrences(of: "{s}", with: suffix)])
    }

    func plan(_ yaml: String) async throws -> Plan {
        try await session.plan(try configuration(yaml))
    }

    /// Plans and applies `yaml`; returns the plan that was applied.
    @discardableResult
    func apply(_ yaml: String, overrides: HazardOverrides = HazardOverrides(allowDestroy: true)) async throws -> Plan {
        let plan = try await plan(yaml)
        _ = try await session.apply(plan, overrides: overrides, osUser: "tester")
        return plan
    }

    /// The policies of a table as the catalog holds them: name, command, permissive, roles, USING, WITH CHECK.
    func policies(_ table: String) async throws -> [[String?]] {
        // search_path = '' as Guardrail reads them, so names print schema-qualified.
        try await db.rows(
            """
            SET search_path = '';
            SELECT polname, polcmd, polpermissive,
                   array_to_string(ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r)::text END FROM unnest(polroles) r ORDER BY 1), ','),
                   pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid)
            FROM pg_catalog.pg_policy WHERE polrelid = '\(table)'::pg_catalog.regclass ORDER BY polname
            """)
    }

    /// `relrowsecurity`, `relforcerowsecurity` as "t"/"f".
    func flags(_ table: String) async throws -> [String?] {
        try await db.rows("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = '\(table)'::regclass").first ?? []
    }
}
