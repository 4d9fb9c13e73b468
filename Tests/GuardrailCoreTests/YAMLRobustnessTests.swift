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
        Input("empty file", "", "manifests/odd.yaml holds no document"),
        Input("only a document separator", "---\n", "manifests/odd.yaml holds no document"),
        Input("several empty documents", "---\n---\n...\n---\n", "manifests/odd.yaml holds no document"),
        Input("only a comment", "# nothing here\n", "manifests/odd.yaml holds no document"),
        Input("a scalar document", "hello\n", "the document must be a mapping"),
        Input("a number document", "42\n", "the document must be a mapping"),
        Input("a list document", "- a\n- b\n", "the document must be a mapping"),
        Input("5000 unclosed [", String(repeating: "[", count: 5000), "YAML nested deeper than 64 levels"),
        Input(
            "5000 nested closed lists", String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000), "YAML nested deeper than 64 levels"
        ),
        Input(
            "5000 nested mappings", String(repeating: "{a: ", count: 5000) + "1" + String(repeating: "}", count: 5000),
            "YAML nested deeper than 64 levels"),
        Input(
            "40,000 nested flow lists", "x: " + String(repeating: "[", count: 40_000) + String(repeating: "]", count: 40_000) + "\n",
            "YAML nested deeper than 64 levels"),
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
            ManifestSource(path: "manifests/bom.yaml", bytes: [0xEF, 0xBB, 0xBF] + Array(tenantDocument().utf8))
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
        let (_, diagnostics) = load(
            "manifests/dup.yaml",
            """
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

    // MARK: Nesting

    static func nestedLists(_ depth: Int) -> String {
        "x: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "\n"
    }

    @Test func aFlowList40000DeepIsRefusedAtTheFirstLevelPastTheLimitWithoutCrashing() {
        // Before the limit this overflowed the stack releasing the tree (SIGSEGV, which ends the test run).
        let (config, diagnostics) = load("manifests/deep.yaml", Self.nestedLists(40_000))
        #expect(config.tenants.isEmpty)
        // The root mapping is level 1, so the 64th `[` (column 4 + 63) is level 65.
        #expect(located(diagnostics) == ["manifests/deep.yaml:1:67: YAML nested deeper than 64 levels"])
    }

    @Test func sixtyFourLevelsAreAcceptedAndSixtyFiveAreNot() {
        // The root mapping and 63 lists: 64 levels.
        let ok = YAMLParser.parse(Self.nestedLists(63), file: "ok.yaml")
        #expect(ok.diagnostics.isEmpty, "\(ok.diagnostics)")
        #expect(ok.documents.count == 1)
        let deep = YAMLParser.parse(Self.nestedLists(64), file: "deep.yaml")
        #expect(deep.diagnostics.map(\.summary) == ["YAML nested deeper than 64 levels"])
        #expect(deep.documents.isEmpty)
    }

    @Test func aMillionLevelsAreRefusedQuickly() {
        // Before the limit this ran for more than a minute; the bound is generous for a busy machine.
        let text = Self.nestedLists(1_000_000)
        let clock = ContinuousClock()
        var summaries: [String] = []
        let elapsed = clock.measure {
            summaries = ConfigurationLoader.load([ManifestSource(path: "manifests/deep.yaml", bytes: Array(text.utf8))]).1.all.map(\.summary)
        }
        #expect(summaries == ["YAML nested deeper than 64 levels"])
        #expect(elapsed < .seconds(10), "\(elapsed)")
    }

    @Test func aliasesCannotStackNestingPastTheLimit() {
        // Each anchor is 40 levels deep and within the limit; an alias to one placed 40 levels down
        // would make a tree 80 deep, so the alias is refused where it stands.
        let forty = String(repeating: "[", count: 39) + "leaf" + String(repeating: "]", count: 39)
        let text = "a: &deep \(forty)\nb: " + String(repeating: "[", count: 39) + "*deep" + String(repeating: "]", count: 39) + "\n"
        let result = YAMLParser.parse(text, file: "alias.yaml")
        #expect(result.diagnostics.map(\.summary) == ["YAML nested deeper than 64 levels"])
        #expect(result.diagnostics.first?.location?.line == 2)
        #expect(result.diagnostics.first?.location?.column == 43)
    }

    // MARK: NUL and empty files

    @Test(arguments: [#""a\0b""#, #""a\x00b""#, #""a\u0000b""#])
    func aNulCharacterInAStringIsAnErrorAtItsPosition(_ value: String) {
        let (config, diagnostics) = load("manifests/nul.yaml", tenantDocument(displayName: value))
        #expect(located(diagnostics) == ["manifests/nul.yaml:7:16: a string holds a NUL character (\\0)"])
        #expect(config.tenants.isEmpty)
    }

    @Test func aNulCharacterInAKeyIsAnErrorToo() {
        let (_, diagnostics) = load("manifests/nul.yaml", "apiVersion: guardrail/v1\n\"k\\0\": 1\n")
        #expect(located(diagnostics) == ["manifests/nul.yaml:2:1: a string holds a NUL character (\\0)"])
    }

    @Test func emptyFilesAreWarningsThatDoNotFailValidation() {
        let (config, diagnostics) = load([
            ("manifests/empty.yaml", ""), ("manifests/dashes.yaml", "---\n---\n"), ("manifests/tenants.yaml", tenantDocument()),
        ])
        #expect(
            diagnostics.map(\.description).sorted() == [
                "manifests/dashes.yaml:1:1: warning: manifests/dashes.yaml holds no document\n  The file is empty, or holds only `---` separators and comments; add a document or remove the file.",
                "manifests/empty.yaml:1:1: warning: manifests/empty.yaml holds no document\n  The file is empty, or holds only `---` separators and comments; add a document or remove the file.",
            ])
        #expect(config.tenants.map(\.name) == ["acme"])
    }
}
