import Testing
@testable import GuardrailCore

/// `Diff.changes` on Tenants, table-driven, and the mass-delete guard.
@Suite("Diff")
struct DiffTests {
    static let acme = tenant("acme", id: acmeID, displayName: "Acme Realty", labels: ["cohort": "internal"])
    static let globex = tenant("globex", id: globexID, displayName: "Globex")

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var desired: [Tenant]
        var observed: [Tenant]
        /// "action address [changed attributes] hazard-kinds"
        var expected: [String]
        var testDescription: String { name }
    }

    static func describe(_ c: Change) -> String {
        var text = "\(c.action.rawValue) \(c.address) [\(c.changedAttributes.joined(separator: ","))]"
        if !c.hazards.isEmpty { text += " " + c.hazards.map(\.kind.rawValue).joined(separator: ",") }
        return text
    }

    static let cases: [Case] = {
        var renamed = acme; renamed.displayName = "Acme Realty Group"
        var relabelled = acme; relabelled.labels = ["cohort": "beta", "tier": "gold"]
        var suspended = acme; suspended.status = .suspended
        var everything = acme; everything.displayName = "New"; everything.status = .offboarding; everything.labels = [:]
        var newID = acme; newID.id = initechID
        var newIDAndName = acme; newIDAndName.id = initechID; newIDAndName.displayName = "Other"
        return [
            Case(
                name: "create", desired: [acme], observed: [],
                expected: ["create tenant.acme [display_name,id,labels,status]"]),
            Case(
                name: "delete carries the destroys hazard", desired: [], observed: [acme],
                expected: ["delete tenant.acme [display_name,id,labels,status] destroys"]),
            Case(
                name: "update display name", desired: [renamed], observed: [acme],
                expected: ["update tenant.acme [display_name]"]),
            Case(
                name: "update labels", desired: [relabelled], observed: [acme],
                expected: ["update tenant.acme [labels]"]),
            Case(
                name: "update status", desired: [suspended], observed: [acme],
                expected: ["update tenant.acme [status]"]),
            Case(
                name: "update several attributes at once", desired: [everything], observed: [acme],
                expected: ["update tenant.acme [display_name,labels,status]"]),
            Case(
                name: "new id forces replacement", desired: [newID], observed: [acme],
                expected: ["replace tenant.acme [id] destroys"]),
            Case(
                name: "new id with other changes is still one replace", desired: [newIDAndName], observed: [acme],
                expected: ["replace tenant.acme [display_name,id] destroys"]),
            Case(name: "no change", desired: [acme, globex], observed: [globex, acme], expected: []),
            Case(name: "both empty", desired: [], observed: [], expected: []),
        ]
    }()

    @Test(arguments: cases)
    func diffOfTenants(_ c: Case) {
        let changes = Diff.changes(desired: c.desired, observed: c.observed)
        #expect(changes.map(Self.describe) == c.expected)
        for change in changes {
            #expect(change.kind == "Tenant")
            switch change.action {
            case .create: #expect(change.before == nil && change.after != nil)
            case .delete: #expect(change.before != nil && change.after == nil)
            case .update, .replace: #expect(change.before != nil && change.after != nil && change.before != change.after)
            }
        }
    }

    @Test func beforeIsLiveAndAfterIsDesired() throws {
        var renamed = Self.acme; renamed.displayName = "Acme Realty Group"
        let change = try #require(Diff.changes(desired: [renamed], observed: [Self.acme]).first)
        #expect(change.before?["display_name"] == .string("Acme Realty"))
        #expect(change.after?["display_name"] == .string("Acme Realty Group"))
        #expect(change.reason == "display_name differs from the configuration")
        #expect(change.hazards.isEmpty)
    }

    @Test func replaceHazardNamesTheImmutableAttributeAndWhatDeletingDoes() throws {
        var newID = Self.acme; newID.id = initechID
        let change = try #require(Diff.changes(desired: [newID], observed: [Self.acme]).first)
        #expect(change.hazards == [Hazard(.destroys, "id cannot change in place: " + Tenant.destroyHazard)])
        #expect(change.reason == "id changed, which forces replacement")
    }

    @Test func deleteReasonSaysTheObjectIsNotConfigured() throws {
        let change = try #require(Diff.changes(desired: [Tenant](), observed: [Self.acme]).first)
        #expect(change.reason == "tenant.acme exists live but is not in the configuration")
        #expect(change.hazards == [Hazard(.destroys, Tenant.destroyHazard)])
    }

    @Test func changesAreOrderedDeletesReplacesUpdatesCreatesEachByName() {
        func t(_ name: String, _ id: String = acmeID, _ display: String = "Same") -> Tenant { tenant(name, id: id, displayName: display) }
        let observed = [
            t("zeta-gone"), t("alpha-gone"),
            t("mike-replace", acmeID), t("bravo-replace", acmeID),
            t("yankee-update", acmeID, "Old"), t("charlie-update", acmeID, "Old"),
            t("unchanged"),
        ]
        let desired = [
            t("xray-new"), t("delta-new"),
            t("yankee-update", acmeID, "New"), t("charlie-update", acmeID, "New"),
            t("mike-replace", globexID), t("bravo-replace", globexID),
            t("unchanged"),
        ]
        let changes = Diff.changes(desired: desired, observed: observed)
        #expect(
            changes.map { "\($0.action.rawValue) \($0.address.name)" } == [
                "delete alpha-gone", "delete zeta-gone",
                "replace bravo-replace", "replace mike-replace",
                "update charlie-update", "update yankee-update",
                "create delta-new", "create xray-new",
            ])
    }

    // MARK: Mass deletes

    static func deletes(_ n: Int) -> [Change] {
        Diff.changes(desired: [Tenant](), observed: (0..<n).map { tenant("t\($0)") })
    }

    @Test(
        arguments: [
            // (deletes, managed, flagged, scope in the message)
            (1, 1, true, "every one of the 1"),
            (3, 3, true, "every one of the 3"),
            (3, 5, true, "3 of the 5"),
            (51, 100, true, "51 of the 100"),
            (2, 4, false, ""),
            (50, 100, false, ""),
            (1, 3, false, ""),
        ] as [(Int, Int, Bool, String)])
    func massDeleteGuard(_ deleteCount: Int, _ managed: Int, _ flagged: Bool, _ scope: String) {
        let guarded = Diff.guardMassDeletes(Self.deletes(deleteCount), observedCount: ["Tenant": managed])
        #expect(guarded.count == deleteCount)
        for change in guarded {
            let mass = change.hazards.filter { $0.kind == .massDelete }
            if flagged {
                #expect(mass.map(\.message) == ["the plan deletes \(scope) managed Tenant objects; an empty or missing folder looks like this"])
            } else {
                #expect(mass.isEmpty)
            }
            // The destroy hazard is kept either way.
            #expect(change.hazards.contains { $0.kind == .destroys })
        }
    }

    @Test func massDeleteGuardLeavesCreatesUpdatesAndOtherKindsAlone() {
        var changes = Diff.changes(desired: [tenant("new")], observed: [tenant("old-a"), tenant("old-b")])
        changes.append(
            Change(
                address: Address(prefix: "flag", name: "channel.email"), kind: "FeatureFlag", action: .delete,
                before: ["enabled": .bool(true)], after: nil, reason: "test"))
        let guarded = Diff.guardMassDeletes(changes, observedCount: ["Tenant": 2, "FeatureFlag": 10])
        #expect(
            guarded.map { $0.hazards.map(\.kind.rawValue) } == [
                ["destroys", "mass-delete"], ["destroys", "mass-delete"], [], [],
            ])
    }

    @Test func massDeleteGuardWithNoDeletesReturnsTheChangesUnchanged() {
        let changes = Diff.changes(desired: [tenant("a"), tenant("b")], observed: [Tenant]())
        #expect(Diff.guardMassDeletes(changes, observedCount: ["Tenant": 0]) == changes)
    }

    // MARK: Hazard overrides

    @Test(
        arguments: [
            (.destroys, false, false, false), (.destroys, true, false, true), (.destroys, false, true, false),
            (.massDelete, false, false, false), (.massDelete, true, false, false), (.massDelete, false, true, true),
            (.widensAccess, false, false, true), (.mayBreakQueries, false, false, true),
        ] as [(Hazard.Kind, Bool, Bool, Bool)])
    func hazardOverridesPermit(_ kind: Hazard.Kind, _ allowDestroy: Bool, _ allowMassDelete: Bool, _ permitted: Bool) {
        let overrides = HazardOverrides(allowDestroy: allowDestroy, allowMassDelete: allowMassDelete)
        #expect(overrides.permits(Hazard(kind, "x")) == permitted)
    }

    @Test func overrideFlagsAreNamedOnlyForBlockingHazards() {
        #expect(Hazard.Kind.destroys.override == "--allow-destroy")
        #expect(Hazard.Kind.massDelete.override == "--allow-mass-delete")
        #expect(Hazard.Kind.widensAccess.override == nil)
        #expect(Hazard.Kind.mayBreakQueries.override == nil)
    }

    @Test func massDeleteOfEverythingNeedsBothOverrides() {
        let plan = Plan(
            id: "p", environment: "e", createdAt: "t",
            changes: Diff.guardMassDeletes(Self.deletes(2), observedCount: ["Tenant": 2]), compared: [:], fingerprints: [:])
        #expect(plan.blockingHazards(HazardOverrides()).count == 4)
        #expect(plan.blockingHazards(HazardOverrides(allowDestroy: true)).map(\.1.kind) == [.massDelete, .massDelete])
        #expect(plan.blockingHazards(HazardOverrides(allowMassDelete: true)).map(\.1.kind) == [.destroys, .destroys])
        #expect(plan.blockingHazards(HazardOverrides(allowDestroy: true, allowMassDelete: true)).isEmpty)
    }

    /// Every case's plan, made on its observed side, gives its desired side: what an apply wrote,
    /// worked out without reading it back (creates come last; the rest keep their places).
    @Test(arguments: cases)
    func applyingTheChangesGivesTheDesiredObjects(_ c: Case) throws {
        let applied = try Diff.applying(Diff.changes(desired: c.desired, observed: c.observed), to: c.observed)
        #expect(applied.sorted { $0.name < $1.name } == c.desired.sorted { $0.name < $1.name })
    }

    @Test func applyingKeepsUntouchedObjectsAndIgnoresOtherKinds() throws {
        var renamed = Self.acme
        renamed.displayName = "Acme Realty Group"
        let changes =
            Diff.changes(desired: [renamed], observed: [Self.acme])
            + [Change(address: Address(prefix: "flag", name: "acme"), kind: FeatureFlag.kind, action: .delete, before: [:], after: nil, reason: "")]
        #expect(try Diff.applying(changes, to: [Self.globex, Self.acme]) == [Self.globex, renamed])
        #expect(try Diff.applying([], to: [Self.globex]) == [Self.globex])
    }
}
