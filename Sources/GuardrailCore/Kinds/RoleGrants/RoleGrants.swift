/// A database role and its table privileges, one manifest per role.
///
/// Guardrail creates the role when it is missing (`NOLOGIN` unless `login: true`), and makes its
/// SELECT/INSERT/UPDATE/DELETE privileges on tables exactly what the manifest lists: it grants what
/// is missing and revokes what is not listed. Other privileges (TRUNCATE, REFERENCES, TRIGGER,
/// column grants) and the role's memberships are left alone.
///
/// ```yaml
/// apiVersion: guardrail/v1
/// kind: RoleGrants
/// metadata: {name: analyst}
/// spec:
///   grants:
///     - {tables: [public.properties], privileges: [select, insert, update, delete]}
///     - {schemas: [reporting], privileges: [select]}   # every table in the schema now
/// ```
public struct RoleGrants: Hashable, Sendable {
    /// The table privileges Guardrail manages, in the order SQL lists them.
    public enum Privilege: String, Hashable, Sendable, Codable, CaseIterable, Comparable {
        case select, insert, update, delete

        public static func < (lhs: Privilege, rhs: Privilege) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }

        public var sql: String { rawValue.uppercased() }
    }

    /// What one grant entry covers: named tables, or every table a schema holds when the plan is made.
    public enum Target: Hashable, Sendable {
        case table(QualifiedName)
        case schema(String)
    }

    public struct Grant: Hashable, Sendable {
        public var targets: [Target]
        public var privileges: [Privilege]

        public init(targets: [Target], privileges: [Privilege]) {
            self.targets = targets
            self.privileges = Array(Set(privileges)).sorted()
        }
    }

    public static let kind = "RoleGrants"
    public static let addressPrefix = "grants"
    static let specKeys = specShape.keys
    static let grantKeys = grantShape.keys

    public var role: String
    public var login: Bool
    public var grants: [Grant]
    /// Where each table or schema was named, for "does not exist" errors at plan time.
    public var sources = SourceMap<Target>()

    public init(role: String, login: Bool = false, grants: [Grant] = []) {
        self.role = role
        self.login = login
        self.grants = grants
    }

    public var address: Address { Self.address(role) }

    public static func address(_ role: String) -> Address {
        Address(prefix: addressPrefix, name: IdentifierSyntax.display(role))
    }

    /// The tables named explicitly, for existence checks at plan time.
    public var namedTables: Set<QualifiedName> {
        Set(grants.flatMap { $0.targets.compactMap { if case .table(let t) = $0 { t } else { nil } } })
    }

    /// The schemas whose tables this role is granted.
    public var namedSchemas: Set<String> {
        Set(grants.flatMap { $0.targets.compactMap { if case .schema(let s) = $0 { s } else { nil } } })
    }

    /// Privileges per table, with schema entries expanded to the tables the schema holds now.
    public func privilegesByTable(tablesInSchema: [String: [QualifiedName]]) -> [QualifiedName: Set<Privilege>] {
        var result: [QualifiedName: Set<Privilege>] = [:]
        for grant in grants {
            for target in grant.targets {
                switch target {
                case .table(let table):
                    result[table, default: []].formUnion(grant.privileges)
                case .schema(let schema):
                    for table in tablesInSchema[schema] ?? [] { result[table, default: []].formUnion(grant.privileges) }
                }
            }
        }
        return result.filter { !$0.value.isEmpty }
    }
}

/// A role's privileges as the plan shows and compares them: table by table.
public struct RoleGrantsState: Hashable, Sendable {
    public var role: String
    public var login: Bool
    public var privileges: [QualifiedName: Set<RoleGrants.Privilege>]

    public init(role: String, login: Bool, privileges: [QualifiedName: Set<RoleGrants.Privilege>]) {
        self.role = role
        self.login = login
        self.privileges = privileges.filter { !$0.value.isEmpty }
    }

    public var attributes: Attributes {
        var tables: [String: AttributeValue] = [:]
        for (table, privileges) in privileges {
            tables[table.description] = .list(privileges.sorted().map { .string($0.rawValue) })
        }
        return ["role": .string(role), "login": .bool(login), "privileges": .map(tables)]
    }

    /// Rebuilds the state from a saved plan's attributes.
    public init(attributes: Attributes) throws {
        let kind = RoleGrants.kind
        guard let role = attributes["role"]?.stringValue else { throw AttributeError.missing("role", in: kind) }
        guard let login = attributes["login"]?.boolValue else { throw AttributeError.missing("login", in: kind) }
        guard let map = attributes["privileges"]?.mapValue else { throw AttributeError.missing("privileges", in: kind) }
        var privileges: [QualifiedName: Set<RoleGrants.Privilege>] = [:]
        for (key, value) in map {
            guard case .success(let table) = QualifiedName.parse(key), let list = value.listValue else {
                throw AttributeError("the saved \(kind) lists an unreadable table \(AttributeValue.quote(key))")
            }
            var set: Set<RoleGrants.Privilege> = []
            for item in list {
                guard let p = item.stringValue.flatMap(RoleGrants.Privilege.init(rawValue:)) else {
                    throw AttributeError("the saved \(kind) lists an unknown privilege for \(key)")
                }
                set.insert(p)
            }
            privileges[table] = set
        }
        self.init(role: role, login: login, privileges: privileges)
    }
}

