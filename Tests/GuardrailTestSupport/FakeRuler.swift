import Foundation
import GuardrailCore
import HTTPTypes
import Hummingbird
import NIOCore

/// An in-process Mimir/Cortex-compatible ruler, following its documented configuration API:
///
/// - `GET /prometheus/config/v1/rules`: every namespace of the tenant, as YAML; 404 when there are none;
/// - `GET .../rules/{namespace}` and `GET .../rules/{namespace}/{group}`: 404 when missing;
/// - `POST .../rules/{namespace}`: one group as a YAML body; 202 Accepted, 400 for an invalid group;
/// - `DELETE .../rules/{namespace}/{group}` and `DELETE .../rules/{namespace}`: 202 Accepted;
/// - every request needs `X-Scope-OrgID` (401 without); namespaces and groups are percent-encoded.
///
/// Groups are parsed (libyaml events only, not Guardrail's rule decoder) and re-emitted in another
/// style, block mappings with plain and single-quoted scalars, so what comes back is re-marshalled
/// YAML, as a real ruler's is. `injectFailures` makes the next requests of a method
/// answer with the given statuses (409 conflicts, 429 rate limits).
public final class FakeRuler: @unchecked Sendable {
    private let lock = NSLock()
    /// tenant -> namespace -> groups (in the order posted; a re-post replaces in place).
    private var store: [String: [String: [YAMLNode]]] = [:]
    private var failures: [String: [Int]] = [:]
    private(set) public var requests: [String] = []
    private var task: Task<Void, any Error>?
    public private(set) var url = ""

    public init() {}

