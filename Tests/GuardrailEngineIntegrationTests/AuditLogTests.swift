import Foundation
import GuardrailCore
import GuardrailTestSupport
import Testing
@testable import GuardrailEngine

/// The audit record keeps an apply's whole plan, gzip-compressed, and a small summary for listing.
@Suite("Audit log")
struct AuditLogTests {
    static let hostile = "quote \" backslash \\ newline \n tab \t bell \u{07} del \u{7F} nel \u{85} ls \u{2028} emoji 🏠"

    static func plan(_ changes: [Change]) -> Plan {
        Plan(
            id: UUID().uuidString.lowercased(), environment: "local", createdAt: "2026-12-01T00:00:00Z", changes: changes,
            compared: [:], fingerprints: [:])
    }

    @Test func theStoredPlanIsThePlanDocumentAndDecodesToTheSameChangesEvenWithHostileText() throws {
        let labels: AttributeValue = .map(["region": .string(Self.hostile), Self.hostile: .string("x")])
        let plan = Self.plan([
            Change(
                address: Address(prefix: "tenant", name: Self.hostile), kind: Tenant.kind, action: .create, before: nil,
                after: [
                    "display_name": .string(Self.hostile), "labels": labels, "n": .int(-3), "ratio": .double(0.25), "off": .bool(false),
                    "none": .null,
                ],
                reason: "new"),
            Change(
                address: Address(prefix: "tenant", name: "b"), kind: Tenant.kind, action: .update,
                before: ["display_name": .string("B"), "ids": .list([.string("1"), .int(2)])],
                after: ["display_name": .string("B2"), "ids": .list([.string("1"), .int(2)])], reason: "changed"),
            Change(
                address: Address(prefix: "tenant", name: "c"), kind: Tenant.kind, action: .delete,
                before: ["display_name": .string("C")], after: nil, reason: "gone"),
        ])
        let overrides = HazardOverrides(allowDestroy: true)
        let record = try AuditLog.prepare(plan, overrides: overrides)
        let document = try AuditLog.planDocument(record.planParts, expectedBytes: nil)
        #expect(document == (try JSONPlanRenderer.renderUTF8(plan, overrides: overrides)), "the stored document is what `plan --format json` prints")
        let decoded = try JSONPlanRenderer.decode(Data(document))
        #expect(decoded.changes.map(\.address) == plan.changes.map(\.address))
        #expect(decoded.changes[0].after?["display_name"] == .string(Self.hostile))
        let text = TextPlanRenderer(color: false, overrides: overrides)
        #expect(text.render(decoded) == text.render(plan))

        let summary = try JSONDecoder().decode(AuditLog.Summary.self, from: Data(record.summary.utf8))
        #expect(summary.counts == [Tenant.kind: ["create": 1, "update": 1, "delete": 1]])
        #expect(summary.listed == "create tenant.\(Self.hostile), update tenant.b, delete tenant.c")
        #expect(summary.overrides == overrides)
        #expect(summary.planBytes == document.count)
        #expect(record.objects == plan.changes.map(\.address.description) && record.objectsComplete)
        #expect(record.firstObject == "tenant." + Self.hostile)
    }

    @Test func aLargePlanListsOnlyTheFirstSegmentsOfItsAddressesAndIsCutIntoParts() throws {
        var changes: [Change] = []
        for i in 0..<(AuditLog.listedObjectsLimit + 1) {
            // Random text, which gzip cannot shrink much: the parts must still each stay under the limit.
            changes.append(
                Change(
                    address: Address(prefix: "tenant", name: "t\(i)"), kind: Tenant.kind, action: .create, before: nil,
                    after: ["noise": .string((0..<32).map { _ in UUID().uuidString }.joined())], reason: "new"))
        }
        changes.append(
            Change(
                address: Address(prefix: "flag", name: "f"), kind: FeatureFlag.kind, action: .create, before: nil, after: [:],
                reason: "new"))
        let plan = Self.plan(changes)
        let record = try AuditLog.prepare(plan, overrides: HazardOverrides())
        #expect(!record.objectsComplete)
        #expect(record.objects == ["tenant", "flag"])
        #expect(record.planParts.count > 1, "\(record.planParts.map(\.readableBytes))")
        #expect(record.planParts.allSatisfy { $0.readableBytes <= AuditLog.planPartBytes })
        let summary = try JSONDecoder().decode(AuditLog.Summary.self, from: Data(record.summary.utf8))
        #expect(summary.listed == nil)
        #expect(try AuditLog.planDocument(record.planParts, expectedBytes: summary.planBytes) == (try JSONPlanRenderer.renderUTF8(plan)))
    }

    @Test func anEmptyPlanIsRecordedWithNoObjects() throws {
        let record = try AuditLog.prepare(Self.plan([]), overrides: HazardOverrides())
        #expect(record.objects.isEmpty && record.firstObject == nil && record.objectsComplete)
        #expect(try JSONPlanRenderer.decode(Data(try AuditLog.planDocument(record.planParts, expectedBytes: nil))).changes.isEmpty)
    }
}

