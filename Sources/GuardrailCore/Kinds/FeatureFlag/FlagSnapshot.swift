import Foundation

/// Every flag's answer for every tenant, as `guardrail.flag_enabled` gives it: on when the tenant is
/// in the flag's cohort ledger and the flag is not killed. The controller keeps one in memory for
/// OpenFeature (OFREP) evaluation and reloads it whenever the ledger changes. Pure.
public struct FlagSnapshot: Sendable {
    public struct Flag: Sendable, Equatable {
        public var killed: Bool
        /// The manifest's target.
        public var enabled: Bool
        /// The rollout's status and phase, when there is one.
        public var rollout: String?
        public var cohort: TenantIDSet

        public init(killed: Bool, enabled: Bool, rollout: String?, cohort: TenantIDSet) {
            self.killed = killed
            self.enabled = enabled
            self.rollout = rollout
            self.cohort = cohort
        }
    }

    public var flags: [String: Flag]
    public var tenantIDs: [String: UUID]
    public var loadedAt: Date

    public init(flags: [String: Flag] = [:], tenantIDs: [String: UUID] = [:], loadedAt: Date = Date(timeIntervalSince1970: 0)) {
        self.flags = flags
        self.tenantIDs = tenantIDs
        self.loadedAt = loadedAt
    }

    /// One flag's answer for one tenant, with why, in OpenFeature's terms.
    public struct Evaluation: Sendable, Equatable {
        public enum Reason: String, Sendable { case targetingMatch = "TARGETING_MATCH", disabled = "DISABLED", `default` = "DEFAULT" }
        public var value: Bool
        public var reason: Reason
        public var detail: String
    }

    public enum Failure: Error, Equatable {
        case flagNotFound
        case tenantNotFound(String)
    }

    /// A tenant is named by its id or its name (`targetingKey` in the evaluation context).
    public func tenant(_ key: String) -> UUID? {
        if let id = UUID(uuidString: key) { return id }
        return tenantIDs[key]
    }

    public func evaluate(_ flagName: String, tenant key: String) -> Result<Evaluation, Failure> {
        guard let flag = flags[flagName] else { return .failure(.flagNotFound) }
        guard let id = tenant(key) else { return .failure(.tenantNotFound(key)) }
        if flag.killed { return .success(Evaluation(value: false, reason: .disabled, detail: "killed: off for every tenant until released")) }
        if flag.cohort.contains(id) {
            return .success(Evaluation(value: true, reason: .targetingMatch, detail: flag.rollout.map { "in the cohort (\($0))" } ?? "in the cohort"))
        }
        if !flag.enabled { return .success(Evaluation(value: false, reason: .disabled, detail: "the flag is disabled")) }
        return .success(
            Evaluation(value: false, reason: .default, detail: flag.rollout.map { "not in the cohort yet (\($0))" } ?? "not in the cohort"))
    }
}

/// Tenant ids as one sorted array: a 100-flag ledger over 10,000 tenants is half a million ids, and
/// 16 bytes each beats a hash set's several times that. Lookups are binary searches.
public struct TenantIDSet: Sendable, Equatable, ExpressibleByArrayLiteral {
    private var ids: [UUID]

    public init(_ ids: [UUID]) {
        self.ids = ids.sorted(by: Self.precedes)
    }

    public init(arrayLiteral elements: UUID...) { self.init(elements) }

    /// Ids packed as 16 bytes each, in any order (input already in order is checked, not sorted
    /// again); nil when the byte count is not a multiple of 16.
    public init?(packed bytes: UnsafeRawBufferPointer) {
        guard bytes.count % 16 == 0 else { return nil }
        var ids: [UUID] = []
        ids.reserveCapacity(bytes.count / 16)
        var ordered = true
        for start in stride(from: 0, to: bytes.count, by: 16) {
            var raw: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &raw) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + 16)])) }
            let id = UUID(uuid: raw)
            if ordered, let last = ids.last, !Self.precedes(last, id) { ordered = false }
            ids.append(id)
        }
        self.ids = ordered ? ids : ids.sorted(by: Self.precedes)
    }

    public var count: Int { ids.count }

    public func contains(_ id: UUID) -> Bool {
        var low = 0, high = ids.count
        while low < high {
            let mid = (low + high) / 2
            if ids[mid] == id { return true }
            if Self.precedes(ids[mid], id) { low = mid + 1 } else { high = mid }
        }
        return false
    }

    static func precedes(_ a: UUID, _ b: UUID) -> Bool {
        withUnsafeBytes(of: a.uuid) { x in withUnsafeBytes(of: b.uuid) { y in x.lexicographicallyPrecedes(y) } }
    }
}
