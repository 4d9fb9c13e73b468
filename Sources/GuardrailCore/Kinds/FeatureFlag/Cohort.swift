import Synchronization
import Crypto
import Foundation

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
    public struct Phase: Sendable {
        public var name: String
        public var percent: Int?
        /// ⌈p/100 × N⌉: how many tenants the percent asks for.
        public var requestedByPercent: Int
        /// How many the percent actually picks: fewer than requested when too few tenants are left
        /// besides the explicitly named ones.
        public var pickedByPercent: Int
        /// How many tenants the cohort holds at this phase (cumulative).
        public var memberCount: Int
        /// Positions in the plan's tenants of the ones this phase adds, in rank order. Names and ids
        /// are read from them on demand: a preview shows a dozen of each phase's ten thousand.
        let addedPositions: [Int]
        let tenants: [Tenant]

        /// How many tenants this phase adds to the previous one.
        public var addedCount: Int { addedPositions.count }
        /// The ids this phase adds to the previous one; `CohortPlan.memberIDs(through:)` has the whole cohort.
        public var addedIDs: [String] { addedPositions.map { tenants[$0].id } }
        /// The tenant names this phase adds to the previous one, in rank order.
        public var added: [String] { added(first: addedPositions.count) }
        /// The first `count` names this phase adds, in rank order.
        public func added(first count: Int) -> [String] { addedPositions.prefix(count).map { tenants[$0].name } }
    }

    /// The tenants the plan was made from.
    let tenants: [Tenant]
    /// Positions in `tenants` of the eligible ones, best rank first.
    let order: [Int]
    public let phases: [Phase]
    public var eligibleCount: Int { order.count }
    /// Eligible tenants, best rank first.
    public var ranked: [Tenant] { order.map { tenants[$0] } }
    /// Ids of the eligible tenants, best rank first.
    public var rankedIDs: [String] { order.map { tenants[$0].id } }

    /// Which tenants each explicit phase names (by name or selector), worked out once for many flags
    /// over the same tenants: the hundred previews of a plan share the same few selectors.
    ///
    /// Its one piece of state is in a `Mutex` (the standard library's; the pure core has no NIO).
    public final class Selections: Sendable {
        private let byPhase = Mutex<[String: [Int]]>([:])
        public init() {}

        /// Positions in `tenants` that `phase` names, in position order.
        func named(by phase: RolloutPhase, in tenants: [Tenant]) -> [Int] {
            let key =
                phase.tenants.sorted().joined(separator: "\u{0}") + "\u{1}"
                + phase.selector.keys.sorted().map { $0 + "=" + phase.selector[$0]! }.joined(separator: "\u{0}")
            if let hit = byPhase.withLock({ $0[key] }) { return hit }
            let names = Set(phase.tenants)
            let found = tenants.indices.filter { (!names.isEmpty && names.contains(tenants[$0].name)) || phase.selects(labels: tenants[$0].labels) }
            byPhase.withLock { $0[key] = found }
            return found
        }
    }

    public init(flag: FeatureFlag, tenants: [Tenant], selections: Selections = Selections()) {
        // Works on positions throughout: at 10,000 tenants and a hundred flags, copying Tenant values
        // and hashing id strings is what a plan would otherwise spend its time on.
        let disabled = Set(flag.overrides.disable)
        let eligible = tenants.indices.filter { tenants[$0].status == .active && (disabled.isEmpty || !disabled.contains(tenants[$0].name)) }
        let order = Self.rank(eligible, of: tenants, salt: flag.salt)
        self.tenants = tenants
        self.order = order
        guard let rollout = flag.rollout else {
            phases = []
            return
        }
        // Each position's rank among the eligible; -1 when not eligible.
        var rankOf = [Int](repeating: -1, count: tenants.count)
        for (rank, i) in order.enumerated() { rankOf[i] = rank }
        var inCohort = [Bool](repeating: false, count: order.count)
        var isExplicit = [Bool](repeating: false, count: order.count)
        var memberCount = 0
        var highest = 0
        var out: [Phase] = []
        for phase in rollout.phases {
            var added: [Int] = []
            if !phase.tenants.isEmpty || !phase.selector.isEmpty {
                // The named tenants that are eligible, added in rank order.
                for rank in selections.named(by: phase, in: tenants).map({ rankOf[$0] }).filter({ $0 >= 0 }).sorted() where !isExplicit[rank] {
                    isExplicit[rank] = true
                    if !inCohort[rank] {
                        inCohort[rank] = true
                        memberCount += 1
                        added.append(order[rank])
                    }
                }
            }
            highest = max(highest, phase.percent ?? 0)
            let requested = Self.requestedCount(percent: highest, of: order.count)
            // The first `requested` tenants by rank that no phase so far names explicitly. Removing
            // named tenants from the ranking only moves others up, so earlier picks stay in.
            var picked = 0
            for rank in order.indices where !isExplicit[rank] {
                if picked == requested { break }
                picked += 1
                if !inCohort[rank] {
                    inCohort[rank] = true
                    memberCount += 1
                    added.append(order[rank])
                }
            }
            out.append(
                Phase(
                    name: phase.name, percent: phase.percent, requestedByPercent: phase.percent == nil ? 0 : requested,
                    pickedByPercent: phase.percent == nil ? 0 : picked, memberCount: memberCount, addedPositions: added,
                    tenants: tenants))
        }
        phases = out
    }

    /// Every tenant id in the cohort at phase `index`, in the order the phases added them.
    public func memberIDs(through index: Int) -> [String] {
        guard !phases.isEmpty else { return [] }
        return phases[0...min(max(index, 0), phases.count - 1)].flatMap(\.addedIDs)
    }

    /// ⌈p/100 × n⌉ in integer arithmetic, so 5% of 20 is exactly 1.
    public static func requestedCount(percent: Int, of n: Int) -> Int {
        let p = max(0, min(100, percent))
        return (p * n + 99) / 100
    }

    /// Tenants ordered by SHA-256(salt, ":", id), ties (never seen in practice) broken by id.
    public static func rank(_ tenants: [Tenant], salt: String) -> [Tenant] {
        rank(Array(tenants.indices), of: tenants, salt: salt).map { tenants[$0] }
    }

    /// A tenant's rank key (the digest's first 8 bytes, big-endian) and its position.
    struct Keyed {
        var key: UInt64
        var index: Int
    }

    /// Rank keys: SHA-256(salt, ":", id), its first 8 bytes read big-endian.
    enum RankKey {
        /// swift-crypto's SHA-256 (BoringSSL, which uses the CPU's SHA instructions where there are
        /// any), hashing from a copy of the salt's state so the salt is absorbed once per flag.
        static func keys(_ indices: [Int], of tenants: [Tenant], salt: String) -> [Keyed] {
            var base = SHA256()
            base.update(data: Array(salt.utf8))
            base.update(data: [UInt8(ascii: ":")])
            return collect(indices, of: tenants) { id in
                var hasher = base
                id.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
                return hasher.finalize().withUnsafeBytes(leading)
            }
        }

        /// Each position with the key `digest` gives its tenant's id.
        private static func collect(_ indices: [Int], of tenants: [Tenant], _ digest: (inout String) -> UInt64) -> [Keyed] {
            var keyed: [Keyed] = []
            keyed.reserveCapacity(indices.count)
            for i in indices {
                var id = tenants[i].id
                keyed.append(Keyed(key: digest(&id), index: i))
            }
            return keyed
        }

        /// A digest's first 8 bytes, big-endian.
        private static func leading(_ digest: UnsafeRawBufferPointer) -> UInt64 {
            var k: UInt64 = 0
            for j in 0..<8 { k = k << 8 | UInt64(digest[j]) }
            return k
        }
    }

    /// The positions `indices` of `tenants`, ordered by rank.
    static func rank(_ indices: [Int], of tenants: [Tenant], salt: String) -> [Int] {
        let keyed = RankKey.keys(indices, of: tenants, salt: salt)
        return sortByKey(keyed) { tenants[$0].id < tenants[$1].id }.map(\.index)
    }

    /// `keyed` by key, ties (two equal 64-bit keys) by `tieBreak` of the positions, so the order never
    /// depends on input order. Digests are uniform, so one counting pass over their leading bits
    /// leaves about one entry per bucket; each bucket is then sorted on its own, by insertion while
    /// it is small. Linear in practice, and never worse than a comparison sort.
    static func sortByKey(_ keyed: [Keyed], tieBreak: (Int, Int) -> Bool) -> [Keyed] {
        let n = keyed.count
        guard n > 1 else { return keyed }
        func precedes(_ a: Keyed, _ b: Keyed) -> Bool { a.key != b.key ? a.key < b.key : tieBreak(a.index, b.index) }
        // About four entries a bucket: small tables, so a hundred rankings allocate little.
        let bits = min(20, max(1, Int.bitWidth - n.leadingZeroBitCount - 2))
        let shift = UInt64(64 - bits)
        var start = [Int](repeating: 0, count: (1 << bits) + 1)
        for k in keyed { start[Int(k.key >> shift) + 1] += 1 }
        for b in 1..<start.count { start[b] += start[b - 1] }
        var next = start
        var sorted = [Keyed](repeating: Keyed(key: 0, index: 0), count: n)
        for k in keyed {
            let b = Int(k.key >> shift)
            sorted[next[b]] = k
            next[b] += 1
        }
        sorted.withUnsafeMutableBufferPointer { out in
            for b in 0..<(start.count - 1) {
                let lo = start[b], hi = start[b + 1]
                guard hi - lo > 1 else { continue }
                if hi - lo > 16 {
                    out[lo..<hi].sort(by: precedes)
                    continue
                }
                for i in (lo + 1)..<hi {
                    let item = out[i]
                    var j = i
                    while j > lo, precedes(item, out[j - 1]) {
                        out[j] = out[j - 1]
                        j -= 1
                    }
                    out[j] = item
                }
            }
        }
        return sorted
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
            for id in plan.rankedIDs where seen.insert(id).inserted {
                entries.append(LedgerEntry(tenantID: id, reason: "full"))
            }
        case .phase(let index):
            guard !plan.phases.isEmpty else { break }
            let upTo = max(0, min(index, plan.phases.count - 1))
            for i in 0...upTo {
                let phase = plan.phases[i]
                let reason = "phase \(i + 1) (\(phase.name))"
                for id in phase.addedIDs where seen.insert(id).inserted {
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
