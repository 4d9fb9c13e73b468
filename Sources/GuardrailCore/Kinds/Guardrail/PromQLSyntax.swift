/// An offline check that a guardrail query reads as PromQL, for `validate`, which has no Prometheus.
///
/// A small lexer and a token-order check, not a parser: strings and brackets must close and nest,
/// label matchers must be `name op "value"`, an operator needs operands on both sides, and two
/// operands never stand side by side without an operator or keyword between them. That is enough
/// to refuse SQL (`SELECT * FROM users`), an unclosed parenthesis or a stray `;`; anything subtler is
/// left to Prometheus itself, which `plan` asks (`Session.checkRules`).
///
///     PromQLSyntax.check("sum(rate(x[5m])")   // Problem: "( is not closed", at offset 3
public enum PromQLSyntax {
    public struct Problem: Error, Hashable, Sendable, CustomStringConvertible {
        /// A sentence for a diagnostic's detail.
        public var message: String
        /// The 0-based character offset in the checked text.
        public var offset: Int
        public var description: String { "\(message) (at character \(offset + 1) of the query)" }
    }

    /// Stands in for `{{cohort}}` and `{{control}}` in checks: a regex that matches no real tenant id.
    public static let sampleRegex = "guardrail-syntax-check"

    /// `query` with its placeholders replaced by `sampleRegex`: what the offline and the Prometheus checks read.
    public static func withSampleTemplates(_ query: String) -> String {
        QueryTemplate.expand(query, cohort: sampleRegex, control: sampleRegex)
    }

    /// The first problem in `expression` (placeholders already substituted), or nil.
    public static func check(_ expression: String) -> Problem? {
        let tokens: [Token]
        switch lex(Array(expression.unicodeScalars)) {
        case .failure(let problem): return problem
        case .success(let t): tokens = t
        }
        return checkOrder(tokens)
    }

    // MARK: Lexing

    enum Kind: Equatable {
        case identifier(String)
        case number
        case string
        case op(String)
        case open(Character)
        case close(Character)
        case comma
        case colon
        case at
    }

    struct Token {
        var kind: Kind
        var offset: Int
        var text: String
    }

    static let operators = ["==", "!=", "<=", ">=", "=~", "!~", "<", ">", "=", "+", "-", "*", "/", "%", "^"]

    static func lex(_ s: [Unicode.Scalar]) -> Result<[Token], Problem> {
        var tokens: [Token] = []
        var i = 0
        func isIdentStart(_ c: Unicode.Scalar) -> Bool { c == "_" || c == ":" || (c.isASCII && c.properties.isAlphabetic) }
        func isIdentPart(_ c: Unicode.Scalar) -> Bool { isIdentStart(c) || ("0"..."9").contains(c) }
        while i < s.count {
            let c = s[i]
            let start = i
            switch c {
            case " ", "\t", "\n", "\r":
                i += 1
            case "#":
                while i < s.count, s[i] != "\n" { i += 1 }
            case "\"", "'", "`":
                i += 1
                var closed = false
                while i < s.count {
                    if s[i] == "\\", c != "`" { i += 2; continue }
                    if s[i] == c { closed = true; i += 1; break }
                    if s[i] == "\n", c != "`" { break }
                    i += 1
                }
                guard closed else { return .failure(Problem(message: "the string starting with \(c) is not closed", offset: start)) }
                tokens.append(Token(kind: .string, offset: start, text: String(String.UnicodeScalarView(s[start..<i]))))
            case "0"..."9", ".":
                // Numbers, hex, exponents and durations (5m, 1h30m) are one run of letters, digits and dots.
                while i < s.count,
                    s[i] == "." || ("0"..."9").contains(s[i]) || (s[i].isASCII && s[i].properties.isAlphabetic)
                        || ((s[i] == "+" || s[i] == "-") && (s[i - 1] == "e" || s[i - 1] == "E")
                            && !(s[start] == "0" && s.count > start + 1 && s[start + 1] == "x"))
                {
                    i += 1
                }
                tokens.append(Token(kind: .number, offset: start, text: String(String.UnicodeScalarView(s[start..<i]))))
            case "(", "[", "{":
                tokens.append(Token(kind: .open(Character(c)), offset: start, text: String(c)))
                i += 1
            case ")", "]", "}":
                tokens.append(Token(kind: .close(Character(c)), offset: start, text: String(c)))
                i += 1
            case ",":
                tokens.append(Token(kind: .comma, offset: start, text: ","))
                i += 1
            case "@":
                tokens.append(Token(kind: .at, offset: start, text: "@"))
                i += 1
            case _ where isIdentStart(c):
                if c == ":", i + 1 < s.count, !isIdentPart(s[i + 1]) || tokens.last?.kind == .number {
                    // A subquery's `[5m:1m]` separator, not a metric name.
                    tokens.append(Token(kind: .colon, offset: start, text: ":"))
                    i += 1
                    continue
                }
                while i < s.count, isIdentPart(s[i]) { i += 1 }
                let word = String(String.UnicodeScalarView(s[start..<i]))
                tokens.append(Token(kind: .identifier(word), offset: start, text: word))
            default:
                let rest = String(String.UnicodeScalarView(s[i..<min(s.count, i + 2)]))
                guard let op = operators.first(where: { rest.hasPrefix($0) }) else {
                    return .failure(Problem(message: "\(AttributeValue.quote(String(c))) cannot appear in PromQL here", offset: start))
                }
                tokens.append(Token(kind: .op(op), offset: start, text: op))
                i += op.unicodeScalars.count
            }
        }
        return .success(tokens)
    }

