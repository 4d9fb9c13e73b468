import Foundation

/// Reads typed values out of YAML nodes, reporting every problem with its `file:line:column`.
///
/// Decoding never stops at the first problem: a bad value is reported and skipped, so one run of
/// `guardrail validate` lists everything that is wrong in a file.
public struct NodeReader: Sendable {
    public let file: String
    public let diagnostics: Diagnostics
    /// Told the allowed keys of every mapping `fields` opens, when set (tests compare them with the schema).
    public let keyRecorder: KeyRecorder?

    public init(file: String, diagnostics: Diagnostics, keyRecorder: KeyRecorder? = nil) {
        self.file = file
        self.diagnostics = diagnostics
        self.keyRecorder = keyRecorder
    }

    public func location(_ mark: YAMLMark) -> SourceLocation {
        SourceLocation(file: file, line: mark.line, column: mark.column)
    }

    public func error(_ summary: String, detail: String = "", at mark: YAMLMark) {
        diagnostics.error(summary, detail: detail, at: location(mark))
    }

    /// Opens a mapping whose keys must all be in `allowed`; unknown and repeated keys are reported here.
    public func fields(_ node: YAMLNode, _ context: String, allowed: [String]) -> FieldReader? {
        keyRecorder?.record(file: file, mark: node.mark, context: context, allowed: allowed)
        guard case .mapping(let mapping) = node else {
            if case .scalar(let s) = node, s.resolved == .null {
                return FieldReader(reader: self, context: context, mark: node.mark, entries: [])
            }
            error("\(context) must be a mapping", detail: "Found \(node.kindDescription) here; write it as `key: value` lines.", at: node.mark)
            return nil
        }
        // Kept keys are a subset of `allowed` (a handful), so a small array beats hashing every key.
        var entries: [FieldReader.Entry] = []
        entries.reserveCapacity(min(mapping.entries.count, allowed.count))
        for entry in mapping.entries {
            guard case .scalar(let keyScalar) = entry.key else {
                error("keys in \(context) must be plain words", detail: "Found \(entry.key.kindDescription) used as a key.", at: entry.key.mark)
                continue
            }
            let key = keyScalar.value
            guard allowed.contains(key) else {
                var detail = ""
                if let suggestion = Suggestion.closest(to: key, among: allowed) {
                    detail = "Did you mean \"\(suggestion)\"? "
                }
                detail += allowed.isEmpty ? "\(context) takes no keys." : "Allowed keys: \(allowed.joined(separator: ", "))."
                error("unknown key \"\(key)\" in \(context)", detail: detail, at: keyScalar.mark)
                continue
            }
            if let first = entries.first(where: { $0.name == key }) {
                error(
                    "duplicate key \"\(key)\" in \(context)",
                    detail:
                        "The key is already set at line \(first.key.line), column \(first.key.column); YAML keeps only one of them, so remove one.",
                    at: keyScalar.mark)
                continue
            }
            entries.append(FieldReader.Entry(name: key, key: keyScalar.mark, value: entry.value))
        }
        return FieldReader(reader: self, context: context, mark: mapping.mark, entries: entries)
    }

    public func string(_ node: YAMLNode, _ what: @autoclosure () -> String) -> String? {
        guard case .scalar(let scalar) = node else {
            error("\(what()) must be a string", detail: "Found \(node.kindDescription).", at: node.mark)
            return nil
        }
        switch scalar.resolved {
        case .string(let value):
            return value
        case .null:
            error("\(what()) must be a string", detail: "It is empty (null); give it a value or remove the key.", at: node.mark)
        default:
            // Rejecting `version: 1.10` here beats silently storing "1.1".
            error(
                "\(what()) must be a string",
                detail: "Found \(scalar.resolved.kindDescription) `\(scalar.value)`; quote it (\"\(scalar.value)\") if you meant the text.",
                at: node.mark)
        }
        return nil
    }

    public func bool(_ node: YAMLNode, _ what: @autoclosure () -> String) -> Bool? {
        if case .scalar(let scalar) = node, case .bool(let value) = scalar.resolved { return value }
        let found = (node.scalarText.map { "`\($0)`" }) ?? node.kindDescription
        error("\(what()) must be true or false", detail: "Found \(found); YAML's yes/no/on/off are not booleans here.", at: node.mark)
        return nil
    }

