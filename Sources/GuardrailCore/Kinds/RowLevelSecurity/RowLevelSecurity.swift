/// Row-level security on one table: whether it is enabled and forced, and the table's policies.
///
/// One manifest per table, named after it. Guardrail manages only tables that have a manifest (and,
/// once it has changed them, remembers them in its schema so a deleted manifest plans the removal).
///
/// ```yaml
/// apiVersion: guardrail/v1
/// kind: RowLevelSecurity
/// metadata: {name: public.properties}
/// spec:
///   enabled: true
///   forced: true
///   searchPath: [public]
///   policies:
///     - name: tenant_isolation
///       command: all                # all | select | insert | update | delete
///       as: permissive              # permissive | restrictive
///       roles: [app_user, analyst]  # or [PUBLIC]
///       using: tenant_id = current_setting('app.current_tenant_id')::uuid
///       withCheck: tenant_id = current_setting('app.current_tenant_id')::uuid
/// ```
///
/// `enabled` defaults to true and `forced` to false; a policy's `command` defaults to `all` and `as`
/// to `permissive`, as in Postgres. `roles` and `searchPath` must be given.
///
/// Policy expressions are compared in the form Postgres stores them: the engine creates each desired
/// expression on a scratch copy of the table, under `searchPath`, and reads it back with
/// `pg_get_expr` under an empty search_path, exactly as it reads the live policies.
public struct RowLevelSecurity: Hashable, Sendable {
    public enum Command: String, Hashable, Sendable, Codable, CaseIterable {
        case all, select, insert, update, delete

        /// Postgres's `polcmd` letter.
        public var catalogCode: String {
            switch self {
            case .all: "*"
            case .select: "r"
            case .insert: "a"
            case .update: "w"
            case .delete: "d"
            }
        }

        public init?(catalogCode: String) {
            guard let match = Self.allCases.first(where: { $0.catalogCode == catalogCode }) else { return nil }
            self = match
        }

        /// Whether Postgres accepts a USING expression for this command (INSERT has none).
        public var takesUsing: Bool { self != .insert }
        /// Whether Postgres accepts a WITH CHECK expression for this command (SELECT and DELETE have none).
        public var takesWithCheck: Bool { self == .all || self == .insert || self == .update }
    }

    public enum Mode: String, Hashable, Sendable, Codable, CaseIterable {
        case permissive, restrictive
    }

    /// One policy. Roles are a sorted set; `[PUBLIC]` means every role.
    public struct Policy: Hashable, Sendable {
        public static let publicRole = "PUBLIC"

        public var name: String
        public var command: Command
        public var mode: Mode
        public var roles: [String]
        /// The USING expression, or nil for none.
        public var using: String?
        /// The WITH CHECK expression, or nil for none. Nil is not the same as a copy of `using`:
        /// Postgres then checks new rows with USING, and the catalog keeps the two apart.
        public var withCheck: String?
        public var source = PolicySource()

        public init(
            name: String, command: Command = .all, mode: Mode = .permissive, roles: [String],
            using: String? = nil, withCheck: String? = nil, source: PolicySource = PolicySource()
        ) {
            self.name = name
            self.command = command
            self.mode = mode
            self.roles = Self.normalizedRoles(roles)
            self.using = using
            self.withCheck = withCheck
            self.source = source
        }

        /// Roles as a set: sorted, each once, and PUBLIC alone when present (Postgres ignores the others).
        public static func normalizedRoles(_ roles: [String]) -> [String] {
            if roles.contains(publicRole) { return [publicRole] }
            return Array(Set(roles)).sorted()
        }

        public var appliesToEveryone: Bool { roles == [Self.publicRole] }
    }

    /// Where a policy's parts were declared, for errors Postgres reports at plan time.
    public struct PolicySource: Hashable, Sendable {
        public var name: SourceLocation?
        public var roles: SourceLocation?
        public var using: SourceLocation?
        public var withCheck: SourceLocation?

