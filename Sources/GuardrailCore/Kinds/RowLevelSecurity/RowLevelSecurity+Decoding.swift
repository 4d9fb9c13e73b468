extension RowLevelSecurity {
    /// Decodes a RowLevelSecurity spec. Everything Postgres would reject is reported here, offline,
    /// at the line that causes it; problems go to the reader's diagnostics and yield nil.
    static func decode(metadata: ObjectMetadata, spec: FieldReader) -> RowLevelSecurity? {
        let reader = spec.reader
        var ok = true
        var table: QualifiedName?
        switch QualifiedName.parse(metadata.name) {
        case .success(let name): table = name
        case .failure(let problem):
            reader.error("invalid table name \"\(metadata.name)\" for RowLevelSecurity", detail: problem.description, at: metadata.nameMark)
            ok = false
        }
        let enabled = spec.has("enabled") ? spec.bool("enabled") : true
        let forced = spec.has("forced") ? spec.bool("forced") : false
        let searchPath = decodeSearchPath(spec)

        var policies: [Policy] = []
        var seen: [String: YAMLMark] = [:]
        if let node = spec.node("policies") {
            switch node {
            case .sequence(let sequence):
                for item in sequence.items {
                    guard let policy = decodePolicy(item, reader: reader, table: table) else { ok = false; continue }
                    let nameMark = policyNameMark(item) ?? item.mark
                    if let first = seen[policy.name] {
                        reader.error(
                            "duplicate policy name \"\(policy.name)\" on \(table?.description ?? metadata.name)",
                            detail:
                                "The policy is already declared at line \(first.line), column \(first.column); policy names are unique per table.",
                            at: nameMark)
                        ok = false
                        continue
                    }
                    seen[policy.name] = nameMark
                    policies.append(policy)
                }
            case .scalar(let s) where s.resolved == .null:
                break
            default:
                reader.error(
                    "\(spec.context).policies must be a list", detail: "Found \(node.kindDescription); write each policy as a `- name: ...` item.",
                    at: node.mark)
                ok = false
            }
        }
        guard ok, let table, let enabled, let forced, let searchPath else { return nil }
        return RowLevelSecurity(table: table, enabled: enabled, forced: forced, searchPath: searchPath, policies: policies)
    }

    private static func decodeSearchPath(_ spec: FieldReader) -> [String]? {
        guard let node = spec.required("searchPath") else { return nil }
        guard let items = spec.reader.stringList(node, "\(spec.context).searchPath") else { return nil }
        var ok = true
        for (schema, mark) in items {
            var problem = IdentifierSyntax.checkLiteral(schema, what: "schema")?.description
            if schema == "pg_temp" || schema.hasPrefix("pg_temp_") {
                problem = "Policies cannot depend on temporary objects; remove pg_temp from searchPath."
            } else if schema == "$user" {
                problem = "$user depends on who runs Guardrail; name the schema itself."
            }
            if let problem {
                spec.reader.error("invalid schema \"\(schema)\" in searchPath", detail: problem, at: mark)
                ok = false
            }
        }
        return ok ? items.map(\.value) : nil
    }

    private static func policyNameMark(_ node: YAMLNode) -> YAMLMark? {
        guard case .mapping(let mapping) = node else { return nil }
        return mapping.entries.first { if case .scalar(let k) = $0.key { k.value == "name" } else { false } }?.value.mark
    }

    private static func decodePolicy(_ node: YAMLNode, reader: NodeReader, table: QualifiedName?) -> Policy? {
        guard let fields = reader.fields(node, "policy", allowed: policyKeys) else { return nil }
        var ok = true
        let name = fields.string("name", required: true)
        if let name, let problem = IdentifierSyntax.checkLiteral(name, what: "policy") {
            reader.error("invalid policy name \"\(name)\"", detail: problem.description, at: fields.node("name")!.mark)
            ok = false
        }
        let label = name.map { "policy \"\($0)\"" } ?? "policy"
        let command = fields.has("command") ? fields.oneOf("command", as: Command.self) : .all
        let mode = fields.has("as") ? fields.oneOf("as", as: Mode.self) : .permissive

        var roles: [String]?
        if let rolesNode = fields.required("roles"), let items = reader.stringList(rolesNode, "\(label) roles") {
            roles = decodeRoles(items, at: rolesNode.mark, label: label, reader: reader)
        }

        func expression(_ key: String, allowed: Bool, sqlClause: String) -> String?? {
            guard let node = fields.node(key) else { return .some(nil) }
            guard let text = reader.string(node, "\(label) \(key)") else { return nil }
            if let command, !allowed {
                let other = key == "using" ? "withCheck" : "using"
                reader.error(
                    "\(key) is not allowed on \(command == .insert ? "an" : "a") \(command.rawValue) policy",
                    detail:
                        "Postgres rejects \(sqlClause) on FOR \(command.rawValue.uppercased()) policies; \(command == .insert ? "an insert policy checks new rows with withCheck only" : "use \(other) instead, or command: all").",
                    at: fields.keyMark(key)!)
                return nil
            }
            if let problem = PolicyExpressionSyntax.problem(in: text) {
                reader.error("invalid \(key) expression in \(label)", detail: problem, at: node.mark)
                return nil
            }
            return .some(text)
        }
        let using = expression("using", allowed: command?.takesUsing ?? true, sqlClause: "USING")
        let withCheck = expression("withCheck", allowed: command?.takesWithCheck ?? true, sqlClause: "WITH CHECK")
        guard ok, let name, let command, let mode, let roles, let using, let withCheck else { return nil }
        let source = PolicySource(
            name: reader.location(fields.node("name")!.mark),
            roles: fields.node("roles").map { reader.location($0.mark) },
            using: fields.node("using").map { reader.location($0.mark) },
            withCheck: fields.node("withCheck").map { reader.location($0.mark) })
        return Policy(name: name, command: command, mode: mode, roles: roles, using: using, withCheck: withCheck, source: source)
    }

    private static func decodeRoles(_ items: [(value: String, mark: YAMLMark)], at mark: YAMLMark, label: String, reader: NodeReader) -> [String]? {
        guard !items.isEmpty else {
            reader.error("\(label) has no roles", detail: "List the roles it applies to, or [PUBLIC] for every role.", at: mark)
            return nil
        }
        var ok = true
        var seen: Set<String> = []
        var roles: [String] = []
        for (role, roleMark) in items {
            // The keyword, in either case Postgres users write it; a role can never be named "public".
            let name = role == "PUBLIC" || role == "public" ? Policy.publicRole : role
            if ["CURRENT_USER", "CURRENT_ROLE", "SESSION_USER"].contains(role.uppercased()) {
                reader.error(
                    "\(role) is not allowed in \(label) roles",
                    detail: "It would mean whoever runs Guardrail; name the role itself.", at: roleMark)
                ok = false
                continue
            }
            if let problem = IdentifierSyntax.checkLiteral(name, what: "role") {
                reader.error("invalid role name \"\(role)\" in \(label)", detail: problem.description, at: roleMark)
                ok = false
                continue
            }
            if !seen.insert(name).inserted {
                reader.error("role \"\(role)\" is listed twice in \(label)", detail: "Roles are a set; remove the repeat.", at: roleMark)
                ok = false
                continue
            }
            roles.append(name)
        }
        if roles.contains(Policy.publicRole), roles.count > 1 {
            let publicMark = items.first { $0.value == "PUBLIC" || $0.value == "public" }!.mark
            reader.error(
                "PUBLIC cannot be combined with other roles in \(label)",
                detail: "PUBLIC already means every role, and Postgres ignores the others; write [PUBLIC] alone or list the roles.",
                at: publicMark)
            ok = false
        }
        return ok ? roles : nil
    }
}
