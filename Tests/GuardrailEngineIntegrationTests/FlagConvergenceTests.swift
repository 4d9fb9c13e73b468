import Foundation
import GuardrailCore
@testable import GuardrailEngine
import GuardrailTestSupport
import Testing

/// Flags against a real Postgres: convergence, the ledger behind `flag_enabled`, the current phase
/// never showing as drift, lowering exposure at once, and the kill switch.
@Suite("Feature flags", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct FlagConvergenceTests {
    struct Fixture {
        var db: TestDatabase
        var session: Session

        func enabled(_ flag: String, _ tenantID: String) async throws -> Bool {
            try await db.scalar("SELECT guardrail.flag_enabled('\(flag)', '\(tenantID)')") == "t"
        }

        func enabledNames(_ flag: String) async throws -> [String] {
            try await db.rows(
                """
                SELECT t.name FROM guardrail.tenants t WHERE guardrail.flag_enabled('\(flag)', t.id) ORDER BY t.name
                """
            ).map { $0[0] ?? "" }
        }

        @discardableResult
        func apply(_ configuration: Configuration, allowDestroy: Bool = false) async throws -> Plan {
            let plan = try await session.plan(configuration)
            _ = try await session.apply(plan, overrides: HazardOverrides(allowDestroy: allowDestroy), osUser: "tester")
            return plan
        }

        func close() async {
            await session.close()
            await db.drop()
        }
    }

    func fixture() async throws -> Fixture {
        let db = try await TestPostgres.createDatabase()
        let session = try await db.lockedSession()
        return Fixture(db: db, session: session)
    }

    /// The example tenants, flags and guardrails. Its roles and policies are left out: roles are
    /// cluster-wide, so suites applying them in parallel databases would race to create the same role.
    static func example() throws -> Configuration {
        var c = try Fixtures.exampleConfiguration()
        c.rowLevelSecurity = []
        c.roleGrants = []
        c.backupSchedules = []
        return c
    }

    static func emailOn(_ configuration: Configuration, enabled: Bool = true, overrides: FeatureFlag.Overrides? = nil) -> Configuration {
        var c = configuration
        let i = c.flags.firstIndex { $0.name == "channel.email" }!
        c.flags[i].enabled = enabled
        if let overrides { c.flags[i].overrides = overrides }
        return c
    }

    @Test("the example configuration converges; on flags are on for active tenants only, channel flags are off")
    func exampleConverges() async throws {
        let f = try await fixture()
        defer { Task { await f.close() } }
        let configuration = try Self.example()
        #expect(configuration.flags.count == 6)
        #expect(configuration.guardrails.count == 4)
        let plan = try await f.apply(configuration)
        #expect(plan.summary.add == configuration.tenants.count + 10)
        let second = try await f.session.plan(configuration)
        #expect(second.changes.isEmpty, "plan after apply: \(second.changes.map(\.address))")

        let active = configuration.tenants.filter { $0.status == .active }.map(\.name).sorted()
        #expect(try await f.enabledNames("ai.scoring") == active)
        #expect(!active.contains("granite-state-brokers"))
        #expect(try await f.enabledNames("channel.email").isEmpty)
        #expect(try await f.db.scalar("SELECT count(*) FROM guardrail.rollouts") == "0")
        #expect(try await f.db.scalar("SELECT provolatile FROM pg_proc WHERE proname = 'flag_enabled'") == "s")
        #expect(try await f.db.scalar("SELECT reason FROM guardrail.flag_cohorts LIMIT 1") == "full")
        #expect(try await f.enabled("ai.scoring", "00000000-0000-0000-0000-000000000000") == false)
        #expect(try await f.enabled("no.such.flag", configuration.tenants[0].id) == false)
    }

    @Test("enabling a channel plans its rollout with cohorts, starts it at the internal phase, and the phase is never drift")
    func enablingStartsTheRollout() async throws {
        let f = try await fixture()
        defer { Task { await f.close() } }
        let base = try Self.example()
        try await f.apply(base)
        let on = Self.emailOn(base)
        let plan = try await f.session.plan(on)
        #expect(plan.changes.map(\.address.description) == ["flag.channel.email"])
        let preview = try #require(plan.changes.first?.rollout)
        #expect(preview.startsOnApply)
        #expect(preview.eligible == 13)
        #expect(preview.phases.map(\.name) == ["internal", "canary", "25%", "50%", "100%"])
        #expect(preview.phases[0].added == ["test-tenant"])
        #expect(preview.phases[1].requestedByPercent == 1)
        #expect(preview.phases.map(\.cohortSize) == [1, 2, 5, 8, 13])
        let text = TextPlanRenderer(color: false).render(plan)
        #expect(text.contains("2. canary    5% of 13 = 0.65 -> 1 by rank; cohort 2 (15.38%); bake 7d"), "\(text)")
        #expect(text.contains("adds 1: test-tenant"))

        try await f.apply(on)
        #expect(try await f.enabledNames("channel.email") == ["test-tenant"])
        #expect(try await f.db.scalar("SELECT status || ':' || phase FROM guardrail.rollouts WHERE flag = 'channel.email'") == "progressing:0")
        #expect(try await f.db.scalar("SELECT reason FROM guardrail.flag_cohorts WHERE flag = 'channel.email'") == "phase 1 (internal)")

        // The controller moves the phase; the manifest did not change, so the plan stays empty.
        try await f.session.command("channel.email", .promote(by: "ops"), actor: "ops")
        #expect(try await f.enabledNames("channel.email").count == 2)
        #expect(try await f.session.plan(on).changes.isEmpty)
        let kinds = try await f.db.rows("SELECT kind FROM guardrail.rollout_events WHERE flag = 'channel.email' ORDER BY id").map { $0[0] ?? "" }
        #expect(kinds == ["start", "promote"])
    }

    @Test("lowering exposure applies at once: a new disable override, a lower percent, enabled: false")
    func loweringExposureIsImmediate() async throws {
        let f = try await fixture()
        defer { Task { await f.close() } }
        let base = Self.emailOn(try Self.example())
        try await f.apply(base)
        for _ in 0..<3 { try await f.session.command("channel.email", .promote(by: "ops"), actor: "ops") }
        let at50 = try await f.enabledNames("channel.email")
        #expect(at50.count == 8)

        let victim = at50.first { $0 != "test-tenant" }!
        let disabled = Self.emailOn(base, overrides: .init(disable: [victim]))
        try await f.apply(disabled)
        #expect(try await !f.enabledNames("channel.email").contains(victim))
        #expect(try await f.db.scalar("SELECT phase FROM guardrail.rollouts WHERE flag = 'channel.email'") == "3")

        // 25% and 50% become 10% and 30%: the rollout stays at the highest phase not above 50%, now 30%,
        // so exposure drops at once from 1 + 6 to 1 + ⌈30% of 12⌉ = 5 tenants.
        var lower = disabled
        let i = lower.flags.firstIndex { $0.name == "channel.email" }!
        lower.flags[i].rollout!.phases[3].percent = 30
        lower.flags[i].rollout!.phases[2].percent = 10
        #expect(try await f.enabledNames("channel.email").count == 7)
        try await f.apply(lower)
        #expect(try await f.enabledNames("channel.email").count == 5)
        #expect(try await f.db.scalar("SELECT phase FROM guardrail.rollouts WHERE flag = 'channel.email'") == "3")
        #expect(try await f.session.plan(lower).changes.isEmpty)

        try await f.apply(Self.emailOn(lower, enabled: false))
        #expect(try await f.enabledNames("channel.email").isEmpty)
        #expect(try await f.db.scalar("SELECT count(*) FROM guardrail.rollouts WHERE flag = 'channel.email'") == "0")
    }

    @Test("a kill turns the flag off for every tenant, overrides included, blocks promotion, and a release restores the ledger")
    func killAndRelease() async throws {
        let f = try await fixture()
        defer { Task { await f.close() } }
        let base = Self.emailOn(try Self.example(), overrides: .init(enable: ["acme-realty"]))
        try await f.apply(base)
        let before = try await f.enabledNames("channel.email")
        #expect(before == ["acme-realty", "test-tenant"])

        try await f.session.command("channel.email", .kill(by: "oncall"), actor: "oncall")
        #expect(try await f.enabledNames("channel.email").isEmpty)
        await #expect(throws: RolloutCommandError.self) { try await f.session.command("channel.email", .promote(by: "ops"), actor: "ops") }
        // An apply does not re-enable a killed flag, and the kill is not drift.
        #expect(try await f.session.plan(base).changes.isEmpty)
        try await f.apply(Self.emailOn(base, overrides: .init(enable: ["acme-realty", "redwood-homes"])))
        #expect(try await f.enabledNames("channel.email").isEmpty)
        let explanation = try await f.session.explain("channel.email", tenant: "acme-realty")
        #expect(!explanation.answer)
        #expect(explanation.reasons.first?.contains("killed (by oncall)") == true)

        // A flag without a rollout has a kill switch too.
        try await f.session.command("ai.scoring", .kill(by: "oncall"), actor: "oncall")
        #expect(try await f.enabledNames("ai.scoring").isEmpty)
        try await f.session.command("ai.scoring", .release(by: "oncall"), actor: "oncall")
        #expect(try await f.enabledNames("ai.scoring").count == 13)

        try await f.session.command("channel.email", .release(by: "oncall"), actor: "oncall")
        #expect(try await f.enabledNames("channel.email") == ["acme-realty", "redwood-homes", "test-tenant"])
        let on = try await f.session.explain("channel.email", tenant: "test-tenant")
        #expect(on.answer && on.ledgerReason == "phase 1 (internal)")
    }

    @Test("abort rolls back to the pre-rollout cohort and stays down until a spec change or retry")
    func abortAndRetry() async throws {
        let f = try await fixture()
        defer { Task { await f.close() } }
        let base = Self.emailOn(try Self.example(), overrides: .init(enable: ["acme-realty"]))
        try await f.apply(base)
        try await f.session.command("channel.email", .promote(by: "ops"), actor: "ops")
        try await f.session.command("channel.email", .abort(by: "ops"), actor: "ops")
        #expect(try await f.enabledNames("channel.email") == ["acme-realty"], "overrides stay through a rollback")
        #expect(try await f.db.scalar("SELECT status FROM guardrail.rollouts") == "rolled-back")
        let explanation = try await f.session.explain("channel.email", tenant: "test-tenant")
        #expect(explanation.reasons.contains { $0.contains("rolled-back") })
        await #expect(throws: RolloutCommandError.self) { try await f.session.command("channel.email", .resume(by: "ops"), actor: "ops") }

        // A changed rollout spec restarts it.
        var changed = base
        let i = changed.flags.firstIndex { $0.name == "channel.email" }!
        changed.flags[i].rollout!.phases[0].bake = .seconds(3600)
        try await f.apply(changed)
        #expect(try await f.db.scalar("SELECT status || ':' || phase FROM guardrail.rollouts") == "progressing:0")
        try await f.session.command("channel.email", .abort(by: "ops"), actor: "ops")
        try await f.session.command("channel.email", .retry(by: "ops"), actor: "ops")
        #expect(try await f.enabledNames("channel.email") == ["acme-realty", "test-tenant"])
    }

    @Test("adding tenants grows full flags at once and resizes percent cohorts to the new estate")
    func newTenantsJoin() async throws {
        let f = try await fixture()
        defer { Task { await f.close() } }
        var configuration = Fixtures.generatedConfiguration(tenants: 50)
        configuration.flags = [
            FeatureFlag(name: "everyone", enabled: true),
            FeatureFlag(
                name: "canary", enabled: true,
                rollout: Rollout(phases: [RolloutPhase(name: "ten", percent: 10), RolloutPhase(name: "all", percent: 100)])),
        ]
        try await f.apply(configuration)
        let canaryBefore = Set(try await f.enabledNames("canary"))
        #expect(canaryBefore.count == 5)
        var grown = Fixtures.generatedConfiguration(tenants: 80)
        grown.flags = configuration.flags
        try await f.apply(grown)
        #expect(try await f.enabledNames("everyone").count == 80)
        let canaryAfter = Set(try await f.enabledNames("canary"))
        #expect(canaryAfter.count == 8)
        #expect(try await f.session.plan(grown).changes.isEmpty)
    }
}
