/// What a metrics server answered for one guardrail query: a single value, nothing, or a failure.
public enum MetricOutcome: Hashable, Sendable, Codable {
    case value(Double)
    /// An empty result or NaN: the metric does not exist for these tenants (yet). Never read as 0.
    case noData(String)
    /// The query did not run, or its answer was not one number (several series, a range vector).
    case error(String)
}

/// One evaluation's readings: the guardrail's query, the control group's for `compare`, and the
/// sample count when the guardrail asks for a minimum.
public struct GuardrailReading: Hashable, Sendable {
    public var value: MetricOutcome
    public var baseline: MetricOutcome?
    public var samples: MetricOutcome?

    public init(value: MetricOutcome, baseline: MetricOutcome? = nil, samples: MetricOutcome? = nil) {
        self.value = value
        self.baseline = baseline
        self.samples = samples
    }
}

/// The judgement of one guardrail evaluation, recorded with everything needed to explain it.
public struct GuardrailVerdict: Hashable, Sendable, Codable {
    public enum Kind: String, Hashable, Sendable, Codable, CaseIterable {
        case pass, fail
        case noData = "no-data"
        /// A value, but from too few samples to judge; treated like no data.
        case insufficientSamples = "insufficient-samples"
        case error
    }

    public var guardrail: String
    public var kind: Kind
    /// The query as written in the manifest (before `{{cohort}}` expansion).
    public var query: String
    public var value: Double?
    public var threshold: String
    public var samples: Double?
    public var message: String

    public init(guardrail: String, kind: Kind, query: String, value: Double? = nil, threshold: String, samples: Double? = nil, message: String) {
        self.guardrail = guardrail
        self.kind = kind
        self.query = query
        self.value = value
        self.threshold = threshold
        self.samples = samples
        self.message = message
    }
}

extension Guardrail {
    /// Judges one evaluation. Errors come first (a failed sample query is an error too), then the
    /// sample minimum, then missing data, then the threshold.
    public func verdict(for reading: GuardrailReading) -> GuardrailVerdict {
        func make(_ kind: GuardrailVerdict.Kind, value: Double? = nil, samples: Double? = nil, _ message: String) -> GuardrailVerdict {
            GuardrailVerdict(
                guardrail: name, kind: kind, query: query, value: value, threshold: thresholdDescription, samples: samples, message: message)
        }
        var sampleCount: Double?
        // Kept on "too few samples" verdicts, so the event log shows what the value was.
        var seen: Double? = nil
        if case .value(let v) = reading.value, !v.isNaN { seen = v }
        if let minSamples {
            switch reading.samples ?? .noData("the sample query was not run") {
            case .error(let e): return make(.error, "the sample query failed: \(e)")
            case .noData:
                return make(.insufficientSamples, value: seen, samples: 0, "no samples yet (needs at least \(MetricNumber.text(minSamples.min)))")
            case .value(let n):
                sampleCount = n
                if n.isNaN || n < minSamples.min {
                    return make(
                        .insufficientSamples, value: seen, samples: n.isNaN ? 0 : n,
                        "\(MetricNumber.text(n.isNaN ? 0 : n)) samples, fewer than the \(MetricNumber.text(minSamples.min)) needed to judge")
                }
            }
        }
        let value: Double
        switch reading.value {
        case .error(let e): return make(.error, samples: sampleCount, e)
        case .noData(let why): return make(.noData, samples: sampleCount, why)
        case .value(let v) where v.isNaN: return make(.noData, samples: sampleCount, "the query returned NaN")
        case .value(let v): value = v
        }
        switch condition {
        case .max(let limit):
            return value <= limit
                ? make(.pass, value: value, samples: sampleCount, "\(MetricNumber.text(value)) is within \(thresholdDescription)")
                : make(.fail, value: value, samples: sampleCount, "\(MetricNumber.text(value)) is above the maximum \(MetricNumber.text(limit))")
        case .min(let limit):
            return value >= limit
                ? make(.pass, value: value, samples: sampleCount, "\(MetricNumber.text(value)) is within \(thresholdDescription)")
                : make(.fail, value: value, samples: sampleCount, "\(MetricNumber.text(value)) is below the minimum \(MetricNumber.text(limit))")
        case .compareToControl(let maxRatio):
            let base: Double
            switch reading.baseline ?? .noData("the control query was not run") {
            case .error(let e): return make(.error, value: value, samples: sampleCount, "the control query failed: \(e)")
            case .noData(let why): return make(.noData, value: value, samples: sampleCount, "no control value: \(why)")
            case .value(let b) where b.isNaN: return make(.noData, value: value, samples: sampleCount, "the control query returned NaN")
            case .value(let b): base = b
            }
            let ratio = base == 0 ? (value == 0 ? 1 : .infinity) : value / base
            let text = "\(MetricNumber.text(value)) against control \(MetricNumber.text(base))"
            return ratio <= maxRatio
                ? make(.pass, value: value, samples: sampleCount, "\(text) is within \(thresholdDescription)")
                : make(.fail, value: value, samples: sampleCount, "\(text) is more than \(MetricNumber.text(maxRatio))x the control")
        }
    }
}

/// Metric values as people read them: four significant digits (`0.005`, `4.02e-05`), whole numbers in full.
public enum MetricNumber {
    public static func text(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(format: "%.4g", value)
    }
}
