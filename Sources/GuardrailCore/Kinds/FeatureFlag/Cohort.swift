import Crypto

/// Who a flag is on for at each phase of its rollout. Pure.
///
/// Eligible tenants are the active ones that no `disable` override names. They are ranked by
/// SHA-256 of the flag's salt and the tenant id, which is stable across runs, machines and tenant
/// order. Phase *i* holds the tenants every phase up to *i* names explicitly (by name or selector)
/// plus the first ⌈p/100 × N⌉ other eligible tenants by rank, where p is the phase's percent and N
/// the number of eligible tenants. Percents never decrease, so raising one only ever adds tenants.
///
///     let cohorts = CohortPlan(flag: email, tenants: configuration.tenants)
///     cohorts.phases[1].added   // the tenant names the canary phase adds
public struct CohortPlan: Sendable {
    public struct Phase: Hashable, Sendable, Codable {
        public var name: String
        public var percent: Int?
        /// ⌈p/100 × N⌉: how many tenants the percent asks for.
        public var requestedByPercent: Int
        /// How many the percent actually picks: fewer than requested when too few tenants are left
        /// besides the explicitly named ones.
        public var pickedByPercent: Int
        /// Every tenant in the cohort at this phase (cumulative), in rank order, by id.
        public var memberIDs: [String]
        /// The tenant names this phase adds to the previous one, in rank order.
        public var added: [String]
    }

    /// Eligible tenants, best rank first.
    public let ranked: [Tenant]
    public let phases: [Phase]
    public var eligibleCount: Int { ranked.count }

    public init(flag: FeatureFlag, tenants: [Tenant]) {
        let disabled = Set(flag.overrides.disable)
        let eligible = tenants.filter { $0.status == .active && !disabled.contains($0.name) }
        let ranked = Self.rank(eligible, salt: flag.salt)
        self.ranked = ranked
        guard let rollout = flag.rollout else {
            phases = []
            return
        }
        var members: [String] = []
        var seen: Set<String> = []
        var explicit: Set<String> = []
        var highest = 0
        var out: [Phase] = []
        for phase in rollout.phases {
            var added: [String] = []
            let named = Set(phase.tenants)
            for tenant in ranked where !explicit.contains(tenant.id) && (named.contains(tenant.name) || phase.selects(labels: tenant.labels)) {
                explicit.insert(tenant.id)
                if !seen.insert(tenant.id).inserted { continue }
                members.append(tenant.id)
                added.append(tenant.name)
            }
            highest = max(highest, phase.percent ?? 0)
            let requested = Self.requestedCount(percent: highest, of: ranked.count)
            // The first `requested` tenants by rank that no phase so far names explicitly. Removing
            // named tenants from the ranking only moves others up, so earlier picks stay in.
            var picked = 0
            for tenant in ranked where picked < requested && !explicit.contains(tenant.id) {
                picked += 1
                if seen.insert(tenant.id).inserted {
                    members.append(tenant.id)
                    added.append(tenant.name)
                }
            }
            out.append(Phase(name: phase.name, percent: phase.percent, requestedByPercent: phase.percent == nil ? 0 : requested,
                             pickedByPercent: phase.percent == nil ? 0 : picked, memberIDs: members, added: added))
        }
        phases = out
    }

    /// ⌈p/100 × n⌉ in integer arithmetic, so 5% of 20 is exactly 1.
    public static func requestedCount(percent: Int, of n: Int) -> Int {
        let p = max(0, min(100, percent))
        return (p * n + 99) / 100
    }

    /// Tenants ordered by SHA-256(salt, ":", id), ties (never seen in practice) broken by id.
    public static func rank(_ tenants: [Tenant], salt: String) -> [Tenant] {
        var base = SHA256()
        base.update(data: Array(salt.utf8))
        base.update(data: [UInt8(ascii: ":")])
        var keyed: [(key: UInt64, tenant: Tenant)] = []
        keyed.reserveCapacity(tenants.count)
        for tenant in tenants {
            var hasher = base
            hasher.update(data: Array(tenant.id.utf8))
            var key: UInt64 = 0
            for byte in hasher.finalize().prefix(8) { key = key << 8 | UInt64(byte) }
            keyed.append((key, tenant))
        }
        keyed.sort { $0.key != $1.key ? $0.key < $1.key : $0.tenant.id < $1.tenant.id }
        return keyed.map(\.tenant)
    }
}

/// One row of the cohort ledger: a tenant the flag is on for, and why.
public struct LedgerEntry: Hashable, Sendable {
    public var tenantID: String
    public var reason: String

    public init(tenantID: String, reason: String) {
        self.tenantID = tenantID
        self.reason = reason
    }
}

/// How far a flag is exposed: the input to the ledger.
public enum Exposure: Hashable, Sendable {
    /// Off for every tenant (`enabled: false`).
    case none
    /// On for every eligible tenant (`enabled: true` and no rollout, or nothing left to roll out).
    case full
    /// The cohort of this phase of the rollout.
    case phase(Int)
    /// The cohort as it was before the rollout began: the tenant ids given.
    case baseline([String])
}

extension CohortPlan {
    /// The ledger for a flag at an exposure: who is on, and why. Disable overrides always win, enable
    /// overrides hold whenever the flag is enabled. (A kill is not here: `flag_enabled` checks it, so
    /// the ledger survives a kill and a release restores it.)
    public static func ledger(flag: FeatureFlag, exposure: Exposure, tenants: [Tenant], plan: CohortPlan? = nil) -> [LedgerEntry] {
        guard flag.enabled, exposure != .none else { return [] }
        let disabled = Set(flag.overrides.disable)
        let byName = Dictionary(tenants.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var entries: [LedgerEntry] = []
        var seen: Set<String> = []
        for name in flag.overrides.enable where !disabled.contains(name) {
            guard let tenant = byName[name], seen.insert(tenant.id).inserted else { continue }
            entries.append(LedgerEntry(tenantID: tenant.id, reason: "override"))
        }
        let plan = plan ?? CohortPlan(flag: flag, tenants: tenants)
        switch exposure {
        case .none:
            break
        case .full:
            for tenant in plan.ranked where seen.insert(tenant.id).inserted {
                entries.append(LedgerEntry(tenantID: tenant.id, reason: "full"))
            }
        case .phase(let index):
            guard !plan.phases.isEmpty else { break }
            let upTo = max(0, min(index, plan.phases.count - 1))
            for i in 0...upTo {
                let phase = plan.phases[i]
                let reason = "phase \(i + 1) (\(phase.name))"
                let previous = i == 0 ? 0 : plan.phases[i - 1].memberIDs.count
                for id in phase.memberIDs[previous...] where seen.insert(id).inserted {
                    entries.append(LedgerEntry(tenantID: id, reason: reason))
                }
            }
        case .baseline(let ids):
            let disabledIDs = Set(disabled.compactMap { byName[$0]?.id })
            let known = Set(tenants.map(\.id))
            for id in ids where known.contains(id) && !disabledIDs.contains(id) && seen.insert(id).inserted {
                entries.append(LedgerEntry(tenantID: id, reason: "pre-rollout"))
            }
        }
        return entries
    }
}
