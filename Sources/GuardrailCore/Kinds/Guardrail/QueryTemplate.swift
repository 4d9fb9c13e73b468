import Foundation

/// Expands `{{cohort}}` and `{{control}}` in a guardrail query into regexes of tenant ids.
///
/// Each id is escaped twice: for RE2 (Prometheus anchors label regexes and uses RE2 syntax) and for
/// a PromQL double-quoted string. The result is meant for `tenant_id=~"{{cohort}}"`.
public enum QueryTemplate {
    /// A problem with a placeholder, found at validation time.
    public struct Problem: Hashable, Sendable {
        public var placeholder: String
        public var suggestion: String?
    }

    /// The names between `{{` and `}}`, in order, trimmed.
    public static func placeholders(in query: String) -> [String] {
        var names: [String] = []
        var rest = Substring(query)
        while let open = rest.range(of: "{{") {
            guard let close = rest[open.upperBound...].range(of: "}}") else { break }
            names.append(rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces))
            rest = rest[close.upperBound...]
        }
        return names
    }

    /// Whether the query uses `{{control}}`, or needs the control group anyway (`compare`).
    public static func needsControl(_ guardrail: Guardrail) -> Bool {
        if case .compareToControl = guardrail.condition { return true }
        return placeholders(in: guardrail.query).contains("control")
            || guardrail.minSamples.map { placeholders(in: $0.query).contains("control") } == true
    }

    /// Placeholders that are not `cohort` or `control`.
    public static func unknownPlaceholders(in query: String) -> [Problem] {
        placeholders(in: query).filter { !Guardrail.placeholders.contains($0) }.map {
            Problem(placeholder: $0, suggestion: Suggestion.closest(to: $0, among: Guardrail.placeholders))
        }
    }

    /// The query with placeholders replaced by the given regexes.
    public static func expand(_ query: String, cohort: String, control: String) -> String {
        var out = ""
        var rest = Substring(query)
        while let open = rest.range(of: "{{") {
            guard let close = rest[open.upperBound...].range(of: "}}") else { break }
            out += rest[..<open.lowerBound]
            switch rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces) {
            case "cohort": out += cohort
            case "control": out += control
            default: out += rest[open.lowerBound..<close.upperBound]
            }
            rest = rest[close.upperBound...]
        }
        return out + rest
    }

    /// `a|b|c` with RE2 metacharacters escaped, then escaped for a PromQL "..." string.
    /// An empty set gives nil: a regex of nothing would match series with no tenant label at all.
    public static func regex(ids: [String]) -> String? {
        guard !ids.isEmpty else { return nil }
        return ids.sorted().map { promQLString(re2Literal($0)) }.joined(separator: "|")
    }

    static func re2Literal(_ s: String) -> String {
        // Tenant ids are UUIDs: nothing to escape, and regexes of 10,000 of them are built every tick.
        if s.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) || $0 == 45 || $0 == 95 }) { return s }
        var out = ""
        for ch in s {
            if "\\.+*?()|[]{}^$".contains(ch) { out.append("\\") }
            out.append(ch)
        }
        return out
    }

    static func promQLString(_ s: String) -> String {
        if !s.utf8.contains(where: { $0 == 92 || $0 == 34 || $0 == 39 || $0 == 10 }) { return s }
        var out = ""
        for ch in s {
            switch ch {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "'": out += "\\'"
            case "\n": out += "\\n"
            default: out.append(ch)
            }
        }
        return out
    }
}
