import Crypto
import Foundation

/// The Alertmanager configuration file a routing renders to, and the plan's view of it. Pure.
extension AlertRouting {
    /// Alertmanager's own defaults for the root route, filled in so that a file that leaves them out
    /// and a running configuration that reports them compare equal.
    public static let rootDefaults = (
        groupWait: GuardrailDuration.seconds(30), groupInterval: GuardrailDuration.seconds(300),
        repeatInterval: GuardrailDuration.seconds(4 * 3600)
    )

    /// The whole configuration with every secret resolved from `environment`, as JSON (which
    /// Alertmanager reads as YAML). Fails naming the first variable that is not set.
    public func alertmanagerConfiguration(resolving environment: [String: String]) -> Result<String, Diagnostic> {
        var receiverList: [AlertmanagerFile.Receiver] = []
        for receiver in receivers {
            var integrations: [String: [[String: JSONValue]]] = [:]
            for (type, configs) in receiver.integrations {
                var list: [[String: JSONValue]] = []
                for config in configs {
                    var c: [String: JSONValue] = [:]
                    for (key, value) in config.fields {
                        switch value {
                        case .text(let s): c[key] = .string(s)
                        case .bool(let b): c[key] = .bool(b)
                        case .int(let i): c[key] = .int(i)
                        case .map(let m): c[key] = .object(m.mapValues(JSONValue.string))
                        case .secret(let t):
                            switch t.expand(environment) {
                            case .success(let s): c[key] = .string(s)
                            case .failure(let d): return .failure(d)
                            }
                        }
                    }
                    list.append(c)
                }
                integrations[type] = list
            }
            receiverList.append(AlertmanagerFile.Receiver(name: receiver.name, integrations: integrations))
        }
        let document = AlertmanagerFile(
            receivers: receiverList, route: Self.render(route),
            inhibitRules: inhibitRules.isEmpty
                ? nil
                : inhibitRules.map { rule in
                    AlertmanagerFile.Inhibit(
                        sourceMatchers: rule.sourceMatchers.map(\.description),
                        targetMatchers: rule.targetMatchers.map(\.description), equal: rule.equal.isEmpty ? nil : rule.equal)
                })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(document) else {
            return .failure(.error("the Alertmanager configuration could not be rendered", at: location))
        }
        return .success(
            "# Written by Guardrail from alerts/routing.yaml; edits here are overwritten by the next apply.\n"
                + String(decoding: data, as: UTF8.self) + "\n")
    }

    static func render(_ route: RoutingRoute) -> AlertmanagerFile.Route {
        AlertmanagerFile.Route(
            receiver: route.receiver, matchers: route.matchers.isEmpty ? nil : route.matchers.map(\.description),
            groupBy: route.groupBy, groupWait: route.groupWait?.description, groupInterval: route.groupInterval?.description,
            repeatInterval: route.repeatInterval?.description, continueMatching: route.continueMatching ? true : nil,
            routes: route.routes.isEmpty ? nil : route.routes.map(render))
    }

    /// SHA-256 over every secret's path and resolved value: recorded when Alertmanager confirms a
    /// load, since Alertmanager prints secrets back as `<secret>` and a changed key would go unseen.
    /// Nil when a variable is not set.
    public func secretDigest(resolving environment: [String: String]) -> String? {
        var hasher = SHA256()
        hasher.update(data: Array("guardrail-alertmanager-secrets/v1".utf8))
        for (path, value) in secrets {
            guard case .success(let resolved) = value.expand(environment) else { return nil }
            for part in [path, resolved] {
                hasher.update(data: Array("\(part.utf8.count):".utf8))
                hasher.update(data: Array(part.utf8))
            }
        }
        return Hex.string(hasher.finalize())
    }

