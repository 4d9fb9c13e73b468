import Foundation
import Testing
@testable import GuardrailCore

/// The plan value: summary counts, `--target`, building from desired and live state, and staleness.
@Suite("Plan")
struct PlanTests {
    static func change(_ action: Change.Action, _ name: String, prefix: String = "tenant") -> Change {
        Change(
            address: Address(prefix: prefix, name: name), kind: "Tenant", action: action,
            before: action == .create ? nil : ["v": .int(1)], after: action == .delete ? nil : ["v": .int(2)], reason: "test")
    }

    static func plan(_ changes: [Change], fingerprints: [String: String]? = nil) -> Plan {
        Plan(
            id: "p1", environment: "staging", createdAt: "2025-01-01T00:00:00Z", changes: changes, compared: ["Tenant": changes.count],
            fingerprints: fingerprints ?? Dictionary(uniqueKeysWithValues: changes.map { ($0.address.description, "fp-\($0.address.name)") }))
    }

    @Test(
        arguments: [
            ([], 0, 0, 0),
            ([.create], 1, 0, 0),
            ([.update], 0, 1, 0),
            ([.delete], 0, 0, 1),
            ([.replace], 1, 0, 1),
            ([.create, .update, .delete, .replace], 2, 1, 2),
            ([.replace, .replace, .create, .update, .update], 3, 2, 2),
        ] as [([Change.Action], Int, Int, Int)])
    func summaryCountsReplaceAsOneAddAndOneDestroy(_ actions: [Change.Action], _ add: Int, _ change: Int, _ destroy: Int) {
        let plan = Self.plan(actions.enumerated().map { Self.change($0.element, "t\($0.offset)") })
        let s = plan.summary
        #expect([s.add, s.change, s.destroy] as [Int] == [add, change, destroy])
        #expect(plan.hasChanges == !actions.isEmpty)
    }

    // MARK: --target

    static let targetPlan = plan([
        change(.create, "acme"), change(.update, "acme-realty"), change(.delete, "globex"),
        change(.create, "channel.email", prefix: "flag"),
    ])

    @Test(
        arguments: [
            (["tenant"], ["tenant.acme", "tenant.acme-realty", "tenant.globex"]),
            (["tenant.acme"], ["tenant.acme"]),
            (["tenant.acme-realty", "tenant.globex"], ["tenant.acme-realty", "tenant.globex"]),
            (["flag"], ["flag.channel.email"]),
            (["flag.channel"], ["flag.channel.email"]),
            (["tenant.ac"], []),
            (["tenants"], []),
            (["backup.nightly"], []),
            ([], ["tenant.acme", "tenant.acme-realty", "tenant.globex", "flag.channel.email"]),
        ] as [([String], [String])])
    func targetingKeepsOnlySelectedChangesAndTheirFingerprints(_ patterns: [String], _ kept: [String]) {
        let narrowed = Self.targetPlan.targeting(patterns)
        #expect(narrowed.changes.map(\.address.description) == kept)
        #expect(Set(narrowed.fingerprints.keys) == Set(kept))
        #expect(narrowed.id == Self.targetPlan.id)
    }

    // MARK: PlanBuilder

    static let acme = tenant("acme", id: acmeID, displayName: "Acme Realty")
    static let globex = tenant("globex", id: globexID, displayName: "Globex")
    static let initech = tenant("initech", id: initechID, displayName: "Initech")

    static func configuration(_ tenants: [Tenant]) -> Configuration {
        var c = Configuration()
        c.tenants = tenants
        return c
    }

    static let context = PlanBuilder.Context(
        environment: "staging", planID: "plan-1", createdAt: "2025-01-02T03:04:05Z",
        gitCommit: "abc123", schema: "ops")

    @Test func planWithoutSchemaNotesThatTheFirstApplyCreatesIt() {
        let plan = PlanBuilder.plan(desired: Self.configuration([Self.acme]), live: LiveState(schemaVersion: nil), context: Self.context)
        #expect(plan.notes == ["Guardrail's schema \"ops\" does not exist in this database yet; the first apply creates it."])
        let withSchema = PlanBuilder.plan(desired: Self.configuration([Self.acme]), live: LiveState(schemaVersion: 1), context: Self.context)
        #expect(withSchema.notes.isEmpty)
    }

