/// Decoding `alerts/routing.yaml`: strict keys, `file:line:column` on every problem, secrets only from `${VAR}`.
extension AlertRouting {
    /// What each setting of an integration holds.
    enum FieldType { case text, secret, bool, int, map }

    /// The integrations Guardrail declares, by Alertmanager's own keys and field names.
    static let integrationFields: [String: [String: FieldType]] = [
        "slack_configs": [
            "api_url": .secret, "channel": .text, "username": .text, "title": .text, "title_link": .text, "text": .text,
            "pretext": .text, "footer": .text, "color": .text, "icon_emoji": .text, "icon_url": .text, "send_resolved": .bool,
            "link_names": .bool, "short_fields": .bool, "mrkdwn_in": .text, "fallback": .text, "callback_id": .text, "image_url": .text,
            "thumb_url": .text,
        ],
        "pagerduty_configs": [
            "routing_key": .secret, "service_key": .secret, "url": .text, "client": .text, "client_url": .text,
            "description": .text, "severity": .text, "class": .text, "component": .text, "group": .text, "source": .text,
            "details": .map, "send_resolved": .bool,
        ],
        "webhook_configs": ["url": .secret, "send_resolved": .bool, "max_alerts": .int],
        "email_configs": [
            "to": .text, "from": .text, "smarthost": .text, "hello": .text, "auth_username": .text, "auth_password": .secret,
            "auth_secret": .secret, "auth_identity": .text, "require_tls": .bool, "html": .text, "text": .text,
            "headers": .map, "send_resolved": .bool,
        ],
    ]
    /// The field each integration cannot work without.
    static let requiredFields: [String: [String]] = [
        "slack_configs": ["api_url", "channel"], "pagerduty_configs": [], "webhook_configs": ["url"], "email_configs": ["to"],
    ]
    static let routeKeys = routeShape.keys
    static let inhibitKeys = inhibitShape.keys

    static func decode(metadata: ObjectMetadata, spec: FieldReader) -> AlertRouting? {
        let reader = spec.reader
        var ok = true
        var receivers: [RoutingReceiver] = []
        var receiverMarks: [String: YAMLMark] = [:]
        if let node = spec.required("receivers") {
            if case .sequence(let list) = node {
                for item in list.items {
                    guard let receiver = decodeReceiver(item, reader: reader) else { ok = false; continue }
                    if let first = receiverMarks[receiver.name] {
                        reader.error(
                            "duplicate receiver \"\(receiver.name)\"",
                            detail:
                                "It is already declared at line \(first.line), column \(first.column); Alertmanager refuses two receivers with one name.",
                            at: item.mark)
                        ok = false
                        continue
                    }
                    receiverMarks[receiver.name] = item.mark
                    receivers.append(receiver)
                }
            } else {
                reader.error(
                    "receivers must be a list", detail: "Found \(node.kindDescription); write each receiver as a `- name: ...` item.", at: node.mark)
                ok = false
            }
        } else {
            ok = false
        }
        var route: RoutingRoute?
        if let node = spec.required("route") {
            route = decodeRoute(node, context: "route", isRoot: true, reader: reader)
        }
        var inhibitRules: [InhibitRule] = []
        if let node = spec.node("inhibit_rules") {
            if case .sequence(let list) = node {
                for (index, item) in list.items.enumerated() {
                    if let rule = decodeInhibitRule(item, context: "inhibit_rules[\(index)]", reader: reader) {
                        inhibitRules.append(rule)
                    } else {
                        ok = false
                    }
                }
            } else if !(node.scalarText != nil && node.isNonStringScalar) {
                reader.error("inhibit_rules must be a list", detail: "Found \(node.kindDescription).", at: node.mark)
                ok = false
            }
        }
        guard let route, ok else { return nil }
        // Every receiver a route names must exist: Alertmanager refuses the file otherwise.
        let known = receivers.map(\.name)
        var referencesOK = true
        func check(_ r: RoutingRoute) {
            if let name = r.receiver, !known.contains(name) {
                var detail = ""
                if let s = Suggestion.closest(to: name, among: known) { detail = "Did you mean \"\(s)\"? " }
                detail += known.isEmpty ? "Declare it under receivers." : "Declared receivers: \(known.joined(separator: ", "))."
                reader.diagnostics.error("route names an unknown receiver \"\(name)\"", detail: detail, at: r.receiverLocation ?? r.location)
                referencesOK = false
            }
            r.routes.forEach(check)
        }
        check(route)
        guard referencesOK else { return nil }
        return AlertRouting(name: metadata.name, receivers: receivers, route: route, inhibitRules: inhibitRules, location: metadata.location)
    }