    public func int(_ node: YAMLNode, _ what: @autoclosure () -> String, range: ClosedRange<Int>? = nil) -> Int? {
        guard case .scalar(let scalar) = node, case .int(let value) = scalar.resolved else {
            let found = (node.scalarText.map { "`\($0)`" }) ?? node.kindDescription
            error("\(what()) must be a whole number", detail: "Found \(found).", at: node.mark)
            return nil
        }
        if let range, !range.contains(value) {
            error(
                "\(what()) is out of range", detail: "It must be between \(range.lowerBound) and \(range.upperBound); found \(value).", at: node.mark)
            return nil
        }
        return value
    }

    public func number(_ node: YAMLNode, _ what: @autoclosure () -> String) -> Double? {
        if case .scalar(let scalar) = node {
            switch scalar.resolved {
            case .int(let v): return Double(v)
            case .float(let v) where v.isFinite: return v
            default: break
            }
        }
        let found = (node.scalarText.map { "`\($0)`" }) ?? node.kindDescription
        error("\(what()) must be a number", detail: "Found \(found).", at: node.mark)
        return nil
    }

    public func uuid(_ node: YAMLNode, _ what: @autoclosure () -> String) -> String? {
        guard let text = string(node, what()) else { return nil }
        guard let uuid = CanonicalUUID.parse(text) else {
            error(
                "\(what()) is not a valid UUID", detail: "Found \"\(text)\"; a UUID looks like 3f6c1d2e-8a4b-4c1e-9a57-0d2f5b8e7c11.", at: node.mark)
            return nil
        }
        return uuid
    }

    public func duration(_ node: YAMLNode, _ what: @autoclosure () -> String) -> GuardrailDuration? {
        guard case .scalar(let scalar) = node else {
            error("\(what()) must be a duration", detail: "Found \(node.kindDescription).", at: node.mark)
            return nil
        }
        switch GuardrailDuration.parse(scalar.value) {
        case .success(let d): return d
        case .failure(let problem):
            error("\(what()) is not a valid duration", detail: "\(problem.message) Durations look like 90s, 5m, 1h30m or 7d.", at: node.mark)
            return nil
        }
    }

    public func stringList(_ node: YAMLNode, _ what: @autoclosure () -> String) -> [(value: String, mark: YAMLMark)]? {
        guard case .sequence(let sequence) = node else {
            if case .scalar(let s) = node, s.resolved == .null { return [] }
            error("\(what()) must be a list", detail: "Found \(node.kindDescription); write it as [a, b] or as `- item` lines.", at: node.mark)
            return nil
        }
        var result: [(String, YAMLMark)] = []
        for item in sequence.items {
            if let s = string(item, "an item of \(what())") { result.append((s, item.mark)) }
        }
        return result
    }

    /// A map of strings to strings, such as labels; keys are checked by `validateKey` when given.
    public func stringMap(
        _ node: YAMLNode, _ what: @autoclosure () -> String, validateKey: ((String) -> String?)? = nil,
        validateValue: ((String) -> String?)? = nil
    ) -> [String: String]? {
        guard case .mapping(let mapping) = node else {
            if case .scalar(let s) = node, s.resolved == .null { return [:] }
            error("\(what()) must be a mapping", detail: "Found \(node.kindDescription).", at: node.mark)
            return nil
        }
        var result: [String: String] = [:]
        result.reserveCapacity(mapping.entries.count)
        for (i, entry) in mapping.entries.enumerated() {
            guard let key = string(entry.key, "a key of \(what())") else { continue }
            // Maps here are a handful of entries: a scan of the earlier keys beats a second dictionary.
            if let first = mapping.entries[..<i].first(where: { $0.key.scalarText == key && !$0.key.isNonStringScalar }) {
                error(
                    "duplicate key \"\(key)\" in \(what())",
                    detail: "It is already set at line \(first.key.mark.line), column \(first.key.mark.column).", at: entry.key.mark)
                continue
            }
            if let problem = validateKey?(key) {
                error("invalid key \"\(key)\" in \(what())", detail: problem, at: entry.key.mark)
                continue
            }
            guard let value = string(entry.value, "the value of \(what()).\(key)") else { continue }
            if let problem = validateValue?(value) {
                error("invalid value for \"\(key)\" in \(what())", detail: problem, at: entry.value.mark)
                continue
            }
            result[key] = value
        }
        return result
    }

