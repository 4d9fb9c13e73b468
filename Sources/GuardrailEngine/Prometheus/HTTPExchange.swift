import AsyncHTTPClient
import GuardrailCore
import Foundation
import NIOCore
import NIOHTTP1

/// The HTTP client Guardrail's requests share. Unlike `HTTPClient.shared` it does not keep retrying
/// a refused connection until the request's deadline: a Prometheus that is down is reported at
/// once, so a rollout tick holds and an apply restores its rule files without waiting a minute.
enum GuardrailHTTPClient {
    static let shared: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(5)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()
}

/// One HTTP request and its answer, for the Prometheus and ruler clients: status and body, or why
/// there was no answer. Bodies are capped so a misbehaving server cannot exhaust memory.
struct HTTPExchange: Sendable {
    var status: UInt
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }
    var succeeded: Bool { (200..<300).contains(status) }

    struct Unreachable: Error, CustomStringConvertible {
        var url: String
        var reason: String
        var description: String { "\(url) did not answer: \(reason)" }
    }

    static func send(
        _ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: String? = nil,
        timeout: TimeAmount = .seconds(10), limit: Int = 32 << 20
    ) async throws -> HTTPExchange {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        do {
            let response = try await GuardrailHTTPClient.shared.execute(request, timeout: timeout)
            let buffer = try await response.body.collect(upTo: limit)
            return HTTPExchange(status: response.status.code, body: Data(buffer.readableBytesView))
        } catch {
            throw Unreachable(url: Self.redacted(url), reason: PrometheusClient.describe(error))
        }
    }

    /// The URL without user information, which may hold a password.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.user != nil || components.password != nil else { return url }
        components.user = nil
        components.password = nil
        return components.string ?? url
    }

    /// A path segment percent-encoded: everything but unreserved characters.
    static func pathSegment(_ text: String) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}

/// What the Prometheus query API said, kept apart: a refused query (`bad_data`: it does not parse)
/// is the user's mistake; an unreachable server or a timeout is not.
enum QueryAnswer: Sendable {
    /// The sample values of the result: one per series of a vector, or the scalar.
    case success([Double])
    case refused(type: String, message: String)
    case failed(String)
}

extension PrometheusClient {
    /// `POST /api/v1/query`, answered as the result's sample values, a refusal, or a failure.
    func instantQuery(_ promql: String) async -> QueryAnswer {
        let exchange: HTTPExchange
        do {
            exchange = try await HTTPExchange.send(
                .POST, baseURL + "/api/v1/query",
                headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
                body: "query=" + Self.formEncode(promql), timeout: timeout)
        } catch {
            return .failed("\(error)")
        }
        guard let answer = PrometheusAnswer<PrometheusQueryData>.read(exchange.body) else {
            return .failed("Prometheus answered HTTP \(exchange.status) with a body that is not JSON")
        }
        guard answer.succeeded else {
            return .refused(type: answer.errorType ?? "error", message: answer.error ?? "no message")
        }
        switch answer.data?.result {
        case .vector(let samples): return .success(samples.compactMap { $0.flatMap { Double($0.text) } })
        case .scalar(let sample): return .success(sample.flatMap { Double($0.text) }.map { [$0] } ?? [])
        case .malformedVector, .other, nil: return .success([])
        }
    }

    /// `GET /api/v1/rules`: every group Prometheus has loaded, with the file it came from.
    func loadedRuleGroups() async throws -> [LoadedRuleGroup] {
        let exchange = try await HTTPExchange.send(.GET, baseURL + "/api/v1/rules", headers: [("Accept", "application/json")], timeout: timeout)
        guard exchange.succeeded else {
            throw PrometheusAdminError("Prometheus answered HTTP \(exchange.status) to GET /api/v1/rules: \(exchange.text.prefix(300))")
        }
        return try LoadedRuleGroup.parse(exchange.body)
    }

    /// `POST /-/reload` (needs `--web.enable-lifecycle`). Throws Prometheus's own message when the reload fails.
    func reload() async throws {
        let exchange = try await HTTPExchange.send(.POST, baseURL + "/-/reload", timeout: .seconds(60))
        guard exchange.succeeded else {
            let message = exchange.text.trimmingCharacters(in: .whitespacesAndNewlines)
            if exchange.status == 403 || exchange.status == 404 {
                throw PrometheusAdminError(
                    "Prometheus refused POST /-/reload (HTTP \(exchange.status): \(message)); start it with --web.enable-lifecycle")
            }
            throw PrometheusAdminError("Prometheus could not reload (HTTP \(exchange.status)): \(message)")
        }
    }

    /// One gauge from the server's own `/metrics`, such as `prometheus_config_last_reload_successful`.
    func serverMetric(_ name: String) async -> Double? {
        guard let exchange = try? await HTTPExchange.send(.GET, baseURL + "/metrics", timeout: timeout), exchange.succeeded else { return nil }
        for line in exchange.text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// `global.evaluation_interval` from `GET /api/v1/status/config`; nil when it cannot be read.
    func globalEvaluationInterval() async -> GuardrailDuration? {
        guard
            let exchange = try? await HTTPExchange.send(
                .GET, baseURL + "/api/v1/status/config", headers: [("Accept", "application/json")], timeout: timeout),
            exchange.succeeded,
            let yaml = PrometheusAnswer<PrometheusConfigData>.read(exchange.body)?.data?.yaml
        else { return nil }
        // The loaded configuration, printed by Prometheus with every default filled in.
        for line in yaml.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("evaluation_interval:") else { continue }
            let value = trimmed.dropFirst("evaluation_interval:".count).trimmingCharacters(in: .whitespaces)
            if case .success(let d) = GuardrailDuration.parse(value) { return d }
        }
        return nil
    }

    /// `GET /api/v1/format_query`: the expression as Prometheus prints it; nil when unavailable.
    func formatted(_ promql: String) async -> String? {
        guard
            let exchange = try? await HTTPExchange.send(
                .POST, baseURL + "/api/v1/format_query",
                headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: "query=" + Self.formEncode(promql), timeout: timeout),
            exchange.succeeded
        else { return nil }
        return PrometheusAnswer<String>.read(exchange.body)?.data
    }
}

struct PrometheusAdminError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A group as `GET /api/v1/rules` reports it: the file it was loaded from, and each rule's state.
struct LoadedRuleGroup: Sendable, Equatable {
    struct Rule: Sendable, Equatable {
        var name: String
        var type: String
        var query: String
        var duration: Double
        var keepFiringFor: Double
        var labels: [String: String]
        var annotations: [String: String]
        var health: String
        var lastError: String?
    }

    var name: String
    var file: String
    var interval: Double
    var limit: Int
    var rules: [Rule]

    static func parse(_ body: Data) throws -> [LoadedRuleGroup] {
        guard let answer = PrometheusAnswer<PrometheusRulesData>.read(body), answer.succeeded, let data = answer.data else {
            throw PrometheusAdminError("Prometheus's GET /api/v1/rules answer is not what its API documents")
        }
        return data.groups
    }
}
