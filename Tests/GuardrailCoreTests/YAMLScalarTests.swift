import Testing
@testable import GuardrailCore

/// Scalar resolution under the YAML 1.2 core schema, and the marks the parser keeps on every node.
@Suite("YAML scalars and marks")
struct YAMLScalarTests {
    /// Parses `value: <text>` and returns the value's resolution, so quoting and tags go through libyaml.
    static func resolve(_ text: String) throws -> ResolvedScalar {
        let result = YAMLParser.parse("value: \(text)\n", file: "s.yaml")
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        guard case .mapping(let m) = try #require(result.documents.first).root,
            case .scalar(let s) = try #require(m.entries.first).value
        else {
            throw ScalarError()
        }
        return s.resolved
    }

    struct ScalarError: Error {}

    @Test(
        arguments: [
            // YAML 1.1 booleans are plain strings in 1.2.
            ("yes", .string("yes")), ("no", .string("no")), ("on", .string("on")), ("off", .string("off")),
            ("Yes", .string("Yes")), ("NO", .string("NO")), ("y", .string("y")), ("n", .string("n")),
            ("true", .bool(true)), ("True", .bool(true)), ("TRUE", .bool(true)),
            ("false", .bool(false)), ("False", .bool(false)), ("FALSE", .bool(false)), ("tRUE", .string("tRUE")),
            ("0", .int(0)), ("42", .int(42)), ("-17", .int(-17)), ("+5", .int(5)), ("007", .int(7)),
            ("0x1F", .int(31)), ("0xff", .int(255)), ("0o17", .int(15)),
            ("0x", .string("0x")), ("0xG1", .string("0xG1")), ("0x-1", .string("0x-1")), ("0o+7", .string("0o+7")),
            ("1_000", .string("1_000")), ("12:30", .string("12:30")), ("1.2.3", .string("1.2.3")), (".", .string(".")),
            ("1.5", .float(1.5)), ("-0.25", .float(-0.25)), (".5", .float(0.5)), ("1.", .float(1.0)),
            ("1e3", .float(1000)), ("6.02E+23", .float(6.02e23)), ("1e", .string("1e")), ("e3", .string("e3")),
            (".inf", .float(.infinity)), ("+.Inf", .float(.infinity)), ("-.INF", .float(-.infinity)), ("inf", .string("inf")),
            ("~", .null), ("null", .null), ("Null", .null), ("NULL", .null), ("nULL", .string("nULL")), ("", .null),
            // Quoted and tagged values are always strings.
            ("\"42\"", .string("42")), ("'1.5'", .string("1.5")), ("\"true\"", .string("true")), ("'null'", .string("null")),
            ("\"\"", .string("")), ("!!str 42", .string("42")), ("!!str true", .string("true")),
            ("30s", .string("30s")), ("3f6c1d2e-8a4b", .string("3f6c1d2e-8a4b")),
        ] as [(String, ResolvedScalar)])
    func coreSchemaResolution(_ text: String, _ expected: ResolvedScalar) throws {
        #expect(try Self.resolve(text) == expected)
    }

    @Test func nanResolvesToAFloatNaN() throws {
        for text in [".nan", ".NaN", ".NAN"] {
            guard case .float(let value) = try Self.resolve(text) else {
                Issue.record("\(text) did not resolve to a float")
                continue
            }
            #expect(value.isNaN, "\(text)")
        }
    }

    @Test func plainScalarWithoutParserResolvesDirectly() {
        let s = YAMLScalar(value: "on", isPlain: true, mark: YAMLMark(line: 1, column: 1))
        #expect(s.resolved == .string("on"))
        let n = YAMLScalar(value: "10", isPlain: false, mark: YAMLMark(line: 1, column: 1))
        #expect(n.resolved == .string("10"))
        let tagged = YAMLScalar(value: "anything", isPlain: true, tag: "tag:yaml.org,2002:null", mark: YAMLMark(line: 1, column: 1))
        #expect(tagged.resolved == .null)
    }

    @Test func kindDescriptionsNameTheResolvedType() throws {
        let result = YAMLParser.parse("[1, 1.5, true, ~, text, [a], {k: v}]", file: "k.yaml")
        guard case .sequence(let list) = try #require(result.documents.first).root else { Issue.record("not a list"); return }
        #expect(list.items.map(\.kindDescription) == ["an integer", "a number", "a boolean", "null", "a string", "a list", "a mapping"])
    }

    @Test func marksOfNestedValuesAreOneBasedLineAndColumn() throws {
        let text = """
            apiVersion: guardrail/v1
            spec:
              postgres:
                url: "x"
              list:
                - a
                - {b: c, d: [e, f]}
            ---
            second: 2
            """
        let result = YAMLParser.parse(text, file: "m.yaml")
        #expect(result.diagnostics.isEmpty)
        #expect(result.documents.map(\.index) == [0, 1])
        let root = try #require(result.documents.first).root
        #expect(root.mark == YAMLMark(line: 1, column: 1))

        func value(_ node: YAMLNode, _ key: String) throws -> YAMLNode {
            guard case .mapping(let m) = node, let entry = m.entries.first(where: { $0.key.scalarText == key }) else {
                throw ScalarError()
            }
            return entry.value
        }
        func item(_ node: YAMLNode, _ i: Int) throws -> YAMLNode {
            guard case .sequence(let s) = node else { throw ScalarError() }
            return s.items[i]
        }
        let spec = try value(root, "spec")
        #expect(spec.mark == YAMLMark(line: 3, column: 3))
        let postgres = try value(spec, "postgres")
        #expect(postgres.mark == YAMLMark(line: 4, column: 5))
        #expect(try value(postgres, "url").mark == YAMLMark(line: 4, column: 10))
        let list = try value(spec, "list")
        #expect(list.mark == YAMLMark(line: 6, column: 5))
        #expect(try item(list, 0).mark == YAMLMark(line: 6, column: 7))
        let flow = try item(list, 1)
        #expect(flow.mark == YAMLMark(line: 7, column: 7))
        #expect(try value(flow, "b").mark == YAMLMark(line: 7, column: 11))
        let d = try value(flow, "d")
        #expect(d.mark == YAMLMark(line: 7, column: 17))
        #expect(try item(d, 1).mark == YAMLMark(line: 7, column: 21))

        let second = try #require(result.documents.last).root
        #expect(try value(second, "second").mark == YAMLMark(line: 9, column: 9))

        // Keys carry marks too.
        guard case .mapping(let m) = spec else { throw ScalarError() }
        #expect(m.entries.map(\.key.mark) == [YAMLMark(line: 3, column: 3), YAMLMark(line: 5, column: 3)])
    }

    @Test func scalarValuesKeepTheirTextExactly() throws {
        let result = YAMLParser.parse("a: 'it''s'\nb: \"tab\\tnewline\\n\"\nc: |\n  line one\n  line two\nd: >-\n  folded\n  text\n", file: "t.yaml")
        guard case .mapping(let m) = try #require(result.documents.first).root else { throw ScalarError() }
        #expect(m.entries.map(\.value.scalarText) == ["it's", "tab\tnewline\n", "line one\nline two\n", "folded text"])
    }
}
