import Foundation
import Testing

/// Rules the sources keep, checked by reading them: JSON goes through `Codable` types, and SQL text
/// spliced into a query is literal text or a quoted `SQLIdentifier`, never a runtime string.
@Suite("Source rules")
struct SourceRulesTests {
    /// Every `.swift` file under `Sources/`, with its path relative to the repository.
    static func sources(filePath: String = #filePath) throws -> [(path: String, text: String)] {
        let root = URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let sources = root.appendingPathComponent("Sources")
        guard let walker = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil) else { return [] }
        var files: [(String, String)] = []
        for case let url as URL in walker where url.pathExtension == "swift" {
            let relative = String(url.path.dropFirst(root.path.count + 1))
            files.append((relative, try String(contentsOf: url, encoding: .utf8)))
        }
        return files.sorted { $0.0 < $1.0 }
    }

    // MARK: JSON

    /// `file:line: text` for every use of `JSONSerialization` or of `[String: Any]` (any spacing).
    static func untypedJSON(in text: String, file: String) -> [String] {
        let pattern = #/JSONSerialization|\[\s*String\s*:\s*Any\s*\]/#
        var offenders: [String] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where line.contains(pattern) {
            offenders.append("\(file):\(index + 1): \(line.trimmingCharacters(in: .whitespaces))")
        }
        return offenders
    }

    @Test("no JSONSerialization and no [String: Any] in Sources: every JSON document has a Codable type")
    func jsonIsTyped() throws {
        let files = try Self.sources()
        #expect(files.count > 50, "the sources were not found")
        let offenders = files.flatMap { Self.untypedJSON(in: $0.text, file: $0.path) }
        #expect(offenders.isEmpty, "untyped JSON; decode and encode through Codable types instead:\n\(offenders.joined(separator: "\n"))")
    }

    @Test("the JSON rule catches what it forbids")
    func jsonRuleCanFail() {
        let text = """
            let a = 1
            let object = try JSONSerialization.jsonObject(with: data)
            var fields: [String:Any] = [:]
            let typed: [String: JSONValue] = [:]
            """
        #expect(
            Self.untypedJSON(in: text, file: "X.swift") == [
                "X.swift:2: let object = try JSONSerialization.jsonObject(with: data)",
                "X.swift:3: var fields: [String:Any] = [:]",
            ])
    }

    // MARK: SQL

    /// Names of `static let` SQL constants that `\(unescaped:)` may take besides a literal. Empty:
    /// fixed SQL fragments are `SQLFragment`s, which interpolate without `unescaped:`.
    static let allowedUnescapedConstants: Set<String> = []

    /// `file:line: argument` for every `unescaped:` whose argument is not a string literal without
    /// interpolation (or an allowed constant). Comment lines are skipped.
    static func runtimeUnescaped(in text: String, file: String) -> [String] {
        let chars = Array(text)
        let token = Array("unescaped:")
        var offenders: [String] = []
        var line = 1, lineStart = 0, i = 0
        while i < chars.count {
            if chars[i] == "\n" { line += 1; lineStart = i + 1; i += 1; continue }
            guard chars[i] == "u", i + token.count <= chars.count, Array(chars[i..<(i + token.count)]) == token else { i += 1; continue }
            let before = String(chars[lineStart..<i]).trimmingCharacters(in: .whitespaces)
            let end = Self.argumentEnd(chars, from: i + token.count)
            let argument = String(chars[(i + token.count)..<end]).trimmingCharacters(in: .whitespacesAndNewlines)
            if !before.hasPrefix("//") && !Self.isFixedText(argument) {
                offenders.append("\(file):\(line): unescaped: \(argument)")
            }
            i += token.count
        }
        return offenders
    }

    /// Where the argument starting at `start` ends: the `)` or `,` that closes it at its own depth.
    static func argumentEnd(_ chars: [Character], from start: Int) -> Int {
        var depth = 0, inString = false, i = start
        while i < chars.count {
            let c = chars[i]
            if inString {
                if c == "\\" { i += 2; continue }
                if c == "\"" { inString = false }
            } else if c == "\"" {
                inString = true
            } else if c == "(" || c == "[" {
                depth += 1
            } else if c == ")" || c == "]" || c == "," {
                if depth == 0 { return i }
                if c != "," { depth -= 1 }
            }
            i += 1
        }
        return chars.count
    }

    /// A string literal with no interpolation in it, or an allowed constant.
    static func isFixedText(_ argument: String) -> Bool {
        if allowedUnescapedConstants.contains(argument) { return true }
        guard argument.count >= 2, argument.first == "\"", argument.last == "\"" else { return false }
        let body = argument.dropFirst().dropLast()
        return !body.contains("\\(") && !body.contains("\"")
    }

    @Test("unescaped: takes only literal SQL text; names are SQLIdentifier interpolations, which quote them")
    func unescapedIsLiteralOnly() throws {
        let files = try Self.sources()
        #expect(files.count > 50, "the sources were not found")
        let offenders = files.flatMap { Self.runtimeUnescaped(in: $0.text, file: $0.path) }
        #expect(
            offenders.isEmpty,
            """
            unescaped: with a runtime string; interpolate an SQLIdentifier or SQLIdentifier.Qualified (quoted), \
            an SQLFragment (literal text), or bind the value:
            \(offenders.joined(separator: "\n"))
            """)
    }

    @Test("the unescaped: rule catches a runtime string, names its file and line, and lets literals through")
    func unescapedRuleCanFail() {
        let text = """
            // A comment may say \\(unescaped: name).
            let a: PostgresQuery = "SELECT 1 \\(unescaped: "FOR UPDATE")"
            let b: PostgresQuery = "SELECT * FROM \\(unescaped: schema.qualifying("tenants")) WHERE x = \\(x)"
            let c: PostgresQuery = \"\"\"
                SELECT \\(unescaped: columns.joined(separator: ", ")),
                       \\(unescaped: "a, b")
                FROM \\(unescaped: "t\\(name)")
                \"\"\"
            """
        #expect(
            Self.runtimeUnescaped(in: text, file: "Y.swift") == [
                #"Y.swift:3: unescaped: schema.qualifying("tenants")"#,
                #"Y.swift:5: unescaped: columns.joined(separator: ", ")"#,
                #"Y.swift:7: unescaped: "t\(name)""#,
            ])
    }
}
