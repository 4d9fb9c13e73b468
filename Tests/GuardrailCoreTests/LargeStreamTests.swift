import Foundation
import Testing
@testable import GuardrailCore

/// Large files are cut into runs of whole documents and decoded on every core. These tests prove the
/// cut is invisible: the same configuration and the same diagnostics, at the same lines, as one stream.
@Suite("Large streams")
struct LargeStreamTests {
    /// A tenant with a canonical id made from `i`.
    static func id(_ i: Int) -> String {
        let hex = String(i, radix: 16)
        return "00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - hex.count) + hex
    }

    /// `count` tenant documents, with the problems `problem(i)` puts into document `i`.
    static func stream(_ count: Int, problem: (Int) -> String? = { _ in nil }) -> String {
        var text = "# generated\n"
        for i in 0..<count {
            text += "---\napiVersion: guardrail/v1\nkind: Tenant\nmetadata:\n  name: tenant-\(i)\n"
            text += "  labels: {region: eu, plan: pro}\nspec:\n"
            switch problem(i) {
            case "bad-uuid"?: text += "  id: not-a-uuid-\(i)\n  displayName: Tenant \(i)\n"
            case "unknown-key"?: text += "  id: \(id(i))\n  displayNme: Tenant \(i)\n"
            case "duplicate-id"?: text += "  id: \(id(1))\n  displayName: Tenant \(i)\n"
            case "syntax"?: text += "  id: \(id(i))\n   displayName: [Tenant \(i)\n"
            default: text += "  id: \(id(i))\n  displayName: Tenant \(i)\n"
            }
        }
        return text
    }

    static func load(_ text: String, minimumPieceSize: Int) -> (Configuration, [String]) {
        let (configuration, diagnostics) = ConfigurationLoader.load(
            [ManifestSource(path: "manifests/tenants.yaml", bytes: Array(text.utf8))],
            minimumPieceSize: minimumPieceSize)
        return (configuration, diagnostics.sorted.map { "\($0)" })
    }

    @Test func aStreamCutIntoRunsLoadsExactlyAsOneStreamWithEveryDiagnosticAtItsLine() throws {
        let problems: [Int: String] = [3: "bad-uuid", 1_500: "unknown-key", 2_990: "duplicate-id", 2_999: "bad-uuid"]
        var text = Self.stream(3_000) { problems[$0] }
        // The first tenant's name again in the last run: a duplicate found across runs.
        text += "---\napiVersion: guardrail/v1\nkind: Tenant\nmetadata:\n  name: tenant-0\nspec:\n  id: \(Self.id(9_999))\n  displayName: Again\n"
        let runs = DocumentChunks.split(Array(text.utf8), minimumSize: 16 * 1024)
        #expect(runs.count > 8)

        let (whole, wholeDiagnostics) = Self.load(text, minimumPieceSize: .max)
        let (cut, cutDiagnostics) = Self.load(text, minimumPieceSize: 16 * 1024)
        #expect(cutDiagnostics == wholeDiagnostics)
        #expect(cut.tenants == whole.tenants)
        #expect(cut.locations == whole.locations)
        #expect(cut.tenants.count == 2_997)

        // Document i starts on line 2 + 9 * i ("---"), its id is on line 9 + 9 * i.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[8 + 9 * 2_999].contains("not-a-uuid-2999"))
        #expect(cutDiagnostics.contains { $0.hasPrefix("manifests/tenants.yaml:\(9 + 9 * 2_999):7: error: Tenant spec.id is not a valid UUID") })
        #expect(cutDiagnostics.contains { $0.hasPrefix("manifests/tenants.yaml:\(9 + 9 * 1_500 + 1):3: error: unknown key \"displayNme\"") })
        #expect(cutDiagnostics.contains { $0.hasPrefix("manifests/tenants.yaml:\(9 + 9 * 2_990):7: error: duplicate tenant id") })
        #expect(cutDiagnostics.contains { $0.hasPrefix("manifests/tenants.yaml:\(2 + 9 * 3_000 + 4):9: error: duplicate Tenant name \"tenant-0\"") })
    }

