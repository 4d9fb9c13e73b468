/// Reading back the configuration Alertmanager runs (`config.original` of `GET /api/v2/status`). Pure.
extension AlertRouting {
    /// The routing Alertmanager runs, in the manifest's terms, or why it cannot be read.
    ///
    /// Alertmanager prints every default it fills in (message templates, `http_config`, ...) and
    /// prints secrets as `<secret>`. An integration's settings are compared only where the
    /// configuration sets them; the rest are Alertmanager's defaults. Secret settings read as secrets
    /// whatever Alertmanager prints (0.25 prints webhook URLs in the clear); their values are
    /// compared through the digest recorded at apply.
    public static func running(_ yaml: String, aligningWith desired: AlertRouting?, name: String) -> Result<AlertRouting, Diagnostic> {
        let parsed = YAMLParser.parse(yaml, file: "Alertmanager's running configuration")
        if let problem = parsed.diagnostics.first { return .failure(problem) }
        guard let root = parsed.documents.first?.root, case .mapping(let top) = root else {
            return .failure(.error("Alertmanager's running configuration is not a mapping"))
        }
        func value(_ map: YAMLMapping, _ key: String) -> YAMLNode? { map.entries.first { $0.key.scalarText == key }?.value }
        func mapping(_ node: YAMLNode?) -> YAMLMapping? { if case .mapping(let m)? = node { m } else { nil } }
        func items(_ node: YAMLNode?) -> [YAMLNode] { if case .sequence(let s)? = node { s.items } else { [] } }
        func strings(_ node: YAMLNode?) -> [String] { items(node).compactMap(\.scalarText) }
        func matchers(_ node: YAMLNode?) -> [LabelMatcher] {
            strings(node).compactMap { if case .success(let m) = LabelMatcher.parse($0) { m } else { nil } }
        }
        let desiredReceivers = Dictionary((desired?.receivers ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })

        var receivers: [RoutingReceiver] = []
        for item in items(value(top, "receivers")) {
            guard let r = mapping(item), let name = value(r, "name")?.scalarText else { continue }
            var integrations: [String: [IntegrationConfig]] = [:]
            for (type, fieldTypes) in integrationFields {
                let configs = items(value(r, type))
                guard !configs.isEmpty else { continue }
                let wanted = desiredReceivers[name]?.integrations[type] ?? []
                integrations[type] = configs.enumerated().map { index, node in
                    var fields: [String: IntegrationValue] = [:]
                    guard let m = mapping(node) else { return IntegrationConfig(fields: fields) }
                    let compared = index < wanted.count ? Set(wanted[index].fields.keys) : Set(requiredFields[type] ?? [])
                    for (key, fieldType) in fieldTypes {
                        guard let v = value(m, key) else { continue }
                        // Secrets are always part of the object: their presence is not a default.
                        guard compared.contains(key) || fieldType == .secret else { continue }
                        switch fieldType {
                        case .secret: fields[key] = .secret(TemplatedString(raw: "<secret>", location: .file("Alertmanager")))
                        case .text: if let s = v.scalarText { fields[key] = .text(s) }
                        case .bool: if let s = v.scalarText { fields[key] = .bool(s == "true") }
                        case .int: if let s = v.scalarText, let i = Int(s) { fields[key] = .int(i) }
                        case .map:
                            var out: [String: String] = [:]
                            for e in mapping(v)?.entries ?? [] { if let k = e.key.scalarText, let s = e.value.scalarText { out[k] = s } }
                            fields[key] = .map(out)
                        }
                    }
                    return IntegrationConfig(fields: fields)
                }
            }
            receivers.append(RoutingReceiver(name: name, integrations: integrations))
        }
        func route(_ node: YAMLNode?) -> RoutingRoute {
            var r = RoutingRoute()
            guard let m = mapping(node) else { return r }
            r.receiver = value(m, "receiver")?.scalarText
            r.matchers = matchers(value(m, "matchers"))
            if let g = value(m, "group_by") { r.groupBy = strings(g) }
            func duration(_ key: String) -> GuardrailDuration? {
                guard let s = value(m, key)?.scalarText, case .success(let d) = GuardrailDuration.parse(s) else { return nil }
                return d
            }
            r.groupWait = duration("group_wait")
            r.groupInterval = duration("group_interval")
            r.repeatInterval = duration("repeat_interval")
            r.continueMatching = value(m, "continue")?.scalarText == "true"
            r.routes = items(value(m, "routes")).map(route)
            return r
        }
        guard value(top, "route") != nil else { return .failure(.error("Alertmanager's running configuration has no route")) }
        let inhibitRules = items(value(top, "inhibit_rules")).compactMap { node -> InhibitRule? in
            guard let m = mapping(node) else { return nil }
            return InhibitRule(
                sourceMatchers: matchers(value(m, "source_matchers")), targetMatchers: matchers(value(m, "target_matchers")),
                equal: strings(value(m, "equal")))
        }
        return .success(AlertRouting(name: name, receivers: receivers, route: route(value(top, "route")), inhibitRules: inhibitRules))
    }
}
