import Foundation
import GuardrailCore
import GuardrailEngine
import GuardrailTestSupport
import Testing

/// Plan, apply, plan again: the second plan is empty. Against a real Postgres.
@Suite("Tenant convergence", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct TenantConvergenceTests {
    @Test("the example configuration converges: apply, then a fresh plan has no changes")
    func exampleConfigurationConverges() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let configuration = try Fixtures.exampleConfiguration()
        #expect(configuration.tenants.count >= 13)
        #expect(configuration.rowLevelSecurity.count == 7)
        #expect(configuration.roleGrants.map(\.role).sorted() == ["admin", "analyst", "app_user", "ops", "underwriter", "viewer"])
        try await db.execute(try Fixtures.appSchemaSQL())

        let session = try await Session.open(db.environment(), applicationName: "test")
        defer { Task { await session.close() } }
        let first = try await session.plan(configuration)
        let tenantChanges = first.changes.filter { $0.kind == Tenant.kind }
        #expect(tenantChanges.count == configuration.tenants.count && tenantChanges.allSatisfy { $0.action == .create })
        #expect(first.changes.filter { $0.kind == RowLevelSecurity.policyKind }.map(\.action) == Array(repeating: .create, count: 7))
        #expect(first.summary.destroy == 0)
        try await session.acquireLock(timeout: .seconds(5), applicationName: "test lock")
        let report = try await session.apply(first, overrides: HazardOverrides(), osUser: "tester")
        #expect(report.summary == first.summary)
        #expect(report.migrations == Migrations.all.map(\.version))
        let second = try await session.plan(configuration)
        #expect(second.changes.isEmpty, "plan after apply: \(second.changes.map(\.address))")
        #expect(second.findings.isEmpty, "\(second.findings)")
        await session.close()

        let count = try await db.scalar("SELECT count(*) FROM guardrail.tenants")
        #expect(count == String(configuration.tenants.count))
        let secured = try await db.scalar(
            "SELECT count(*) FROM pg_class WHERE relrowsecurity AND relforcerowsecurity AND relnamespace = 'public'::regnamespace")
        #expect(secured == "7")
        #expect(try await db.scalar("SELECT has_table_privilege('underwriter', 'public.pipeline_state', 'UPDATE')") == "t")
        #expect(try await db.scalar("SELECT has_table_privilege('viewer', 'public.dlq_messages', 'SELECT')") == "f")
    }

    @Test("a 1,000-tenant estate converges, then converges again after updates, deletes and a replace")
    func generatedEstateConverges() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let session = try await db.lockedSession()
        defer { Task { await session.close() } }

        let initial = Fixtures.generatedConfiguration(tenants: 1_000)
        _ = try await session.apply(try await session.plan(initial), overrides: HazardOverrides(), osUser: "tester")
        #expect(try await session.plan(initial).changes.isEmpty)

        // Rename every display name, drop 100 tenants, change one id (a replace), add 50.
        var next = Fixtures.generatedConfiguration(tenants: 1_050, displayPrefix: "Realty")
        next.tenants.removeAll { t in Int(t.name.split(separator: "-").last!)! % 10 == 3 }
        let replaced = next.tenants.firstIndex { $0.name == "brokerage-7" }!
        next.tenants[replaced].id = Fixtures.tenantID(7, seed: 99)
        next.tenants[0].labels["tier"] = "enterprise"

        let plan = try await session.plan(next)
        let s = plan.summary
        #expect(plan.changes.filter { $0.action == .delete }.count == 100)
        #expect(plan.changes.filter { $0.action == .replace }.map(\.address.description) == ["tenant.brokerage-7"])
        #expect(s.change == 1_000 - 100 - 1)
        #expect(plan.changes.filter { $0.action == .create }.count == 45)
        _ = try await session.apply(plan, overrides: HazardOverrides(allowDestroy: true), osUser: "tester")
        let after = try await session.plan(next)
        #expect(after.changes.isEmpty, "plan after apply: \(after.changes.prefix(5).map(\.address))")

        let id = try await db.scalar("SELECT id FROM guardrail.tenants WHERE name = 'brokerage-7'")
        #expect(id == Fixtures.tenantID(7, seed: 99))
        let labels = try await db.scalar("SELECT labels->>'tier' FROM guardrail.tenants WHERE name = 'brokerage-0'")
        #expect(labels == "enterprise")
    }

    @Test("labels, quotes, unicode and newlines in values round-trip without a diff")
    func awkwardValuesRoundTrip() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let session = try await db.lockedSession()
        defer { Task { await session.close() } }
        var configuration = Configuration()
        configuration.tenants = [
            Tenant(name: "quotes", id: Fixtures.tenantID(1), displayName: "O'Brien \"Realty\"; DROP TABLE tenants; --"),
            Tenant(
                name: "unicode", id: Fixtures.tenantID(2), displayName: "Zürich Immobilien 🏠\nline two", labels: ["a.b/c-d": "x_y.z", "empty": ""]),
            Tenant(name: "suspended", id: Fixtures.tenantID(3), displayName: "S", status: .suspended),
            // What COPY's text format treats specially: backslashes, \N (its NULL), tabs, CR, LF, and a
            // label value with a backslash inside JSON.
            Tenant(name: "copy-escapes", id: Fixtures.tenantID(4), displayName: "a\\b \\N\tc\r\nd\\", labels: ["path": "C:\\x\\y", "tab": "\t"]),
        ]
        _ = try await session.apply(try await session.plan(configuration), overrides: HazardOverrides(), osUser: "tester")
        #expect(try await session.plan(configuration).changes.isEmpty)
        #expect(
            try await db.scalar("SELECT display_name FROM guardrail.tenants WHERE name = 'quotes'") == "O'Brien \"Realty\"; DROP TABLE tenants; --")
        #expect(try await db.scalar("SELECT display_name FROM guardrail.tenants WHERE name = 'copy-escapes'") == "a\\b \\N\tc\r\nd\\")
        #expect(try await db.scalar("SELECT labels->>'path' FROM guardrail.tenants WHERE name = 'copy-escapes'") == "C:\\x\\y")
    }

    @Test("new tenants go in by COPY inside the apply transaction: a duplicate id among them changes nothing")
    func copiedCreatesAreTransactional() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let session = try await db.lockedSession()
        defer { Task { await session.close() } }
        var configuration = Configuration()
        configuration.tenants = [Tenant(name: "first", id: Fixtures.tenantID(1), displayName: "First")]
        _ = try await session.apply(try await session.plan(configuration), overrides: HazardOverrides(), osUser: "tester")
        // Two new tenants, the second with the id the first one already has: the unique index refuses it.
        configuration.tenants += [
            Tenant(name: "second", id: Fixtures.tenantID(2), displayName: "Second"),
            Tenant(name: "clash", id: Fixtures.tenantID(1), displayName: "Clash"),
        ]
        let plan = try await session.plan(configuration)
        await #expect(throws: (any Error).self) {
            _ = try await session.apply(plan, overrides: HazardOverrides(), osUser: "tester")
        }
        #expect(try await db.scalar("SELECT string_agg(name, ',' ORDER BY name) FROM guardrail.tenants") == "first")
        #expect(try await db.scalar("SELECT count(*)::text FROM guardrail.audit_log") == "1")
        configuration.tenants.removeLast()
        _ = try await session.apply(try await session.plan(configuration), overrides: HazardOverrides(), osUser: "tester")
        #expect(try await db.scalar("SELECT string_agg(name, ',' ORDER BY name) FROM guardrail.tenants") == "first,second")
        #expect(try await session.plan(configuration).changes.isEmpty)
    }
}
