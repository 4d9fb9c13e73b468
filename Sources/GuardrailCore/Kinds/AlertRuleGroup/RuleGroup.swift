/// One Prometheus rule group: what `alerts/<namespace>.yaml` declares under `groups:`.
///
/// The namespace is the rule file's name, so `alerts/launch.yaml` with a group named `api` is the
/// object `alerts.launch.api`. Guardrail writes it into the Prometheus server's rules directory as
/// `<namespace>.yaml`, or posts it to a Mimir-compatible ruler under the namespace.
///
/// ```yaml
/// groups:
///   - name: api
///     interval: 30s
///     rules:
///       - alert: ServiceDown
///         expr: up{job="api"} == 0
///         for: 2m
///         labels: {severity: page}
/// ```
public struct RuleGroup: Resource, Hashable {
    public var namespace: String
    public var group: String
    /// How often the group is evaluated; nil for the server's global evaluation interval.
    public var interval: GuardrailDuration?
    /// The most alerts or series one evaluation may produce; nil for no limit.
    public var limit: Int?
    /// In order: Prometheus evaluates a group's rules one after another, so order is significant.
    public var rules: [AlertRule]
    /// Where the group is declared; not part of the object.
    public var location: SourceLocation?

    public init(
        namespace: String, group: String, interval: GuardrailDuration? = nil, limit: Int? = nil, rules: [AlertRule],
        location: SourceLocation? = nil
    ) {
        self.namespace = namespace
        self.group = group
        self.interval = interval.flatMap { $0.milliseconds == 0 ? nil : $0 }
        self.limit = limit.flatMap { $0 == 0 ? nil : $0 }
        self.rules = rules
        self.location = location
    }

    public static let kind = "AlertRuleGroup"
    public static let addressPrefix = "alerts"
    public static let destroyHazard = "deleting an alert rule group stops its alerts from firing and its recorded series from being written"

    /// `launch.api`: namespaces have no dots, so the first dot splits the two.
    public var name: String { "\(namespace).\(group)" }

    public var attributes: Attributes {
        var a: Attributes = ["namespace": .string(namespace), "group": .string(group)]
        if let interval { a["interval"] = .string(interval.description) }
        if let limit { a["limit"] = .int(limit) }
        for (index, rule) in rules.enumerated() { a[Self.ruleKey(index)] = .map(rule.attributes) }
        return a
    }

    /// `rules[0]`, `rules[1]`, ...: one attribute per rule, so a plan shows a change at field level.
    public static func ruleKey(_ index: Int) -> String { "rules[\(index)]" }

    public init(name: String, attributes: Attributes) throws {
        guard let namespace = attributes["namespace"]?.stringValue else { throw AttributeError.missing("namespace", in: Self.kind) }
        guard let group = attributes["group"]?.stringValue else { throw AttributeError.missing("group", in: Self.kind) }
        var interval: GuardrailDuration?
        if let text = attributes["interval"] {
            guard let s = text.stringValue, case .success(let d) = GuardrailDuration.parse(s) else {
                throw AttributeError.missing("interval", in: Self.kind)
            }
            interval = d
        }
        var limit: Int?
        if let value = attributes["limit"] {
            guard let n = value.intValue else { throw AttributeError.missing("limit", in: Self.kind) }
            limit = n
        }
        var rules: [AlertRule] = []
        var index = 0
        while let value = attributes[Self.ruleKey(index)] {
            guard let map = value.mapValue else { throw AttributeError.missing(Self.ruleKey(index), in: Self.kind) }
            rules.append(try AlertRule(attributes: map))
            index += 1
        }
        guard attributes.count == 2 + (interval == nil ? 0 : 1) + (limit == nil ? 0 : 1) + rules.count else {
            throw AttributeError("the saved \(Self.kind) \(name) has attributes this Guardrail does not know")
        }
        self.init(namespace: namespace, group: group, interval: interval, limit: limit, rules: rules)
        guard self.name == name else { throw AttributeError("the saved \(Self.kind) \(name) names namespace \(namespace) and group \(group)") }
    }