    @Test func planCarriesContextComparedCountsAndLiveFingerprints() {
        var renamed = Self.globex; renamed.displayName = "Globex Corporation"
        let live = LiveState(schemaVersion: 1, tenants: [Self.acme, Self.globex, Self.initech])
        let plan = PlanBuilder.plan(
            desired: Self.configuration([Self.acme, renamed, tenant("hooli", id: acmeID.replacingOccurrences(of: "3f", with: "4f"))]),
            live: live, context: Self.context)
        #expect(plan.id == "plan-1")
        #expect(plan.environment == "staging")
        #expect(plan.createdAt == "2025-01-02T03:04:05Z")
        #expect(plan.gitCommit == "abc123")
        #expect(plan.formatVersion == Plan.currentFormatVersion)
        #expect(
            plan.changes.map { "\($0.action.rawValue) \($0.address)" } == ["delete tenant.initech", "update tenant.globex", "create tenant.hooli"])
        // acme, globex, initech and hooli were compared.
        #expect(plan.compared == ["Tenant": 4])
        #expect(
            plan.fingerprints == [
                "tenant.initech": Fingerprint.of(Self.initech.attributes),
                "tenant.globex": Fingerprint.of(Self.globex.attributes),
                "tenant.hooli": Fingerprint.absent,
            ])
    }

    @Test func planGuardsMassDeletesBeforeTargetingNarrowsIt() {
        var context = Self.context
        context.targets = ["tenant.acme"]
        let plan = PlanBuilder.plan(
            desired: Self.configuration([]), live: LiveState(schemaVersion: 1, tenants: [Self.acme, Self.globex]),
            context: context)
        #expect(plan.changes.map(\.address.description) == ["tenant.acme"])
        #expect(plan.changes.first?.hazards.map(\.kind) == [.destroys, .massDelete])
        #expect(plan.changes.first?.hazards.last?.message.contains("every one of the 2") == true)
        #expect(Array(plan.fingerprints.keys) == ["tenant.acme"])
    }

    // MARK: Staleness

    static let live = LiveState(schemaVersion: 1, tenants: [acme, globex])

    /// A plan that updates acme, deletes globex and creates initech.
    static let savedPlan: Plan = {
        var renamed = acme; renamed.displayName = "Acme Realty Group"
        return PlanBuilder.plan(desired: configuration([renamed, initech]), live: live, context: context)
    }()

    @Test func savedPlanIsFreshAgainstUnchangedLiveState() {
        #expect(Self.savedPlan.changes.count == 3)
        #expect(PlanBuilder.staleness(of: Self.savedPlan, against: Self.live) == nil)
        // Objects the plan does not touch may change freely.
        var other = Self.live
        other.tenants.append(tenant("unrelated", id: initechID))
        #expect(PlanBuilder.staleness(of: Self.savedPlan, against: other) == nil)
    }

    @Test func staleWhenATouchedObjectChanged() throws {
        var moved = Self.live
        moved.tenants[0].status = .suspended
        let stale = try #require(PlanBuilder.staleness(of: Self.savedPlan, against: moved))
        #expect(stale.address == "tenant.acme")
        #expect(stale.planned == Fingerprint.of(Self.acme.attributes))
        #expect(stale.live == Fingerprint.of(moved.tenants[0].attributes))
        #expect(stale.description == "tenant.acme existed when the plan was made and has since changed")
    }

    @Test func staleWhenATouchedObjectWasDeleted() throws {
        let gone = LiveState(schemaVersion: 1, tenants: [Self.acme])
        let stale = try #require(PlanBuilder.staleness(of: Self.savedPlan, against: gone))
        #expect(stale.address == "tenant.globex")
        #expect(stale.live == Fingerprint.absent)
        #expect(stale.description == "tenant.globex existed when the plan was made and has since been deleted")
    }

    @Test func staleWhenAnObjectThePlanCreatesAppeared() throws {
        let appeared = LiveState(schemaVersion: 1, tenants: [Self.acme, Self.globex, Self.initech])
        let stale = try #require(PlanBuilder.staleness(of: Self.savedPlan, against: appeared))
        #expect(stale.address == "tenant.initech")
        #expect(stale.planned == Fingerprint.absent)
        #expect(stale.description == "tenant.initech did not exist when the plan was made and has since been created")
    }

    @Test func stalenessNamesTheFirstChangedAddressInOrder() throws {
        var moved = Self.live
        moved.tenants[0].displayName = "x"
        moved.tenants[1].displayName = "y"
        #expect(try #require(PlanBuilder.staleness(of: Self.savedPlan, against: moved)).address == "tenant.acme")
    }

    @Test func liveAttributesOfUnknownKindsAreAbsent() {
        let found = Self.live.attributes(of: [
            Address(prefix: "tenant", name: "acme"), Address(prefix: "tenant", name: "nope"),
            Address(prefix: "flag", name: "x"),
        ])
        #expect(found[Address(prefix: "tenant", name: "acme")] == .some(Self.acme.attributes))
        #expect(found[Address(prefix: "tenant", name: "nope")] == .some(nil))
        #expect(found[Address(prefix: "flag", name: "x")] == .some(nil))
    }

    // MARK: Addresses and attributes

    @Test func tenantRebuildsFromItsAttributes() throws {
        let t = tenant("acme", id: acmeID, displayName: "Acme", status: .offboarding, labels: ["a": "b"])
        #expect(try Tenant(name: "acme", attributes: t.attributes) == t)
        var broken = t.attributes
        broken["id"] = .string("nope")
        #expect(throws: AttributeError.self) { try Tenant(name: "acme", attributes: broken) }
        broken = t.attributes
        broken["status"] = .string("deleted")
        #expect(throws: AttributeError.self) { try Tenant(name: "acme", attributes: broken) }
    }

    @Test(
        arguments: [
            ("tenant.acme", "tenant", "acme"),
            ("flag.channel.email", "flag", "channel.email"),
            ("rls.public.properties.policy.tenant_isolation", "rls", "public.properties.policy.tenant_isolation"),
        ] as [(String, String, String)])
    func addressDecodesAtTheFirstDot(_ text: String, _ prefix: String, _ name: String) throws {
        let data = "\"\(text)\"".data(using: .utf8)!
        let address = try JSONDecoder().decode(Address.self, from: data)
        #expect(address == Address(prefix: prefix, name: name))
        #expect(address.description == text)
    }
}
