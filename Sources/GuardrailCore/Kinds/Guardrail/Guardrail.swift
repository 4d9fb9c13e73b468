/// A metric that watches rollouts: a PromQL query, a threshold, and what to do when the answer is
/// missing or the query fails.
///
/// `{{cohort}}` and `{{control}}` in the queries expand to regexes of the tenant ids in the rollout's
/// cohort and of the eligible tenants not yet in it.
///
/// ```yaml
/// apiVersion: guardrail/v1
/// kind: Guardrail
/// metadata: {name: bounce-rate}
/// spec:
///   query: sum(rate(email_bounced_total{tenant_id=~"{{cohort}}"}[10m])) / sum(rate(email_sent_total{tenant_id=~"{{cohort}}"}[10m]))
///   max: 0.02
///   interval: 1m
///   failures: 2
///   minSamples: {query: 'sum(increase(email_sent_total{tenant_id=~"{{cohort}}"}[10m]))', min: 100}
///   onNoData: hold
/// ```
public struct Guardrail: Resource, Hashable {
    /// The test a value must pass.
    public enum Condition: Hashable, Sendable {
        /// Healthy while the value is at most this.
        case max(Double)
        /// Healthy while the value is at least this.
        case min(Double)
        /// Healthy while the cohort's value is at most `maxRatio` times the control group's (the same
        /// query with `{{cohort}}` replaced by the control tenants).
        case compareToControl(maxRatio: Double)
    }

    /// What a rollout does about a guardrail that gave no answer.
    public enum Reaction: String, Hashable, Sendable, Codable, CaseIterable {
        /// Do not advance, do not roll back; try again at the next interval.
        case hold
        case pause
        case rollback
    }

    public struct MinSamples: Hashable, Sendable {
        public var query: String
        public var min: Double

        public init(query: String, min: Double) {
            self.query = query
            self.min = min
        }
    }

    public var name: String
    public var description: String
    public var query: String
    public var condition: Condition
    public var interval: GuardrailDuration
    /// Consecutive failing evaluations (each with enough samples) that make a breach.
    public var failures: Int
    public var minSamples: MinSamples?
    public var onNoData: Reaction
    /// What a query error does once `errorLimit` consecutive evaluations have failed to run; below the
    /// limit errors hold. `pause` and `rollback` act at the limit, `hold` pauses there (errors never hold forever).
    public var onError: Reaction
    public var errorLimit: Int

    public init(
        name: String, description: String = "", query: String, condition: Condition, interval: GuardrailDuration = .seconds(60),
        failures: Int = 1, minSamples: MinSamples? = nil, onNoData: Reaction = .hold, onError: Reaction = .hold, errorLimit: Int = 3
    ) {
        self.name = name
        self.description = description
        self.query = query
        self.condition = condition
        self.interval = interval
        self.failures = failures
        self.minSamples = minSamples
        self.onNoData = onNoData
        self.onError = onError
        self.errorLimit = errorLimit
    }

    public static let kind = "Guardrail"
    public static let addressPrefix = "guardrail"
    public static let destroyHazard = "deleting a guardrail stops it watching the rollouts that list it"
    static let specKeys = specShape.keys
    /// The placeholders a query may use.
    public static let placeholders = ["cohort", "control"]

    public var attributes: Attributes {
        var a: Attributes = [
            "description": .string(description),
            "query": .string(query),
            "interval": .string(interval.description),
            "failures": .int(failures),
            "on_no_data": .string(onNoData.rawValue),
            "on_error": .string(onError.rawValue),
            "error_limit": .int(errorLimit),
            "min_samples": minSamples.map { .map(["query": .string($0.query), "min": .double($0.min)]) } ?? .null,
            "max": .null, "min": .null, "compare": .null,
        ]
        switch condition {
        case .max(let v): a["max"] = .double(v)
        case .min(let v): a["min"] = .double(v)
        case .compareToControl(let r): a["compare"] = .map(["baseline": .string("control"), "max_ratio": .double(r)])
        }
        return a
    }

    public init(name: String, attributes: Attributes) throws {
        let k = Self.kind
        guard let query = attributes["query"]?.stringValue else { throw AttributeError.missing("query", in: k) }
        let condition: Condition
        if let v = attributes["max"]?.numberValue {
            condition = .max(v)
        } else if let v = attributes["min"]?.numberValue {
            condition = .min(v)
        } else if let r = attributes["compare"]?.mapValue?["max_ratio"]?.numberValue {
            condition = .compareToControl(maxRatio: r)
        } else {
            throw AttributeError.missing("max", in: k)
        }
        guard let intervalText = attributes["interval"]?.stringValue, case .success(let interval) = GuardrailDuration.parse(intervalText) else {
            throw AttributeError.missing("interval", in: k)
        }
        var minSamples: MinSamples?
        if let m = attributes["min_samples"]?.mapValue {
            guard let q = m["query"]?.stringValue, let min = m["min"]?.numberValue else { throw AttributeError.missing("min_samples", in: k) }
            minSamples = MinSamples(query: q, min: min)
        }
        guard let onNoData = attributes["on_no_data"]?.stringValue.flatMap(Reaction.init(rawValue:)),
            let onError = attributes["on_error"]?.stringValue.flatMap(Reaction.init(rawValue:))
        else {
            throw AttributeError.missing("on_no_data", in: k)
        }
        self.init(
            name: name, description: attributes["description"]?.stringValue ?? "", query: query, condition: condition,
            interval: interval, failures: attributes["failures"]?.intValue ?? 1, minSamples: minSamples,
            onNoData: onNoData, onError: onError, errorLimit: attributes["error_limit"]?.intValue ?? 3)
    }

    /// The threshold in words, as plans, status and the event log print it: `<= 0.02`, `<= 1.5x control`.
    public var thresholdDescription: String {
        switch condition {
        case .max(let v): "<= \(AttributeValue.double(v))"
        case .min(let v): ">= \(AttributeValue.double(v))"
        case .compareToControl(let r): "<= \(AttributeValue.double(r))x control"
        }
    }
}
