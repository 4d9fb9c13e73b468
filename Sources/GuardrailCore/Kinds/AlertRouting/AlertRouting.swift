/// Who hears about an alert: Alertmanager's receivers, route tree and inhibit rules, declared in
/// `alerts/routing.yaml` as a Guardrail document (so it is told apart from the rule files beside it).
///
/// Field names are Alertmanager's own. Secrets (Slack and webhook URLs, PagerDuty keys, passwords)
/// come only from `${VAR}` and print as `***`.
///
/// ```yaml
/// apiVersion: guardrail/v1
/// kind: AlertRouting
/// metadata: {name: launch}
/// spec:
///   receivers:
///     - name: oncall
///       pagerduty_configs: [{routing_key: "${PAGERDUTY_ROUTING_KEY}"}]
///   route:
///     receiver: oncall
///     group_by: [alertname]
///     routes:
///       - matchers: ['severity="warning"']
///         receiver: alerts-channel
///   inhibit_rules:
///     - source_matchers: ['severity="critical"']
///       target_matchers: ['severity="warning"']
///       equal: [alertname]
/// ```
public struct AlertRouting: Hashable, Sendable {
    public var name: String
    public var receivers: [RoutingReceiver]
    public var route: RoutingRoute
    public var inhibitRules: [InhibitRule]
    /// Where the document is declared; not part of the object.
    public var location: SourceLocation?

    public init(name: String, receivers: [RoutingReceiver], route: RoutingRoute, inhibitRules: [InhibitRule] = [], location: SourceLocation? = nil) {
        self.name = name
        self.receivers = receivers
        self.route = route
        self.inhibitRules = inhibitRules
        self.location = location
    }

    public static let kind = "AlertRouting"
    public static let addressPrefix = "routing"
    static let specKeys = specShape.keys

    /// Every secret of every receiver, by its path (`receivers.oncall.pagerduty_configs[0].routing_key`).
    public var secrets: [(path: String, value: TemplatedString)] {
        var out: [(String, TemplatedString)] = []
        for receiver in receivers {
            for (type, configs) in receiver.integrations.sorted(by: { $0.key < $1.key }) {
                for (index, config) in configs.enumerated() {
                    for (key, value) in config.fields.sorted(by: { $0.key < $1.key }) {
                        if case .secret(let t) = value { out.append(("receivers.\(receiver.name).\(type)[\(index)].\(key)", t)) }
                    }
                }
            }
        }
        return out
    }
}

/// One receiver: a name and its integrations by Alertmanager's keys (`slack_configs`, ...).
public struct RoutingReceiver: Hashable, Sendable {
    public var name: String
    public var integrations: [String: [IntegrationConfig]]
    public var location: SourceLocation?

    public init(name: String, integrations: [String: [IntegrationConfig]], location: SourceLocation? = nil) {
        self.name = name
        self.integrations = integrations
        self.location = location
    }

    public static func == (a: Self, b: Self) -> Bool { a.name == b.name && a.integrations == b.integrations }
    public func hash(into h: inout Hasher) { h.combine(name); h.combine(integrations) }
}

/// One integration's settings (one item of `slack_configs`, say).
public struct IntegrationConfig: Hashable, Sendable {
    public var fields: [String: IntegrationValue]
    public init(fields: [String: IntegrationValue]) { self.fields = fields }
}

/// A setting's value. Secrets keep their `${VAR}` text; they are resolved only when rendered for Alertmanager.
public enum IntegrationValue: Hashable, Sendable {
    case text(String)
    case secret(TemplatedString)
    case bool(Bool)
    case int(Int)
    case map([String: String])

    public static func == (a: Self, b: Self) -> Bool {
        switch (a, b) {
        case let (.text(x), .text(y)): x == y
        case let (.secret(x), .secret(y)): x.raw == y.raw
        case let (.bool(x), .bool(y)): x == y
        case let (.int(x), .int(y)): x == y
        case let (.map(x), .map(y)): x == y
        default: false
        }
    }

    public func hash(into h: inout Hasher) {
        switch self {
        case .text(let s): h.combine(0); h.combine(s)
        case .secret(let t): h.combine(1); h.combine(t.raw)
        case .bool(let b): h.combine(2); h.combine(b)
        case .int(let i): h.combine(3); h.combine(i)
        case .map(let m): h.combine(4); h.combine(m)
        }
    }
}

/// One node of the route tree. Children are tried in order; the first that matches takes the
/// alert unless it sets `continue`.
public struct RoutingRoute: Hashable, Sendable {
    public var receiver: String?
    public var matchers: [LabelMatcher]
    public var groupBy: [String]?
    public var groupWait: GuardrailDuration?
    public var groupInterval: GuardrailDuration?
    public var repeatInterval: GuardrailDuration?
    public var continueMatching: Bool
    public var routes: [RoutingRoute]
    public var location: SourceLocation?
    /// Where `receiver:` is set, for an unknown receiver's error.
    public var receiverLocation: SourceLocation?

    public init(
        receiver: String? = nil, matchers: [LabelMatcher] = [], groupBy: [String]? = nil, groupWait: GuardrailDuration? = nil,
        groupInterval: GuardrailDuration? = nil, repeatInterval: GuardrailDuration? = nil, continueMatching: Bool = false,
        routes: [RoutingRoute] = [], location: SourceLocation? = nil
    ) {
        self.receiver = receiver
        self.matchers = matchers
        self.groupBy = groupBy
        self.groupWait = groupWait
        self.groupInterval = groupInterval
        self.repeatInterval = repeatInterval
        self.continueMatching = continueMatching
        self.routes = routes
        self.location = location
    }

    /// Location is where it is declared, not what it is.
    public static func == (a: Self, b: Self) -> Bool {
        a.receiver == b.receiver && Set(a.matchers) == Set(b.matchers) && a.groupBy.map(Set.init) == b.groupBy.map(Set.init)
            && a.groupWait == b.groupWait && a.groupInterval == b.groupInterval && a.repeatInterval == b.repeatInterval
            && a.continueMatching == b.continueMatching && a.routes == b.routes
    }

    public func hash(into h: inout Hasher) {
        h.combine(receiver); h.combine(Set(matchers)); h.combine(routes)
    }
}

/// An inhibit rule: alerts matching `target_matchers` are muted while one matching `source_matchers`
/// fires with the same values of the `equal` labels.
public struct InhibitRule: Hashable, Sendable {
    public var sourceMatchers: [LabelMatcher]
    public var targetMatchers: [LabelMatcher]
    public var equal: [String]

    public init(sourceMatchers: [LabelMatcher], targetMatchers: [LabelMatcher], equal: [String]) {
        self.sourceMatchers = sourceMatchers
        self.targetMatchers = targetMatchers
        self.equal = equal
    }

    public static func == (a: Self, b: Self) -> Bool {
        Set(a.sourceMatchers) == Set(b.sourceMatchers) && Set(a.targetMatchers) == Set(b.targetMatchers) && Set(a.equal) == Set(b.equal)
    }
    public func hash(into h: inout Hasher) { h.combine(Set(sourceMatchers)); h.combine(Set(targetMatchers)); h.combine(Set(equal)) }
}
