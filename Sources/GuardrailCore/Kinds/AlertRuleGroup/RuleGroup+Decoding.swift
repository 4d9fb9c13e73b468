/// Reading Prometheus rule files (`alerts/<namespace>.yaml`) strictly: every problem is reported with
/// its `file:line:column`, and what Prometheus would refuse to load is refused here first.
public enum RuleFile {
    static let fileKeys = fileShape.keys
    static let groupKeys = groupShape.keys
    static let ruleKeys = ruleShape.keys
    /// Fields a Mimir-compatible ruler may return that Guardrail leaves at their defaults.
    static let rulerGroupKeys = ["source_tenants", "evaluation_delay", "query_offset", "align_evaluation_time_with_interval"]

    /// The namespace Guardrail's own generated rules live in; a file of that name is refused.
    public static let generatedNamespace = "guardrail"

    /// The namespace a rule file declares: its name without `.yaml`. Nil (with a diagnostic) when unusable.
    /// Configuration files may not take the generated namespace; the live directory holds it.
    public static func namespace(ofFile path: String, diagnostics: Diagnostics, allowGenerated: Bool = false) -> String? {
        let stem = ConfigurationLoader.fileStem(path)
        if let problem = namespaceProblem(stem) {
            diagnostics.error("invalid rule file name \"\(stem)\"", detail: problem, at: .file(path))
            return nil
        }
        if stem == generatedNamespace, !allowGenerated {
            diagnostics.error(
                "the rule namespace \"\(generatedNamespace)\" is reserved",
                detail: "Guardrail writes its own generated rules (backup freshness, rollout breaches) under that namespace; rename the file.",
                at: .file(path))
            return nil
        }
        return stem
    }

