import Foundation
import GuardrailCore
import GuardrailEngine
import GuardrailTestSupport
import Testing

/// A kind added as docs/adding-a-kind.md says, from outside Guardrail's modules: registered with one
/// line, it is decoded, planned, applied and converges against a real Postgres, and the kinds
/// Guardrail ships behave as before beside it.
@Suite("A kind added as a plug-in", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct AnnouncementKindTests {
    /// The one line: the built-in kinds, and this one.
    static let registry = KindRegistry.builtIn.registering(Announcement.self)

    static let tenants = """
        apiVersion: guardrail/v1
        kind: Tenant
        metadata: {name: acme-realty}
        spec: {id: 3f6c1d2e-8a4b-4c1e-9a57-0d2f5b8e7c11, displayName: Acme Realty}
        ---
        apiVersion: guardrail/v1
        kind: Tenant
        metadata: {name: harbor-homes}
        spec: {id: 9b2e4f60-1c3d-4e5f-8a7b-6c5d4e3f2a10, displayName: Harbor Homes}

        """

    static func announcement(_ name: String, tenant: String = "acme-realty", message: String, severity: String = "warning") -> String {
        """
        ---
        apiVersion: guardrail/v1
        kind: Announcement
        metadata: {name: \(name)}
        spec: {tenant: \(tenant), message: "\(message)", severity: \(severity)}

        """
    }

    static func load(_ announcements: String, registry: KindRegistry = registry) -> (Configuration, Diagnostics) {
        ConfigurationLoader.load(
            [
                ManifestSource(path: "manifests/tenants.yaml", bytes: Array(tenants.utf8)),
                ManifestSource(path: "manifests/announcements.yaml", bytes: Array(announcements.utf8)),
            ], registry: registry)
    }

    static func configuration(_ announcements: String) throws -> Configuration {
        let (configuration, diagnostics) = load(announcements)
        guard !diagnostics.hasErrors else { throw DiagnosticError(diagnostics.all) }
        return configuration
    }

    @Test("decoded with the registry, reported at file:line:column, unknown to a registry without it")
    func decoding() throws {
        let configuration = try Self.configuration(Self.announcement("maintenance", message: "Read-only from 02:00 UTC."))
        #expect(
            configuration.objects[Announcement.self] == [
                Announcement(
                    name: "maintenance", tenant: "acme-realty",
                    message: "Read-only from 02:00 UTC.", severity: .warning)
            ])
        #expect(configuration.objectCounts.contains { $0.kind == "Announcement" && $0.count == 1 })

        let (_, bad) = Self.load(
            """
            apiVersion: guardrail/v1
            kind: Announcement
            metadata: {name: typo}
            spec: {tenant: acme-reality, mesage: hello}
            """)
        let messages = bad.all.map { "\($0.location.map(\.description) ?? ""): \($0.summary)" }
        // The tenant it names is checked once every file is read, as built-in references are.
        #expect(
            messages == [
                "manifests/announcements.yaml:4:30: unknown key \"mesage\" in Announcement spec",
                "manifests/announcements.yaml:4:7: missing required field \"message\" in Announcement spec",
                "manifests/announcements.yaml:4:16: unknown tenant \"acme-reality\" in announcement.typo tenant",
            ])

        let (_, unknown) = Self.load(Self.announcement("maintenance", message: "x"), registry: .builtIn)
        #expect(unknown.all.contains { $0.summary == "unknown kind \"Announcement\"" })
    }

    @Test("plans, applies and converges against Postgres; changes, replaces and deletes converge too")
    func converges() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let session = try await Session.open(db.environment(), applicationName: "test", registry: Self.registry)
        defer { Task { await session.close() } }
        try await session.acquireLock(timeout: .seconds(5), applicationName: "test lock")

        var manifests =
            Self.announcement("maintenance", message: "Read-only from 02:00 UTC.")
            + Self.announcement("new-search", tenant: "harbor-homes", message: "Try the new search.", severity: "info")
        let first = try await session.plan(try Self.configuration(manifests))
        let created = first.changes.filter { $0.kind == Announcement.kind }
        #expect(created.map(\.address.description).sorted() == ["announcement.maintenance", "announcement.new-search"])
        #expect(created.allSatisfy { $0.action == .create })
        #expect(first.compared[Announcement.kind] == 2)
        let report = try await session.apply(first, overrides: HazardOverrides(), osUser: "tester")
        #expect(report.summary.add == first.summary.add)
        #expect(try await db.scalar("SELECT count(*) FROM guardrail.announcements") == "2")
        #expect(try await db.scalar("SELECT string_agg(kind || ':' || step, ',') FROM guardrail.kind_migrations") == "Announcement:1")
        #expect(try await session.plan(try Self.configuration(manifests)).changes.isEmpty)

        // An edited message is an update; a move to another tenant is a replace; a removed one a delete.
        manifests =
            Self.announcement("maintenance", message: "Read-only from 03:00 UTC.")
            + Self.announcement("new-search", tenant: "acme-realty", message: "Try the new search.", severity: "info")
        let second = try await session.plan(try Self.configuration(manifests))
        #expect(
            Dictionary(uniqueKeysWithValues: second.changes.map { ($0.address.description, $0.action) })
                == ["announcement.maintenance": .update, "announcement.new-search": .replace])
        // The replace deletes a banner: refused without --allow-destroy, and nothing changes.
        await #expect(throws: Session.ApplyRefusal.self) { try await session.apply(second, overrides: HazardOverrides(), osUser: "tester") }
        #expect(
            try await db.scalar("SELECT tenant || ':' || message FROM guardrail.announcements WHERE name = 'maintenance'")
                == "acme-realty:Read-only from 02:00 UTC.")
        _ = try await session.apply(second, overrides: HazardOverrides(allowDestroy: true), osUser: "tester")
        #expect(
            try await db.scalar("SELECT tenant || ':' || message FROM guardrail.announcements WHERE name = 'new-search'")
                == "acme-realty:Try the new search.")
        #expect(try await session.plan(try Self.configuration(manifests)).changes.isEmpty)

        // Deleting every one of them is a mass delete, refused without the override; nothing changes.
        let emptied = try await session.plan(try Self.configuration(""))
        let deletes = emptied.changes.filter { $0.kind == Announcement.kind }
        #expect(deletes.count == 2 && deletes.allSatisfy { $0.action == .delete && $0.hazards.contains { $0.kind == .massDelete } })
        await #expect(throws: Session.ApplyRefusal.self) {
            try await session.apply(emptied, overrides: HazardOverrides(allowDestroy: true), osUser: "tester")
        }
        #expect(try await db.scalar("SELECT count(*) FROM guardrail.announcements") == "2")
    }

    @Test("a Guardrail without the kind refuses a plan that changes it, and writes nothing")
    func refusedWithoutTheKind() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let planning = try await Session.open(db.environment(), applicationName: "test", registry: Self.registry)
        defer { Task { await planning.close() } }
        let plan = try await planning.plan(try Self.configuration(Self.announcement("maintenance", message: "Read-only.")))
        await planning.close()

        let builtIn = try await db.lockedSession()
        defer { Task { await builtIn.close() } }
        await #expect(throws: (any Error).self) { try await builtIn.apply(plan, overrides: HazardOverrides(), osUser: "tester") }
        #expect(try await db.scalar("SELECT to_regclass('guardrail.tenants') IS NULL") == "t")
    }
}
