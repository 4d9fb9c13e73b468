import Testing
@testable import GuardrailCore

@Suite("TemplatedString")
struct TemplatedStringTests {
    static let location = GuardrailCore.SourceLocation(file: "environments/staging.yaml", line: 7, column: 10)

    static func expand(_ raw: String, _ env: [String: String]) -> Result<String, Diagnostic> {
        TemplatedString(raw: raw, location: location).expand(env)
    }

    @Test(
        arguments: [
            ("${DATABASE_URL}", ["DATABASE_URL": "postgres://db/app"], "postgres://db/app"),
            ("${PGPORT:-5432}", [:], "5432"),
            ("${PGPORT:-5432}", ["PGPORT": "6543"], "6543"),
            ("${PGPORT:-5432}", ["PGPORT": ""], "5432"),
            ("${EMPTY_DEFAULT:-}", [:], ""),
            ("${URL:-http://a:9090/x}", [:], "http://a:9090/x"),
            (
                "postgres://app@${HOST}:5432/${DB:-realestate}?sslmode=require", ["HOST": "db.internal"],
                "postgres://app@db.internal:5432/realestate?sslmode=require"
            ),
            ("${A}${B}", ["A": "1", "B": "2"], "12"),
            ("plain text, no variables", [:], "plain text, no variables"),
            ("$HOME and $ alone stay literal", ["HOME": "/root"], "$HOME and $ alone stay literal"),
            ("", [:], ""),
            ("${_under_score9}", ["_under_score9": "ok"], "ok"),
            ("${A}", ["A": "${B}", "B": "nested"], "${B}"),
        ] as [(String, [String: String], String)])
    func expandsVariablesAndKeepsLiteralText(_ raw: String, _ env: [String: String], _ expected: String) throws {
        #expect(try Self.expand(raw, env).get() == expected)
    }

    @Test func missingVariableIsAnErrorNamingIt() {
        guard case .failure(let d) = Self.expand("postgres://${DB_USER}@${DB_HOST}/app", ["DB_USER": "app"]) else {
            Issue.record("expected a failure")
            return
        }
        #expect(d.summary == "environment variable DB_HOST is not set")
        #expect(d.detail.contains("${DB_HOST}"))
        #expect(d.detail.contains("${DB_HOST:-value}"))
        #expect(d.location == Self.location)
    }

    @Test(
        arguments: [
            ("${1BAD}", "invalid variable name \"1BAD\" in \"${1BAD}\""),
            ("${}", "invalid variable name \"\" in \"${}\""),
            ("${BAD-NAME}", "invalid variable name \"BAD-NAME\" in \"${BAD-NAME}\""),
            ("${A B}", "invalid variable name \"A B\" in \"${A B}\""),
            ("${NAME", "unterminated ${ in \"${NAME\""),
            ("x ${A} ${B", "unterminated ${ in \"x ${A} ${B\""),
        ] as [(String, String)])
    func malformedReferencesAreErrorsEvenWhenVariablesAreSet(_ raw: String, _ summary: String) {
        guard case .failure(let d) = Self.expand(raw, ["A": "a", "NAME": "n", "1BAD": "x"]) else {
            Issue.record("\(raw) should not expand")
            return
        }
        #expect(d.summary == summary)
        #expect(d.location == Self.location)
    }

    @Test func variableNamesListsEveryReferenceInOrder() {
        #expect(TemplatedString(raw: "${A}-${B:-x}-${A}", location: Self.location).variableNames == ["A", "B", "A"])
        #expect(TemplatedString(raw: "no refs", location: Self.location).variableNames == [])
        #expect(TemplatedString(raw: "${1BAD}", location: Self.location).variableNames == [])
    }

    @Test func piecesSplitLiteralsFromReferences() throws {
        let pieces = try TemplatedString(raw: "a${B}c${D:-e}", location: Self.location).pieces().get()
        #expect(pieces == [.literal("a"), .variable(name: "B", fallback: nil), .literal("c"), .variable(name: "D", fallback: "e")])
    }
}
