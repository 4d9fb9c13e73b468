import PostgresNIO

/// A piece of SQL text made only of string literals and quoted identifiers, for the parts of a
/// statement that vary in shape (an optional column, an optional `UNION ALL` branch, a lock clause).
///
/// Its literal segments are `StaticString`s, so no runtime string (a manifest value, a request
/// field) can become SQL text through it: runtime values are bound parameters, and runtime names
/// are `SQLIdentifier`s, which are always quoted.
public struct SQLFragment: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringInterpolation {
    public private(set) var sql: String

    public static let empty: SQLFragment = ""

    public init(stringLiteral value: StaticString) {
        sql = value.description
    }

    public init(stringInterpolation: StringInterpolation) {
        sql = stringInterpolation.sql
    }

    public var description: String { sql }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + 16 * interpolationCount)
        }

        public mutating func appendLiteral(_ literal: StaticString) {
            sql += literal.description
        }

        public mutating func appendInterpolation(_ identifier: SQLIdentifier) {
            sql += identifier.quoted
        }

        public mutating func appendInterpolation(_ name: SQLIdentifier.Qualified) {
            sql += name.quoted
        }

        public mutating func appendInterpolation(_ fragment: SQLFragment) {
            sql += fragment.sql
        }
    }
}

/// Identifiers and fragments spliced into a query as SQL text; every other interpolated value stays
/// a bound parameter. `\(unescaped:)` is left for nothing but literal text (a test holds the sources to it).
extension PostgresQuery.StringInterpolation {
    /// `"name"`.
    public mutating func appendInterpolation(_ identifier: SQLIdentifier) {
        appendLiteral(identifier.quoted)
    }

    /// `"schema"."name"`.
    public mutating func appendInterpolation(_ name: SQLIdentifier.Qualified) {
        appendLiteral(name.quoted)
    }

    /// `"a", "b", "c"`: a column list.
    public mutating func appendInterpolation(_ identifiers: [SQLIdentifier]) {
        appendLiteral(identifiers.map(\.quoted).joined(separator: ", "))
    }

    /// `"s"."a", "s"."b"`: a table list.
    public mutating func appendInterpolation(_ names: [SQLIdentifier.Qualified]) {
        appendLiteral(names.map(\.quoted).joined(separator: ", "))
    }

    public mutating func appendInterpolation(_ fragment: SQLFragment) {
        appendLiteral(fragment.sql)
    }
}
