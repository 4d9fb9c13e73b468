import GuardrailCore
import Testing

/// An expression must stay inside `USING ( ... )`: whatever its quoting, it cannot end the clause or the statement.
@Suite("Policy expression boundaries")
struct PolicyExpressionSyntaxTests {
    static let accepted = [
        "tenant_id = current_setting('app.current_tenant_id')::uuid",
        "status = 'it''s open'",
        "note = E'a \\' ) ; quote'",
        "body = $$ ) ; DROP TABLE x; -- $$",
        "body = $tag$ $$ ) ; $tag$",
        "\"weird \"\" ) ; column\" IS NOT NULL",
        "x = 1 -- ) ; trailing comment",
        "x = 1 /* ) ; /* nested */ still comment */",
        "f($1) AND price$usd > 0",
        "EXISTS (SELECT 1 FROM t WHERE (a = (b)))",
        "U&'d\\0061t\\+000061' = 'x'",
    ]

    @Test("well-formed expressions pass, whatever their strings and comments hold", arguments: accepted)
    func accepts(_ text: String) {
        #expect(PolicyExpressionSyntax.problem(in: text) == nil)
    }

    static let refused: [(String, String)] = [
        ("true) OR (true", "A ) closes a parenthesis that the expression never opened."),
        ("true; DROP TABLE x", "A policy expression is one SQL expression; it cannot contain ; outside a string."),
        ("x = 'open", "A string literal ('...') is not closed."),
        ("x = E'open\\'", "A string literal ('...') is not closed."),
        ("\"x = 1", "A quoted identifier (\"...\") is not closed."),
        ("x = $q$ open", "A dollar-quoted string ($q$...) is not closed."),
        ("x = 1 /* open", "A /* comment is not closed."),
        ("(x = 1", "1 parenthesis is not closed."),
        ("  -- only a comment", "The expression is empty."),
        ("", "The expression is empty."),
    ]

    @Test("expressions that could end the clause or the statement are refused, with the reason", arguments: refused.indices)
    func refuses(_ index: Int) {
        let (text, reason) = Self.refused[index]
        #expect(PolicyExpressionSyntax.problem(in: text) == reason, "\(text)")
    }

    @Test("qualified names parse quoted and plain parts exactly, and print back the same way")
    func qualifiedNames() throws {
        let cases: [(String, QualifiedName)] = [
            ("public.properties", QualifiedName(schema: "public", name: "properties")),
            (#""My Schema"."a.b""#, QualifiedName(schema: "My Schema", name: "a.b")),
            (#"s."q""uote""#, QualifiedName(schema: "s", name: #"q"uote"#)),
            ("_s$1.t_2", QualifiedName(schema: "_s$1", name: "t_2")),
        ]
        for (text, name) in cases {
            #expect(try QualifiedName.parse(text).get() == name)
            #expect(name.description == text)
        }
        for bad in ["properties", "a.b.c", "a.", ".a", "a..b", #"a."b"#, "a.B", "a.b c", #"a."""#] {
            #expect(throws: IdentifierSyntax.Problem.self, "\(bad)") { try QualifiedName.parse(bad).get() }
        }
    }
}
