import GuardrailCore

/// A Postgres identifier (schema, table, role), quoted for splicing into DDL.
///
/// Values always travel as bound parameters; identifiers cannot be bound, so this type is the one
/// place Guardrail puts a name into SQL text. It quotes every name, doubling embedded quotes, so a
/// name like `x"; DROP TABLE y; --` stays a name.
public struct SQLIdentifier: Hashable, Sendable, CustomStringConvertible {
    public let name: String

    public init(_ name: String) {
        self.name = name
    }

    /// `"name"`, with embedded double quotes doubled and NUL (which Postgres cannot store) removed.
    public var quoted: String {
        "\"" + name.replacingOccurrences(of: "\0", with: "").replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `"schema"."name"` for an object inside this schema. It prints as SQL text in a `String` and is
    /// spliced as an identifier into a `PostgresQuery`.
    public func qualifying(_ object: String) -> Qualified {
        Qualified(schema: self, name: SQLIdentifier(object))
    }

    /// An object inside a schema, `"schema"."name"`.
    public struct Qualified: Hashable, Sendable, CustomStringConvertible {
        public let schema: SQLIdentifier
        public let name: SQLIdentifier

        public init(schema: SQLIdentifier, name: SQLIdentifier) {
            self.schema = schema
            self.name = name
        }

        /// A table named `schema.table`.
        public init(_ table: QualifiedName) {
            self.init(schema: SQLIdentifier(table.schema), name: SQLIdentifier(table.name))
        }

        public var quoted: String { schema.quoted + "." + name.quoted }
        public var description: String { quoted }
    }

    public var description: String { quoted }

    /// A function body as a dollar-quoted string, with a tag the body does not contain, so
    /// identifiers spliced into the body can never end the string early.
    public static func dollarQuoted(_ body: String) -> String {
        var tag = "$guardrail$"
        var n = 0
        while body.contains(tag) {
            n += 1
            tag = "$guardrail\(n)$"
        }
        return tag + body + tag
    }
}

extension SQLIdentifier {
    /// `"schema"."table"` for a table in any schema.
    public static func qualified(_ table: QualifiedName) -> String {
        Qualified(table).quoted
    }

    /// Roles for a `TO` or `FROM` clause: each quoted, and PUBLIC as the keyword, never a role named "PUBLIC".
    public static func roleList(_ roles: [String]) -> String {
        roles.map { $0 == RowLevelSecurity.Policy.publicRole ? "PUBLIC" : SQLIdentifier($0).quoted }.joined(separator: ", ")
    }

    /// A `search_path` value: each schema quoted, in order, then `pg_temp` last so that temporary
    /// tables never shadow the names an expression means.
    public static func searchPath(_ schemas: [String]) -> String {
        (schemas.map { SQLIdentifier($0).quoted } + ["pg_temp"]).joined(separator: ", ")
    }
}
