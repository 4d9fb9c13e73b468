import CYAML
#if canImport(Glibc)
    import Glibc
#endif

/// Parses a YAML stream into documents with libyaml's event API.
///
/// Events go straight into `YAMLNode` values: no intermediate tree, no regex tag resolution. A syntax
/// error stops the stream there and is returned as a diagnostic; the documents before it are kept.
public enum YAMLParser {
    public struct Result: Sendable {
        public var documents: [YAMLDocument]
        public var diagnostics: [Diagnostic]
    }

    /// Aliases are expanded by value; this many per stream is far past any real manifest and stops
    /// "billion laughs" documents from blowing up the decoder. An alias to a node that itself holds
    /// aliases counts each of those again, since expanding it copies them all.
    static let aliasLimit = 10_000

    /// Lists and mappings nest at most this deep, counting what aliases expand to. Manifests need a
    /// handful of levels; the limit keeps every tree shallow, so building, reading and releasing one
    /// (Swift releases nested values recursively) never runs deep on the stack.
    public static let nestingLimit = 64

    public static func parse(_ bytes: [UInt8], file: String) -> Result {
        var documents: [YAMLDocument] = []
        let diagnostics = parse(bytes, file: file) { documents.append($0) }
        return Result(documents: documents, diagnostics: diagnostics)
    }

    public static func parse(_ text: String, file: String) -> Result {
        parse(Array(text.utf8), file: file)
    }