        public init(name: SourceLocation? = nil, roles: SourceLocation? = nil, using: SourceLocation? = nil, withCheck: SourceLocation? = nil) {
            self.name = name
            self.roles = roles
            self.using = using
            self.withCheck = withCheck
        }

        // Where something was written is not part of what it is: desired and live compare by content.
        public static func == (_: PolicySource, _: PolicySource) -> Bool { true }
        public func hash(into hasher: inout Hasher) {}
    }

    public static let kind = "RowLevelSecurity"
    /// The kind of the per-policy changes in a plan.
    public static let policyKind = "RowLevelSecurityPolicy"
    public static let addressPrefix = "rls"
    static let specKeys = specShape.keys
    static let policyKeys = policyShape.keys

    public var table: QualifiedName
    public var enabled: Bool
    public var forced: Bool
    /// The search_path the manifest's expressions are written for. Only desired state has one.
    public var searchPath: [String]
    /// Sorted by name.
    public var policies: [Policy]

    public init(table: QualifiedName, enabled: Bool = true, forced: Bool = false, searchPath: [String] = [], policies: [Policy] = []) {
        self.table = table
        self.enabled = enabled
        self.forced = forced
        self.searchPath = searchPath
        self.policies = policies.sorted { $0.name < $1.name }
    }

    public var address: Address { Self.address(table) }

    public static func address(_ table: QualifiedName) -> Address {
        Address(prefix: addressPrefix, name: table.description)
    }

    public static func address(_ table: QualifiedName, policy: String) -> Address {
        Address(prefix: addressPrefix, name: table.description + ".policy." + IdentifierSyntax.display(policy))
    }

    /// The table-level attributes shown in plans: whether RLS is enabled and forced.
    public var attributes: Attributes {
        ["schema": .string(table.schema), "table": .string(table.name), "enabled": .bool(enabled), "forced": .bool(forced)]
    }

    public func policy(named name: String) -> Policy? { policies.first { $0.name == name } }
}

extension RowLevelSecurity.Policy {
    /// The policy's attributes in plans, with its table so a saved plan can be applied without the manifest.
    public func attributes(on table: QualifiedName) -> Attributes {
        [
            "schema": .string(table.schema), "table": .string(table.name), "policy": .string(name),
            "command": .string(command.rawValue), "as": .string(mode.rawValue),
            "roles": .list(roles.map { .string($0) }),
            "using": using.map { .string($0) } ?? .null,
            "with_check": withCheck.map { .string($0) } ?? .null,
        ]
    }

    /// Rebuilds a policy and its table from a saved plan's attributes.
    public init(attributes: Attributes) throws {
        let kind = RowLevelSecurity.policyKind
        guard let name = attributes["policy"]?.stringValue else { throw AttributeError.missing("policy", in: kind) }
        guard let command = attributes["command"]?.stringValue.flatMap(RowLevelSecurity.Command.init(rawValue:)) else {
            throw AttributeError.missing("command", in: kind)
        }
        guard let mode = attributes["as"]?.stringValue.flatMap(RowLevelSecurity.Mode.init(rawValue:)) else {
            throw AttributeError.missing("as", in: kind)
        }
        guard let roles = attributes["roles"]?.listValue?.compactMap(\.stringValue), !roles.isEmpty else {
            throw AttributeError.missing("roles", in: kind)
        }
        func expression(_ key: String) throws -> String? {
            switch attributes[key] {
            case .null?, nil: return nil
            case .string(let s)?: return s
            default: throw AttributeError.missing(key, in: kind)
            }
        }
        self.init(name: name, command: command, mode: mode, roles: roles, using: try expression("using"), withCheck: try expression("with_check"))
    }
}

extension QualifiedName {
    /// The table named by a saved plan's `schema` and `table` attributes.
    public init(attributes: Attributes, kind: String) throws {
        guard let schema = attributes["schema"]?.stringValue else { throw AttributeError.missing("schema", in: kind) }
        guard let table = attributes["table"]?.stringValue else { throw AttributeError.missing("table", in: kind) }
        self.init(schema: schema, name: table)
    }
}
