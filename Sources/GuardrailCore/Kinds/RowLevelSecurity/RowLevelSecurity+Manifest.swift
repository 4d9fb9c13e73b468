extension RowLevelSecurity {
    /// Manifests for live tables, as `guardrail import rls` writes them.
    ///
    /// Expressions are the catalog's own text, printed under an empty search_path, so they are fully
    /// qualified and `searchPath: []` reads them back to exactly the same form: an immediate plan is empty.
    public static func manifestYAML(_ tables: [RowLevelSecurity], header: String) -> String {
        var out = header.split(separator: "\n", omittingEmptySubsequences: false).map { "# " + $0 }.joined(separator: "\n") + "\n"
        for rls in tables.sorted(by: { $0.table < $1.table }) {
            out += """
                ---
                apiVersion: \(ConfigurationLoader.apiVersion)
                kind: \(kind)
                metadata:
                  name: \(YAMLText.scalar(rls.table.description))
                spec:
                  enabled: \(rls.enabled)
                  forced: \(rls.forced)
                  searchPath: \(YAMLText.list(rls.searchPath))

                """
            guard !rls.policies.isEmpty else {
                out += "  policies: []\n"
                continue
            }
            out += "  policies:\n"
            for policy in rls.policies {
                out += "    - name: \(YAMLText.scalar(policy.name))\n"
                out += "      command: \(policy.command.rawValue)\n"
                out += "      as: \(policy.mode.rawValue)\n"
                out += "      roles: \(YAMLText.list(policy.roles))\n"
                if let using = policy.using { out += "      using: \(YAMLText.quoted(using))\n" }
                if let check = policy.withCheck { out += "      withCheck: \(YAMLText.quoted(check))\n" }
            }
        }
        return out
    }
}
