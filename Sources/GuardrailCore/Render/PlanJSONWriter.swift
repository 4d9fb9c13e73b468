import Foundation

/// Writes a plan's JSON document (what `plan --format json` prints and `plan --out` saves).
///
/// The bulk of a large plan, its changes and their attribute values, is written here directly as
/// text; JSONEncoder built a tree of boxed values for it first and took about 30% of `apply FILE` on
/// 10,000 tenants (scripts/bench, `apply plan.json`), several times the cost of writing. The rarer
/// parts (binding, findings, hazards, rollout previews) still go through JSONEncoder, compact, and
/// are laid out here in the same style: two-space indents, `"key" : value`, keys sorted, so the
/// document reads as before and decodes with the same `Codable` types.
///
/// Writing is deterministic: the same plan gives the same bytes, which is what lets `apply FILE`
/// compare a fresh plan with the file without decoding it.
struct PlanJSONWriter {
    private(set) var out: [UInt8] = []
    private var depth = 0
    /// Whether the innermost open container has no member yet.
    private var empty: [Bool] = []

    init(capacity: Int) {
        out.reserveCapacity(capacity)
    }

    mutating func object(_ body: (inout PlanJSONWriter) throws -> Void) rethrows {
        try container("{", "}", body)
    }

    mutating func array(_ body: (inout PlanJSONWriter) throws -> Void) rethrows {
        try container("[", "]", body)
    }

    /// Starts a member of the innermost object: its key, then the caller writes the value.
    mutating func key(_ key: String) {
        member()
        string(key)
        out.append(contentsOf: " : ".utf8)
    }

    /// Forgets what was written so far (handed on by the caller); the layout state is kept.
    mutating func clearOutput() {
        out.removeAll(keepingCapacity: true)
    }

    /// The document's last line break.
    mutating func endLine() {
        out.append(UInt8(ascii: "\n"))
    }

    /// Starts an element of the innermost array.
    mutating func element() {
        member()
    }

    mutating func string(_ s: String) {
        if TextEscaping.isPlain(s, .json, quoted: true) {
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: s.utf8)
            out.append(UInt8(ascii: "\""))
        } else {
            var escaped = ""
            TextEscaping.append(s, .json, quoted: true, to: &escaped)
            out.append(contentsOf: escaped.utf8)
        }
    }

    mutating func int(_ i: Int) {
        out.append(contentsOf: String(i).utf8)
    }

    mutating func bool(_ b: Bool) {
        out.append(contentsOf: (b ? "true" : "false").utf8)
    }

    /// A value as canonical JSON has it (numbers, escapes), laid out like the rest.
    mutating func value(_ value: AttributeValue) {
        switch value {
        case .string(let s): string(s)
        case .map(let map): attributes(map)
        case .list(let list):
            array { w in
                for item in list {
                    w.element()
                    w.value(item)
                }
            }
        case .null, .bool, .int, .double:
            var text = ""
            value.appendCanonicalJSON(to: &text)
            out.append(contentsOf: text.utf8)
        }
    }

    mutating func attributes(_ map: Attributes) {
        object { w in
            for key in map.keys.sorted() {
                w.key(key)
                w.value(map[key]!)
            }
        }
    }

    /// A map of strings, keys sorted; `afterEach` runs after each member (a chance to flush).
    mutating func strings(_ map: [String: String], afterEach: (inout PlanJSONWriter) throws -> Void = { _ in }) rethrows {
        try object { w in
            for (key, value) in map.sorted(by: { $0.key < $1.key }) {
                w.key(key)
                w.string(value)
                try afterEach(&w)
            }
        }
    }

    mutating func ints(_ map: [String: Int]) {
        object { w in
            for (key, value) in map.sorted(by: { $0.key < $1.key }) {
                w.key(key)
                w.int(value)
            }
        }
    }

    mutating func strings(_ list: [String]) {
        array { w in
            for item in list {
                w.element()
                w.string(item)
            }
        }
    }

    /// Any other value: encoded compact by JSONEncoder (keys sorted), then laid out at this depth.
    mutating func encoded(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        layOut(compact: try encoder.encode(value))
    }

    private mutating func container(_ open: String, _ close: String, _ body: (inout PlanJSONWriter) throws -> Void) rethrows {
        out.append(contentsOf: open.utf8)
        depth += 1
        empty.append(true)
        try body(&self)
        depth -= 1
        // An empty container is written as JSONEncoder's pretty output has it: a blank line inside.
        if empty.removeLast() { out.append(UInt8(ascii: "\n")) }
        newline()
        out.append(contentsOf: close.utf8)
    }

    private mutating func member() {
        if empty[empty.count - 1] {
            empty[empty.count - 1] = false
        } else {
            out.append(UInt8(ascii: ","))
        }
        newline()
    }

    private mutating func newline() {
        out.append(UInt8(ascii: "\n"))
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * depth))
    }

    /// Compact JSON (no whitespace outside strings, as JSONEncoder writes it) laid out in this
    /// writer's style. Lexical: strings are copied as they are, escapes included.
    private mutating func layOut(compact json: Data) {
        var text: [UInt8] = []
        text.reserveCapacity(json.count * 2)
        var level = depth
        func newline() {
            text.append(UInt8(ascii: "\n"))
            for _ in 0..<level { text.append(UInt8(ascii: " ")); text.append(UInt8(ascii: " ")) }
        }
        var inString = false, escaped = false
        // Just after `{` or `[`: the next byte tells an empty container from its first member.
        var opened = false
        for byte in json {
            if inString {
                text.append(byte)
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                level -= 1
                if opened { text.append(UInt8(ascii: "\n")) }
                opened = false
                newline()
                text.append(byte)
                continue
            }
            if opened {
                opened = false
                newline()
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                text.append(byte)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                text.append(byte)
                level += 1
                opened = true
            case UInt8(ascii: ","):
                text.append(byte)
                newline()
            case UInt8(ascii: ":"):
                text.append(contentsOf: " : ".utf8)
            default:
                text.append(byte)
            }
        }
        out.append(contentsOf: text)
    }
}