    /// Equal when everything but the source location is: what Prometheus would load is the same.
    public static func == (lhs: RuleGroup, rhs: RuleGroup) -> Bool {
        lhs.namespace == rhs.namespace && lhs.group == rhs.group && lhs.interval == rhs.interval && lhs.limit == rhs.limit && lhs.rules == rhs.rules
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(namespace)
        hasher.combine(group)
    }
}

/// One alerting or recording rule of a group.
public struct AlertRule: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable { case alert, record }

    public var kind: Kind
    /// The alert's name, or the series a recording rule writes.
    public var name: String
    /// PromQL, as written (trimmed). Compared with `PromQLText.comparisonKey`.
    public var expr: String
    /// How long the expression must hold before the alert fires; nil for at once.
    public var forDuration: GuardrailDuration?
    public var keepFiringFor: GuardrailDuration?
    public var labels: [String: String]
    public var annotations: [String: String]
    /// Where the rule's name is declared; not part of the rule.
    public var location: SourceLocation?
    /// Where its expression starts, for errors about the expression.
    public var exprLocation: SourceLocation?

    public init(
        kind: Kind, name: String, expr: String, forDuration: GuardrailDuration? = nil, keepFiringFor: GuardrailDuration? = nil,
        labels: [String: String] = [:], annotations: [String: String] = [:], location: SourceLocation? = nil,
        exprLocation: SourceLocation? = nil
    ) {
        self.exprLocation = exprLocation ?? location
        self.kind = kind
        self.name = name
        self.expr = PromQLText.trimmed(expr)
        self.forDuration = forDuration.flatMap { $0.milliseconds == 0 ? nil : $0 }
        self.keepFiringFor = keepFiringFor.flatMap { $0.milliseconds == 0 ? nil : $0 }
        self.labels = labels
        self.annotations = annotations
        self.location = location
    }

    /// `alert ServiceDown` or `record job:up:sum`, for messages.
    public var title: String { "\(kind.rawValue) \(name)" }

    /// Keyed as in a Prometheus rule file, so a plan reads like the file.
    public var attributes: Attributes {
        var a: Attributes = [kind.rawValue: .string(name), "expr": .string(expr)]
        if let forDuration { a["for"] = .string(forDuration.description) }
        if let keepFiringFor { a["keep_firing_for"] = .string(keepFiringFor.description) }
        if !labels.isEmpty { a["labels"] = labels.attributeValue }
        if !annotations.isEmpty { a["annotations"] = annotations.attributeValue }
        return a
    }

    init(attributes a: Attributes) throws {
        let kind: Kind, name: String
        if let alert = a["alert"]?.stringValue {
            (kind, name) = (.alert, alert)
        } else if let record = a["record"]?.stringValue {
            (kind, name) = (.record, record)
        } else {
            throw AttributeError.missing("alert", in: RuleGroup.kind)
        }
        guard let expr = a["expr"]?.stringValue else { throw AttributeError.missing("expr", in: RuleGroup.kind) }
        func duration(_ key: String) throws -> GuardrailDuration? {
            guard let value = a[key] else { return nil }
            guard let s = value.stringValue, case .success(let d) = GuardrailDuration.parse(s) else {
                throw AttributeError.missing(key, in: RuleGroup.kind)
            }
            return d
        }
        func map(_ key: String) throws -> [String: String] {
            guard let value = a[key] else { return [:] }
            guard let m = value.stringMap else { throw AttributeError.missing(key, in: RuleGroup.kind) }
            return m
        }
        self.init(
            kind: kind, name: name, expr: expr, forDuration: try duration("for"), keepFiringFor: try duration("keep_firing_for"),
            labels: try map("labels"), annotations: try map("annotations"))
    }

    /// Equal when Prometheus would load the same rule: expressions compare after normalizing spacing and comments.
    public static func == (lhs: AlertRule, rhs: AlertRule) -> Bool {
        lhs.kind == rhs.kind && lhs.name == rhs.name && lhs.forDuration == rhs.forDuration && lhs.keepFiringFor == rhs.keepFiringFor
            && lhs.labels == rhs.labels && lhs.annotations == rhs.annotations
            && (lhs.expr == rhs.expr || PromQLText.comparisonKey(lhs.expr) == PromQLText.comparisonKey(rhs.expr))
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
        hasher.combine(name)
    }
}
