import Foundation

/// The live state Guardrail observed, in the same value types as the configuration.
public struct LiveState: KindObjectsHolder, Sendable {
    /// Guardrail's schema version, or nil when the schema does not exist yet.
    public var schemaVersion: Int?
    /// The kinds observed.
    public var registry: KindRegistry
    /// Every kind's live objects.
    public var objects = KindObjects()
    /// Row-level security and role grants, for the tables and roles in scope.
    public var catalog = CatalogState()
    /// The digest of the routing's secrets recorded at the last confirmed apply.
    public var alertRoutingSecretsDigest: String?

    public init(
        schemaVersion: Int?, tenants: [Tenant] = [], flags: [FeatureFlag] = [], guardrails: [Guardrail] = [],
        backupSchedules: [BackupSchedule] = [], registry: KindRegistry = .builtIn
    ) {
        self.schemaVersion = schemaVersion
        self.registry = registry
        self.tenants = tenants
        self.flags = flags
        self.guardrails = guardrails
        self.backupSchedules = backupSchedules
    }

    /// The live attributes of each address asked for; nil for objects that do not exist.
    public func attributes(of addresses: some Sequence<Address>) -> [Address: Attributes?] {
        var lookup = AttributeLookup(self)
        var result: [Address: Attributes?] = [:]
        for address in addresses { result[address] = .some(lookup[address]) }
        return result
    }
}

/// Live attributes by address, each kind's index built the first time one of its addresses is asked for.
public struct AttributeLookup {
    private let live: LiveState
    private var indexes: [String: [String: Attributes]] = [:]

    public init(_ live: LiveState) { self.live = live }

    /// The live attributes of `address`; nil for an object that does not exist (or an unknown kind).
    public subscript(address: Address) -> Attributes? {
        mutating get {
            guard let kind = live.registry.kind(ofPrefix: address.prefix) else { return nil }
            if indexes[address.prefix] == nil { indexes[address.prefix] = kind.liveAttributes(prefix: address.prefix, in: live) }
            return indexes[address.prefix]![address.name]
        }
    }
}

/// Builds plans from desired and live state, and checks saved plans against fresh live state. Pure.
public enum PlanBuilder {
    public struct Context: Sendable {
        public var environment: String
        public var planID: String
        public var createdAt: String
        public var gitCommit: String?
        public var schema: String
        public var targets: [String]
        /// The clock, for what depends on it (a schedule's next runs). Injected so plans are reproducible.
        public var now: Date
        /// Whether the environment has an alerts target; without one, alerts/ is not planned.
        public var managesAlerts: Bool
        /// Why alerts are not managed, for the plan's note; a generic note when nil.
        public var unmanagedAlertsReason: String?
        /// Whether the environment has an Alertmanager; without one, alerts/routing.yaml is not planned.
        public var managesRouting = false
        public var unmanagedRoutingReason: String?
        /// Whether the routing's resolved secrets differ from the digest recorded at the last apply.
        public var routingSecretsChanged = false

        public init(
            environment: String, planID: String, createdAt: String, gitCommit: String? = nil, schema: String = "guardrail",
            targets: [String] = [], now: Date = Date(timeIntervalSince1970: 0), managesAlerts: Bool = false
        ) {
            self.now = now
            self.managesAlerts = managesAlerts
            self.environment = environment
            self.planID = planID
            self.createdAt = createdAt
            self.gitCommit = gitCommit
            self.schema = schema
            self.targets = targets
        }
    }

    /// Diffs every kind of the configuration's registry, in its order; each kind guards its own mass
    /// deletes before `--target` narrows the plan.
    public static func plan(desired: Configuration, live: LiveState, context: Context) -> Plan {
        var changes: [Change] = []
        var notes: [String] = []
        var compared: [String: Int] = [:]
        var findings: [Finding] = []
        for kind in desired.registry.kinds where kind.isPlanned {
            changes += kind.changes(desired: desired, live: live, context: context, notes: &notes)
            compared.merge(kind.compared(desired: desired, live: live, context: context)) { a, _ in a }
            findings += kind.findings(desired: desired, live: live)
        }
        if live.schemaVersion == nil {
            notes.append("Guardrail's schema \"\(context.schema)\" does not exist in this database yet; the first apply creates it.")
        }
        var fingerprints: [String: String] = [:]
        fingerprints.reserveCapacity(changes.count)
        for change in changes {
            let kind = desired.registry.kind(ofChange: change.kind)
            fingerprints[change.address.description] = Fingerprint.of(kind.map { kind in change.before.map(kind.fingerprintForm) } ?? change.before)
        }
        let plan = Plan(
            id: context.planID, environment: context.environment, createdAt: context.createdAt, gitCommit: context.gitCommit,
            changes: changes, compared: compared, fingerprints: fingerprints, notes: notes, findings: findings)
        return plan.targeting(context.targets)
    }

    /// An object whose live state no longer matches what the plan saw.
    public struct Staleness: Sendable, Equatable, CustomStringConvertible {
        public var address: String
        public var planned: String
        public var live: String

        public var description: String {
            let was = planned == Fingerprint.absent ? "did not exist" : "existed"
            let now =
                live == Fingerprint.absent
                ? "has since been deleted" : (planned == Fingerprint.absent ? "has since been created" : "has since changed")
            return "\(address) \(was) when the plan was made and \(now)"
        }
    }

    /// The first object (by address) whose live fingerprint differs from the saved one, if any.
    /// Checks every object in one pass and orders only the stale ones, so a fresh plan of 10,000
    /// objects costs no sort.
    public static func staleness(of plan: Plan, against live: LiveState) -> Staleness? {
        var entries: [(address: Address, planned: String)] = []
        entries.reserveCapacity(plan.fingerprints.count)
        for (key, planned) in plan.fingerprints {
            guard let dot = key.utf8.firstIndex(of: UInt8(ascii: ".")) else { continue }
            entries.append((Address(prefix: String(key[..<dot]), name: String(key[key.index(after: dot)...])), planned))
        }
        // Looked up one entry at a time: a map of every planned address to its live attributes was
        // the largest thing an apply of 100,000 new tenants held.
        var current = AttributeLookup(live)
        var first: Staleness?
        var firstAddress: Address?
        for (address, planned) in entries {
            if let firstAddress, !(address < firstAddress) { continue }
            let now = Fingerprint.of(current[address])
            if planned != now {
                firstAddress = address
                first = Staleness(address: address.description, planned: planned, live: now)
            }
        }
        return first
    }
}

/// `--target` patterns that name nothing: a typo there would otherwise plan nothing and say "No changes".
public enum TargetPatterns {
    /// Each pattern that selects no address in `known` (a kind, an address, or below one), with the
    /// closest address to suggest.
    public static func unmatched(_ patterns: [String], known: [Address]) -> [(pattern: String, suggestion: String?)] {
        guard !patterns.isEmpty else { return [] }
        let kinds = Set(KindRegistry.builtIn.addressPrefixes)
        var result: [(String, String?)] = []
        for pattern in patterns {
            if kinds.contains(pattern) { continue }
            if known.contains(where: { $0.matches(target: pattern) || pattern.hasPrefix($0.description + ".") }) { continue }
            let names = known.map(\.description)
            // `channel.email` for `flag.channel.email`: the kind word left out.
            let suggestion = names.filter { $0.hasSuffix("." + pattern) }.min() ?? Suggestion.closest(to: pattern, among: names)
            result.append((pattern, suggestion))
        }
        return result
    }
}