    /// Streams the documents of `bytes` to `body` one at a time, so a file of 10,000 documents never
    /// holds more than one tree. Returns the syntax error that stopped the stream, if any.
    /// `firstLine` is the 1-based line `bytes` starts at, for a slice of a larger file.
    public static func parse(_ bytes: [UInt8], file: String, firstLine: Int = 1, _ body: (YAMLDocument) -> Void) -> [Diagnostic] {
        bytes.withUnsafeBufferPointer { buffer in
            parse(buffer, file: file, lineOffset: firstLine - 1, body)
        }
    }

    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>, file: String, firstLine: Int = 1, _ body: (YAMLDocument) -> Void) -> [Diagnostic] {
        parse(bytes, file: file, lineOffset: firstLine - 1, body)
    }

    /// A mapping or sequence whose end event has not come yet. Mutated in place on the stack, so
    /// appending an entry never copies the entries before it.
    private struct OpenNode {
        var isMapping: Bool
        var mark: YAMLMark
        var entries: [YAMLMapping.Entry] = []
        var items: [YAMLNode] = []
        var pendingKey: YAMLNode?
        var anchor: String?
        var aliasesAtStart: Int
        /// The deepest nesting among the children so far (0: only scalars).
        var childLevels = 0
    }

    /// Builds one document's tree from events.
    private struct Builder {
        var stack: [OpenNode] = []
        /// Each anchored node with the number of alias expansions inside it and its nesting levels.
        var anchors: [String: (node: YAMLNode, expansions: Int, levels: Int)] = [:]
        var aliasCount = 0
        var root: YAMLNode?

        mutating func finish(_ node: YAMLNode, anchor: String?, expansions: Int = 0, levels: Int = 0) {
            if let anchor { anchors[anchor] = (node, expansions, levels) }
            let top = stack.count - 1
            guard top >= 0 else {
                root = node
                return
            }
            stack[top].childLevels = max(stack[top].childLevels, levels)
            if stack[top].isMapping {
                if let key = stack[top].pendingKey {
                    stack[top].entries.append(.init(key: key, value: node))
                    stack[top].pendingKey = nil
                } else {
                    stack[top].pendingKey = node
                }
            } else {
                stack[top].items.append(node)
            }
        }

        mutating func close() {
            guard let open = stack.popLast() else { return }
            let node: YAMLNode =
                open.isMapping
                ? .mapping(YAMLMapping(entries: open.entries, mark: open.mark))
                : .sequence(YAMLSequence(items: open.items, mark: open.mark))
            finish(node, anchor: open.anchor, expansions: aliasCount - open.aliasesAtStart, levels: open.childLevels + 1)
        }

        /// Opens a list or mapping, or returns the error when it would nest deeper than the limit.
        mutating func open(_ node: OpenNode, file: String) -> Diagnostic? {
            guard stack.count < YAMLParser.nestingLimit else { return YAMLParser.tooDeep(node.mark, file: file) }
            stack.append(node)
            return nil
        }
    }

    private static func parse(_ buffer: UnsafeBufferPointer<UInt8>, file: String, lineOffset: Int, _ body: (YAMLDocument) -> Void) -> [Diagnostic] {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            return [.error("cannot initialise the YAML parser", at: .file(file))]
        }
        defer { yaml_parser_delete(&parser) }
        // libyaml wants a non-null pointer even for empty input.
        let empty: [UInt8] = [0]
        empty.withUnsafeBufferPointer { e in
            yaml_parser_set_input_string(&parser, buffer.baseAddress ?? e.baseAddress!, buffer.count)
        }

        var builder = Builder()
        var index = 0
        var event = yaml_event_t()
        let plainTag = "tag:yaml.org,2002:str"

        while true {
            guard yaml_parser_parse(&parser, &event) == 1 else {
                return [syntaxError(parser, file: file, lineOffset: lineOffset)]
            }
            defer { yaml_event_delete(&event) }
            let mark = YAMLMark(line: Int(event.start_mark.line) + 1 + lineOffset, column: Int(event.start_mark.column) + 1)
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return []
            case YAML_DOCUMENT_START_EVENT:
                builder.root = nil
                builder.anchors.removeAll(keepingCapacity: true)
            case YAML_DOCUMENT_END_EVENT:
                if let node = builder.root {
                    builder.root = nil
                    // An empty document (`---` followed by nothing) is skipped, like kubectl does.
                    if case .scalar(let s) = node, s.isPlain, s.value.isEmpty, s.tag == nil {
                    } else {
                        body(YAMLDocument(root: node, index: index))
                        index += 1
                    }
                }
            case YAML_SCALAR_EVENT:
                let scalar = event.data.scalar
                let raw = UnsafeBufferPointer(start: scalar.value, count: scalar.length)
                // YAML allows "\0" in a quoted string, Postgres rejects it in text, and a terminal or a
                // C string would cut the value short there: no manifest value may hold one.
                if raw.contains(0) {
                    return [
                        .error(
                            "a string holds a NUL character (\\0)",
                            detail: "Guardrail's values are text, and text cannot hold NUL; remove it. Nothing after this point was read.",
                            at: SourceLocation(file: file, line: mark.line, column: mark.column))
                    ]
                }
                let value = String(decoding: raw, as: UTF8.self)
                // The one explicit tag manifests use often is !!str; keep its string without a copy.
                let tag = scalar.tag.map { strcmp($0, plainTag) == 0 ? plainTag : String(cString: $0) }
                let node = YAMLNode.scalar(YAMLScalar(value: value, isPlain: scalar.style == YAML_PLAIN_SCALAR_STYLE, tag: tag, mark: mark))
                builder.finish(node, anchor: scalar.anchor.map { String(cString: $0) })
            case YAML_SEQUENCE_START_EVENT:
                let anchor = event.data.sequence_start.anchor.map { String(cString: $0) }
                if let error = builder.open(OpenNode(isMapping: false, mark: mark, anchor: anchor, aliasesAtStart: builder.aliasCount), file: file) {
                    return [error]
                }
            case YAML_MAPPING_START_EVENT:
                let anchor = event.data.mapping_start.anchor.map { String(cString: $0) }
                if let error = builder.open(OpenNode(isMapping: true, mark: mark, anchor: anchor, aliasesAtStart: builder.aliasCount), file: file) {
                    return [error]
                }
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                builder.close()
            case YAML_ALIAS_EVENT:
                let name = String(cString: event.data.alias.anchor)
                builder.aliasCount += 1 + (builder.anchors[name]?.expansions ?? 0)
                guard builder.aliasCount <= aliasLimit else {
                    return [
                        .error(
                            "too many YAML aliases",
                            detail: "The file expands more than \(aliasLimit) aliases; manifests never need that many, so it is refused.",
                            at: SourceLocation(file: file, line: mark.line, column: mark.column))
                    ]
                }
                guard let target = builder.anchors[name] else {
                    return [
                        .error(
                            TextEscaping.clampingExcerpts("unknown YAML alias *\(name)"),
                            detail: TextEscaping.clampingExcerpts("No anchor &\(name) is defined before this point in the document."),
                            at: SourceLocation(file: file, line: mark.line, column: mark.column))
                    ]
                }
                guard builder.stack.count + target.levels <= nestingLimit else { return [tooDeep(mark, file: file)] }
                builder.finish(target.node, anchor: nil, levels: target.levels)
            default:
                break
            }
        }
    }

    fileprivate static func tooDeep(_ mark: YAMLMark, file: String) -> Diagnostic {
        .error(
            "YAML nested deeper than \(nestingLimit) levels",
            detail:
                "Lists and mappings (with what aliases expand to) nest more than \(nestingLimit) deep here; manifests never need that many, so the file is refused and nothing after this point was read.",
            at: SourceLocation(file: file, line: mark.line, column: mark.column))
    }

    private static func syntaxError(_ parser: yaml_parser_t, file: String, lineOffset: Int) -> Diagnostic {
        let problem = parser.problem.map { String(cString: $0) } ?? "malformed YAML"
        let problemMark = parser.problem_mark
        var detail = "The file is not valid YAML, so none of it after this point was read."
        if let context = parser.context.map({ String(cString: $0) }) {
            let c = parser.context_mark
            detail = "The error is \(context) that started at line \(Int(c.line) + 1 + lineOffset), column \(c.column + 1). " + detail
        }
        let location = SourceLocation(file: file, line: Int(problemMark.line) + 1 + lineOffset, column: Int(problemMark.column) + 1)
        return .error("YAML syntax error: \(problem)", detail: detail, at: location)
    }
}
