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
        var out = ""
        for scalar in AttributeValue.jsonQuote(s).unicodeScalars {
            if (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029 || scalar.value == 0xFEFF {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
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
