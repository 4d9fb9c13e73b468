/// The one place strings are escaped for output: plan text, JSON and YAML.
///
/// Every style escapes line breaks and control characters, so a value that came from a manifest or
/// from live state can never start a line of its own in a plan, a log or a written manifest.
public enum TextEscaping {
    public enum Style: Sendable {
        /// Plan text: `\n`, `\t`, `\r`, other C0 and C1 controls and DEL as `\u{1b}`.
        case display
        /// JSON (RFC 8259): C0 controls as `\u001b`.
        case json
        /// YAML double-quoted scalars: as JSON, plus DEL, C1 controls, U+2028, U+2029 and the BOM, which
        /// YAML readers treat as line breaks or drop.
        case yaml
    }

    /// `s` escaped in `style`; inside double quotes (escaping `"` and `\` too) when `quoted`.
    public static func escape(_ s: String, _ style: Style, quoted: Bool) -> String {
        if isPlain(s, style, quoted: quoted) { return quoted ? "\"" + s + "\"" : s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 8)
        append(s, style, quoted: quoted, to: &out)
        return out
    }

    /// `escape`, appended to `out`: for writers that build one large text, such as a plan's JSON.
    public static func append(_ s: String, _ style: Style, quoted: Bool, to out: inout String) {
        if quoted { out += "\"" }
        defer { if quoted { out += "\"" } }
        if isPlain(s, style, quoted: quoted) {
            out += s
            return
        }
        for scalar in s.unicodeScalars {
            let v = scalar.value
            switch scalar {
            case "\"" where quoted: out += "\\\""
            case "\\" where quoted: out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where needsEscape(v, style):
                let hex = String(v, radix: 16)
                switch style {
                case .display: out += "\\u{\(hex)}"
                case .json, .yaml: out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
                }
            default: out.unicodeScalars.append(scalar)
            }
        }
    }

    static func needsEscape(_ v: UInt32, _ style: Style) -> Bool {
        if v < 0x20 { return true }
        switch style {
        case .json: return false
        case .display: return v == 0x7F || (0x80...0x9F).contains(v)
        case .yaml: return (0x7F...0x9F).contains(v) || v == 0x2028 || v == 0x2029 || v == 0xFEFF
        }
    }

    /// A byte scan for the common case, where nothing needs escaping and the string is used as it is.
    /// C1 controls are 0xC2 0x80–0x9F in UTF-8; U+2028, U+2029 and U+FEFF start with 0xE2 or 0xEF.
    static func isPlain(_ s: String, _ style: Style, quoted: Bool) -> Bool {
        var previous: UInt8 = 0
        for byte in s.utf8 {
            if byte < 0x20 { return false }
            if quoted, byte == 0x22 || byte == 0x5C { return false }
            switch style {
            case .json: break
            case .display:
                if byte == 0x7F || (previous == 0xC2 && byte >= 0x80 && byte <= 0x9F) { return false }
            case .yaml:
                if byte == 0x7F || (previous == 0xC2 && byte >= 0x80 && byte <= 0x9F) || byte == 0xE2 || byte == 0xEF { return false }
            }
            previous = byte
        }
        return true
    }
}
