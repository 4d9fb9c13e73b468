import Foundation
import GuardrailCore
import Testing

/// A small deterministic generator, so a failing property run can be replayed from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func tenants(_ count: Int, suspendedEvery: Int = 0, rng: inout SplitMix64) -> [Tenant] {
    (0..<count).map { i in
        let id = UUID(
            uuid: withUnsafeBytes(of: (rng.next(), rng.next())) { raw in
                var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
                withUnsafeMutableBytes(of: &bytes) { $0.copyMemory(from: raw) }
                return bytes
            }
        ).uuidString.lowercased()
        let status: Tenant.Status = suspendedEvery > 0 && i % suspendedEvery == suspendedEvery - 1 ? .suspended : .active
        return Tenant(name: "t-\(i)", id: id, displayName: "T \(i)", status: status, labels: ["cohort": i == 0 ? "internal" : "customer"])
    }
}

@Suite("cohorts")
struct CohortTests {
    func flag(_ percents: [Int], salt: String = "channel.email", overrides: FeatureFlag.Overrides = .init()) -> FeatureFlag {
        FeatureFlag(
            name: "channel.email", enabled: true, salt: salt, overrides: overrides,
            rollout: Rollout(phases: percents.enumerated().map { RolloutPhase(name: "p\($0.offset)", percent: $0.element) }))
    }

    @Test(
        "percent p selects exactly ⌈p/100 × N⌉ eligible tenants",
        arguments: [(5, 13, 1), (5, 20, 1), (5, 21, 2), (25, 13, 4), (50, 13, 7), (100, 13, 13), (0, 13, 0), (1, 10_000, 100), (33, 3, 1)])
    func exactCount(percent: Int, n: Int, expected: Int) {
        #expect(CohortPlan.requestedCount(percent: percent, of: n) == expected)
        var rng = SplitMix64(seed: UInt64(n))
        let plan = CohortPlan(flag: flag([percent]), tenants: tenants(n, rng: &rng))
        #expect(plan.phases[0].memberCount == expected)
    }

    @Test("ranks are stable: the same tenants in any order give the same cohort; another salt gives another")
    func rankIsStable() {
        var rng = SplitMix64(seed: 7)
        let all = tenants(200, rng: &rng)
        let a = CohortPlan(flag: flag([10]), tenants: all).memberIDs(through: 0)
        let b = CohortPlan(flag: flag([10]), tenants: all.shuffled(using: &rng)).memberIDs(through: 0)
        let c = CohortPlan(flag: flag([10], salt: "channel.sms"), tenants: all).memberIDs(through: 0)
        #expect(a == b)
        #expect(Set(a) != Set(c))
    }

