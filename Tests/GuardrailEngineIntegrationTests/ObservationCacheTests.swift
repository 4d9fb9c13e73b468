import Foundation
import GuardrailCore
@testable import GuardrailEngine
import GuardrailTestSupport
import Testing

/// What the controller keeps across ticks (tenants as read, canonical policy texts, the lock's
/// connection) must never hide a change: each is reused only while what it came from is the same.
@Suite("Observation caches", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct ObservationCacheTests {
    @Test("cached tenants are reused while their rows are unchanged; a manual update, no-op update, delete or insert is seen at once")
    func tenantCacheSeesEveryManualChange() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let session = try await db.lockedSession()
        defer { Task { await session.close() } }
        let cache = ObservationCache<[Tenant]>()
        session.tenantCache = cache
        let configuration = Fixtures.generatedConfiguration(tenants: 50)
        _ = try await session.apply(try await session.plan(configuration), overrides: HazardOverrides(), osUser: "t")

        #expect(try await session.plan(configuration).changes.isEmpty)
        #expect(try await session.plan(configuration).changes.isEmpty)
        #expect(cache.hits == 1, "the second no-change plan read no tenant rows")

        let name = configuration.tenants[7].name
        try await db.execute("UPDATE guardrail.tenants SET display_name = 'Changed by hand' WHERE name = '\(name)'")
        let updated = try await session.plan(configuration)
        #expect(updated.changes.map(\.address.description) == ["tenant.\(name)"])
        #expect(updated.changes.first?.before?["display_name"] == .string("Changed by hand"))
        #expect(cache.hits == 1)

        try await db.execute("UPDATE guardrail.tenants SET display_name = display_name")
        #expect(try await session.plan(configuration).changes.map(\.action) == [.update], "re-read after rows were rewritten")
        #expect(cache.hits == 1)

        try await db.execute("DELETE FROM guardrail.tenants WHERE name = '\(configuration.tenants[3].name)'")
        #expect(try await session.plan(configuration).changes.map(\.action).sorted { $0.rawValue < $1.rawValue } == [.create, .update])

        try await db.execute("INSERT INTO guardrail.tenants (name, id, display_name, status) VALUES ('stray', gen_random_uuid(), 'Stray', 'active')")
        let withStray = try await session.plan(configuration)
        #expect(withStray.changes.contains { $0.address.description == "tenant.stray" && $0.action == .delete })
        #expect(cache.hits == 1, "no plan since the first repeat was answered from the cache")
    }

    @Test("canonical policy texts are reused across plans until the table's columns change")
    func canonicalCacheFollowsTheTable() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        // A table of this database and PUBLIC only: roles are cluster-wide, and other tests create theirs.
        try await db.execute("CREATE TABLE public.cached_props (id int, tenant_id uuid)")
        let manifest = """
            apiVersion: guardrail/v1
            kind: RowLevelSecurity
            metadata: {name: public.cached_props}
            spec:
              enabled: true
              searchPath: [public]
              policies:
                - {name: tenant_isolation, command: all, roles: [PUBLIC], using: "tenant_id = current_setting('app.current_tenant_id')::uuid"}
                - {name: readers, command: select, roles: [PUBLIC], using: "id > 0 AND tenant_id IS NOT NULL"}

            """
        let (configuration, diagnostics) = ConfigurationLoader.load([ManifestSource(path: "policies/p.yaml", bytes: Array(manifest.utf8))])
        #expect(!diagnostics.hasErrors, "\(diagnostics.all)")
        let session = try await db.lockedSession()
        defer { Task { await session.close() } }
        let cache = PolicyCanonicalizer.Cache()
        session.canonicalCache = cache
        _ = try await session.apply(try await session.plan(configuration), overrides: HazardOverrides(), osUser: "t")
        #expect(cache.hits == 0)
        #expect(try await session.plan(configuration).changes.isEmpty)
        #expect(cache.hits == 1)
        try await db.execute("ALTER TABLE public.cached_props ADD COLUMN added_by_hand text")
        #expect(try await session.plan(configuration).changes.isEmpty)
        #expect(cache.hits == 1, "a new column is a new key: the texts were canonicalized again")
        #expect(try await session.plan(configuration).changes.isEmpty)
        #expect(cache.hits == 2)
        // A manifest edit is a new key too.
        var edited = configuration
        edited.rowLevelSecurity[0].policies[1].using = "id > 1 AND tenant_id IS NOT NULL"
        #expect(try await session.plan(edited).changes.count == 1)
        #expect(cache.hits == 2)
    }

    @Test("a released lock keeps its connection for the next acquire, and is really released in between")
    func lockConnectionIsReused() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let a = try await Session.open(db.environment(), applicationName: "a")
        let b = try await Session.open(db.environment(), applicationName: "b")
        defer {
            Task {
                await a.close(); await b.close()
            }
        }
        let holder =
            "SELECT a.pid::text FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()"

        try await a.acquireLock(timeout: .seconds(1), applicationName: "a lock")
        let first = try await db.scalar(holder)
        await a.releaseLock()
        #expect(try await db.scalar(holder) == nil)
        try await b.acquireLock(timeout: .seconds(1), applicationName: "b lock")
        #expect(try await db.scalar(holder) != first)
        await b.releaseLock()

        try await a.acquireLock(timeout: .seconds(1), applicationName: "a lock again")
        #expect(try await db.scalar(holder) == first, "the same backend holds it again: no new connection")
        #expect(
            try await db.scalar("SELECT application_name FROM pg_stat_activity WHERE pid = \(first ?? "0")") == "local: a lock again",
            "renamed for its new holder, environment first")
        await a.releaseLock()
    }
}