    static func decodeReceiver(_ node: YAMLNode, reader: NodeReader) -> RoutingReceiver? {
        guard let r = reader.fields(node, "a receiver", allowed: receiverShape.keys),
            let nameNode = r.required("name"), let name = reader.string(nameNode, "the receiver's name")
        else { return nil }
        guard !name.isEmpty else {
            reader.error("a receiver's name is empty", detail: "Routes name receivers; give every receiver a name.", at: nameNode.mark)
            return nil
        }
        var ok = true
        var integrations: [String: [IntegrationConfig]] = [:]
        for type in integrationFields.keys.sorted() {
            guard let listNode = r.node(type) else { continue }
            guard case .sequence(let list) = listNode else {
                reader.error(
                    "receiver \"\(name)\" \(type) must be a list", detail: "Found \(listNode.kindDescription); write each as a `- ...` item.",
                    at: listNode.mark)
                ok = false
                continue
            }
            var configs: [IntegrationConfig] = []
            for (index, item) in list.items.enumerated() {
                if let config = decodeIntegration(item, type: type, context: "receiver \"\(name)\" \(type)[\(index)]", reader: reader) {
                    configs.append(config)
                } else {
                    ok = false
                }
            }
            integrations[type] = configs
        }
        guard ok else { return nil }
        return RoutingReceiver(name: name, integrations: integrations, location: reader.location(nameNode.mark))
    }

    static func decodeIntegration(_ node: YAMLNode, type: String, context: String, reader: NodeReader) -> IntegrationConfig? {
        let types = integrationFields[type] ?? [:]
        guard let f = reader.fields(node, context, allowed: integrationShapes[type]?.keys ?? []) else { return nil }
        var ok = true
        var fields: [String: IntegrationValue] = [:]
        for key in requiredFields[type] ?? [] where f.required(key) == nil {
            ok = false
        }
        if type == "pagerduty_configs", !f.has("routing_key"), !f.has("service_key") {
            reader.error(
                "\(context) needs routing_key or service_key", detail: "PagerDuty's Events API v2 takes routing_key: \"${PAGERDUTY_ROUTING_KEY}\".",
                at: f.mark)
            ok = false
        }
        for (key, fieldType) in types.sorted(by: { $0.key < $1.key }) {
            guard let value = f.node(key) else { continue }
            let what = "\(context).\(key)"
            switch fieldType {
            case .text:
                if let s = reader.string(value, what) { fields[key] = .text(s) } else { ok = false }
            case .bool:
                if let b = reader.bool(value, what) { fields[key] = .bool(b) } else { ok = false }
            case .int:
                if let i = reader.int(value, what, range: 0...Int(Int32.max)) { fields[key] = .int(i) } else { ok = false }
            case .map:
                if let m = reader.stringMap(value, what) { fields[key] = .map(m) } else { ok = false }
            case .secret:
                guard let raw = reader.string(value, what) else { ok = false; continue }
                let text = TemplatedString(raw: raw, location: reader.location(value.mark))
                if let problem = secretProblem(text) {
                    // The value is not repeated in the message: it may be the secret itself.
                    reader.error("\(what) is a secret and must come from the process environment", detail: problem, at: value.mark)
                    ok = false
                    continue
                }
                fields[key] = .secret(text)
            }
        }
        guard ok else { return nil }
        return IntegrationConfig(fields: fields)
    }

    /// A secret is exactly one `${VAR}`, with no default: a literal here would be committed to Git.
    static func secretProblem(_ text: TemplatedString) -> String? {
        let advice = "Write it as \"${VAR}\" and set VAR from CI's or the host's secrets; a secret committed to Git is no longer secret."
        guard case .success(let pieces) = text.pieces() else { return "The ${...} reference is malformed. " + advice }
        guard pieces.count == 1, case .variable(_, let fallback) = pieces[0] else { return advice }
        if fallback != nil { return "A default after :- is a literal secret too. " + advice }
        return nil
    }

    static func decodeMatchers(_ node: YAMLNode, _ what: String, reader: NodeReader) -> [LabelMatcher]? {
        guard let items = reader.stringList(node, what) else { return nil }
        var ok = true
        var matchers: [LabelMatcher] = []
        for (text, mark) in items {
            switch LabelMatcher.parse(text) {
            case .success(let m): matchers.append(m)
            case .failure(let problem):
                reader.error("invalid matcher \"\(text)\" in \(what)", detail: problem.message, at: mark)
                ok = false
            }
        }
        return ok ? matchers : nil
    }

