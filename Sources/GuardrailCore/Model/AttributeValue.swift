/// A JSON-like value: the common currency of plans, so any kind's attributes can be diffed,
/// rendered and saved without the renderer knowing the kind.
public enum AttributeValue: Hashable, Sendable, Codable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([AttributeValue])
    case map([String: AttributeValue])

    /// JSON has no tag for a value's type, so each type is tried in turn; every miss costs a thrown
    /// error. Strings and maps come first because plans are mostly made of them: a saved plan of
    /// 10,000 tenants decodes without one miss per string. No JSON value decodes as two of these
    /// types, so the order does not change the result, except that a whole number is an `int`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let m = try? c.decode([String: AttributeValue].self) {
            self = .map(m)
        } else if let l = try? c.decode([AttributeValue].self) {
            self = .list(l)
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int.self) {
            self = .int(i)
        } else {
            self = .double(try c.decode(Double.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .list(let l): try c.encode(l)
        case .map(let m): try c.encode(m)
        }
    }

    /// Single-line rendering in the style of the plan: strings quoted, maps and lists in braces.
    public var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .int(let i): String(i)
        case .double(let d): d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
        case .string(let s): Self.quote(s)
        case .list, .map:
            {
                var out = ""; appendComposite(to: &out, json: false); return out
            }()
        }
    }

    /// `description`, appended to `out`: strings are escaped straight into it.
    public func appendDescription(to out: inout String) {
        switch self {
        case .string(let s): TextEscaping.append(s, .display, quoted: true, to: &out)
        case .null, .bool, .int, .double: out += description
        case .list, .map: appendComposite(to: &out, json: false)
        }
    }

    /// A list or map in plan text (`[a, b]`, `{k = v}`) or canonical JSON (`[a,b]`, `{"k":v}`), keys sorted.
    private func appendComposite(to out: inout String, json: Bool) {
        func item(_ value: AttributeValue) {
            if json { value.appendCanonicalJSON(to: &out) } else { value.appendDescription(to: &out) }
        }
        switch self {
        case .list(let l):
            out += "["
            for (i, value) in l.enumerated() {
                if i > 0 { out += json ? "," : ", " }
                item(value)
            }
            out += "]"
        case .map(let m):
            out += "{"
            for (i, key) in m.keys.sorted().enumerated() {
                if i > 0 { out += json ? "," : ", " }
                if json {
                    TextEscaping.append(key, .json, quoted: true, to: &out)
                    out += ":"
                } else {
                    // Keys can come from live state too: escaped, they cannot break the line.
                    TextEscaping.append(key, .display, quoted: false, to: &out)
                    out += " = "
                }
                item(m[key]!)
            }
            out += "}"
        default:
            break
        }
    }

    /// A JSON-style quoted string, with control characters escaped so a value can never forge output lines.
    public static func quote(_ s: String) -> String {
        TextEscaping.escape(s, .display, quoted: true)
    }

    /// Text with control characters escaped as in `quote`, but unquoted: for names and messages printed
    /// bare in a plan, which can come from live state and must not start a line of their own.
    public static func escapingControlCharacters(_ s: String) -> String {
        TextEscaping.escape(s, .display, quoted: false)
    }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var intValue: Int? { if case .int(let i) = self { i } else { nil } }
    public var mapValue: [String: AttributeValue]? { if case .map(let m) = self { m } else { nil } }
    public var listValue: [AttributeValue]? { if case .list(let l) = self { l } else { nil } }

    /// Canonical JSON text: keys sorted, no whitespace. The input to fingerprints.
    public var canonicalJSON: String {
        var out = ""
        appendCanonicalJSON(to: &out)
        return out
    }

    /// `canonicalJSON`, appended to `out` without building the parts as strings of their own.
    public func appendCanonicalJSON(to out: inout String) {
        switch self {
        case .null, .bool, .int: out += description
        case .double(let d): out += d.isFinite ? description : "null"
        case .string(let s): TextEscaping.append(s, .json, quoted: true, to: &out)
        case .list, .map: appendComposite(to: &out, json: true)
        }
    }

    /// A JSON string literal (RFC 8259 escapes).
    public static func jsonQuote(_ s: String) -> String {
        TextEscaping.escape(s, .json, quoted: true)
    }
}

/// The attributes of one object, by name.
public typealias Attributes = [String: AttributeValue]

extension Dictionary where Key == String, Value == String {
    /// A string map as an attribute value (labels, annotations).
    public var attributeValue: AttributeValue { .map(mapValues { .string($0) }) }
}

extension AttributeValue {
    /// A map of strings, as labels are stored; nil when any value is not a string.
    public var stringMap: [String: String]? {
        guard case .map(let m) = self else { return nil }
        var out: [String: String] = [:]
        for (k, v) in m {
            guard case .string(let s) = v else { return nil }
            out[k] = s
        }
        return out
    }
}

extension String {
    /// The string followed by spaces up to `width` characters; unchanged when already as wide.
    /// (Foundation's `padding(toLength:withPad:startingAt:)` also truncates, and is slow here.)
    public func padded(to width: Int) -> String {
        let count = self.count
        return count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

/// The order attributes are listed in plans: by name, with numbers compared as numbers, so
/// `rules[2]` comes before `rules[10]`.
public enum AttributeOrder {
    public static func precedes(_ a: String, _ b: String) -> Bool {
        var i = a.utf8.makeIterator(), j = b.utf8.makeIterator()
        var x = i.next(), y = j.next()
        func isDigit(_ c: UInt8?) -> Bool { c.map { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } ?? false }
        /// Reads a run of ASCII digits as a number (saturating, so a long run cannot overflow).
        func number(_ first: inout UInt8?, _ it: inout String.UTF8View.Iterator) -> Int {
            var n = 0
            while let c = first, isDigit(c) {
                n = n > (Int.max - 9) / 10 ? Int.max : n * 10 + Int(c - UInt8(ascii: "0"))
                first = it.next()
            }
            return n
        }
        while let p = x, let q = y {
            if isDigit(p), isDigit(q) {
                let m = number(&x, &i), n = number(&y, &j)
                if m != n { return m < n }
                continue
            }
            // UTF-8 byte order is code point order.
            if p != q { return p < q }
            x = i.next()
            y = j.next()
        }
        return x == nil && y != nil
    }
}
