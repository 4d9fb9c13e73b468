import ArgumentParser
import Foundation
@testable import GuardrailCLI
import Testing

/// The CI examples in `examples/ci/` run Guardrail commands that must exist: every `guardrail`
/// command line in them is parsed by the real command-line parser, flags and arguments included.
@Suite("CI examples")
struct CIExampleTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `guardrail ...` commands of a shell-in-YAML file: at a command position (the start of a
    /// `run:`/script line, or after `;`, `&&`, `||`, `|`, `(`), up to the next shell operator.
    static func commands(in text: String) -> [[String]] {
        var commands: [[String]] = []
        // Folded (`>`) and literal (`|`) blocks and trailing `\` continue a command on the next lines.
        var joined: [String] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#") { continue }
            if let last = joined.last, last.hasSuffix("\\") {
                joined[joined.count - 1] = String(last.dropLast()) + " " + line
            } else {
                joined.append(line)
            }
        }
        for line in joined {
            var rest = Substring(line)
            for prefix in ["- run:", "run:", "- "] where rest.hasPrefix(prefix) { rest = rest.dropFirst(prefix.count); break }
            for segment in splitOperators(String(rest)) {
                let words = shellWords(segment)
                if words.first == "guardrail" { commands.append(Array(words.dropFirst())) }
            }
        }
        return commands
    }

    static func splitOperators(_ s: String) -> [String] {
        var parts: [String] = [], current = "", quote: Character?
        var chars = Array(s)[...]
        while let c = chars.first {
            chars = chars.dropFirst()
            if let q = quote {
                current.append(c)
                if c == q { quote = nil }
                continue
            }
            if c == "'" || c == "\"" { quote = c; current.append(c); continue }
            if c == ";" || c == "|" || c == "&" || c == "(" || c == ")" || c == ">" || c == "<" {
                parts.append(current)
                current = ""
                // `> file`: the redirect target is not a command.
                if c == ">" || c == "<" {
                    while let n = chars.first, n == " " || n == ">" { chars = chars.dropFirst() };
                    while let n = chars.first, n != " " { chars = chars.dropFirst() }
                }
                continue
            }
            current.append(c)
        }
        parts.append(current)
        return parts.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    static func shellWords(_ s: String) -> [String] {
        var words: [String] = [], current = "", quote: Character?, inWord = false
        for c in s {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
                continue
            }
            if c == "'" || c == "\"" { quote = c; inWord = true; continue }
            if c == " " || c == "\t" {
                if inWord { words.append(current); current = ""; inWord = false }
                continue
            }
            current.append(c)
            inWord = true
        }
        if inWord { words.append(current) }
        return words
    }

    @Test(arguments: ["examples/ci/github-actions.yml", "examples/ci/gitlab-ci.yml"])
    func everyGuardrailCommandParses(_ path: String) throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent(path), encoding: .utf8)
        let commands = Self.commands(in: text)
        // plan with --out, show, and apply of the saved file, at least.
        #expect(commands.contains { $0.first == "plan" && $0.contains("--out") })
        #expect(commands.contains { $0.first == "apply" && $0.last == "guardrail.plan" })
        #expect(commands.contains { $0.first == "show" })
        for command in commands {
            do {
                _ = try GuardrailCommand.parseAsRoot(command)
            } catch {
                Issue.record("\(path): `guardrail \(command.joined(separator: " "))` does not parse: \(GuardrailCommand.message(for: error))")
            }
        }
    }

    @Test func theExtractorFindsCommandsAndNotMentions() {
        let text = """
            # guardrail plan --bogus in a comment
            run: guardrail validate
            - set +e; guardrail plan --env production --out guardrail.plan > plan.md; code=$?
            run: gh run list --workflow guardrail --commit "$sha"
            run: guardrail apply --env production \\
                 --lock-timeout 5m guardrail.plan
            """
        #expect(
            Self.commands(in: text) == [
                ["validate"], ["plan", "--env", "production", "--out", "guardrail.plan"],
                ["apply", "--env", "production", "--lock-timeout", "5m", "guardrail.plan"],
            ])
        // A flag that does not exist is caught by the parser, so the test above can fail.
        #expect(throws: (any Error).self) { try GuardrailCommand.parseAsRoot(["plan", "--bogus"]) }
    }
}