    /// Starts on a free loopback port and returns once it accepts connections.
    public func start() async throws {
        let router = Router()
        let base = "/prometheus/config/v1/rules"
        router.get(RouterPath(base)) { request, _ in try self.handle(request, namespace: nil, group: nil) }
        router.get(RouterPath(base + "/:namespace")) { request, context in
            try self.handle(request, namespace: context.parameters.get("namespace"), group: nil)
        }
        router.get(RouterPath(base + "/:namespace/:group")) { request, context in
            try self.handle(request, namespace: context.parameters.get("namespace"), group: context.parameters.get("group"))
        }
        router.post(RouterPath(base + "/:namespace")) { request, context in
            let body = try await request.body.collect(upTo: 1 << 20)
            return try self.handle(request, namespace: context.parameters.get("namespace"), group: nil, body: String(buffer: body))
        }
        router.delete(RouterPath(base + "/:namespace")) { request, context in
            try self.handle(request, namespace: context.parameters.get("namespace"), group: nil)
        }
        router.delete(RouterPath(base + "/:namespace/:group")) { request, context in
            try self.handle(request, namespace: context.parameters.get("namespace"), group: context.parameters.get("group"))
        }
        let ready = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in ready.continuation.yield(channel.localAddress?.port ?? 0) }, logger: TestDatabase.logger)
        task = Task { try await app.run() }
        var iterator = ready.stream.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        url = "http://127.0.0.1:\(port)"
    }

    public func stop() {
        task?.cancel()
        task = nil
    }

    /// The next requests with this method answer these statuses, in order, without acting; a 0
    /// lets that request through.
    public func injectFailures(_ method: String, _ statuses: [Int]) {
        lock.withLock { failures[method, default: []] += statuses }
    }

    /// Stores a group directly, as another team's tool would have.
    public func seed(tenant: String, namespace: String, groupYAML: String) throws {
        guard let node = Self.parse(groupYAML) else { return }
        lock.withLock { store[tenant, default: [:]][namespace, default: []].append(node) }
    }

    /// The namespaces a tenant has, sorted.
    public func namespaces(tenant: String) -> [String] {
        lock.withLock { (store[tenant] ?? [:]).filter { !$0.value.isEmpty }.keys.sorted() }
    }

    /// A stored group as the ruler answers `GET .../rules/{namespace}/{group}`.
    public func groupYAML(tenant: String, namespace: String, group: String) -> String? {
        lock.withLock { (store[tenant]?[namespace] ?? []).first { Self.name($0) == group }.map { Self.emit($0, indent: 0, listItem: false) } }
    }

    public func groupNames(tenant: String, namespace: String) -> [String] {
        lock.withLock { (store[tenant]?[namespace] ?? []).compactMap(Self.name) }
    }

    private func text(_ status: HTTPResponse.Status, _ body: String, yaml: Bool = false) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = yaml ? "application/yaml" : "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    private func handle(_ request: Request, namespace rawNamespace: String?, group rawGroup: String?, body: String? = nil) throws -> Response {
        let method = request.method.rawValue
        let namespace = rawNamespace.flatMap { $0.removingPercentEncoding }
        let group = rawGroup.flatMap { $0.removingPercentEncoding }
        return lock.withLock { () -> Response in
            requests.append("\(method) \(request.uri.path)")
            if var queued = failures[method], !queued.isEmpty {
                let status = queued.removeFirst()
                failures[method] = queued
                if status != 0 {
                    return text(
                        HTTPResponse.Status(code: status),
                        status == 429 ? "per-user rules limit reached" : "conflict: the rule group is being modified")
                }
            }
            guard let tenant = request.headers[HTTPField.Name("X-Scope-OrgID")!], !tenant.isEmpty else {
                return text(.unauthorized, "no org id")
            }
            var namespaces = store[tenant] ?? [:]
            defer { store[tenant] = namespaces }
            switch (method, namespace, group) {
            case ("GET", nil, _):
                let all = namespaces.filter { !$0.value.isEmpty }
                guard !all.isEmpty else { return text(.notFound, "no rule groups found") }
                return text(
                    .ok,
                    all.keys.sorted().map {
                        Self.key($0) + ":\n"
                            + Self.emit(.sequence(YAMLSequence(items: all[$0]!, mark: YAMLMark(line: 1, column: 1))), indent: 2, listItem: false)
                    }.joined(), yaml: true)
            case ("GET", let ns?, nil):
                guard let groups = namespaces[ns], !groups.isEmpty else { return text(.notFound, "no rule groups found") }
                return text(
                    .ok,
                    Self.key(ns) + ":\n"
                        + Self.emit(.sequence(YAMLSequence(items: groups, mark: YAMLMark(line: 1, column: 1))), indent: 2, listItem: false),
                    yaml: true)
            case ("GET", let ns?, let name?):
                guard let node = namespaces[ns]?.first(where: { Self.name($0) == name }) else { return text(.notFound, "group does not exist") }
                return text(.ok, Self.emit(node, indent: 0, listItem: false), yaml: true)
            case ("POST", let ns?, nil):
                guard let body, let node = Self.parse(body), let name = Self.name(node), !name.isEmpty, Self.hasRules(node) else {
                    return text(.badRequest, "invalid rule group: a group needs a name and rules")
                }
                var groups = namespaces[ns] ?? []
                if let index = groups.firstIndex(where: { Self.name($0) == name }) { groups[index] = node } else { groups.append(node) }
                namespaces[ns] = groups
                return text(.accepted, #"{"status":"success","data":null,"errorType":"","error":""}"#)
            case ("DELETE", let ns?, let name?):
                guard let index = namespaces[ns]?.firstIndex(where: { Self.name($0) == name }) else { return text(.notFound, "group does not exist") }
                namespaces[ns]!.remove(at: index)
                return text(.accepted, #"{"status":"success","data":null,"errorType":"","error":""}"#)
            case ("DELETE", let ns?, nil):
                namespaces[ns] = nil
                return text(.accepted, #"{"status":"success","data":null,"errorType":"","error":""}"#)
            default:
                return text(.methodNotAllowed, "unsupported")
            }
        }
    }

    // MARK: YAML, as a ruler re-marshals it

    static func parse(_ text: String) -> YAMLNode? {
        let result = YAMLParser.parse(text, file: "body")
        guard result.diagnostics.isEmpty, let root = result.documents.first?.root, case .mapping = root else { return nil }
        return root
    }

    static func value(_ node: YAMLNode, _ key: String) -> YAMLNode? {
        guard case .mapping(let m) = node else { return nil }
        return m.entries.first { if case .scalar(let k) = $0.key { return k.value == key } else { return false } }?.value
    }

    static func name(_ node: YAMLNode) -> String? {
        if case .scalar(let s)? = value(node, "name") { return s.value }
        return nil
    }

    static func hasRules(_ node: YAMLNode) -> Bool {
        if case .sequence? = value(node, "rules") { return true }
        return false
    }

    static func key(_ text: String) -> String { scalar(text, wasPlain: false) }

    /// Plain when that reads back as the same string, else single-quoted, else double-quoted.
    static func scalar(_ text: String, wasPlain: Bool) -> String {
        if wasPlain { return text }
        let plainSafe =
            !text.isEmpty && text.first.map { $0.isLetter || $0.isNumber || $0 == "/" } == true && text.last != " "
            && !text.contains(": ") && !text.contains(" #") && !text.contains { "\n\t'\"{}[],&*!|>%@`".contains($0) }
            && YAMLScalar(value: text, isPlain: true, mark: YAMLMark(line: 1, column: 1)).resolved == .string(text)
        if plainSafe { return text }
        if !text.contains(where: { $0 == "\n" || $0 == "\t" || $0.unicodeScalars.first!.value < 0x20 }) {
            return "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
        }
        return TextEscaping.escape(text, .yaml, quoted: true)
    }

    static func emit(_ node: YAMLNode, indent: Int, listItem: Bool) -> String {
        let pad = String(repeating: " ", count: indent)
        switch node {
        case .scalar(let s):
            return scalar(s.value, wasPlain: s.isPlain) + "\n"
        case .sequence(let seq):
            if seq.items.isEmpty { return "[]\n" }
            return seq.items.map { pad + "- " + String(emit($0, indent: indent + 2, listItem: true).drop(while: { $0 == " " })) }.joined()
        case .mapping(let map):
            if map.entries.isEmpty { return "{}\n" }
            var out = ""
            for (i, entry) in map.entries.enumerated() {
                let lead = (listItem && i == 0) ? "" : pad
                let k: String
                if case .scalar(let ks) = entry.key { k = key(ks.value) } else { k = "?" }
                switch entry.value {
                case .scalar: out += lead + k + ": " + emit(entry.value, indent: indent + 2, listItem: false)
                case .sequence(let s) where s.items.isEmpty: out += lead + k + ": []\n"
                case .mapping(let m) where m.entries.isEmpty: out += lead + k + ": {}\n"
                case .sequence: out += lead + k + ":\n" + emit(entry.value, indent: indent, listItem: false)
                case .mapping: out += lead + k + ":\n" + emit(entry.value, indent: indent + 2, listItem: false)
                }
            }
            return out
        }
    }
}