    // MARK: Token order

    /// Words that join or modify expressions, so they may stand next to an operand.
    static let keywords: Set<String> = [
        "and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left", "group_right",
        "bool", "offset", "start", "end",
    ]
    static let binaryWords: Set<String> = ["and", "or", "unless", "atan2"]
    static let matchOperators: Set<String> = ["=", "!=", "=~", "!~"]

    /// Modifiers whose label list stands between an operator and its right-hand operand.
    static let matchingModifiers: Set<String> = ["on", "ignoring", "group_left", "group_right"]

    static func checkOrder(_ tokens: [Token]) -> Problem? {
        /// Open brackets; a `(` after on/ignoring/group_left/group_right opens a label list, not a value.
        var stack: [(token: Token, labelList: Bool)] = []
        /// Whether the previous token ends an operand (a value), so an operator may follow.
        var afterOperand = false
        var previous: Token?
        var i = 0
        func unexpected(_ t: Token) -> Problem {
            Problem(message: "\(AttributeValue.quote(t.text)) is not expected here", offset: t.offset)
        }
        while i < tokens.count {
            let t = tokens[i]
            let word: String? = if case .identifier(let w) = t.kind { w.lowercased() } else { nil }
            switch t.kind {
            case .open("{"):
                // Label matchers: `name op "value"` or a quoted metric name, separated by commas.
                stack.append((t, false))
                i += 1
                var expectItem = true
                while i < tokens.count {
                    let m = tokens[i]
                    if case .close("}") = m.kind { break }
                    if expectItem {
                        if case .string = m.kind {
                            i += 1
                        } else if case .identifier = m.kind, i + 2 < tokens.count, case .op(let op) = tokens[i + 1].kind, matchOperators.contains(op),
                            case .string = tokens[i + 2].kind
                        {
                            i += 3
                        } else {
                            return Problem(
                                message: "a label matcher is written name=\"value\" (or !=, =~, !~); found \(AttributeValue.quote(m.text))",
                                offset: m.offset)
                        }
                        expectItem = false
                    } else {
                        guard m.kind == .comma else { return unexpected(m) }
                        expectItem = true
                        i += 1
                    }
                }
                guard i < tokens.count else { return Problem(message: "{ is not closed", offset: t.offset) }
                stack.removeLast()
                previous = tokens[i]
                afterOperand = true
                i += 1
                continue
            case .open("["):
                guard afterOperand else { return unexpected(t) }
                // A range or subquery: durations, and a colon.
                stack.append((t, false))
                i += 1
                var sawDuration = false
                while i < tokens.count {
                    let r = tokens[i]
                    if case .close("]") = r.kind { break }
                    switch r.kind {
                    case .number: sawDuration = true
                    case .colon: break
                    default: return Problem(message: "a range is written [5m] or [1h:1m]; found \(AttributeValue.quote(r.text))", offset: r.offset)
                    }
                    i += 1
                }
                guard i < tokens.count else { return Problem(message: "[ is not closed", offset: t.offset) }
                guard sawDuration else { return Problem(message: "a range needs a duration, such as [5m]", offset: t.offset) }
                stack.removeLast()
                previous = tokens[i]
                afterOperand = true
                i += 1
                continue
            case .open:
                // `(` starts a group or a call's arguments; a call follows its name, and `sum by (x) (...)` follows a `)`.
                if afterOperand {
                    guard let p = previous,
                        p.kind == .close(")") || (p.kind != .number && p.kind != .string && p.kind != .close("]") && p.kind != .close("}"))
                    else {
                        return unexpected(t)
                    }
                }
                let labelList: Bool =
                    if let p = previous, case .identifier(let w) = p.kind { matchingModifiers.contains(w.lowercased()) } else { false }
                stack.append((t, labelList))
                afterOperand = false
            case .close(let c):
                guard let (open, labelList) = stack.popLast() else { return Problem(message: "\(c) closes nothing", offset: t.offset) }
                let expected: Character = open.kind == .open("(") ? ")" : open.kind == .open("[") ? "]" : "}"
                guard c == expected else {
                    return Problem(message: "\(c) does not match the \(open.text) at character \(open.offset + 1)", offset: t.offset)
                }
                // `()` is a call with no arguments (time()) or an empty label list (by ()).
                if !afterOperand, previous?.kind != .open("(") {
                    return Problem(message: "an operator or comma needs an expression after it", offset: t.offset)
                }
                afterOperand = !labelList
            case .comma:
                guard afterOperand, stack.last?.token.kind == .open("(") else { return unexpected(t) }
                afterOperand = false
            case .op(let op):
                if op == "=" { return Problem(message: "= compares only in label matchers; use == to compare values", offset: t.offset) }
                if !afterOperand {
                    guard op == "+" || op == "-" else { return Problem(message: "\(op) needs an expression before it", offset: t.offset) }
                }
                afterOperand = false
            case .identifier:
                let w = word!
                if binaryWords.contains(w) {
                    guard afterOperand else { return Problem(message: "\(t.text) needs an expression before it", offset: t.offset) }
                    afterOperand = false
                } else if keywords.contains(w) {
                    // `bool` and the vector-matching words stand between an operator and its right-hand
                    // operand (`> bool x`, `/ on(job) x`); by, without, offset, start and end change nothing.
                    if w == "bool" || matchingModifiers.contains(w) { afterOperand = false }
                } else {
                    if afterOperand, let p = previous, !isKeyword(p) { return unexpected(t) }
                    afterOperand = true
                }
            case .number, .string:
                if afterOperand, let p = previous, !isKeyword(p) { return unexpected(t) }
                afterOperand = true
            case .at:
                guard afterOperand else { return unexpected(t) }
            case .colon:
                return unexpected(t)
            }
            previous = t
            i += 1
        }
        if let open = stack.last?.token { return Problem(message: "\(open.text) is not closed", offset: open.offset) }
        if !afterOperand, let last = previous, !isKeyword(last) || binaryWords.contains(last.text.lowercased()) {
            return Problem(message: "the query ends after \(AttributeValue.quote(last.text)); an expression must follow it", offset: last.offset)
        }
        return nil
    }

    static func isKeyword(_ t: Token) -> Bool {
        if case .identifier(let w) = t.kind { return keywords.contains(w.lowercased()) }
        return t.kind == .at
    }
}
