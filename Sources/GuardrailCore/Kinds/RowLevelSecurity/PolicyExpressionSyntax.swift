/// Checks that a policy expression stays inside the parentheses Guardrail puts around it.
///
/// Policy expressions are SQL by design, so they cannot be bound as values. What Guardrail can
/// promise is that the text is one expression: every string, quoted identifier, dollar quote and
/// comment is closed, parentheses balance and never close more than they opened, and there is no
/// `;` outside a literal. Then `USING (<text>)` can only ever be one clause of one statement, and
/// whatever the text says, Postgres parses it as an expression or rejects it.
///
/// The scan follows Postgres's lexer with `standard_conforming_strings = on`, which Guardrail sets
/// in every transaction that runs policy DDL.
public enum PolicyExpressionSyntax {
    public static func problem(in text: String) -> String? {
        let s = Array(text.unicodeScalars)
        var i = 0
        var depth = 0
        var sawToken = false

        func isIdentChar(_ c: Unicode.Scalar) -> Bool {
            c.properties.isAlphabetic || c == "_" || c == "$" || ("0"..."9").contains(c)
        }

        while i < s.count {
            let c = s[i]
            let next: Unicode.Scalar? = i + 1 < s.count ? s[i + 1] : nil
            switch c {
            case " ", "\t", "\n", "\r", "\u{0C}":
                i += 1
                continue
            case "-" where next == "-":
                while i < s.count, s[i] != "\n", s[i] != "\r" { i += 1 }
                continue
            case "/" where next == "*":
                var nesting = 1
                i += 2
                while i < s.count, nesting > 0 {
                    if s[i] == "/", i + 1 < s.count, s[i + 1] == "*" {
                        nesting += 1; i += 2
                    } else if s[i] == "*", i + 1 < s.count, s[i + 1] == "/" {
                        nesting -= 1; i += 2
                    } else {
                        i += 1
                    }
                }
                if nesting > 0 { return "A /* comment is not closed." }
                continue
            default:
                break
            }
            sawToken = true
            switch c {
            case "'":
                // E'...' strings take backslash escapes; the E is the previous scalar, not part of a longer word.
                let escaped = i > 0 && (s[i - 1] == "E" || s[i - 1] == "e") && (i < 2 || !isIdentChar(s[i - 2]))
                i += 1
                var closed = false
                while i < s.count {
                    if escaped, s[i] == "\\" { i += 2; continue }
                    if s[i] == "'" {
                        if i + 1 < s.count, s[i + 1] == "'" { i += 2; continue }
                        closed = true
                        i += 1
                        break
                    }
                    i += 1
                }
                if !closed { return "A string literal ('...') is not closed." }
            case "\"":
                i += 1
                var closed = false
                while i < s.count {
                    if s[i] == "\"" {
                        if i + 1 < s.count, s[i + 1] == "\"" { i += 2; continue }
                        closed = true
                        i += 1
                        break
                    }
                    i += 1
                }
                if !closed { return "A quoted identifier (\"...\") is not closed." }
            case "$" where i == 0 || !isIdentChar(s[i - 1]):
                // $tag$ ... $tag$; `$1` is a parameter, not a quote, because a tag cannot start with a digit.
                var j = i + 1
                while j < s.count, s[j] != "$", isIdentChar(s[j]) { j += 1 }
                let tag = s[(i + 1)..<min(j, s.count)]
                if j < s.count, s[j] == "$", tag.first.map({ !("0"..."9").contains($0) }) ?? true {
                    let delimiter = Array(s[i...j])
                    var k = j + 1
                    var closed = false
                    while k + delimiter.count <= s.count {
                        if Array(s[k..<(k + delimiter.count)]) == delimiter { closed = true; break }
                        k += 1
                    }
                    if !closed { return "A dollar-quoted string (\(String(String.UnicodeScalarView(delimiter)))...) is not closed." }
                    i = k + delimiter.count
                } else {
                    i += 1
                }
            case "(":
                depth += 1
                i += 1
            case ")":
                depth -= 1
                if depth < 0 { return "A ) closes a parenthesis that the expression never opened." }
                i += 1
            case ";":
                return "A policy expression is one SQL expression; it cannot contain ; outside a string."
            default:
                i += 1
            }
        }
        if !sawToken { return "The expression is empty." }
        if depth > 0 { return "\(depth) parenthes\(depth == 1 ? "is is" : "es are") not closed." }
        return nil
    }
}