    /// The plan's view: one attribute per receiver, per route and per inhibit rule, compared
    /// semantically (durations as durations, matchers and group_by as sets, maps as maps). Secrets
    /// show as `***`; `secretsChanged` marks that their resolved values differ from the ones last applied.
    public func attributes(secretsChanged: Bool = false) -> Attributes {
        var a: Attributes = [:]
        for receiver in receivers {
            var r: [String: AttributeValue] = [:]
            for (type, configs) in receiver.integrations {
                r[type] = .list(
                    configs.map { config in
                        .map(
                            config.fields.mapValues { value in
                                switch value {
                                case .text(let s): .string(s)
                                case .secret: .string("***")
                                case .bool(let b): .bool(b)
                                case .int(let i): .int(i)
                                case .map(let m): m.attributeValue
                                }
                            })
                    })
            }
            a["receivers.\(receiver.name)"] = .map(r)
        }
        func visit(_ route: RoutingRoute, path: String, isRoot: Bool) {
            var r: [String: AttributeValue] = [:]
            if let receiver = route.receiver { r["receiver"] = .string(receiver) }
            if !route.matchers.isEmpty { r["matchers"] = .list(route.matchers.map(\.description).sorted().map(AttributeValue.string)) }
            if let groupBy = route.groupBy { r["group_by"] = .list(Set(groupBy).sorted().map(AttributeValue.string)) }
            let defaults = isRoot ? Self.rootDefaults : (nil, nil, nil) as (GuardrailDuration?, GuardrailDuration?, GuardrailDuration?)
            if let d = route.groupWait ?? defaults.0 { r["group_wait"] = .string(d.description) }
            if let d = route.groupInterval ?? defaults.1 { r["group_interval"] = .string(d.description) }
            if let d = route.repeatInterval ?? defaults.2 { r["repeat_interval"] = .string(d.description) }
            if route.continueMatching { r["continue"] = .bool(true) }
            if !route.routes.isEmpty { r["routes"] = .int(route.routes.count) }
            a[path] = .map(r)
            for (index, child) in route.routes.enumerated() { visit(child, path: "\(path).routes[\(index)]", isRoot: false) }
        }
        visit(route, path: "route", isRoot: true)
        for (index, rule) in inhibitRules.enumerated() {
            a["inhibit_rules[\(index)]"] = .map([
                "source_matchers": .list(rule.sourceMatchers.map(\.description).sorted().map(AttributeValue.string)),
                "target_matchers": .list(rule.targetMatchers.map(\.description).sorted().map(AttributeValue.string)),
                "equal": .list(Set(rule.equal).sorted().map(AttributeValue.string)),
            ])
        }
        if !secrets.isEmpty { a["secrets"] = .string(secretsChanged ? "*** (changed since the last apply)" : "***") }
        return a
    }

    public var address: Address { Address(prefix: Self.addressPrefix, name: "alertmanager") }
    public static let destroyHazard = "removing the routing leaves Alertmanager without receivers: alerts fire but reach nobody"

    /// The change that turns the live routing into the desired one, if any. `secretsChanged` says
    /// whether the resolved secrets differ from the digest recorded at the last apply.
    public static func changes(desired: AlertRouting?, live: AlertRouting?, secretsChanged: Bool) -> [Change] {
        switch (desired, live) {
        case (nil, nil):
            return []
        case (let d?, nil):
            return [
                Change(
                    address: d.address, kind: kind, action: .create, before: nil, after: d.attributes(),
                    reason: "\(d.address) is in the configuration but Alertmanager runs no configuration written by Guardrail")
            ]
        case (nil, let l?):
            return [
                Change(
                    address: l.address, kind: kind, action: .delete, before: l.attributes(), after: nil,
                    hazards: [Hazard(.destroys, destroyHazard)], reason: "\(l.address) is live but alerts/routing.yaml is gone")
            ]
        case (let d?, let l?):
            let before = l.attributes(), after = d.attributes(secretsChanged: secretsChanged)
            guard before != after else { return [] }
            let changed = Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }.sorted()
            return [
                Change(
                    address: d.address, kind: kind, action: .update, before: before, after: after,
                    reason: "\(changed.joined(separator: ", ")) differ\(changed.count == 1 ? "s" : "") from the configuration")
            ]
        }
    }
}

/// The Alertmanager configuration file as Guardrail writes it: JSON, which Alertmanager reads as
/// YAML. Absent settings are left out, so Alertmanager's defaults apply.
struct AlertmanagerFile: Encodable {
    var receivers: [Receiver]
    var route: Route
    var inhibitRules: [Inhibit]?

    enum CodingKeys: String, CodingKey {
        case receivers, route
        case inhibitRules = "inhibit_rules"
    }

    /// A receiver's name and its integrations under Alertmanager's keys (`slack_configs`, ...).
    struct Receiver: Encodable {
        var name: String
        var integrations: [String: [[String: JSONValue]]]

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(name, forKey: Key(stringValue: "name"))
            for (type, configs) in integrations where type != "name" { try c.encode(configs, forKey: Key(stringValue: type)) }
        }
    }

    struct Route: Encodable {
        var receiver: String?
        var matchers: [String]?
        var groupBy: [String]?
        var groupWait: String?
        var groupInterval: String?
        var repeatInterval: String?
        var continueMatching: Bool?
        var routes: [Route]?

        enum CodingKeys: String, CodingKey {
            case receiver, matchers, routes
            case groupBy = "group_by", groupWait = "group_wait", groupInterval = "group_interval", repeatInterval = "repeat_interval"
            case continueMatching = "continue"
        }
    }

    struct Inhibit: Encodable {
        var sourceMatchers: [String]
        var targetMatchers: [String]
        var equal: [String]?

        enum CodingKeys: String, CodingKey {
            case sourceMatchers = "source_matchers", targetMatchers = "target_matchers", equal
        }
    }
}
