/// A feature flag: the target (`enabled`), per-tenant overrides, and how to get there (`rollout`).
///
/// The manifest declares the target and the policy; the controller owns the current phase, so the
/// current phase is not part of this value and never shows up as drift.
///
/// ```yaml
/// apiVersion: guardrail/v1
/// kind: FeatureFlag
/// metadata: {name: channel.email}
/// spec:
///   enabled: true
///   overrides: {enable: [test-tenant], disable: [globex-estates]}
///   rollout:
///     phases:
///       - {name: internal, tenants: {selector: {cohort: internal}}, bake: 24h}
///       - {name: canary, percent: 5, bake: 48h}
///       - {percent: 100}
///     guardrails: [error-rate-5xx, bounce-rate]
///     onBreach: rollback
/// ```
public struct FeatureFlag: Resource, Hashable {
    public var name: String
    public var description: String
    /// The target: false turns the flag off for every tenant at once.
    public var enabled: Bool
    /// Mixed into each tenant's rank, so two flags at 5% do not pick the same tenants. Defaults to the name.
    public var salt: String
    public var overrides: Overrides
    public var rollout: Rollout?

    public init(
        name: String, description: String = "", enabled: Bool, salt: String? = nil, overrides: Overrides = Overrides(),
        rollout: Rollout? = nil
    ) {
        self.name = name
        self.description = description
        self.enabled = enabled
        self.salt = salt ?? name
        self.overrides = overrides
        self.rollout = rollout
    }

    /// Tenants named explicitly on or off, whatever the rollout says. Names are tenant names.
    public struct Overrides: Hashable, Sendable {
        public var enable: [String]
        public var disable: [String]

        public init(enable: [String] = [], disable: [String] = []) {
            self.enable = enable.sorted()
            self.disable = disable.sorted()
        }
    }

    public static let kind = "FeatureFlag"
    public static let addressPrefix = "flag"
    public static let destroyHazard = "deleting a flag turns it off for every tenant and removes its cohort ledger and rollout history"
    static let specKeys = specShape.keys

    public var attributes: Attributes {
        [
            "description": .string(description),
            "enabled": .bool(enabled),
            "salt": .string(salt),
            "overrides": .map(["enable": .list(overrides.enable.map { .string($0) }), "disable": .list(overrides.disable.map { .string($0) })]),
            "rollout": rollout?.attributeValue ?? .null,
        ]
    }

    public init(name: String, attributes: Attributes) throws {
        let k = Self.kind
        guard let enabled = attributes["enabled"]?.boolValue else { throw AttributeError.missing("enabled", in: k) }
        guard let salt = attributes["salt"]?.stringValue else { throw AttributeError.missing("salt", in: k) }
        let overrides = attributes["overrides"]?.mapValue ?? [:]
        let rollout: Rollout?
        switch attributes["rollout"] ?? .null {
        case .null: rollout = nil
        case let value: rollout = try Rollout(attributes: value)
        }
        self.init(
            name: name, description: attributes["description"]?.stringValue ?? "", enabled: enabled, salt: salt,
            overrides: Overrides(enable: overrides["enable"]?.stringList ?? [], disable: overrides["disable"]?.stringList ?? []),
            rollout: rollout)
    }
}

/// How a flag goes from off to its target: ordered phases, the guardrails that watch them, and what
/// a breach does.
public struct Rollout: Hashable, Sendable {
    /// What a guardrail breach does to the rollout.
    public enum BreachAction: String, Hashable, Sendable, Codable, CaseIterable {
        /// Back to the cohort as it was before the rollout began (overrides stay).
        case rollback
        /// Back to the previous phase, then paused; from the first phase this is a rollback.
        case stepBack = "step-back"
        /// Stay at the current exposure and wait for an operator.
        case pause
    }

    public var phases: [RolloutPhase]
    /// Names of Guardrail objects.
    public var guardrails: [String]
    public var onBreach: BreachAction

    public init(phases: [RolloutPhase], guardrails: [String] = [], onBreach: BreachAction = .rollback) {
        self.phases = phases
        self.guardrails = guardrails
        self.onBreach = onBreach
    }

    public var attributeValue: AttributeValue {
        .map([
            "phases": .list(phases.map(\.attributeValue)),
            "guardrails": .list(guardrails.map { .string($0) }),
            "on_breach": .string(onBreach.rawValue),
        ])
    }

    init(attributes value: AttributeValue) throws {
        guard let map = value.mapValue, let phases = map["phases"]?.listValue else {
            throw AttributeError.missing("rollout.phases", in: FeatureFlag.kind)
        }
        guard let onBreach = map["on_breach"]?.stringValue.flatMap(BreachAction.init(rawValue:)) else {
            throw AttributeError.missing("rollout.on_breach", in: FeatureFlag.kind)
        }
        self.init(phases: try phases.map(RolloutPhase.init(attributes:)), guardrails: map["guardrails"]?.stringList ?? [], onBreach: onBreach)
    }

    /// A short fingerprint of the rollout's policy: a changed spec restarts a rolled-back rollout.
    public var fingerprint: String { String(Fingerprint.of(["rollout": attributeValue]).prefix(16)) }
}

/// One step of a rollout: tenants named explicitly (by name or label selector), a percent of the
/// eligible tenants, or both, held for `bake` before the next phase.
public struct RolloutPhase: Hashable, Sendable {
    public var name: String
    /// Tenant names, sorted.
    public var tenants: [String]
    /// Every tenant whose labels include all of these is in the phase.
    public var selector: [String: String]
    /// Percent of the eligible tenants, 0 to 100; nil when the phase names its tenants only.
    public var percent: Int?
    public var bake: GuardrailDuration

    public init(
        name: String, tenants: [String] = [], selector: [String: String] = [:], percent: Int? = nil, bake: GuardrailDuration = .init(milliseconds: 0)
    ) {
        self.name = name
        self.tenants = tenants.sorted()
        self.selector = selector
        self.percent = percent
        self.bake = bake
    }

    var attributeValue: AttributeValue {
        .map([
            "name": .string(name),
            "tenants": .list(tenants.map { .string($0) }),
            "selector": selector.attributeValue,
            "percent": percent.map { .int($0) } ?? .null,
            "bake": .string(bake.description),
        ])
    }

    init(attributes value: AttributeValue) throws {
        guard let map = value.mapValue, let name = map["name"]?.stringValue else {
            throw AttributeError.missing("rollout.phases.name", in: FeatureFlag.kind)
        }
        var bake = GuardrailDuration(milliseconds: 0)
        if let text = map["bake"]?.stringValue {
            guard case .success(let d) = GuardrailDuration.parse(text) else {
                throw AttributeError.missing("rollout.phases.bake", in: FeatureFlag.kind)
            }
            bake = d
        }
        self.init(
            name: name, tenants: map["tenants"]?.stringList ?? [], selector: map["selector"]?.stringMap ?? [:],
            percent: map["percent"]?.intValue, bake: bake)
    }

    /// Whether a tenant's labels satisfy the selector; an empty selector selects nobody.
    public func selects(labels: [String: String]) -> Bool {
        !selector.isEmpty && selector.allSatisfy { labels[$0.key] == $0.value }
    }
}

extension AttributeValue {
    /// A list of strings; nil when any item is not a string.
    public var stringList: [String]? {
        guard case .list(let items) = self else { return nil }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard case .string(let s) = item else { return nil }
            out.append(s)
        }
        return out
    }

    /// A number, whether it was written (or stored by Postgres) as an integer or not.
    public var numberValue: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }
}
