/// Adding grants to a role's existing manifest, in the user's own file, for `guardrail import rls`:
/// adopting a table makes its privileges managed, so the roles that have a manifest must list the
/// privileges they hold on it, or the next plan would revoke them. Pure: text in, text out.
extension RoleGrants {
    public enum EditProblem: Error, Equatable, Sendable, CustomStringConvertible {
        case roleNotFound(String)
        case noGrantsList(String)

        public var description: String {
            switch self {
            case .roleNotFound(let role): "no RoleGrants document for \(role) in the file"
            case .noGrantsList(let role): "the RoleGrants manifest of \(role) has no grants list to add to"
            }
        }
    }

    /// `text` with one `{tables, privileges}` entry per distinct privilege set added at the top of
    /// `role`'s `spec.grants` list, in the list's own style (block or flow). Comments and the rest
    /// of the file are kept byte for byte.
    public static func addingGrants(
        _ privileges: [QualifiedName: Set<Privilege>], toRole role: String, in text: String, file: String
    ) throws -> String {
        let parsed = YAMLParser.parse(text, file: file)
        var grantsNode: YAMLNode?
        for document in parsed.documents {
            guard case .mapping(let root) = document.root, value(root, "kind")?.scalarText == kind,
                case .mapping(let metadata)? = value(root, "metadata"), value(metadata, "name")?.scalarText == role
            else { continue }
            guard case .mapping(let spec)? = value(root, "spec"), let grants = value(spec, "grants"), case .sequence = grants else {
                throw EditProblem.noGrantsList(role)
            }
            grantsNode = grants
        }
        guard let grantsNode, case .sequence(let sequence) = grantsNode else { throw EditProblem.roleNotFound(role) }
        var bySet: [[Privilege]: [QualifiedName]] = [:]
        for (table, set) in privileges where !set.isEmpty { bySet[set.sorted(), default: []].append(table) }
        let entries = bySet.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { set in
            (tables: YAMLText.list(bySet[set]!.sorted().map(\.description)), privileges: YAMLText.list(set.map(\.rawValue)))
        }
        guard !entries.isEmpty else { return text }

        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let mark = sequence.mark
        let lineIndex = mark.line - 1
        guard lines.indices.contains(lineIndex) else { throw EditProblem.noGrantsList(role) }
        let line = Array(lines[lineIndex])
        let at = mark.column - 1
        if line.indices.contains(at), line[at] == "[" {
            // Flow style: `grants: [{...}]` gains entries right after the bracket.
            let added = entries.map { "{tables: \($0.tables), privileges: \($0.privileges)}" }.joined(separator: ", ")
            let separator = sequence.items.isEmpty ? "" : ", "
            lines[lineIndex] = String(line[...at]) + added + separator + String(line[(at + 1)...])
        } else if let first = sequence.items.first {
            // Block style: new items above the first, at the dash's column and the first item's indentation.
            let dash = String(repeating: " ", count: max(0, at))
            let body = String(repeating: " ", count: max(0, first.mark.column - 1))
            let block = entries.flatMap { ["\(dash)- tables: \($0.tables)", "\(body)privileges: \($0.privileges)"] }
            // Above the comment lines that belong to the first item, so they stay with it.
            var insertAt = lineIndex
            while insertAt > 0, lines[insertAt - 1].hasPrefix(dash), lines[insertAt - 1].dropFirst(dash.count).hasPrefix("#") { insertAt -= 1 }
            lines.insert(contentsOf: block, at: insertAt)
        } else {
            throw EditProblem.noGrantsList(role)
        }
        return lines.joined(separator: "\n")
    }

    private static func value(_ mapping: YAMLMapping, _ key: String) -> YAMLNode? {
        mapping.entries.first { $0.key.scalarText == key }?.value
    }
}