    /// Namespaces become file names and address parts, so they are plain words: letters, digits, `_` and `-`.
    public static func namespaceProblem(_ name: String) -> String? {
        let bytes = name.utf8
        guard !bytes.isEmpty, bytes.count <= 100 else { return "A rule file's name (its namespace) has 1 to 100 characters." }
        let ok = bytes.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 95 || $0 == 45 }
        return ok ? nil : "A rule file's name is its namespace and part of each group's address, so it may use only letters, digits, '_' and '-'."
    }

    /// Decodes one rule file. `lenient` accepts the extra group fields a ruler reports (and nothing else).
    public static func decode(
        _ bytes: [UInt8], path: String, namespace: String, diagnostics: Diagnostics, lenient: Bool = false,
        keyRecorder: KeyRecorder? = nil
    ) -> [RuleGroup] {
        let parsed = YAMLParser.parse(bytes, file: path)
        diagnostics.append(contentsOf: parsed.diagnostics)
        let reader = NodeReader(file: path, diagnostics: diagnostics, keyRecorder: keyRecorder)
        guard let document = parsed.documents.first else { return [] }
        if parsed.documents.count > 1 {
            reader.error(
                "a rule file holds one document",
                detail: "Prometheus reads only `groups:` from a single document; put each namespace in its own file.",
                at: parsed.documents[1].root.mark)
        }
        guard let top = reader.fields(document.root, "the rule file", allowed: fileKeys) else { return [] }
        guard let groupsNode = top.required("groups") else { return [] }
        return decodeGroups(groupsNode, namespace: namespace, reader: reader, lenient: lenient)
    }

    /// The longest group name accepted: a ruler puts it in a URL path, and file systems cap a segment at 255 bytes.
    static let groupNameMaxBytes = 255

    /// Why `name` cannot be a group's name, or nil. A ruler takes the name as a path segment
    /// (`/config/v1/rules/{namespace}/{group}`), where `.` and `..` walk the path however they are
    /// escaped and a `/` splits it; both targets refuse the same names, so a group can move between them.
    public static func groupNameProblem(_ name: String) -> String? {
        if name == "." || name == ".." {
            return "\(name) is a relative path segment; a ruler would read it as the namespace or its parent."
        }
        if name.contains("/") || name.contains("\\") {
            return "A group name is a path segment on the ruler, so it cannot contain / or \\."
        }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || TextEscaping.isInvisibleFormat($0) }) {
            return "It holds a control or invisible character; give the group a name that reads as it is."
        }
        if name.utf8.count > groupNameMaxBytes {
            return "It has \(name.utf8.count) bytes; a group name has at most \(groupNameMaxBytes)."
        }
        return nil
    }

    /// Decodes a `groups:` list (or a ruler's list of groups for one namespace).
    public static func decodeGroups(_ node: YAMLNode, namespace: String, reader: NodeReader, lenient: Bool = false) -> [RuleGroup] {
        guard case .sequence(let list) = node else {
            if case .scalar(let s) = node, s.resolved == .null { return [] }
            reader.error("groups must be a list", detail: "Found \(node.kindDescription); write each group as a `- name: ...` item.", at: node.mark)
            return []
        }
        var groups: [RuleGroup] = []
        var seen: [String: YAMLMark] = [:]
        for item in list.items {
            guard let group = decodeGroup(item, namespace: namespace, reader: reader, lenient: lenient) else { continue }
            if let first = seen[group.group] {
                reader.error(
                    "duplicate group name \"\(group.group)\" in namespace \(namespace)",
                    detail:
                        "The group is already declared at line \(first.line), column \(first.column); Prometheus refuses a file that repeats a group name.",
                    at: item.mark)
                continue
            }
            seen[group.group] = item.mark
            groups.append(group)
        }
        return groups
    }

    public static func decodeGroup(_ node: YAMLNode, namespace: String, reader: NodeReader, lenient: Bool) -> RuleGroup? {
        guard let g = reader.fields(node, "a rule group", allowed: groupKeys + (lenient ? rulerGroupKeys : [])) else { return nil }
        guard let nameNode = g.required("name"), let name = reader.string(nameNode, "the group's name") else { return nil }
        let context = "group \"\(name)\""
        var ok = true
        if name.isEmpty {
            reader.error("a rule group's name is empty", detail: "Give every group a name unique in its file.", at: nameNode.mark)
            ok = false
        } else if let problem = groupNameProblem(name) {
            reader.error("invalid rule group name \"\(name)\"", detail: problem, at: nameNode.mark)
            ok = false
        }
        var interval: GuardrailDuration?
        if let node = g.node("interval") {
            interval = reader.duration(node, "\(context) interval")
            ok = ok && interval != nil
        }
        var limit: Int?
        if let node = g.node("limit") {
            limit = reader.int(node, "\(context) limit", range: 0...Int(Int32.max))
            ok = ok && limit != nil
        }
        if lenient {
            for key in rulerGroupKeys {
                guard let node = g.node(key), !isEmptyDefault(node) else { continue }
                reader.error(
                    "the ruler's group \"\(name)\" sets \(key), which Guardrail does not manage",
                    detail: "Remove \(key) from the group on the ruler (or manage this namespace outside Guardrail).", at: node.mark)
                ok = false
            }
        }
        var rules: [AlertRule] = []
        if let rulesNode = g.required("rules") {
            if case .sequence(let list) = rulesNode {
                for item in list.items {
                    if let rule = decodeRule(item, group: name, reader: reader) { rules.append(rule) } else { ok = false }
                }
                if list.items.isEmpty {
                    reader.error(
                        "\(context) has no rules", detail: "Prometheus loads an empty group but it does nothing; add rules or remove the group.",
                        at: rulesNode.mark)
                    ok = false
                }
            } else {
                reader.error(
                    "\(context) rules must be a list",
                    detail: "Found \(rulesNode.kindDescription); write each rule as a `- alert: ...` or `- record: ...` item.",
                    at: rulesNode.mark)
                ok = false
            }
        } else {
            ok = false
        }
        ok = checkDuplicates(rules, group: name, reader: reader) && ok
        guard ok else { return nil }
        return RuleGroup(namespace: namespace, group: name, interval: interval, limit: limit, rules: rules, location: reader.location(node.mark))
    }

    static func isEmptyDefault(_ node: YAMLNode) -> Bool {
        switch node {
        case .scalar(let s):
            switch s.resolved {
            case .null, .bool(false), .int(0): return true
            case .string(let t): return t.isEmpty || t == "0s" || t == "0"
            default: return false
            }
        case .sequence(let l): return l.items.isEmpty
        case .mapping(let m): return m.entries.isEmpty
        }
    }

    static func decodeRule(_ node: YAMLNode, group: String, reader: NodeReader) -> AlertRule? {
        guard let r = reader.fields(node, "a rule in group \"\(group)\"", allowed: ruleKeys) else { return nil }
        let alert = r.node("alert").flatMap { reader.string($0, "alert") }
        let record = r.node("record").flatMap { reader.string($0, "record") }
        let kind: AlertRule.Kind, name: String, nameMark: YAMLMark
        switch (alert, record) {
        case let (a?, nil): (kind, name, nameMark) = (.alert, a, r.node("alert")!.mark)
        case let (nil, rec?): (kind, name, nameMark) = (.record, rec, r.node("record")!.mark)
        case (_?, _?):
            reader.error(
                "a rule sets both alert and record", detail: "A rule either alerts or records a series; split it in two.", at: r.keyMark("record")!)
            return nil
        case (nil, nil):
            if !r.has("alert"), !r.has("record") {
                reader.error(
                    "a rule in group \"\(group)\" has neither alert nor record",
                    detail: "Add `alert: Name` for an alerting rule or `record: series:name` for a recording rule.",
                    at: r.mark)
            }
            return nil
        }
        let context = "\(kind.rawValue) \(name)"
        var ok = true
        switch kind {
        case .record:
            if let problem = PrometheusNames.metricNameProblem(name) {
                reader.error("invalid recording rule name \"\(name)\"", detail: problem, at: nameMark)
                ok = false
            }
            for key in ["for", "keep_firing_for", "annotations"] where r.has(key) {
                reader.error(
                    "\(key) is not allowed in a recording rule", detail: "Only alerting rules have \(key); Prometheus refuses it on \(context).",
                    at: r.keyMark(key)!)
                ok = false
            }
        case .alert:
            if name.isEmpty || PrometheusNames.labelValueProblem(name) != nil {
                reader.error(
                    "invalid alert name \"\(name)\"", detail: "Alert names become the alertname label; give it a non-empty UTF-8 name.", at: nameMark)
                ok = false
            }
        }
        var expr = ""
        var exprLocation: SourceLocation?
        if let node = r.required("expr"), let text = reader.string(node, "\(context) expr") {
            expr = text
            exprLocation = reader.location(node.mark)
            if PromQLText.trimmed(text).isEmpty {
                reader.error("\(context) has an empty expr", detail: "Give the PromQL expression the rule evaluates.", at: node.mark)
                ok = false
            }
        } else {
            ok = false
        }
        var forDuration: GuardrailDuration?, keepFiringFor: GuardrailDuration?
        if kind == .alert {
            if let node = r.node("for") { forDuration = reader.duration(node, "\(context) for"); ok = ok && forDuration != nil }
            if let node = r.node("keep_firing_for") {
                keepFiringFor = reader.duration(node, "\(context) keep_firing_for"); ok = ok && keepFiringFor != nil
            }
        }
        var labels: [String: String] = [:]
        if let node = r.node("labels") {
            if let map = reader.stringMap(node, "\(context) labels", validateKey: PrometheusNames.ruleLabelNameProblem) {
                labels = map
            } else {
                ok = false
            }
        }
        var annotations: [String: String] = [:]
        if kind == .alert, let node = r.node("annotations") {
            if let map = reader.stringMap(node, "\(context) annotations", validateKey: PrometheusNames.labelNameProblem) {
                annotations = map
            } else {
                ok = false
            }
        }
        if kind == .alert {
            for (key, value) in labels.sorted(by: { $0.key < $1.key }) where !TemplateText.isBalanced(value) {
                reader.error(
                    "the template in label \(key) of \(context) is unbalanced",
                    detail: "Every `{{` needs a closing `}}`; Prometheus refuses to load the file otherwise.",
                    at: r.node("labels")!.mark)
                ok = false
            }
            for (key, value) in annotations.sorted(by: { $0.key < $1.key }) where !TemplateText.isBalanced(value) {
                reader.error(
                    "the template in annotation \(key) of \(context) is unbalanced",
                    detail: "Every `{{` needs a closing `}}`; Prometheus refuses to load the file otherwise.",
                    at: r.node("annotations")!.mark)
                ok = false
            }
        }
        guard ok else { return nil }
        return AlertRule(
            kind: kind, name: name, expr: expr, forDuration: forDuration, keepFiringFor: keepFiringFor, labels: labels,
            annotations: annotations, location: reader.location(nameMark), exprLocation: exprLocation)
    }

    /// Two rules of a group with the same name and the same labels are a mistake: they produce the
    /// same alert or series twice. The same name with other labels (warning and critical) is fine.
    static func checkDuplicates(_ rules: [AlertRule], group: String, reader: NodeReader) -> Bool {
        var seen: [String: SourceLocation] = [:]
        var ok = true
        for rule in rules {
            let key = rule.kind.rawValue + "\u{0}" + rule.name + "\u{0}" + rule.labels.attributeValue.canonicalJSON
            if let first = seen[key], let here = rule.location {
                reader.diagnostics.error(
                    "duplicate \(rule.title) in group \"\(group)\"",
                    detail:
                        "The same \(rule.kind == .alert ? "alert" : "series") with the same labels is already declared at \(first); Prometheus would produce it twice. Remove one, or give them different labels.",
                    at: here)
                ok = false
            } else if let here = rule.location {
                seen[key] = here
            }
        }
        return ok
    }
}

