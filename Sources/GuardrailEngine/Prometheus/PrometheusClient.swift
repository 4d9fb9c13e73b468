import AsyncHTTPClient
import Foundation
import GuardrailCore
import NIOCore

/// Where guardrail values come from. The Prometheus HTTP API in production; tests may pass a fake.
public protocol MetricsSource: Sendable {
    /// Runs an instant query that should give one number. Never throws: failures are `.error`.
    func query(_ promql: String) async -> MetricOutcome
}

/// A client for Prometheus's instant-query API, `POST /api/v1/query`.
///
/// POST with a form body because cohort regexes of thousands of tenant ids do not fit in a URL.
/// Reading the answer: an empty vector or NaN is no data; one sample or a scalar is the value;
/// several series, a range vector or a string is an error, as is any HTTP or API failure.
public struct PrometheusClient: MetricsSource {
    public var baseURL: String
    public var timeout: TimeAmount

    public init(baseURL: String, timeout: TimeAmount = .seconds(10)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.timeout = timeout
    }

    public func query(_ promql: String) async -> MetricOutcome {
        var request = HTTPClientRequest(url: baseURL + "/api/v1/query")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: "query=" + Self.formEncode(promql)))
        let status: UInt
        let body: ByteBuffer
        do {
            let response = try await GuardrailHTTPClient.shared.execute(request, timeout: timeout)
            status = response.status.code
            body = try await response.body.collect(upTo: 16 << 20)
        } catch {
            return .error("Prometheus at \(HTTPExchange.redacted(baseURL)) did not answer: \(Self.describe(error))")
        }
        return Self.interpret(status: status, body: Data(body.readableBytesView))
    }

    /// Reads an API response. Pure, so every shape of answer is tested without a server.
    public static func interpret(status: UInt, body: Data) -> MetricOutcome {
        guard let answer = PrometheusAnswer<PrometheusQueryData>.read(body) else {
            return .error("Prometheus answered HTTP \(status) with a body that is not JSON")
        }
        guard answer.succeeded else {
            return .error("Prometheus refused the query (HTTP \(status), \(answer.errorType ?? "error")): \(answer.error ?? "no message")")
        }
        guard let data = answer.data else {
            return .error("Prometheus answered without data")
        }
        switch data.result {
        case .vector(let samples):
            if samples.isEmpty { return .noData("the query returned an empty vector") }
            if samples.count > 1 {
                return .error("the query returned \(samples.count) series where one number was expected; aggregate it, for example with sum()")
            }
            return sample(samples[0])
        case .malformedVector:
            return .error("Prometheus answered a malformed vector")
        case .scalar(let value):
            return sample(value)
        case .other:
            return .error("the query returned a \(data.resultType) where one number was expected")
        }
    }

    static func sample(_ value: PrometheusSample?) -> MetricOutcome {
        guard let text = value?.text else {
            return .error("Prometheus answered a malformed sample")
        }
        let number: Double?
        switch text {
        case "NaN": number = .nan
        case "+Inf", "Inf": number = .infinity
        case "-Inf": number = -.infinity
        default: number = Double(text)
        }
        guard let number else { return .error("Prometheus answered a sample that is not a number: \(text)") }
        return number.isNaN ? .noData("the query returned NaN") : .value(number)
    }

    /// `application/x-www-form-urlencoded`: everything but unreserved characters percent-encoded.
    static func formEncode(_ text: String) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? HTTPClientError { return "\(e)" }
        let text = "\(error)"
        return text.count > 300 ? String(text.prefix(300)) + "..." : text
    }
}