    @Test func aSyntaxErrorStopsTheFileThereEvenWhenLaterRunsAreFine() throws {
        let text = Self.stream(3_000) { $0 == 1_000 ? "syntax" : ($0 == 2_500 ? "bad-uuid" : nil) }
        let (whole, wholeDiagnostics) = Self.load(text, minimumPieceSize: .max)
        let (cut, cutDiagnostics) = Self.load(text, minimumPieceSize: 16 * 1024)
        #expect(cutDiagnostics == wholeDiagnostics)
        #expect(cut.tenants == whole.tenants)
        // Nothing after the syntax error is read: not the bad UUID in document 2,500, not the tenants after it.
        #expect(cutDiagnostics.count == 1)
        #expect(cutDiagnostics[0].contains("YAML syntax error"))
        #expect(cut.tenants.count == 1_000)
    }

    @Test func runsCoverTheStreamAndEachLaterRunStartsAtADocumentMarker() {
        let bytes = Array(Self.stream(2_000).utf8)
        let runs = DocumentChunks.split(bytes, minimumSize: 8 * 1024)
        #expect(runs.count > 4)
        #expect(runs.first?.range.lowerBound == 0)
        #expect(runs.last?.range.upperBound == bytes.count)
        for (a, b) in zip(runs, runs.dropFirst()) {
            #expect(a.range.upperBound == b.range.lowerBound)
            #expect(Array(bytes[b.range.lowerBound..<b.range.lowerBound + 4]) == Array("---\n".utf8))
            let newlines = bytes[..<b.range.lowerBound].filter { $0 == UInt8(ascii: "\n") }.count
            #expect(b.firstLine == newlines + 1)
        }
    }

    @Test(arguments: [
        ("a directive", "%YAML 1.2\n"),
        ("a lone carriage return", "# old\rline\n"),
        ("a NEL line break", "# nel\u{85}here\n"),
        ("a line separator", "# ls\u{2028}here\n"),
    ])
    func streamsWhoseCutCouldChangeTheirReadingStayWhole(_ name: String, _ prefix: String) {
        let bytes = Array((prefix + Self.stream(2_000)).utf8)
        #expect(DocumentChunks.split(bytes, minimumSize: 8 * 1024).count == 1, "\(name)")
    }

    @Test func aMarkerInsideABlockScalarIsNotACut() {
        // `---` indented under a block scalar is content, not a document start.
        var text = "apiVersion: guardrail/v1\nkind: Tenant\nmetadata:\n  name: a\n  annotations:\n    note: |\n"
        for _ in 0..<4_000 { text += "      ---\n" }
        text += "spec:\n  id: \(Self.id(1))\n  displayName: A\n"
        let runs = DocumentChunks.split(Array(text.utf8), minimumSize: 4 * 1024)
        #expect(runs.count == 1)
        let (configuration, diagnostics) = Self.load(text, minimumPieceSize: 4 * 1024)
        #expect(diagnostics.isEmpty)
        #expect(configuration.tenants.count == 1)
    }
}

@Suite("Attribute order")
struct AttributeOrderTests {
    @Test func numbersInNamesCompareAsNumbers() {
        let sorted = ["rules[10]", "rules[2]", "rules[1]", "b", "a", "rules"].sorted(by: AttributeOrder.precedes)
        #expect(sorted == ["a", "b", "rules", "rules[1]", "rules[2]", "rules[10]"])
    }

    @Test func nonASCIIDigitsAndHugeNumbersStillGiveAnOrder() {
        // Arabic-Indic digits are not numbers here; a 40-digit run saturates instead of overflowing.
        let names = ["x\u{663}", "x\u{661}", "x" + String(repeating: "9", count: 40), "x1", "é", "e"]
        let sorted = names.sorted(by: AttributeOrder.precedes)
        #expect(sorted == ["e", "x1", "x" + String(repeating: "9", count: 40), "x\u{661}", "x\u{663}", "é"])
    }
}