/// Prometheus's rules for names (`model.IsValidMetricName`, `LabelName.IsValid`).
public enum PrometheusNames {
    static func isLetter(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 65 && b <= 90) || b == 95 }
    static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }

    public static func metricNameProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, isLetter(first) || first == 58,
            bytes.allSatisfy({ isLetter($0) || isDigit($0) || $0 == 58 })
        else {
            return "Series names match [a-zA-Z_:][a-zA-Z0-9_:]*, such as job:http_requests:rate5m."
        }
        return nil
    }

    public static func labelNameProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, isLetter(first), bytes.allSatisfy({ isLetter($0) || isDigit($0) }) else {
            return "Label and annotation names match [a-zA-Z_][a-zA-Z0-9_]*."
        }
        return nil
    }

    /// A rule's labels also may not set `__name__`.
    public static func ruleLabelNameProblem(_ name: String) -> String? {
        if name == "__name__" { return "A rule cannot set __name__; for a recording rule the series name is `record`." }
        return labelNameProblem(name)
    }

    public static func labelValueProblem(_ value: String) -> String? {
        value.unicodeScalars.contains { $0.value == 0xFFFD } ? "The value is not valid UTF-8." : nil
    }
}

/// Checks on Go template text in labels and annotations, as far as can be done without Go.
public enum TemplateText {
    /// Every `{{` has a `}}` after it before the next `{{`.
    public static func isBalanced(_ text: String) -> Bool {
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            rest = rest[open.upperBound...]
            guard let close = rest.range(of: "}}") else { return false }
            if let nextOpen = rest.range(of: "{{"), nextOpen.lowerBound < close.lowerBound { return false }
            rest = rest[close.upperBound...]
        }
        return true
    }
}
