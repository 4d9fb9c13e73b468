import Foundation
import GuardrailCore
import GuardrailEngine
import GuardrailTestSupport
import Testing

@Suite("Plan is read-only", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct PlanReadOnlyTests {
    @Test("planning against a database that never saw Guardrail shows everything to add and creates nothing")
    func planOnFreshDatabaseCreatesNothing() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let session = try await Session.open(db.environment(), applicationName: "test")
        let plan = try await session.plan(Fixtures.generatedConfiguration(tenants: 20))
        await session.close()
        #expect(plan.summary.add == 20)
        #expect(plan.notes.contains { $0.contains("does not exist in this database yet") })
        let schemas = try await db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'guardrail'")
        #expect(schemas == "0")
    }

    @Test("plan works with a role that can only read, as CI uses")
    func planWorksWithReadOnlyRole() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let writer = try await Session.open(db.environment(), applicationName: "test")
        try await writer.acquireLock(timeout: .seconds(5), applicationName: "test lock")
        let configuration = Fixtures.generatedConfiguration(tenants: 5)
        _ = try await writer.apply(try await writer.plan(configuration), overrides: HazardOverrides(), osUser: "tester")
        await writer.close()

        let role = "ro_\(db.name)"
        try await db.execute(
            """
            CREATE ROLE \(role) LOGIN PASSWORD 'ro-secret';
            GRANT CONNECT ON DATABASE \(db.name) TO \(role);
            GRANT USAGE ON SCHEMA guardrail TO \(role);
            GRANT SELECT ON ALL TABLES IN SCHEMA guardrail TO \(role);
            """)
        var url = db.url
        url.user = role
        url.password = Secret("ro-secret")
        let reader = try await Session.open(
            ResolvedEnvironment(name: "local", database: Database(url: url, schema: "guardrail")), applicationName: "ci")
        let plan = try await reader.plan(configuration)
        await reader.close()
        #expect(plan.changes.isEmpty)
        try await db.execute("DROP OWNED BY \(role); DROP ROLE \(role)")
    }
}
