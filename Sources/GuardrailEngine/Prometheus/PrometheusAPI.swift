import Foundation

/// The JSON answers of Prometheus's HTTP API, as its documentation describes them. Decoding is as
/// forgiving as reading them needs: a field of an unexpected shape reads as absent, so each caller
/// names what is missing instead of failing on the first surprise. Optional keys are read with
/// `decodeIfPresent`, which answers nil for an absent key without building an error: guardrail
/// queries are decoded at every evaluation.

/// Every answer's envelope: `{"status": "success", "data": ...}` or
/// `{"status": "error", "errorType": "bad_data", "error": "..."}`. Decoding fails only when the body
/// is not a JSON object; `data` is nil when it is absent or not a `Payload`.
struct PrometheusAnswer<Payload: Decodable>: Decodable {
    var status: String?
    var data: Payload?
    var errorType: String?
    var error: String?

    var succeeded: Bool { status == "success" }

    enum CodingKeys: String, CodingKey { case status, data, errorType, error }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        status = try? c.decodeIfPresent(String.self, forKey: .status)
        errorType = try? c.decodeIfPresent(String.self, forKey: .errorType)
        error = try? c.decodeIfPresent(String.self, forKey: .error)
        data = try? c.decodeIfPresent(Payload.self, forKey: .data)
    }

    /// The answer in `body`, or nil when the body is not a JSON object.
    static func read(_ body: Data) -> PrometheusAnswer? {
        try? JSONDecoder().decode(PrometheusAnswer.self, from: body)
    }
}

/// The `data` of an instant query: `{"resultType": "vector", "result": [{"metric": {...}, "value": [t, "v"]}]}`,
/// or a scalar's `[t, "v"]`. Series labels are not decoded: nothing reads them.
struct PrometheusQueryData: Decodable {
    enum Result {
        /// Each series' sample, nil where it is malformed.
        case vector([PrometheusSample?])
        /// A result that is not a list of series.
        case malformedVector
        /// The scalar's sample, nil when it is malformed.
        case scalar(PrometheusSample?)
        /// A matrix or a string, whose result is not read.
        case other
    }

    var resultType: String
    var result: Result

    enum CodingKeys: String, CodingKey { case resultType, result }

    /// A series of a vector; its labels are skipped.
    struct Series: Decodable {
        var value: PrometheusSample?

        enum CodingKeys: String, CodingKey { case value }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            value = try? c.decodeIfPresent(PrometheusSample.self, forKey: .value)
        }
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        resultType = try c.decode(String.self, forKey: .resultType)
        switch resultType {
        case "vector":
            let series = try? c.decodeIfPresent([Series].self, forKey: .result)
            result = series.map { .vector($0.map(\.value)) } ?? .malformedVector
        case "scalar":
            result = .scalar(try? c.decodeIfPresent(PrometheusSample.self, forKey: .result))
        default:
            result = .other
        }
    }
}

/// One sample, `[timestamp, "value"]`: the value is a string so that NaN and the infinities survive JSON.
struct PrometheusSample: Decodable {
    var text: String

    /// Whatever stands in the timestamp's place; it is not read.
    private struct Skipped: Decodable {
        init(from decoder: any Decoder) throws {}
    }

    init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        guard c.count == 2 else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "a sample is a timestamp and a value")
        }
        _ = try c.decode(Skipped.self)
        text = try c.decode(String.self)
    }
}

/// The `data` of `GET /api/v1/rules`.
struct PrometheusRulesData: Decodable {
    var groups: [LoadedRuleGroup]
}

/// The `data` of `GET /api/v1/status/config`: the loaded configuration as YAML.
struct PrometheusConfigData: Decodable {
    var yaml: String
}

extension LoadedRuleGroup: Decodable {
    enum CodingKeys: String, CodingKey { case name, file, interval, limit, rules }

    /// A group of `GET /api/v1/rules`; a field that is absent or of another type takes its empty value.
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: (try? c.decodeIfPresent(String.self, forKey: .name)) ?? "",
            file: (try? c.decodeIfPresent(String.self, forKey: .file)) ?? "",
            interval: (try? c.decodeIfPresent(Double.self, forKey: .interval)) ?? 0,
            limit: (try? c.decodeIfPresent(Int.self, forKey: .limit)) ?? 0,
            rules: (try? c.decodeIfPresent([Rule].self, forKey: .rules)) ?? [])
    }
}

extension LoadedRuleGroup.Rule: Decodable {
    enum CodingKeys: String, CodingKey { case name, type, query, duration, keepFiringFor, labels, annotations, health, lastError }

    /// A rule of a loaded group; a field that is absent or of another type takes its empty value.
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func text(_ key: CodingKeys) -> String? { try? c.decodeIfPresent(String.self, forKey: key) }
        func number(_ key: CodingKeys) -> Double { (try? c.decodeIfPresent(Double.self, forKey: key)) ?? 0 }
        func map(_ key: CodingKeys) -> [String: String] { (try? c.decodeIfPresent([String: String].self, forKey: key)) ?? [:] }
        self.init(
            name: text(.name) ?? "", type: text(.type) ?? "", query: text(.query) ?? "", duration: number(.duration),
            keepFiringFor: number(.keepFiringFor), labels: map(.labels), annotations: map(.annotations), health: text(.health) ?? "unknown",
            lastError: text(.lastError).flatMap { $0.isEmpty ? nil : $0 })
    }
}