    /// One of a fixed set of words, with a suggestion for near misses.
    public func oneOf<T: RawRepresentable & CaseIterable>(_ node: YAMLNode, _ what: @autoclosure () -> String, as type: T.Type) -> T?
    where T.RawValue == String {
        guard let text = string(node, what()) else { return nil }
        if let value = T(rawValue: text) { return value }
        let options = T.allCases.map(\.rawValue)
        var detail = ""
        if let suggestion = Suggestion.closest(to: text, among: options) { detail = "Did you mean \"\(suggestion)\"? " }
        detail += "It must be one of: \(options.joined(separator: ", "))."
        error("\(what()) has an unknown value \"\(text)\"", detail: detail, at: node.mark)
        return nil
    }
}

extension YAMLNode {
    var scalarText: String? {
        if case .scalar(let s) = self { return s.value }
        return nil
    }

    /// A scalar that does not read as a string (`1`, `true`, `~`), so it is not a string key either.
    var isNonStringScalar: Bool {
        if case .scalar(let s) = self, case .string = s.resolved { return false }
        return true
    }
}

/// The keys of one mapping, already checked against the allowed set.
public struct FieldReader: Sendable {
    public let reader: NodeReader
    public let context: String
    public let mark: YAMLMark
    let entries: [Entry]

    struct Entry: Sendable {
        var name: String
        var key: YAMLMark
        var value: YAMLNode
    }

    public var location: SourceLocation { reader.location(mark) }

    public func node(_ key: String) -> YAMLNode? {
        entries.first { $0.name == key }?.value
    }

    public func has(_ key: String) -> Bool { entries.contains { $0.name == key } }

    public func keyMark(_ key: String) -> YAMLMark? { entries.first { $0.name == key }?.key }

    /// The value for `key`, or an error at the mapping when a required key is absent.
    public func required(_ key: String) -> YAMLNode? {
        reader.keyRecorder?.recordRequired(file: reader.file, mark: mark, key: key)
        if let node = node(key) { return node }
        reader.error("missing required field \"\(key)\" in \(context)", detail: "Add `\(key):` to \(context).", at: mark)
        return nil
    }

    private func value<T>(_ key: String, required: Bool, _ read: (YAMLNode, @autoclosure () -> String) -> T?) -> T? {
        guard let node = required ? self.required(key) : node(key) else { return nil }
        return read(node, "\(context).\(key)")
    }

    public func string(_ key: String, required: Bool = false) -> String? { value(key, required: required, reader.string) }
    public func bool(_ key: String, required: Bool = false) -> Bool? { value(key, required: required, reader.bool) }
    public func uuid(_ key: String, required: Bool = false) -> String? { value(key, required: required, reader.uuid) }
    public func number(_ key: String, required: Bool = false) -> Double? { value(key, required: required, reader.number) }
    public func duration(_ key: String, required: Bool = false) -> GuardrailDuration? { value(key, required: required, reader.duration) }
    public func int(_ key: String, required: Bool = false, range: ClosedRange<Int>? = nil) -> Int? {
        value(key, required: required) { reader.int($0, $1(), range: range) }
    }
    public func stringList(_ key: String, required: Bool = false) -> [(value: String, mark: YAMLMark)]? {
        value(key, required: required, reader.stringList)
    }
    public func oneOf<T: RawRepresentable & CaseIterable>(_ key: String, as type: T.Type, required: Bool = false) -> T? where T.RawValue == String {
        value(key, required: required) { reader.oneOf($0, $1(), as: type) }
    }
    public func fields(_ key: String, allowed: [String], required: Bool = false) -> FieldReader? {
        value(key, required: required) { reader.fields($0, $1(), allowed: allowed) }
    }
}

/// UUID text in its canonical lowercase 8-4-4-4-12 form. Foundation's parser goes through sscanf,
/// which is most of the cost of decoding 10,000 tenants; this checks the bytes directly.
public enum CanonicalUUID {
    public static func parse(_ text: String) -> String? {
        let utf8 = text.utf8
        guard utf8.count == 36 else { return nil }
        var lowered = false
        var out = [UInt8]()
        out.reserveCapacity(36)
        for (i, byte) in utf8.enumerated() {
            switch i {
            case 8, 13, 18, 23:
                guard byte == UInt8(ascii: "-") else { return nil }
                out.append(byte)
            default:
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"): out.append(byte)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): out.append(byte + 32); lowered = true
                default: return nil
                }
            }
        }
        return lowered ? String(decoding: out, as: UTF8.self) : text
    }
}
