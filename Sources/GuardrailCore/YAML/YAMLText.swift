/// Writes YAML scalars that read back as exactly the same string.
public enum YAMLText {
    /// The string as a YAML scalar: plain when that is unambiguous (`tenant_isolation`,
    /// `public.properties`), otherwise double-quoted with JSON-style escapes.
    public static func scalar(_ s: String) -> String {
        isSafePlain(s) ? s : quoted(s)
    }

    /// A flow sequence of scalars: `[a, "b c"]`.
    public static func list(_ items: [String]) -> String {
        "[" + items.map(scalar).joined(separator: ", ") + "]"
    }

    /// Double-quoted, with JSON's escapes; and, since JSON passes them through but YAML treats them
    /// as line breaks or may drop them, NEL, the C1 controls, the line and paragraph separators and
    /// the BOM escaped as well.
    public static func quoted(_ s: String) -> String {
        TextEscaping.escape(s, .yaml, quoted: true)
    }

    private static let reserved: Set<String> = ["true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"]

    /// Letters, digits, `_`, `.` and `-`, starting with a letter or `_`, and not a word YAML reads as
    /// something else.
    static func isSafePlain(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, !reserved.contains(s.lowercased()) else { return false }
        func isLetter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) || c == "_" }
        guard isLetter(first) else { return false }
        return s.unicodeScalars.allSatisfy { isLetter($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "-" }
    }
}
