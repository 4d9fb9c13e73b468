import Foundation
import GuardrailCore

extension Promtool {
    /// Runs `promtool test rules` on the rule unit tests (`alerts/*_test.yaml`, paths relative to
    /// `root`), one file at a time, and turns each failure into a diagnostic at the test file's line:
    /// the line promtool names, else the failing test's `- name:`, else its `alertname:`.
    public static func testRules(_ files: [String], root: String) async -> Report {
        guard !files.isEmpty else { return Report(ran: true, diagnostics: []) }
        guard let promtool = path else { return Report(ran: false, diagnostics: []) }
        var diagnostics: [Diagnostic] = []
        for file in files {
            let command = ExternalCommand(executable: promtool, arguments: ["test", "rules", root + "/" + file])
            guard let result = try? await command.run() else { return Report(ran: false, diagnostics: []) }
            guard result.status != 0 else { continue }
            let source = (try? String(contentsOfFile: root + "/" + file, encoding: .utf8)) ?? ""
            diagnostics += failures(in: result.stdout + "\n" + result.stderr, file: file, source: source, root: root)
        }
        return Report(ran: true, diagnostics: diagnostics)
    }

    /// One diagnostic per failed alert check (or one for the whole file when promtool names none).
    static func failures(in output: String, file: String, source: String, root: String) -> [Diagnostic] {
        let sourceLines = source.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func line(where matches: (String) -> Bool) -> Int? { sourceLines.firstIndex(where: matches).map { $0 + 1 } }
        let outputLines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("Unit Testing:") }
        var diagnostics: [Diagnostic] = []
        var testName: String?
        for (index, text) in outputLines.enumerated() {
            if text.hasPrefix("name: ") { testName = String(text.dropFirst(6)).trimmingCharacters(in: CharacterSet(charactersIn: ", ")) }
            guard text.hasPrefix("alertname: ") || text.hasPrefix("expr: ") else { continue }
            let subject = text.split(separator: ",").first.map(String.init) ?? text
            let detail = outputLines[index...].prefix(12).prefix { $0 == text || !($0.hasPrefix("alertname: ") || $0.hasPrefix("name: ")) }
                .joined(separator: " ")
            let at =
                testName.flatMap { name in line { $0.contains("- name: \(name)") || $0.contains("name: \"\(name)\"") } }
                ?? line { $0.contains(subject) } ?? 1
            diagnostics.append(
                .error(
                    "promtool test rules: \(testName.map { "test \"\($0)\": " } ?? "")\(subject) failed",
                    detail: detail.replacingOccurrences(of: root + "/", with: ""),
                    at: SourceLocation(file: file, line: at, column: 1)))
        }
        if diagnostics.isEmpty {
            let text = outputLines.filter { $0 != "FAILED:" }.prefix(5).joined(separator: " ").replacingOccurrences(of: root + "/", with: "")
            var at = SourceLocation.file(file)
            if let range = text.range(of: "line "), let n = Int(text[range.upperBound...].prefix(while: \.isNumber)) {
                at = SourceLocation(file: file, line: n, column: 1)
            }
            diagnostics.append(.error("promtool test rules failed", detail: text, at: at))
        }
        return diagnostics
    }
}
