import Foundation

/// One Alertmanager matcher, such as `severity="critical"` or `team=~"ops|infra"`.
///
/// Regular expressions are anchored at both ends, as Alertmanager anchors them.
public struct LabelMatcher: Hashable, Sendable, CustomStringConvertible {
    public enum Operator: String, Hashable, Sendable, CaseIterable {
        case equal = "=", notEqual = "!=", matchesRegex = "=~", doesNotMatchRegex = "!~"
    }

    public var name: String
    public var op: Operator
    public var value: String

    public init(name: String, op: Operator, value: String) {
        self.name = name
        self.op = op
        self.value = value
    }

    /// The form Alertmanager prints: `name="value"`, the value quoted and escaped.
    public var description: String {
        var quoted = "\""
        for c in value {
            switch c {
            case "\\": quoted += "\\\\"
            case "\"": quoted += "\\\""
            case "\n": quoted += "\\n"
            default: quoted.append(c)
            }
        }
        return name + op.rawValue + quoted + "\""
    }

    /// Parses `name op value`, the value bare or double-quoted; returns why not when it cannot.
    public static func parse(_ text: String) -> Result<LabelMatcher, GuardrailDuration.Problem> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let scalars = Array(trimmed.unicodeScalars)
        var i = 0
        while i < scalars.count, isNameScalar(scalars[i]) { i += 1 }
        let name = String(String.UnicodeScalarView(scalars[..<i]))
        guard !name.isEmpty, PrometheusNames.labelNameProblem(name) == nil else {
            return .failure(.init(message: "A matcher starts with a label name ([a-zA-Z_][a-zA-Z0-9_]*), such as severity=\"critical\"."))
        }
        while i < scalars.count, scalars[i] == " " { i += 1 }
        let rest = String(String.UnicodeScalarView(scalars[i...]))
        guard let op = [Operator.matchesRegex, .doesNotMatchRegex, .notEqual, .equal].first(where: { rest.hasPrefix($0.rawValue) }) else {
            return .failure(.init(message: "After the label name comes one of =, !=, =~ or !~."))
        }
        var raw = String(rest.dropFirst(op.rawValue.count)).trimmingCharacters(in: .whitespaces)
        if raw.hasPrefix("\"") {
            guard raw.count >= 2, raw.hasSuffix("\"") else { return .failure(.init(message: "The quoted value has no closing quote.")) }
            raw = String(raw.dropFirst().dropLast())
            var value = ""
            var escaped = false
            for c in raw {
                if escaped {
                    switch c {
                    case "n": value += "\n"
                    case "\\", "\"": value.append(c)
                    default: return .failure(.init(message: "Only \\\\, \\\" and \\n are escapes in a quoted value."))
                    }
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "\"" {
                    return .failure(.init(message: "A quote inside the value must be escaped as \\\"."))
                } else {
                    value.append(c)
                }
            }
            if escaped { return .failure(.init(message: "The value ends with a lone backslash.")) }
            raw = value
        } else if raw.contains("\"") {
            return .failure(
                .init(message: "A bare value cannot hold a quote; write the whole value in double quotes, such as severity=\"critical\"."))
        }
        let matcher = LabelMatcher(name: name, op: op, value: raw)
        if op == .matchesRegex || op == .doesNotMatchRegex, matcher.regex == nil {
            return .failure(.init(message: "\"\(raw)\" is not a valid regular expression."))
        }
        return .success(matcher)
    }

    static func isNameScalar(_ s: Unicode.Scalar) -> Bool {
        s.isASCII && (s.properties.isAlphabetic || ("0"..."9").contains(s) || s == "_")
    }

    /// The anchored expression for `=~` and `!~`.
    var regex: NSRegularExpression? {
        try? NSRegularExpression(pattern: "^(?:" + value + ")$", options: [.dotMatchesLineSeparators])
    }

    /// Whether an alert with these labels passes the matcher. A missing label reads as "", as in Alertmanager.
    public func matches(_ labels: [String: String]) -> Bool {
        let v = labels[name] ?? ""
        switch op {
        case .equal: return v == value
        case .notEqual: return v != value
        case .matchesRegex, .doesNotMatchRegex:
            let range = NSRange(v.startIndex..., in: v)
            let hit = regex?.firstMatch(in: v, options: [], range: range) != nil
            return op == .matchesRegex ? hit : !hit
        }
    }
}
