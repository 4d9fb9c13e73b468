import Testing
@testable import GuardrailCore

/// No diagnostic quotes more than 80 characters of a key or value from a file: a message that
/// echoes an unknown key cannot reproduce a whole line of a file it should never have read.
@Suite("diagnostic excerpts")
struct DiagnosticExcerptTests {
    /// 300 characters in which no 81-character window repeats, so any window found in a message
    /// could only have been copied from the file.
    static let secret: String = {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String(
            (0..<300).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return alphabet[Int(state >> 33) % alphabet.count]
            })
    }()

    static func leaks(_ text: String) -> Bool {
        let s = Array(secret)
        return (0...(s.count - 81)).contains { text.contains(String(s[$0..<($0 + 81)])) }
    }

    static let placements: [(String, String)] = [
        ("unknown key", "apiVersion: guardrail/v1\nkind: Tenant\nmetadata: {name: acme}\nspec: {id: \(acmeID), \(secret): 1}\n"),
        ("unknown kind", "apiVersion: guardrail/v1\nkind: \(secret)\nmetadata: {name: acme}\nspec: {}\n"),
        ("unknown apiVersion", "apiVersion: \(secret)\nkind: Tenant\nmetadata: {name: acme}\nspec: {}\n"),
        ("invalid name", "apiVersion: guardrail/v1\nkind: Tenant\nmetadata: {name: \(secret)}\nspec: {id: \(acmeID)}\n"),
        (
            "label key and value",
            "apiVersion: guardrail/v1\nkind: Tenant\nmetadata: {name: acme, labels: {\(secret): \(secret)}}\nspec: {id: \(acmeID)}\n"
        ),
        ("not a UUID", "apiVersion: guardrail/v1\nkind: Tenant\nmetadata: {name: acme}\nspec: {id: \(secret)}\n"),
        ("unknown enum value", "apiVersion: guardrail/v1\nkind: Tenant\nmetadata: {name: acme}\nspec: {id: \(acmeID), status: \(secret)}\n"),
        ("not a boolean", "apiVersion: guardrail/v1\nkind: FeatureFlag\nmetadata: {name: a.b}\nspec: {enabled: \(secret)}\n"),
        ("unknown alias", "apiVersion: *\(secret)\n"),
        (
            "unknown tenant in a flag",
            "apiVersion: guardrail/v1\nkind: FeatureFlag\nmetadata: {name: a.b}\nspec: {enabled: true, overrides: {enable: [\(secret)]}}\n"
        ),
    ]

    @Test(arguments: placements.map(\.0))
    func noDiagnosticQuotesMoreThan80Characters(_ name: String) {
        let text = Self.placements.first { $0.0 == name }!.1
        let (_, diagnostics) = load("manifests/x.yaml", text)
        #expect(!diagnostics.isEmpty)
        for d in diagnostics {
            #expect(!Self.leaks(d.description), "\(d.description)")
        }
    }

    @Test func anUnknownKeyInARuleFileIsCutToo() {
        let (_, diagnostics) = load("alerts/x.yaml", "groups:\n  - name: api\n    \(Self.secret): 1\n    rules: []\n")
        #expect(!diagnostics.isEmpty)
        #expect(!diagnostics.contains { Self.leaks($0.description) })
        #expect(diagnostics.contains { $0.summary.contains(String(Self.secret.prefix(80)) + "…") }, "\(diagnostics)")
    }

    @Test func shortValuesAreQuotedWhole() {
        #expect(TextEscaping.clampingExcerpts("unknown key \"displayname\" in Tenant spec") == "unknown key \"displayname\" in Tenant spec")
        let long = String(repeating: "k", count: 100)
        #expect(
            TextEscaping.clampingExcerpts("unknown key \"\(long)\" in `\(long)` and \(long).")
                == "unknown key \"\(String(repeating: "k", count: 80))…\" in `\(String(repeating: "k", count: 80))…` and \(String(repeating: "k", count: 80))…"
        )
    }
}
