/// The one place strings are escaped for output: plan text, JSON and YAML, and diagnostics.
///
/// Every style escapes line breaks and control characters, so a value that came from a manifest or
/// from live state can never start a line of its own in a plan, a log or a written manifest. Plan
/// text also shows invisible format characters (bidirectional overrides such as U+202E, zero-width
/// characters such as U+200B, the BOM) as `\u{202E}`, so a plan cannot read differently from what it does.
public enum TextEscaping {
    public enum Style: Sendable {
        /// Plan text: `\n`, `\t`, `\r`, other C0 and C1 controls and DEL as `\u{1b}`; format characters
        /// (Unicode category Cf) as `\u{202E}`.
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
            case _ where style == .display && isInvisibleFormat(scalar):
                out += "\\u{" + String(v, radix: 16, uppercase: true) + "}"
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

    /// Bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+061C), zero-width characters
    /// (U+200B–U+200F, U+2060), the BOM and every other format character: text that changes how a
    /// line reads while showing nothing itself.
    public static func isInvisibleFormat(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value >= 0xAD && scalar.properties.generalCategory == .format
    }

    /// `s` with its invisible format characters shown as `\u{202E}`, and nothing else changed.
    public static func revealingInvisible(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 >= 0xC2 }), s.unicodeScalars.contains(where: isInvisibleFormat) else { return s }
        var out = ""
        for scalar in s.unicodeScalars {
            if isInvisibleFormat(scalar) {
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// The most characters of a manifest's key or value a diagnostic quotes.
    public static let excerptLimit = 80

    /// A diagnostic's text with every run that may have come from a file cut to `excerptLimit`
    /// characters and marked `…`: each "quoted" or `backticked` span, and each run without spaces.
    /// A message that echoes an unknown key or value so cannot reproduce a whole line of a file it
    /// should not have read. Invisible format characters are revealed as in plan text.
    public static func clampingExcerpts(_ s: String) -> String {
        let chars = Array(s)
        guard chars.count > excerptLimit else { return revealingInvisible(s) }
        func clamp(_ run: ArraySlice<Character>) -> String {
            run.count > excerptLimit ? String(run.prefix(excerptLimit)) + "…" : String(run)
        }
        var out = ""
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "\"" || c == "`" {
                let close = chars[(i + 1)...].firstIndex(of: c) ?? chars.count
                out.append(c)
                out += clamp(chars[(i + 1)..<close])
                if close < chars.count { out.append(c) }
                i = close + 1
            } else if c.isWhitespace {
                out.append(c)
                i += 1
            } else {
                var end = i
                while end < chars.count, !chars[end].isWhitespace, chars[end] != "\"", chars[end] != "`" { end += 1 }
                out += clamp(chars[i..<end])
                i = end
            }
        }
        return revealingInvisible(out)
    }

    /// A byte scan for the common case, where nothing needs escaping and the string is used as it is.
    /// C1 controls are 0xC2 0x80–0x9F in UTF-8; U+2028, U+2029 and U+FEFF start with 0xE2 or 0xEF.
    /// For plan text, any other non-ASCII byte sends the string to the scalar check for format characters.
    static func isPlain(_ s: String, _ style: Style, quoted: Bool) -> Bool {
        var previous: UInt8 = 0
        var sawNonASCII = false
        for byte in s.utf8 {
            if byte < 0x20 { return false }
            if quoted, byte == 0x22 || byte == 0x5C { return false }
            switch style {
            case .json: break
            case .display:
                if byte == 0x7F || (previous == 0xC2 && byte >= 0x80 && byte <= 0x9F) { return false }
                if byte >= 0xC2 { sawNonASCII = true }
            case .yaml:
                if byte == 0x7F || (previous == 0xC2 && byte >= 0x80 && byte <= 0x9F) || byte == 0xE2 || byte == 0xEF { return false }
            }
            previous = byte
        }
        return !sawNonASCII || !s.unicodeScalars.contains(where: isInvisibleFormat)
    }
}
