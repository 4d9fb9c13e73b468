/// A schema-qualified table name, `public.properties`, exactly as Postgres stores it.
///
/// Manifests and addresses write each part as Postgres would print it: plain when it is a lowercase
/// identifier (`public.properties`), double-quoted otherwise (`public."Lease Terms"`, `"a.b".c`).
/// Parts are never case-folded: `public.Properties` is rejected rather than silently meaning
/// `public.properties`.
public struct QualifiedName: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var schema: String
    public var name: String

    public init(schema: String, name: String) {
        self.schema = schema
        self.name = name
    }

    public var description: String { IdentifierSyntax.display(schema) + "." + IdentifierSyntax.display(name) }

    public static func < (lhs: QualifiedName, rhs: QualifiedName) -> Bool {
        (lhs.schema, lhs.name) < (rhs.schema, rhs.name)
    }

    /// Parses `schema.table`; the problem is a sentence for a diagnostic's detail.
    public static func parse(_ text: String) -> Result<QualifiedName, IdentifierSyntax.Problem> {
        switch IdentifierSyntax.parts(text) {
        case .failure(let problem): return .failure(problem)
        case .success(let parts):
            guard parts.count == 2 else {
                return .failure(
                    IdentifierSyntax.Problem(
                        parts.count == 1
                            ? "Name the table with its schema, such as public.\(IdentifierSyntax.display(parts[0])); Guardrail never guesses a schema from search_path."
                            : "A table name has two parts, schema.table; found \(parts.count). Double-quote a part that contains a dot."))
            }
            return .success(QualifiedName(schema: parts[0], name: parts[1]))
        }
    }
}

/// How manifests and addresses spell Postgres identifiers.
public enum IdentifierSyntax {
    /// The longest identifier Postgres keeps; longer ones are silently truncated, so they are refused.
    public static let maxBytes = 63

    public struct Problem: Error, Hashable, Sendable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// Whether `name` can be written without quotes: a lowercase letter or `_`, then lowercase letters, digits, `_` or `$`.
    public static func isPlain(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, (first >= 97 && first <= 122) || first == 95 else { return false }
        return bytes.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 || $0 == 36 }
    }

    /// The name as manifests and addresses show it: plain, or in double quotes with `"` doubled.
    public static func display(_ name: String) -> String {
        isPlain(name) ? name : "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Checks one name taken literally (a role or policy name): non-empty, at most 63 bytes, no NUL.
    public static func checkLiteral(_ name: String, what: String) -> Problem? {
        if name.isEmpty { return Problem("A \(what) name cannot be empty.") }
        if name.utf8.count > maxBytes {
            return Problem("Postgres truncates names to \(maxBytes) bytes; this one has \(name.utf8.count), so it would never match the catalog.")
        }
        if name.unicodeScalars.contains(where: { $0.value == 0 }) { return Problem("A \(what) name cannot contain a NUL character.") }
        return nil
    }

    /// Splits `a."b.c".d` into its parts, each plain or double-quoted.
    public static func parts(_ text: String) -> Result<[String], Problem> {
        var parts: [String] = []
        var scalars = Array(text.unicodeScalars)[...]
        while true {
            var part = ""
            if scalars.first == "\"" {
                scalars = scalars.dropFirst()
                var closed = false
                while let c = scalars.first {
                    scalars = scalars.dropFirst()
                    if c == "\"" {
                        if scalars.first == "\"" {
                            part.unicodeScalars.append("\"")
                            scalars = scalars.dropFirst()
                        } else {
                            closed = true
                            break
                        }
                    } else {
                        part.unicodeScalars.append(c)
                    }
                }
                guard closed else { return .failure(Problem("A double-quoted part of \(AttributeValue.quote(text)) is not closed.")) }
                if let problem = checkLiteral(part, what: "quoted") { return .failure(problem) }
            } else {
                while let c = scalars.first, c != "." {
                    part.unicodeScalars.append(c)
                    scalars = scalars.dropFirst()
                }
                if part.isEmpty {
                    return .failure(Problem("\(AttributeValue.quote(text)) has an empty part; write schema.table."))
                }
                guard isPlain(part) else {
                    let lowered = part.lowercased()
                    let hint =
                        isPlain(lowered) && lowered != part
                        ? "Postgres folds unquoted names to lowercase, so write \(lowered) for the lowercase name, or \(display(part)) for this exact spelling."
                        : "Write it in double quotes, \(display(part)), to name it exactly."
                    return .failure(Problem("\(AttributeValue.quote(part)) is not a plain lowercase identifier. " + hint))
                }
                if let problem = checkLiteral(part, what: "table") { return .failure(problem) }
            }
            parts.append(part)
            guard let next = scalars.first else { break }
            guard next == "." else {
                return .failure(Problem("Unexpected \(AttributeValue.quote(String(next))) after \(display(part)); separate parts with a dot."))
            }
            scalars = scalars.dropFirst()
            if scalars.isEmpty { return .failure(Problem("\(AttributeValue.quote(text)) ends with a dot.")) }
        }
        return .success(parts)
    }
}
