import Testing
@testable import GuardrailCore

/// Hostile and odd inputs: each must yield diagnostics or an empty configuration, never a crash or a hang.
@Suite("YAML robustness")
struct YAMLRobustnessTests {
    struct Input: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        /// nil: the file must load cleanly into an empty configuration. Otherwise text that the summary of
        /// one of the diagnostics must contain.
        var expectedSummaryPrefix: String?
        var testDescription: String { name }

        init(_ name: String, _ text: String, _ expected: String?) {
            self.init(name, Array(text.utf8), expected)
        }

        init(_ name: String, _ bytes: [UInt8], _ expected: String?) {
            self.name = name
            self.bytes = bytes
            self.expectedSummaryPrefix = expected
        }
    }

    /// The classic "billion laughs": nine levels of nine aliases each, 9^9 leaves if expanded.
    static let billionLaughs: String = {
        var text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1...9 {
            let refs = Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ")
            text += "a\(level): &a\(level) [\(refs)]\n"
        }
        return text
    }()

    static let inputs: [Input] = [
        Input("empty file", "", nil),
        Input("only a document separator", "---\n", nil),
        Input("several empty documents", "---\n---\n...\n---\n", nil),
        Input("only a comment", "# nothing here\n", nil),
        Input("a scalar document", "hello\n", "the document must be a mapping"),
        Input("a number document", "42\n", "the document must be a mapping"),
        Input("a list document", "- a\n- b\n", "the document must be a mapping"),
        Input("5000 unclosed [", String(repeating: "[", count: 5000), "YAML syntax error"),
        Input("5000 nested closed lists", String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000), "the document must be a mapping"),
        Input("5000 nested mappings", String(repeating: "{a: ", count: 5000) + "1" + String(repeating: "}", count: 5000),
              "missing required field \"apiVersion\""),
        Input("binary garbage", [0x00, 0xFF, 0xFE, 0x01, 0x80, 0x7F, 0x1B, 0x00, 0xC0, 0xAF], "YAML syntax error"),
        Input("invalid UTF-8", Array("apiVersion: guardrail/v1\nkind: ".utf8) + [0xC3, 0x28, 0x0A], "YAML syntax error"),
        Input("billion laughs", billionLaughs, "too many YAML aliases"),
        Input("tabs for indentation", "apiVersion: guardrail/v1\nkind: Tenant\nmetadata:\n\tname: acme\n", "YAML syntax error"),
        Input("a key that is a mapping", "? {a: 1}\n: x\n", "keys in the document must be plain words"),
        Input("a key that is a list", "[a, b]: x\n", "keys in the document must be plain words"),
        Input("alias to an undefined anchor", "apiVersion: *nowhere\n", "unknown YAML alias *nowhere"),
        Input("null spec", "apiVersion: guardrail/v1\nkind: Tenant\nmetadata: {name: acme}\nspec: null\n", "missing required field \"id\""),
        Input("null metadata", "apiVersion: guardrail/v1\nkind: Tenant\nmetadata: ~\nspec: {id: \(acmeID)}\n", "missing required field \"name\""),
        Input("null kind", "apiVersion: guardrail/v1\nkind:\nmetadata: {name: acme}\n", "kind must be a string"),
        Input("null document", "null\n", "missing required field \"apiVersion\""),
        Input("unterminated quote", "apiVersion: \"guardrail/v1\n", "YAML syntax error"),
        Input("NUL in the middle of a value", Array("apiVersion: guard".utf8) + [0] + Array("rail/v1\n".utf8), "YAML syntax error"),
        Input("a UTF-16 byte order mark", [0xFF, 0xFE] + Array("a: b\n".utf8), "YAML syntax error"),
        Input("a huge single line", "kind: " + String(repeating: "x", count: 1_000_000) + "\n", "missing required field \"apiVersion\""),
    ]

    @Test(arguments: inputs)
    func hostileInputYieldsDiagnosticsOrAnEmptyConfigurationWithoutCrashing(_ input: Input) {
        let (config, diagnostics) = ConfigurationLoader.load([ManifestSource(path: "manifests/odd.yaml", bytes: input.bytes)])
        let all = diagnostics.sorted
        #expect(config.tenants.isEmpty)
        #expect(config.environments.isEmpty)
        if let prefix = input.expectedSummaryPrefix {
            #expect(all.contains { $0.summary.contains(prefix) }, "\(all.map(\.description))")
            #expect(all.allSatisfy { $0.location?.file == "manifests/odd.yaml" && $0.location!.line >= 1 && $0.location!.column >= 1 })
        } else {
            #expect(all.isEmpty, "\(all.map(\.description))")
        }
    }

    @Test func billionLaughsIsStoppedByTheAliasLimitAtTheAliasThatCrossesIt() {
        let result = YAMLParser.parse(Self.billionLaughs, file: "bomb.yaml")
        // Counted, not compared: describing an expanded bomb in a failure message would itself explode.
        #expect(result.documents.count == 0)
        #expect(result.diagnostics.count == 1)
        let d = result.diagnostics.first
        #expect(d?.summary == "too many YAML aliases")
        #expect(d?.detail.contains("\(YAMLParser.aliasLimit)") == true)
        // Levels 1-4 expand 9 + 90 + 819 + 7,380 = 8,298 aliases; level 5 crosses 10,000 on line 6.
        #expect(d?.location?.line == 6)
    }

    @Test func manyFlatAliasesBeyondTheLimitAreRefused() {
        let text = "a: &x lol\nb: [" + Array(repeating: "*x", count: YAMLParser.aliasLimit + 1).joined(separator: ", ") + "]\n"
        let result = YAMLParser.parse(text, file: "wide.yaml")
        #expect(result.diagnostics.map(\.summary) == ["too many YAML aliases"])
    }

    @Test func aliasesWithinTheLimitExpandToTheAnchoredValue() throws {
        let result = YAMLParser.parse("base: &b {cohort: internal}\ncopy: *b\nlist: [*b, *b]\n", file: "ok.yaml")
        #expect(result.diagnostics.isEmpty)
        guard case .mapping(let root) = try #require(result.documents.first).root else { Issue.record("not a mapping"); return }
        #expect(root.entries.count == 3)
        guard case .mapping(let copy) = root.entries[1].value else { Issue.record("alias did not expand to a mapping"); return }
        #expect(copy.entries.first?.key.scalarText == "cohort")
        #expect(copy.entries.first?.value.scalarText == "internal")
        guard case .sequence(let list) = root.entries[2].value else { Issue.record("not a list"); return }
        #expect(list.items.count == 2)
    }

    @Test func utf8ByteOrderMarkIsAccepted() {
        let (config, diagnostics) = ConfigurationLoader.load([
            ManifestSource(path: "manifests/bom.yaml", bytes: [0xEF, 0xBB, 0xBF] + Array(tenantDocument().utf8)),
        ])
        #expect(diagnostics.all.isEmpty, "\(diagnostics.all)")
        #expect(config.tenants.map(\.name) == ["acme"])
    }

    @Test func crlfLineEndingsKeepTheSameLineNumbers() {
        let text = """
            apiVersion: guardrail/v1
            kind: Tenant
            metadata:
              name: acme
            spec:
              id: \(acmeID)
              displayname: Acme Realty
            """.replacingOccurrences(of: "\n", with: "\r\n")
        let (_, diagnostics) = load("manifests/crlf.yaml", text)
        #expect(located(diagnostics) == ["manifests/crlf.yaml:7:3: unknown key \"displayname\" in Tenant spec"])
    }

    @Test func tabIndentationIsReportedAtTheTab() {
        let (_, diagnostics) = load("manifests/tabs.yaml", "apiVersion: guardrail/v1\nkind: Tenant\nmetadata:\n\tname: acme\n")
        #expect(located(diagnostics) == ["manifests/tabs.yaml:4:1: YAML syntax error: found character that cannot start any token"])
    }

    @Test func duplicateYAMLKeyIsReportedAtTheSecondKey() {
        let (_, diagnostics) = load("manifests/dup.yaml", """
            apiVersion: guardrail/v1
            kind: Tenant
            metadata:
              name: acme
            spec:
              id: \(acmeID)
              status: active
              status: suspended
            """)
        #expect(located(diagnostics) == ["manifests/dup.yaml:8:3: duplicate key \"status\" in Tenant spec"])
        #expect(diagnostics.first?.detail.hasPrefix("The key is already set at line 7, column 3") == true)
    }
}