    @Test("property: over random estates and non-decreasing percent sequences, raising the percent only adds tenants")
    func monotonic() {
        for seed in 1...200 as ClosedRange<UInt64> {
            var rng = SplitMix64(seed: seed)
            let n = Int.random(in: 0...300, using: &rng)
            let estate = tenants(n, suspendedEvery: Int.random(in: 0...5, using: &rng), rng: &rng)
            var percents: [Int] = []
            var p = 0
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                p = min(100, p + Int.random(in: 0...30, using: &rng))
                percents.append(p)
            }
            let disabled = estate.shuffled(using: &rng).prefix(Int.random(in: 0...3, using: &rng)).map(\.name)
            let plan = CohortPlan(flag: flag(percents, salt: "s\(seed)", overrides: .init(disable: disabled)), tenants: estate)
            let eligible = estate.filter { $0.status == .active && !disabled.contains($0.name) }
            var previous: Set<String> = []
            for (i, phase) in plan.phases.enumerated() {
                let members = Set(plan.memberIDs(through: i))
                #expect(members.count == phase.memberCount)
                #expect(members.isSuperset(of: previous), "seed \(seed): phase \(i) dropped tenants")
                #expect(members.count == CohortPlan.requestedCount(percent: percents[i], of: eligible.count), "seed \(seed): phase \(i) count")
                #expect(members.isSubset(of: Set(eligible.map(\.id))), "seed \(seed): an ineligible tenant was selected")
                #expect(phase.added.count == members.count - previous.count)
                previous = members
            }
        }
    }

    @Test("explicit tenants and selectors come first and stay; percents add by rank on top of them")
    func explicitTenants() {
        var rng = SplitMix64(seed: 3)
        let estate = tenants(20, rng: &rng)
        let flag = FeatureFlag(
            name: "x", enabled: true,
            rollout: Rollout(phases: [
                RolloutPhase(name: "internal", selector: ["cohort": "internal"]),
                RolloutPhase(name: "named", tenants: ["t-5"]),
                RolloutPhase(name: "canary", percent: 10),
            ]))
        let plan = CohortPlan(flag: flag, tenants: estate)
        #expect(plan.phases[0].added == ["t-0"])
        #expect(plan.phases[1].added == ["t-5"])
        #expect(Set(plan.memberIDs(through: 2)).isSuperset(of: [estate[0].id, estate[5].id]))
        #expect(plan.phases[2].memberCount == 2 + 2, "the named tenants plus ⌈10% of 20⌉ others by rank")
        #expect(plan.phases[2].requestedByPercent == 2)
    }

    @Test("the ledger: overrides on, disables win, phases give reasons, baseline restores, disabled flag is empty")
    func ledger() {
        var rng = SplitMix64(seed: 11)
        let estate = tenants(40, rng: &rng)
        var flag = FeatureFlag(
            name: "x", enabled: true, overrides: .init(enable: ["t-3"], disable: ["t-0"]),
            rollout: Rollout(phases: [RolloutPhase(name: "internal", selector: ["cohort": "internal"]), RolloutPhase(name: "canary", percent: 10)]))
        let phase1 = CohortPlan.ledger(flag: flag, exposure: .phase(1), tenants: estate)
        #expect(phase1.first == LedgerEntry(tenantID: estate[3].id, reason: "override"))
        #expect(!phase1.contains { $0.tenantID == estate[0].id }, "a disable override beats the internal selector")
        #expect(phase1.filter { $0.reason == "phase 2 (canary)" }.count >= 3)
        let full = CohortPlan.ledger(flag: flag, exposure: .full, tenants: estate)
        #expect(full.count == 39)
        let baseline = CohortPlan.ledger(flag: flag, exposure: .baseline([estate[7].id, estate[0].id]), tenants: estate)
        #expect(baseline.map(\.reason) == ["override", "pre-rollout"])
        // Lowering exposure is immediate: a new disable override or enabled: false takes the tenant out at once.
        flag.overrides = .init(enable: ["t-3"], disable: ["t-0", "t-3"])
        #expect(!CohortPlan.ledger(flag: flag, exposure: .full, tenants: estate).contains { $0.tenantID == estate[3].id })
        flag.enabled = false
        #expect(CohortPlan.ledger(flag: flag, exposure: .full, tenants: estate).isEmpty)
    }

    @Test("{{cohort}} and {{control}} expand to escaped regexes; an empty set gives no regex")
    func queryTemplates() {
        #expect(QueryTemplate.regex(ids: []) == nil)
        #expect(QueryTemplate.regex(ids: ["b", "a.c"]) == #"a\\.c|b"#)
        #expect(QueryTemplate.regex(ids: [#"q"x"#]) == #"q\"x"#)
        let q = #"sum(x{tenant_id=~"{{cohort}}"}) / sum(x{tenant_id=~"{{ control }}"}) {{other}}"#
        #expect(QueryTemplate.expand(q, cohort: "A|B", control: "C") == #"sum(x{tenant_id=~"A|B"}) / sum(x{tenant_id=~"C"}) {{other}}"#)
        #expect(QueryTemplate.unknownPlaceholders(in: q).map(\.placeholder) == ["other"])
    }
}

/// The controller's flag snapshot reads each cohort as packed 16-byte ids; the set must answer the
/// same whether they arrive in order, shuffled or not at all, and refuse a truncated value.
@Test func packedCohortIdsAnswerAsTheIdsDo() {
    var rng = SplitMix64(seed: 7)
    let ids = (0..<500).map { _ in UUID(uuid: withUnsafeBytes(of: (rng.next(), rng.next())) { $0.load(as: uuid_t.self) }) }
    let outside = (0..<50).map { _ in UUID(uuid: withUnsafeBytes(of: (rng.next(), rng.next())) { $0.load(as: uuid_t.self) }) }
    func packed(_ ids: [UUID]) -> [UInt8] { ids.flatMap { id in withUnsafeBytes(of: id.uuid) { Array($0) } } }
    let reference = TenantIDSet(ids)
    for order in [ids, ids.shuffled(using: &rng), ids.sorted { $0.uuidString < $1.uuidString }] {
        let set = packed(order).withUnsafeBytes { TenantIDSet(packed: $0) }
        #expect(set == reference)
        #expect(ids.allSatisfy { set?.contains($0) == true })
        #expect(outside.allSatisfy { set?.contains($0) == false })
    }
    #expect([UInt8]().withUnsafeBytes { TenantIDSet(packed: $0) }?.count == 0)
    #expect(packed(ids).dropLast().withUnsafeBytes { TenantIDSet(packed: $0) } == nil)
}