extension RoleGrants {
    /// Names Postgres reserves or resolves at run time; a manifest cannot manage them.
    static let reservedRoleNames: Set<String> = ["public", "none", "current_user", "current_role", "session_user"]

    static func decode(metadata: ObjectMetadata, spec: FieldReader) -> RoleGrants? {
        let reader = spec.reader
        var ok = true
        let role = metadata.name
        if let problem = IdentifierSyntax.checkLiteral(role, what: "role") {
            reader.error("invalid role name \"\(role)\"", detail: problem.description, at: metadata.nameMark)
            ok = false
        } else if reservedRoleNames.contains(role.lowercased()) {
            reader.error(
                "\"\(role)\" cannot be managed as a role", detail: "Postgres reserves this name; it is not a role Guardrail can grant to.",
                at: metadata.nameMark)
            ok = false
        } else if role.hasPrefix("pg_") {
            reader.error(
                "\"\(role)\" cannot be managed as a role", detail: "Role names starting with pg_ belong to Postgres's predefined roles.",
                at: metadata.nameMark)
            ok = false
        }
        let login = spec.has("login") ? spec.bool("login") : false
        var grants: [Grant] = []
        var sources = SourceMap<Target>()
        if let node = spec.node("grants") {
            switch node {
            case .sequence(let sequence):
                for item in sequence.items {
                    if let grant = decodeGrant(item, reader: reader, sources: &sources) { grants.append(grant) } else { ok = false }
                }
            case .scalar(let s) where s.resolved == .null:
                break
            default:
                reader.error(
                    "\(spec.context).grants must be a list", detail: "Found \(node.kindDescription); write each grant as a `- tables: [...]` item.",
                    at: node.mark)
                ok = false
            }
        }
        guard ok, let login else { return nil }
        var roleGrants = RoleGrants(role: role, login: login, grants: grants)
        roleGrants.sources = sources
        return roleGrants
    }

    private static func decodeGrant(_ node: YAMLNode, reader: NodeReader, sources: inout SourceMap<Target>) -> Grant? {
        guard let fields = reader.fields(node, "grant", allowed: grantKeys) else { return nil }
        var ok = true
        var targets: [Target] = []
        switch (fields.has("tables"), fields.has("schemas")) {
        case (true, true):
            reader.error(
                "a grant names both tables and schemas", detail: "Split it into two grants: one with tables:, one with schemas:.",
                at: fields.keyMark("schemas")!)
            ok = false
        case (false, false):
            reader.error("a grant names no tables", detail: "Add tables: [schema.table, ...] or schemas: [schema, ...].", at: fields.mark)
            ok = false
        case (true, false):
            for (text, mark) in fields.stringList("tables") ?? [] {
                switch QualifiedName.parse(text) {
                case .success(let table):
                    targets.append(.table(table))
                    if sources[.table(table)] == nil { sources[.table(table)] = reader.location(mark) }
                case .failure(let problem):
                    reader.error("invalid table name \"\(text)\" in grant", detail: problem.description, at: mark)
                    ok = false
                }
            }
        case (false, true):
            for (schema, mark) in fields.stringList("schemas") ?? [] {
                if let problem = IdentifierSyntax.checkLiteral(schema, what: "schema") {
                    reader.error("invalid schema name \"\(schema)\" in grant", detail: problem.description, at: mark)
                    ok = false
                } else {
                    targets.append(.schema(schema))
                    if sources[.schema(schema)] == nil { sources[.schema(schema)] = reader.location(mark) }
                }
            }
        }
        var privileges: [Privilege] = []
        if let node = fields.required("privileges"), let items = reader.stringList(node, "grant privileges") {
            if items.isEmpty {
                reader.error("a grant has no privileges", detail: "List at least one of: select, insert, update, delete.", at: node.mark)
                ok = false
            }
            for (word, mark) in items {
                guard let privilege = Privilege(rawValue: word) else {
                    var detail = ""
                    if let s = Suggestion.closest(to: word, among: Privilege.allCases.map(\.rawValue)) { detail = "Did you mean \"\(s)\"? " }
                    detail += "Guardrail manages select, insert, update and delete."
                    reader.error("unknown privilege \"\(word)\"", detail: detail, at: mark)
                    ok = false
                    continue
                }
                if privileges.contains(privilege) {
                    reader.error("privilege \"\(word)\" is listed twice", detail: "Privileges are a set; remove the repeat.", at: mark)
                    ok = false
                    continue
                }
                privileges.append(privilege)
            }
        } else {
            ok = false
        }
        guard ok else { return nil }
        return Grant(targets: targets, privileges: privileges)
    }
}
