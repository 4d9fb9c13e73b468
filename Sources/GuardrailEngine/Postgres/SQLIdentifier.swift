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

    /// `"schema"."name"` for an object inside this schema.
    public func qualifying(_ object: String) -> String {
        quoted + "." + SQLIdentifier(object).quoted
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