    static func decodeRoute(_ node: YAMLNode, context: String, isRoot: Bool, reader: NodeReader) -> RoutingRoute? {
        guard let f = reader.fields(node, context, allowed: routeKeys) else { return nil }
        var ok = true
        var route = RoutingRoute(location: reader.location(node.mark))
        if let n = f.node("receiver") {
            route.receiver = reader.string(n, "\(context).receiver")
            route.receiverLocation = reader.location(n.mark)
            ok = ok && route.receiver != nil
        }
        if isRoot, !f.has("receiver") {
            reader.error(
                "the root route needs a receiver", detail: "Alerts no child route takes go to the root's receiver; add `receiver:` to route.",
                at: f.mark)
            ok = false
        }
        if isRoot, f.has("matchers") {
            reader.error(
                "the root route cannot have matchers", detail: "It takes every alert; put matchers on its child routes.", at: f.keyMark("matchers")!)
            ok = false
        }
        if isRoot, f.has("continue") {
            reader.error("the root route cannot set continue", detail: "Alertmanager refuses continue on the root route.", at: f.keyMark("continue")!)
            ok = false
        }
        if let n = f.node("matchers") {
            if let m = decodeMatchers(n, "\(context).matchers", reader: reader) { route.matchers = m } else { ok = false }
        }
        if let n = f.node("group_by") {
            if let list = reader.stringList(n, "\(context).group_by") {
                route.groupBy = list.map(\.value)
                for (label, mark) in list where label != "..." {
                    if let problem = PrometheusNames.labelNameProblem(label) {
                        reader.error(
                            "invalid label \"\(label)\" in \(context).group_by", detail: problem + " Use \"...\" alone to group by every label.",
                            at: mark)
                        ok = false
                    }
                }
            } else {
                ok = false
            }
        }
        for (key, path) in [("group_wait", \RoutingRoute.groupWait), ("group_interval", \.groupInterval), ("repeat_interval", \.repeatInterval)] {
            guard let n = f.node(key) else { continue }
            if let d = reader.duration(n, "\(context).\(key)") {
                if d.milliseconds == 0, key != "group_wait" {
                    reader.error("\(context).\(key) must be above zero", detail: "Alertmanager refuses a zero \(key).", at: n.mark)
                    ok = false
                }
                route[keyPath: path] = d
            } else {
                ok = false
            }
        }
        if let n = f.node("continue") {
            if let b = reader.bool(n, "\(context).continue") { route.continueMatching = b } else { ok = false }
        }
        if let n = f.node("routes") {
            if case .sequence(let list) = n {
                for (index, item) in list.items.enumerated() {
                    if let child = decodeRoute(item, context: "\(context).routes[\(index)]", isRoot: false, reader: reader) {
                        route.routes.append(child)
                    } else {
                        ok = false
                    }
                }
            } else {
                reader.error(
                    "\(context).routes must be a list", detail: "Found \(n.kindDescription); write each child route as a `- ...` item.", at: n.mark)
                ok = false
            }
        }
        return ok ? route : nil
    }

    static func decodeInhibitRule(_ node: YAMLNode, context: String, reader: NodeReader) -> InhibitRule? {
        guard let f = reader.fields(node, context, allowed: inhibitKeys) else { return nil }
        var ok = true
        var source: [LabelMatcher] = [], target: [LabelMatcher] = [], equal: [String] = []
        if let n = f.required("source_matchers") {
            if let m = decodeMatchers(n, "\(context).source_matchers", reader: reader) { source = m } else { ok = false }
        } else {
            ok = false
        }
        if let n = f.required("target_matchers") {
            if let m = decodeMatchers(n, "\(context).target_matchers", reader: reader) { target = m } else { ok = false }
        } else {
            ok = false
        }
        if let n = f.node("equal") {
            if let list = reader.stringList(n, "\(context).equal") { equal = list.map(\.value) } else { ok = false }
        }
        return ok ? InhibitRule(sourceMatchers: source, targetMatchers: target, equal: equal) : nil
    }
}

extension AlertRouting {
    /// Whether a file in alerts/ is a Guardrail document (it has `apiVersion` or `kind` at the top)
    /// rather than a Prometheus rule file (which has `groups`).
    public static func isGuardrailDocument(_ bytes: [UInt8]) -> Bool {
        guard let document = YAMLParser.parse(bytes, file: "").documents.first, case .mapping(let top) = document.root else { return false }
        return top.entries.contains { $0.key.scalarText == "apiVersion" || $0.key.scalarText == "kind" }
    }
}
