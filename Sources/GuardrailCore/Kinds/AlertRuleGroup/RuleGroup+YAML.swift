/// Rule groups written as Prometheus rule-file YAML: what Guardrail puts in a Prometheus rules
/// directory, and the body it posts to a ruler. Every string is double-quoted and escaped, so no
/// value can change the document's structure; the decoder reads the output back to the same groups.
extension RuleGroup {
    /// A whole rule file: `groups:` with every group of one namespace, in order.
    public static func ruleFile(_ groups: [RuleGroup]) -> String {
        var out = "# Written by Guardrail from its configuration; edits here are overwritten by the next apply.\ngroups:\n"
        for group in groups { out += group.yaml(indent: 2, listItem: true) }
        return out
    }

    /// One group as a top-level mapping: the body of a ruler's `POST .../rules/{namespace}`.
    public var rulerBody: String { yaml(indent: 0, listItem: false) }

    func yaml(indent: Int, listItem: Bool) -> String {
        let pad = String(repeating: " ", count: indent)
        let first = listItem ? pad + "- " : pad
        let inner = listItem ? pad + "  " : pad
        var out = first + "name: " + Self.quote(group) + "\n"
        if let interval { out += inner + "interval: " + Self.quote(interval.description) + "\n" }
        if let limit { out += inner + "limit: \(limit)\n" }
        out += inner + "rules:\n"
        for rule in rules {
            out += inner + "  - " + rule.kind.rawValue + ": " + Self.quote(rule.name) + "\n"
            let field = inner + "    "
            out += field + "expr: " + Self.quote(rule.expr) + "\n"
            if let d = rule.forDuration { out += field + "for: " + Self.quote(d.description) + "\n" }
            if let d = rule.keepFiringFor { out += field + "keep_firing_for: " + Self.quote(d.description) + "\n" }
            for (key, map) in [("labels", rule.labels), ("annotations", rule.annotations)] where !map.isEmpty {
                out += field + key + ":\n"
                for k in map.keys.sorted() { out += field + "  " + Self.quote(k) + ": " + Self.quote(map[k]!) + "\n" }
            }
        }
        return out
    }

    static func quote(_ s: String) -> String { TextEscaping.escape(s, .yaml, quoted: true) }
}
