import Foundation
import GuardrailCore
import Testing
@testable import GuardrailEngine

/// The audit record's JSON is written straight into one string for speed; it must be exactly the
/// canonical JSON of the structured record, whatever the names and values hold.
@Suite("Audit log")
struct AuditLogTests {
    static let hostile = "quote \" backslash \\ newline \n tab \t bell \u{07} del \u{7F} nel \u{85} ls \u{2028} emoji 🏠"

    static func expected(_ plan: Plan) -> String {
        AttributeValue.list(plan.changes.map { change in
            var entry: Attributes = ["address": .string(change.address.description), "action": .string(change.action.rawValue)]
            if change.action == .update || change.action == .replace { entry["changed"] = .list(change.changedAttributes.map { .string($0) }) }
            if let before = change.before { entry["before"] = .map(before) }
            if let after = change.after { entry["after"] = .map(after) }
            return .map(entry)
        }).canonicalJSON
    }

    @Test func theWrittenChangesAreTheCanonicalJSONOfEveryChangeEvenWithHostileText() throws {
        let labels: AttributeValue = .map(["region": .string(Self.hostile), Self.hostile: .string("x")])
        let changes = [
            Change(address: Address(prefix: "tenant", name: Self.hostile), kind: Tenant.kind, action: .create, before: nil,
                   after: ["display_name": .string(Self.hostile), "labels": labels, "n": .int(-3), "ratio": .double(0.25), "off": .bool(false), "none": .null],
                   reason: "new"),
            Change(address: Address(prefix: "tenant", name: "b"), kind: Tenant.kind, action: .update,
                   before: ["display_name": .string("B"), "ids": .list([.string("1"), .int(2)])],
                   after: ["display_name": .string("B2"), "ids": .list([.string("1"), .int(2)])], reason: "changed"),
            Change(address: Address(prefix: "tenant", name: "c"), kind: Tenant.kind, action: .delete,
                   before: ["display_name": .string("C"), "weird": .double(.nan)], after: nil, reason: "gone"),
            Change(address: Address(prefix: "tenant", name: "d"), kind: Tenant.kind, action: .replace,
                   before: ["id": .string("1")], after: ["id": .string("2")], reason: "id changed"),
        ]
        let plan = Plan(id: UUID().uuidString.lowercased(), environment: "local", createdAt: "2026-12-01T00:00:00Z", changes: changes, compared: [:], fingerprints: [:])
        let written = AuditLog.changesJSON(plan)
        #expect(written == Self.expected(plan))
        // And it is JSON a reader parses back to the same names.
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(written.utf8)) as? [[String: Any]])
        #expect(parsed.count == 4)
        #expect(parsed[0]["address"] as? String == "tenant." + Self.hostile)
        #expect(parsed[1]["changed"] as? [String] == ["display_name"])
        #expect(parsed[2]["after"] == nil)
    }

    @Test func anEmptyPlanIsAnEmptyList() {
        let plan = Plan(id: UUID().uuidString.lowercased(), environment: "local", createdAt: "2026-12-01T00:00:00Z", changes: [], compared: [:], fingerprints: [:])
        #expect(AuditLog.changesJSON(plan) == "[]")
    }
}
