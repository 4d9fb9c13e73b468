import Foundation

/// The live state Guardrail observed, in the same value types as the configuration.
public struct LiveState: Sendable {
    /// Guardrail's schema version, or nil when the schema does not exist yet.
    public var schemaVersion: Int?
    public var tenants: [Tenant]
    public var backupSchedules: [BackupSchedule]
    public var flags: [FeatureFlag]
    public var guardrails: [Guardrail]
    /// The rule groups in the namespaces Guardrail owns on the environment's alerts target.
    public var ruleGroups: [RuleGroup] = []
    /// Row-level security and role grants, for the tables and roles in scope.
    public var catalog = CatalogState()
    /// The routing Alertmanager runs, when the environment names one and the configuration has a routing.
    public var alertRouting: AlertRouting?
    /// The digest of the routing's secrets recorded at the last confirmed apply.
    public var alertRoutingSecretsDigest: String?

    public init(schemaVersion: Int?, tenants: [Tenant] = [], flags: [FeatureFlag] = [], guardrails: [Guardrail] = [],
                backupSchedules: [BackupSchedule] = []) {
        self.schemaVersion = schemaVersion
        self.tenants = tenants
        self.flags = flags
        self.guardrails = guardrails
        self.backupSchedules = backupSchedules
    }

    /// The live attributes of each address asked for; nil for objects that do not exist.
    public func attributes(of addresses: some Sequence<Address>) -> [Address: Attributes?] {
        var indexes: [String: [String: Attributes]] = [:]
        func index<R: Resource>(_ objects: [R]) -> [String: Attributes] {
            if let cached = indexes[R.addressPrefix] { return cached }
            var byName: [String: Attributes] = [:]
            byName.reserveCapacity(objects.count)
            for object in objects { byName[object.name] = object.attributes }
            indexes[R.addressPrefix] = byName
            return byName
        }
        var catalogByAddress: [Address: Attributes]?
        var result: [Address: Attributes?] = [:]
        for address in addresses {
            switch address.prefix {
            case Tenant.addressPrefix: result[address] = .some(index(tenants)[address.name])
            case FeatureFlag.addressPrefix: result[address] = .some(index(flags)[address.name])
            case Guardrail.addressPrefix: result[address] = .some(index(guardrails)[address.name])
            case BackupSchedule.addressPrefix: result[address] = .some(index(backupSchedules)[address.name])
            case RuleGroup.addressPrefix: result[address] = .some(index(ruleGroups)[address.name].map(RuleGroup.fingerprintForm))
            case AlertRouting.addressPrefix: result[address] = .some(alertRouting?.attributes())
            case RowLevelSecurity.addressPrefix, RoleGrants.addressPrefix:
                if catalogByAddress == nil { catalogByAddress = catalog.attributesByAddress() }
                result[address] = .some(catalogByAddress![address])
            default: result[address] = .some(nil)
            }
        }
        return result
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

        public init(environment: String, planID: String, createdAt: String, gitCommit: String? = nil, schema: String = "guardrail",
                    targets: [String] = [], now: Date = Date(timeIntervalSince1970: 0), managesAlerts: Bool = false) {
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

    /// Diffs every kind, in dependency order, and guards mass deletes before `--target` narrows the plan.
    public static func plan(desired: Configuration, live: LiveState, context: Context) -> Plan {
        var changes: [Change] = []
        changes += Diff.changes(desired: desired.tenants, observed: live.tenants)
        changes += Diff.changes(desired: desired.guardrails, observed: live.guardrails)
        changes += Diff.changes(desired: desired.flags, observed: live.flags)
        changes += BackupSchedule.describe(Diff.changes(desired: desired.backupSchedules, observed: live.backupSchedules),
                                           desired: desired.backupSchedules, now: context.now)
        changes = Diff.guardMassDeletes(changes, observedCount: [
            Tenant.kind: live.tenants.count, FeatureFlag.kind: live.flags.count, Guardrail.kind: live.guardrails.count,
            BackupSchedule.kind: live.backupSchedules.count,
        ])
        changes = RolloutPreview.annotate(changes, desired: desired)
        // Roles and grants before row-level security, since policies name the roles.
        changes += CatalogPlan.changes(desired: desired, live: live.catalog)
        // Alert rules last: they are applied over HTTP once the Postgres transaction has committed.
        var notes: [String] = []
        let desiredRules = context.managesAlerts ? desired.ruleGroups + GeneratedRules.groups(for: desired) : []
        if context.managesAlerts {
            changes += RuleGroup.changes(desired: desiredRules, live: live.ruleGroups)
        } else if !desired.ruleGroups.isEmpty {
            notes.append(context.unmanagedAlertsReason
                         ?? "Environment \"\(context.environment)\" has no alerts target, so the \(KindNames.count(desired.ruleGroups.count, of: RuleGroup.kind)) in alerts/ are not planned.")
        }
        if context.managesRouting, let routing = desired.alertRouting {
            changes += AlertRouting.changes(desired: routing, live: live.alertRouting, secretsChanged: context.routingSecretsChanged)
        } else if desired.alertRouting != nil {
            notes.append(context.unmanagedRoutingReason
                         ?? "Environment \"\(context.environment)\" has no alertmanager, so alerts/routing.yaml is not planned.")
        }

        if live.schemaVersion == nil {
            notes.append("Guardrail's schema \"\(context.schema)\" does not exist in this database yet; the first apply creates it.")
        }
        var fingerprints: [String: String] = [:]
        fingerprints.reserveCapacity(changes.count)
        for change in changes {
            // A rule group's plan shows live expressions as the configuration spells them; its
            // fingerprint is of the normalized form, which both spellings share.
            let before = change.kind == RuleGroup.kind ? change.before.map(RuleGroup.fingerprintForm) : change.before
            fingerprints[change.address.description] = Fingerprint.of(before)
        }
        func count<R: Resource>(_ desired: [R], _ live: [R]) -> Int { Set(desired.map(\.name)).union(live.map(\.name)).count }
        var compared: [String: Int] = [Tenant.kind: count(desired.tenants, live.tenants)]
        for (kind, n) in [(FeatureFlag.kind, count(desired.flags, live.flags)), (Guardrail.kind, count(desired.guardrails, live.guardrails)),
                          (BackupSchedule.kind, count(desired.backupSchedules, live.backupSchedules)),
                          (RuleGroup.kind, count(desiredRules, live.ruleGroups))] where n > 0 {
            compared[kind] = n
        }
        if context.managesRouting, desired.alertRouting != nil { compared[AlertRouting.kind] = 1 }
        compared.merge(CatalogPlan.compared(desired: desired, live: live.catalog)) { a, _ in a }
        let plan = Plan(id: context.planID, environment: context.environment, createdAt: context.createdAt, gitCommit: context.gitCommit,
                        changes: changes, compared: compared, fingerprints: fingerprints, notes: notes,
                        findings: CatalogPlan.findings(desired: desired, live: live.catalog))
        return plan.targeting(context.targets)
    }

    /// An object whose live state no longer matches what the plan saw.
    public struct Staleness: Sendable, Equatable, CustomStringConvertible {
        public var address: String
        public var planned: String
        public var live: String

        public var description: String {
            let was = planned == Fingerprint.absent ? "did not exist" : "existed"
            let now = live == Fingerprint.absent ? "has since been deleted" : (planned == Fingerprint.absent ? "has since been created" : "has since changed")
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
        let current = live.attributes(of: entries.lazy.map(\.address))
        var first: Staleness?
        var firstAddress: Address?
        for (address, planned) in entries {
            if let firstAddress, !(address < firstAddress) { continue }
            let now = Fingerprint.of(current[address] ?? nil)
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
        let kinds = Set(ConfigurationLoader.addressPrefixes)
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
