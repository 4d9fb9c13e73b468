import Foundation
import GuardrailCore

/// A Mimir/Cortex-compatible ruler: `GET /prometheus/config/v1/rules`, `POST .../rules/{namespace}`
/// with one group as YAML, `DELETE .../rules/{namespace}/{group}`, the tenant in `X-Scope-OrgID`.
///
/// Guardrail owns the namespaces that start with `namespacePrefix` and never touches others. Every
/// write is confirmed by reading the group back; on a failure the groups already changed in this
/// apply are put back as they were.
public struct MimirRuler: RulesTarget {
    public var baseURL: String
    public var tenant: String?
    public var namespacePrefix: String
    public var timeout: TimeInterval
    /// How many times a 409, 429 or 5xx answer is retried, with exponential backoff.
    public var retries: Int
    public var backoff: TimeInterval

    public init(
        baseURL: String, tenant: String?, namespacePrefix: String = "", timeout: TimeInterval = 10, retries: Int = 4, backoff: TimeInterval = 0.2
    ) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.tenant = tenant
        self.namespacePrefix = namespacePrefix
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
    }

    public var description: String { "the ruler at \(HTTPExchange.redacted(baseURL))" + (tenant.map { " (tenant \($0))" } ?? "") }

    var rulesPath: String { baseURL + "/prometheus/config/v1/rules" }
    var headers: [(String, String)] { tenant.map { [("X-Scope-OrgID", $0)] } ?? [] }

    func url(_ namespace: String, _ group: String? = nil) -> String {
        var url = rulesPath + "/" + HTTPExchange.pathSegment(namespacePrefix + namespace)
        if let group { url += "/" + HTTPExchange.pathSegment(group) }
        return url
    }

    /// The ruler hands back each group as it was posted, so `desired` is not needed to read it.
    public func observe(matching desired: [RuleGroup] = []) async throws -> [RuleGroup] {
        let exchange = try await send(.GET, rulesPath)
        // The ruler answers 404 when the tenant has no rule groups at all.
        if exchange.status == 404 { return [] }
        guard exchange.succeeded else { throw failure("GET", rulesPath, exchange) }
        let diagnostics = Diagnostics()
        let source = "\(HTTPExchange.redacted(rulesPath))"
        let parsed = YAMLParser.parse([UInt8](exchange.body), file: source)
        diagnostics.append(contentsOf: parsed.diagnostics)
        let reader = NodeReader(file: source, diagnostics: diagnostics)
        var groups: [RuleGroup] = []
        if let document = parsed.documents.first, case .mapping(let namespaces) = document.root {
            for entry in namespaces.entries {
                guard let full = reader.string(entry.key, "a namespace"), full.hasPrefix(namespacePrefix) else { continue }
                let namespace = String(full.dropFirst(namespacePrefix.count))
                if let problem = RuleFile.namespaceProblem(namespace) {
                    reader.error("the ruler namespace \"\(full)\" has Guardrail's prefix but an unusable name", detail: problem, at: entry.key.mark)
                    continue
                }
                groups += RuleFile.decodeGroups(entry.value, namespace: namespace, reader: reader, lenient: true)
            }
        } else if let document = parsed.documents.first, !(document.root.scalarIsNull) {
            reader.error(
                "the ruler's rule listing is not a mapping of namespaces", detail: "Check alerts.url: it should be the ruler's base URL.",
                at: document.root.mark)
        }
        if diagnostics.hasErrors { throw DiagnosticError(diagnostics.errors) }
        return groups
    }

    public func apply(_ changes: [Change], live: [RuleGroup]) async throws -> RulesApplyReport {
        let liveByName = Dictionary(live.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var done: [(address: String, previous: RuleGroup?, current: RuleGroup?)] = []
        var steps: [String] = []
        for change in changes where change.kind == RuleGroup.kind {
            let previous = liveByName[change.address.name]
            do {
                if let after = change.after {
                    let group = try RuleGroup(name: change.address.name, attributes: after)
                    // A replace never happens here (no attribute is immutable), but a renamed namespace would be a delete plus a create.
                    try await put(group)
                    done.append((change.address.description, previous, group))
                    steps.append("\(change.action == .create ? "created" : "updated") \(namespacePrefix + group.namespace)/\(group.group)")
                } else if let previous {
                    try await remove(previous)
                    done.append((change.address.description, previous, nil))
                    steps.append("deleted \(namespacePrefix + previous.namespace)/\(previous.group)")
                }
            } catch {
                let restored = await revert(done)
                throw RulesApplyError(reason: "\(change.address): \(error)", restored: restored)
            }
        }
        return RulesApplyReport(steps: steps)
    }

    /// POST the group, then read it back until it is what was posted.
    func put(_ group: RuleGroup) async throws {
        let target = url(group.namespace)
        let exchange = try await send(.POST, target, body: group.rulerBody, contentType: "application/yaml")
        guard exchange.succeeded else { throw failure("POST", target, exchange) }
        let back = try await read(group.namespace, group.group)
        guard let back, back == group else {
            throw PrometheusAdminError(
                "the ruler accepted \(group.address) but reading it back gave \(back == nil ? "nothing" : "a different group")")
        }
    }

    func remove(_ group: RuleGroup) async throws {
        let target = url(group.namespace, group.group)
        let exchange = try await send(.DELETE, target)
        guard exchange.succeeded || exchange.status == 404 else { throw failure("DELETE", target, exchange) }
        if try await read(group.namespace, group.group) != nil {
            throw PrometheusAdminError("the ruler accepted the delete of \(group.address) but still has the group")
        }
    }

    /// `GET .../rules/{namespace}/{group}`; nil on 404.
    func read(_ namespace: String, _ group: String) async throws -> RuleGroup? {
        let target = url(namespace, group)
        let exchange = try await send(.GET, target)
        if exchange.status == 404 { return nil }
        guard exchange.succeeded else { throw failure("GET", target, exchange) }
        let diagnostics = Diagnostics()
        let parsed = YAMLParser.parse([UInt8](exchange.body), file: HTTPExchange.redacted(target))
        diagnostics.append(contentsOf: parsed.diagnostics)
        let reader = NodeReader(file: HTTPExchange.redacted(target), diagnostics: diagnostics)
        guard let document = parsed.documents.first,
            let decoded = RuleFile.decodeGroup(document.root, namespace: namespace, reader: reader, lenient: true), !diagnostics.hasErrors
        else {
            throw DiagnosticError([.error("the ruler's answer for \(namespacePrefix + namespace)/\(group) is not a rule group")] + diagnostics.errors)
        }
        return decoded
    }

    /// Undoes the writes of this apply, newest first.
    func revert(_ done: [(address: String, previous: RuleGroup?, current: RuleGroup?)]) async -> String {
        guard !done.isEmpty else { return "Nothing had been changed on the ruler." }
        var failures: [String] = []
        for step in done.reversed() {
            do {
                if let previous = step.previous { try await put(previous) } else if let current = step.current { try await remove(current) }
            } catch {
                failures.append("\(step.address): \(error)")
            }
        }
        return failures.isEmpty
            ? "Put back the \(KindNames.count(done.count, of: "group")) this apply had already changed on the ruler."
            : "Putting back the groups already changed failed for " + failures.joined(separator: "; ") + "; check the ruler by hand."
    }

    /// Sends with the tenant header, retrying conflicts, rate limits and server errors with backoff.
    func send(_ method: NIOHTTP1Method, _ target: String, body: String? = nil, contentType: String? = nil) async throws -> HTTPExchange {
        var headers = self.headers
        if let contentType { headers.append(("Content-Type", contentType)) }
        var attempt = 0
        while true {
            let exchange = try await HTTPExchange.send(method, target, headers: headers, body: body, timeout: .milliseconds(Int64(timeout * 1000)))
            let retryable = exchange.status == 409 || exchange.status == 429 || exchange.status >= 500
            guard retryable, attempt < retries else { return exchange }
            attempt += 1
            try await Task.sleep(nanoseconds: UInt64(backoff * pow(2, Double(attempt - 1)) * 1_000_000_000))
        }
    }

    func failure(_ method: String, _ target: String, _ exchange: HTTPExchange) -> PrometheusAdminError {
        let message = exchange.text.trimmingCharacters(in: .whitespacesAndNewlines)
        return PrometheusAdminError(
            "the ruler answered HTTP \(exchange.status) to \(method) \(HTTPExchange.redacted(target))"
                + (message.isEmpty ? "" : ": \(message.prefix(500))"))
    }
}

import NIOHTTP1
typealias NIOHTTP1Method = NIOHTTP1.HTTPMethod

extension YAMLNode {
    var scalarIsNull: Bool {
        if case .scalar(let s) = self { return s.resolved == .null }
        return false
    }
}
