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
        var out = ""
        for ch in s {
            if "\\.+*?()|[]{}^$".contains(ch) { out.append("\\") }
            out.append(ch)
        }
        return out
    }

    static func promQLString(_ s: String) -> String {
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
