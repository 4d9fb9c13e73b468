/// A YAML value with the place it came from.
///
/// The parser streams libyaml events straight into these small value types, so decoding keeps
/// a `file:line:column` for every key and value without a second pass.
public enum YAMLNode: Sendable {
    case scalar(YAMLScalar)
    case mapping(YAMLMapping)
    case sequence(YAMLSequence)

    /// Where the node starts (1-based line and column).
    public var mark: YAMLMark {
        switch self {
        case .scalar(let s): s.mark
        case .mapping(let m): m.mark
        case .sequence(let s): s.mark
        }
    }

    /// A word for the node's type, for "expected a mapping, got a sequence" messages.
    public var kindDescription: String {
        switch self {
        case .scalar(let s): s.resolved.kindDescription
        case .mapping: "a mapping"
        case .sequence: "a list"
        }
    }
}

/// A 1-based line and column in the parsed text.
public struct YAMLMark: Hashable, Sendable {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }
}

public struct YAMLScalar: Sendable {
    public var value: String
    /// Plain (unquoted) scalars are resolved to null, booleans and numbers; quoted ones are always strings.
    public var isPlain: Bool
    public var tag: String?
    public var mark: YAMLMark

    public init(value: String, isPlain: Bool, tag: String? = nil, mark: YAMLMark) {
        self.value = value
        self.isPlain = isPlain
        self.tag = tag
        self.mark = mark
    }

    /// The scalar's type under the YAML 1.2 core schema. `yes`, `no`, `on` and `off` stay strings.
    public var resolved: ResolvedScalar {
        if let tag {
            switch tag {
            case "tag:yaml.org,2002:str", "!": return .string(value)
            case "tag:yaml.org,2002:null": return .null
            default: break
            }
        }
        guard isPlain else { return .string(value) }
        return ResolvedScalar.resolvePlain(value)
    }
}

/// A scalar resolved to its core-schema type.
public enum ResolvedScalar: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)

    public var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .float: "a number"
        case .string: "a string"
        }
    }

    static func resolvePlain(_ value: String) -> ResolvedScalar {
        guard let first = value.utf8.first else { return .null }
        switch first {
        case UInt8(ascii: "n"), UInt8(ascii: "N"), UInt8(ascii: "~"):
            if value == "null" || value == "Null" || value == "NULL" || value == "~" { return .null }
        case UInt8(ascii: "t"), UInt8(ascii: "T"):
            if value == "true" || value == "True" || value == "TRUE" { return .bool(true) }
        case UInt8(ascii: "f"), UInt8(ascii: "F"):
            if value == "false" || value == "False" || value == "FALSE" { return .bool(false) }
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."):
            if let int = Int(value) { return .int(int) }
            // `Int(_:radix:)` takes a sign, which the core schema's 0x/0o forms do not: `0x-1` is a string.
            if value.hasPrefix("0x"), value.dropFirst(2).first?.isHexDigit == true, let int = Int(value.dropFirst(2), radix: 16) { return .int(int) }
            if value.hasPrefix("0o"), value.dropFirst(2).first?.isHexDigit == true, let int = Int(value.dropFirst(2), radix: 8) { return .int(int) }
            switch value {
            case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .float(.infinity)
            case "-.inf", "-.Inf", "-.INF": return .float(-.infinity)
            case ".nan", ".NaN", ".NAN": return .float(.nan)
            default: break
            }
            if isCoreFloat(value), let double = Double(value) { return .float(double) }
        default:
            break
        }
        return .string(value)
    }

    /// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, without a regex on the hot path.
    private static func isCoreFloat(_ value: String) -> Bool {
        var bytes = value.utf8[...]
        if let f = bytes.first, f == UInt8(ascii: "-") || f == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        func digits(_ s: inout Substring.UTF8View.SubSequence) -> Int {
            var n = 0
            while let c = s.first, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { s = s.dropFirst(); n += 1 }
            return n
        }
        let intDigits = digits(&bytes)
        var fracDigits = 0
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            fracDigits = digits(&bytes)
        }
        guard intDigits + fracDigits > 0 else { return false }
        if let e = bytes.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if let s = bytes.first, s == UInt8(ascii: "-") || s == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
            guard digits(&bytes) > 0 else { return false }
        }
        return bytes.isEmpty
    }
}

public struct YAMLMapping: Sendable {
    public struct Entry: Sendable {
        public var key: YAMLNode
        public var value: YAMLNode
    }

    public var entries: [Entry]
    public var mark: YAMLMark

    public init(entries: [Entry] = [], mark: YAMLMark) {
        self.entries = entries
        self.mark = mark
    }
}

public struct YAMLSequence: Sendable {
    public var items: [YAMLNode]
    public var mark: YAMLMark

    public init(items: [YAMLNode] = [], mark: YAMLMark) {
        self.items = items
        self.mark = mark
    }
}

/// One `---`-separated document of a YAML stream.
public struct YAMLDocument: Sendable {
    public var root: YAMLNode
    /// The 0-based position of the document in the stream parsed: a large file is parsed in pieces,
    /// and each piece counts from 0.
    public var index: Int
}
