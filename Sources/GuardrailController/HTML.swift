import Foundation

/// A fragment of HTML. Strings interpolated into it are escaped; only other `HTML` values and
/// numbers go in as they are. So manifest text (names, descriptions, reasons, errors) can never
/// become markup, in text or in an attribute, unless code deliberately wraps it in `HTML(raw:)`.
struct HTML: ExpressibleByStringInterpolation, Sendable, CustomStringConvertible {
    private(set) var raw: String

    init(raw: String) { self.raw = raw }
    init(stringLiteral value: String) { raw = value }
    init(stringInterpolation: StringInterpolation) { raw = stringInterpolation.raw }

    var description: String { raw }

    static func + (a: HTML, b: HTML) -> HTML { HTML(raw: a.raw + b.raw) }
    static func += (a: inout HTML, b: HTML) { a.raw += b.raw }

    struct StringInterpolation: StringInterpolationProtocol {
        var raw = ""

        init(literalCapacity: Int, interpolationCount: Int) { raw.reserveCapacity(literalCapacity + interpolationCount * 16) }
        mutating func appendLiteral(_ literal: String) { raw += literal }
        mutating func appendInterpolation(_ text: String) { raw += HTML.escape(text) }
        mutating func appendInterpolation(_ text: String?) { raw += HTML.escape(text ?? "") }
        mutating func appendInterpolation(_ html: HTML) { raw += html.raw }
        mutating func appendInterpolation(_ parts: [HTML]) { for part in parts { raw += part.raw } }
        mutating func appendInterpolation(_ number: Int) { raw += String(number) }
        /// SVG coordinates: two decimals, never an exponent.
        mutating func appendInterpolation(coordinate: Double) { raw += HTML.coordinate(coordinate) }
    }

    /// Escapes the five characters that matter in text and in quoted attributes.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            // Control characters other than tab and newline are not allowed in HTML text.
            case "\u{0}"..."\u{8}", "\u{B}", "\u{C}", "\u{E}"..."\u{1F}", "\u{7F}": out += "\u{FFFD}"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    static func coordinate(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let rounded = (value * 100).rounded() / 100
        if rounded == rounded.rounded() { return String(Int(rounded)) }
        return String(rounded)
    }

    static func join(_ parts: [HTML], separator: HTML = "") -> HTML {
        var out = HTML(raw: "")
        for (i, part) in parts.enumerated() {
            if i > 0 { out += separator }
            out += part
        }
        return out
    }
}

/// UTC timestamps as the dashboard's documents write them (`2026-12-06T08:41:03Z`, or with
/// milliseconds), formatted and parsed by arithmetic: a page can hold thousands, and a date
/// formatter per value would cost more than the rest of the page.
enum ISOTime {
    static func string(_ date: Date, milliseconds: Bool = false) -> String {
        let total = date.timeIntervalSince1970
        var seconds = Int64(total.rounded(.down))
        var millis = Int64(((total - Double(seconds)) * 1000).rounded())
        if !milliseconds, millis >= 500 { seconds += 1 }
        if millis >= 1000 { seconds += 1; millis -= 1000 }
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let rest = seconds - days * 86400
        let (y, m, d) = civil(days)
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        var out = "\(y)-\(two(m))-\(two(d))T\(two(rest / 3600)):\(two(rest % 3600 / 60)):\(two(rest % 60))"
        if milliseconds { out += "." + String(String(1000 + millis).dropFirst()) }
        return out + "Z"
    }

    static func date(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        // yyyy-MM-ddTHH:mm:ss[.fff]Z: the separators at their places.
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
            bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"), bytes.last == UInt8(ascii: "Z")
        else { return nil }
        func number(_ from: Int, _ count: Int) -> Int64? {
            var n: Int64 = 0
            for b in bytes[from..<from + count] {
                guard b >= 48, b <= 57 else { return nil }
                n = n * 10 + Int64(b - 48)
            }
            return n
        }
        guard let y = number(0, 4), let mo = number(5, 2), let d = number(8, 2), let h = number(11, 2), let mi = number(14, 2),
            let s = number(17, 2), (1...12).contains(mo), (1...31).contains(d)
        else { return nil }
        var fraction = 0.0
        if bytes.count > 20, bytes[19] == 46 {
            let digits = bytes[20..<bytes.count - 1]
            guard !digits.isEmpty, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            fraction = Double("0." + String(decoding: digits, as: UTF8.self)) ?? 0
        } else if bytes.count != 20 {
            return nil
        }
        let seconds = days(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func days(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civil(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
