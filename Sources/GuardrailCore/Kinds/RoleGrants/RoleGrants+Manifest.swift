extension RoleGrants {
    /// Manifests for live roles, as `guardrail import grants` writes them: one grant per distinct
    /// privilege set, listing its tables, so an immediate plan is empty.
    public static func manifestYAML(_ roles: [RoleGrantsState], header: String) -> String {
        var out = header.split(separator: "\n", omittingEmptySubsequences: false).map { "# " + $0 }.joined(separator: "\n") + "\n"
        for state in roles.sorted(by: { $0.role < $1.role }) {
            out += """
                ---
                apiVersion: \(ConfigurationLoader.apiVersion)
                kind: \(kind)
                metadata:
                  name: \(YAMLText.scalar(state.role))
                spec:
                  login: \(state.login)

                """
            var bySet: [[Privilege]: [QualifiedName]] = [:]
            for (table, set) in state.privileges { bySet[set.sorted(), default: []].append(table) }
            guard !bySet.isEmpty else {
                out += "  grants: []\n"
                continue
            }
            out += "  grants:\n"
            for set in bySet.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                out += "    - tables: \(YAMLText.list(bySet[set]!.sorted().map(\.description)))\n"
                out += "      privileges: \(YAMLText.list(set.map(\.rawValue)))\n"
            }
        }
        return out
    }
}
