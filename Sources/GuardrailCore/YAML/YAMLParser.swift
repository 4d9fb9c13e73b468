import CYAML

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

    public static func parse(_ bytes: [UInt8], file: String) -> Result {
        bytes.withUnsafeBufferPointer { buffer in
            parse(buffer, file: file)
        }
    }

    public static func parse(_ text: String, file: String) -> Result {
        parse(Array(text.utf8), file: file)
    }

    private enum Frame {
        case mapping(YAMLMapping, pendingKey: YAMLNode?, anchor: String?, aliasesAtStart: Int)
        case sequence(YAMLSequence, anchor: String?, aliasesAtStart: Int)
    }

    private static func parse(_ buffer: UnsafeBufferPointer<UInt8>, file: String) -> Result {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            return Result(documents: [], diagnostics: [.error("cannot initialise the YAML parser", at: .file(file))])
        }
        defer { yaml_parser_delete(&parser) }
        // libyaml wants a non-null pointer even for empty input.
        let empty: [UInt8] = [0]
        empty.withUnsafeBufferPointer { e in
            yaml_parser_set_input_string(&parser, buffer.baseAddress ?? e.baseAddress!, buffer.count)
        }

        var documents: [YAMLDocument] = []
        var stack: [Frame] = []
        // Each anchored node with the number of alias expansions inside it.
        var anchors: [String: (node: YAMLNode, expansions: Int)] = [:]
        var aliasCount = 0
        var root: YAMLNode?
        var event = yaml_event_t()

        func finish(_ node: YAMLNode, anchor: String?, expansions: Int = 0) -> Diagnostic? {
            if let anchor { anchors[anchor] = (node, expansions) }
            guard let top = stack.popLast() else {
                root = node
                return nil
            }
            switch top {
            case .mapping(var mapping, let pendingKey, let a, let start):
                if let key = pendingKey {
                    mapping.entries.append(.init(key: key, value: node))
                    stack.append(.mapping(mapping, pendingKey: nil, anchor: a, aliasesAtStart: start))
                } else {
                    stack.append(.mapping(mapping, pendingKey: node, anchor: a, aliasesAtStart: start))
                }
            case .sequence(var sequence, let a, let start):
                sequence.items.append(node)
                stack.append(.sequence(sequence, anchor: a, aliasesAtStart: start))
            }
            return nil
        }

        while true {
            guard yaml_parser_parse(&parser, &event) == 1 else {
                return Result(documents: documents, diagnostics: [syntaxError(parser, file: file)])
            }
            defer { yaml_event_delete(&event) }
            let mark = YAMLMark(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return Result(documents: documents, diagnostics: [])
            case YAML_DOCUMENT_START_EVENT:
                root = nil
                anchors.removeAll(keepingCapacity: true)
            case YAML_DOCUMENT_END_EVENT:
                if let node = root {
                    // An empty document (`---` followed by nothing) is skipped, like kubectl does.
                    if case .scalar(let s) = node, s.isPlain, s.value.isEmpty, s.tag == nil {
                    } else {
                        documents.append(YAMLDocument(root: node, index: documents.count))
                    }
                }
            case YAML_SCALAR_EVENT:
                let scalar = event.data.scalar
                let value = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
                let tag = scalar.tag.map { String(cString: $0) }
                let node = YAMLNode.scalar(YAMLScalar(value: value, isPlain: scalar.style == YAML_PLAIN_SCALAR_STYLE, tag: tag, mark: mark))
                _ = finish(node, anchor: scalar.anchor.map { String(cString: $0) })
            case YAML_SEQUENCE_START_EVENT:
                let anchor = event.data.sequence_start.anchor.map { String(cString: $0) }
                stack.append(.sequence(YAMLSequence(mark: mark), anchor: anchor, aliasesAtStart: aliasCount))
            case YAML_MAPPING_START_EVENT:
                let anchor = event.data.mapping_start.anchor.map { String(cString: $0) }
                stack.append(.mapping(YAMLMapping(mark: mark), pendingKey: nil, anchor: anchor, aliasesAtStart: aliasCount))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let top = stack.popLast() else { break }
                switch top {
                case .mapping(let mapping, _, let anchor, let start):
                    _ = finish(.mapping(mapping), anchor: anchor, expansions: aliasCount - start)
                case .sequence(let sequence, let anchor, let start):
                    _ = finish(.sequence(sequence), anchor: anchor, expansions: aliasCount - start)
                }
            case YAML_ALIAS_EVENT:
                let name = String(cString: event.data.alias.anchor)
                aliasCount += 1 + (anchors[name]?.expansions ?? 0)
                guard aliasCount <= aliasLimit else {
                    return Result(documents: documents, diagnostics: [.error(
                        "too many YAML aliases",
                        detail: "The file expands more than \(aliasLimit) aliases; manifests never need that many, so it is refused.",
                        at: SourceLocation(file: file, line: mark.line, column: mark.column))])
                }
                guard let target = anchors[name] else {
                    return Result(documents: documents, diagnostics: [.error(
                        "unknown YAML alias *\(name)",
                        detail: "No anchor &\(name) is defined before this point in the document.",
                        at: SourceLocation(file: file, line: mark.line, column: mark.column))])
                }
                _ = finish(target.node, anchor: nil)
            default:
                break
            }
        }
    }

    private static func syntaxError(_ parser: yaml_parser_t, file: String) -> Diagnostic {
        let problem = parser.problem.map { String(cString: $0) } ?? "malformed YAML"
        let problemMark = parser.problem_mark
        var detail = "The file is not valid YAML, so none of it after this point was read."
        if let context = parser.context.map({ String(cString: $0) }) {
            let c = parser.context_mark
            detail = "The error is \(context) that started at line \(c.line + 1), column \(c.column + 1). " + detail
        }
        let location = SourceLocation(file: file, line: Int(problemMark.line) + 1, column: Int(problemMark.column) + 1)
        return .error("YAML syntax error: \(problem)", detail: detail, at: location)
    }
}
