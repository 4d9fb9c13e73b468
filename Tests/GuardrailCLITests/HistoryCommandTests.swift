import Foundation
import GuardrailTestSupport
import Testing

/// `guardrail history show`: an apply's record in full, its plan as `plan` printed it.
@Suite("history show", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct HistoryCommandTests {
    /// The text after `plan:` in `history show`'s output.
    static func planText(_ output: String) -> String? {
        output.range(of: "\nplan:\n").map { String(output[$0.upperBound...]) }
    }

    @Test("history show prints the plan text that plan printed, the changes and the reason; --format json gives the plan document")
    func showPrintsThePlan() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 12),
            "environments/local.yaml": Fixtures.localEnvironmentYAML,
        ])
        let env = ["DATABASE_URL": db.urlString]
        func run(_ args: String...) throws -> CommandResult { try CommandRunner.run(args, in: dir, environment: env) }

        let planned = try run("plan", "--env", "local", "--no-color")
        #expect(planned.status == 0, "\(planned.output)")
        #expect(try run("apply", "--env", "local", "--auto-approve", "--reason", "first tenants").status == 0)

        // Then one tenant goes: a destroy, applied with its override, which the recorded plan shows as allowed.
        try Fixtures.tenantsYAML(count: 11).write(to: dir.appendingPathComponent("manifests/tenants.yaml"), atomically: true, encoding: .utf8)
        let deleting = try run("plan", "--env", "local", "--no-color", "--allow-destroy")
        #expect(deleting.stdout.contains("allowed by --allow-destroy"), "\(deleting.stdout)")
        #expect(try run("apply", "--env", "local", "--auto-approve", "--allow-destroy", "--reason", "offboarded").status == 0)

        let json = try run("history", "--env", "local", "--kind", "apply", "--format", "json")
        let applies = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]], "\(json.output)")
        #expect(applies.count == 2)
        let second = try #require(applies.first?["id"] as? String), first = try #require(applies.last?["id"] as? String)

        let shown = try run("history", "show", first, "--env", "local", "--no-color")
        #expect(shown.status == 0, "\(shown.output)")
        #expect(Self.planText(shown.stdout) == planned.stdout, "\(shown.stdout)")
        #expect(shown.stdout.contains("reason:") && shown.stdout.contains("first tenants"), "\(shown.stdout)")
        #expect(shown.stdout.contains("  create tenant.brokerage-0\n") && shown.stdout.contains("Tenant: 12 create"), "\(shown.stdout)")

        let shownDelete = try run("history", "show", second, "--env", "local", "--no-color")
        #expect(Self.planText(shownDelete.stdout) == deleting.stdout, "\(shownDelete.stdout)")
        #expect(shownDelete.stdout.contains("offboarded") && shownDelete.stdout.contains("delete tenant.brokerage-11"), "\(shownDelete.stdout)")

        let full = try run("history", "show", first, "--env", "local", "--format", "json")
        let record = try #require(try JSONSerialization.jsonObject(with: Data(full.stdout.utf8)) as? [String: Any], "\(full.output)")
        #expect(record["reason"] as? String == "first tenants")
        #expect((record["changes"] as? [String])?.count == 12)
        let document = try #require(record["plan_document"] as? [String: Any])
        #expect(document["plan_id"] as? String == first)
        #expect((document["changes"] as? [[String: Any]])?.count == 12)
    }
}
