/// PromQL text as Guardrail compares it: the same expression written with other spacing, line breaks
/// or comments compares equal.
///
/// Whitespace in PromQL only separates tokens, so the comparison key drops every run of whitespace
/// and every `#` comment outside string literals, keeping one space only where two word characters
/// would otherwise join (`x offset 5m`, `a and b`). String literals (`"..."`, `'...'`, `` `...` ``)
/// are kept byte for byte.
///
///     PromQLText.comparisonKey("sum by (job) (\n  rate(x[5m])\n) > 0")  // "sum by(job)(rate(x[5m]))>0"
public enum PromQLText {
    public static func comparisonKey(_ expression: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(expression.utf8.count)
        let bytes = Array(expression.utf8)
        var i = 0
        var pendingSpace = false
        func isWord(_ b: UInt8) -> Bool {
            (b >= 97 && b <= 122) || (b >= 65 && b <= 90) || (b >= 48 && b <= 57) || b == 95 || b == 58 || b == 46 || b >= 0x80
        }
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case 0x20, 0x09, 0x0A, 0x0D:
                pendingSpace = true
                i += 1
            case UInt8(ascii: "#"):
                while i < bytes.count, bytes[i] != 0x0A { i += 1 }
                pendingSpace = true
            case UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "`"):
                pendingSpace = false
                let quote = b
                out.append(b)
                i += 1
                while i < bytes.count {
                    let c = bytes[i]
                    out.append(c)
                    i += 1
                    if c == UInt8(ascii: "\\"), quote != UInt8(ascii: "`"), i < bytes.count {
                        out.append(bytes[i])
                        i += 1
                    } else if c == quote {
                        break
                    }
                }
            default:
                if pendingSpace, let last = out.last, isWord(last), isWord(b) { out.append(0x20) }
                pendingSpace = false
                out.append(b)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The expression with surrounding whitespace removed and line ends normalized: how it is stored.
    public static func trimmed(_ expression: String) -> String {
        var text = expression.replacingOccurrences(of: "\r\n", with: "\n")
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return text
    }
}