/// The audit log in Postgres: size of a large apply's rows, the timeline read from summaries, and
/// rows an older Guardrail wrote.
@Suite("Audit log storage", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct AuditLogStorageTests {
    @Test("an apply of 20,000 tenants keeps its whole plan in rows well under a megabyte each, and history reads it back")
    func aLargeApplyStoresSmallRows() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let session = try await db.lockedSession()
        defer { Task { await session.close() } }
        let plan = try await session.plan(Fixtures.generatedConfiguration(tenants: 20_000))
        #expect(plan.changes.count == 20_000)
        _ = try await session.apply(plan, overrides: HazardOverrides(), osUser: "alice", reason: "bulk import")

        let documentBytes = try #require(Int(try await db.scalar("SELECT (summary ->> 'plan_bytes') FROM guardrail.audit_log") ?? ""))
        #expect(documentBytes > 4_000_000, "the plan document itself is several megabytes: \(documentBytes)")
        // Every row as stored, its out-of-line values included.
        let logRow = try #require(Int(try await db.scalar("SELECT max(pg_column_size(a.*)) FROM guardrail.audit_log a") ?? ""))
        let planRows = try #require(Int(try await db.scalar("SELECT max(pg_column_size(p.*)) FROM guardrail.audit_plans p") ?? ""))
        let planTotal = try #require(Int(try await db.scalar("SELECT sum(pg_column_size(gzip)) FROM guardrail.audit_plans") ?? ""))
        #expect(logRow < 8_192, "the audit_log row is a summary: \(logRow) bytes")
        #expect(planRows <= AuditLog.planPartBytes + 1_024, "each part of the plan: \(planRows) bytes")
        #expect(planTotal < documentBytes / 4, "compressed \(documentBytes) -> \(planTotal)")
        #expect(try await db.scalar("SELECT count(*) FROM guardrail.audit_log WHERE changes IS NOT NULL") == "0")

        let listed = try await session.actions(limit: 5)
        #expect(listed.map(\.id) == [plan.id])
        #expect(listed.first?.summary == "20000 added, 0 changed, 0 destroyed (reason: bulk import)")
        #expect(listed.first?.object == plan.changes[0].address.description)
        // Too many to list one by one: the apply is matched by the first segment of what it changed.
        #expect(try await session.actions(limit: 5, object: "tenant.\(plan.changes[7].address.name)").map(\.id) == [plan.id])
        #expect(try await session.actions(limit: 5, object: "flag.nothing").isEmpty)

        let record = try #require(try await session.action(plan.id))
        #expect(record.fields.first { $0.label == "reason" }?.value == "bulk import")
        #expect(record.fields.first { $0.label == "by kind" }?.value == "Tenant: 20000 create")
        let changes = try #require(record.fields.first { $0.label == "changes" }?.value).split(separator: "\n")
        #expect(changes.count == 20_000 && changes.first.map(String.init) == "create \(plan.changes[0].address)")
        let stored = try #require(try record.plan())
        #expect(stored.changes == plan.changes)
    }

    @Test("a small apply lists every address it changed; --object matches exactly")
    func aSmallApplyListsItsAddresses() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let session = try await db.lockedSession()
        defer { Task { await session.close() } }
        let plan = try await session.plan(Fixtures.generatedConfiguration(tenants: 3))
        _ = try await session.apply(plan, overrides: HazardOverrides(), osUser: "alice")
        #expect(try await db.scalar("SELECT cardinality(objects) FROM guardrail.audit_log") == "3")
        let summary = try #require(try await session.actions(limit: 1).first?.summary)
        #expect(summary == "3 added, 0 changed, 0 destroyed: " + plan.changes.map { "create \($0.address)" }.joined(separator: ", "))
        #expect(try await session.actions(limit: 5, object: plan.changes[1].address.description).count == 1)
        #expect(try await session.actions(limit: 5, object: "tenant.not-changed").isEmpty)
    }

    @Test("rows written before the plans were compressed are summarised by the migration and still shown in full")
    func oldRowsStillShow() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let session = try await db.lockedSession()
        defer { Task { await session.close() } }
        let logger = session.environment.database.logger
        _ = try await session.connection.transaction(logger: logger, context: "old schema") { c in
            try await Migrations.migrate(c, schema: SQLIdentifier("guardrail"), logger: logger, upTo: Migrations.compressedAuditSinceVersion - 1)
        }
        let old = UUID().uuidString.lowercased()
        try await db.execute(
            """
            INSERT INTO guardrail.audit_log (plan_id, environment, os_user, added, changed, destroyed, changes, reason, applied_at)
            VALUES ('\(old)', 'local', 'bob', 1, 1, 0,
                    '[{"action":"create","address":"tenant.old-a","after":{}},
                      {"action":"update","address":"tenant.old-b","changed":["display_name"]}]',
                    'before the upgrade', now() - interval '1 hour')
            """)
        // Before the upgrade, history reads the old rows as they are.
        let oldSummary = "1 added, 1 changed, 0 destroyed: create tenant.old-a, update tenant.old-b (reason: before the upgrade)"
        #expect(try await session.actions(limit: 5).first?.summary == oldSummary)

        let plan = try await session.plan(Fixtures.generatedConfiguration(tenants: 2))
        _ = try await session.apply(plan, overrides: HazardOverrides(), osUser: "alice")
        #expect(try await db.scalar("SELECT objects::text FROM guardrail.audit_log WHERE plan_id = '\(old)'") == "{tenant.old-a,tenant.old-b}")

        let listed = try await session.actions(limit: 5)
        #expect(listed.map(\.id) == [plan.id, old])
        #expect(listed.last?.summary == oldSummary)
        #expect(listed.last?.object == "tenant.old-a")
        #expect(try await session.actions(limit: 5, object: "tenant.old-b").map(\.id) == [old])

        let record = try #require(try await session.action(old))
        #expect(record.planDocument == nil)
        #expect(record.fields.first { $0.label == "changes" }?.value == "create tenant.old-a\nupdate tenant.old-b (display_name)")
        #expect(record.fields.first { $0.label == "reason" }?.value == "before the upgrade")
    }
}
