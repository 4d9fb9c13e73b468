/// A duration written the way Prometheus and Go write them: `500ms`, `90s`, `5m`, `1h30m`, `7d`, `2w`.
///
/// Stored in milliseconds so `1m` and `60s` compare equal.
public struct GuardrailDuration: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }
    public static func seconds(_ s: Int64) -> GuardrailDuration { .init(milliseconds: s * 1000) }

    public var seconds: Double { Double(milliseconds) / 1000 }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.milliseconds < rhs.milliseconds }

    public struct Problem: Error, Equatable { public var message: String }

    private static let units: [(String, Int64)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000), ("y", 31_536_000_000),
    ]

    /// Parses `1h30m` style text. Units must appear largest first and at most once, as in Prometheus.
    public static func parse(_ text: String) -> Result<GuardrailDuration, Problem> {
        guard !text.isEmpty else { return .failure(Problem(message: "The duration is empty.")) }
        if text == "0" { return .success(.init(milliseconds: 0)) }
        var total: Int64 = 0
        var lastUnitIndex = -1
        var rest = Substring(text)
        while !rest.isEmpty {
            let digits = rest.prefix(while: { $0.isASCII && $0.isNumber })
            guard !digits.isEmpty, let amount = Int64(digits) else {
                return .failure(Problem(message: "\"\(text)\" must be a number followed by a unit."))
            }
            rest = rest.dropFirst(digits.count)
            let unitText = rest.prefix(while: { $0.isASCII && $0.isLetter })
            guard !unitText.isEmpty else {
                return .failure(Problem(message: "\"\(text)\" has a number without a unit (ms, s, m, h, d, w, y)."))
            }
            guard let index = units.firstIndex(where: { $0.0 == unitText }) else {
                return .failure(Problem(message: "\"\(text)\" uses an unknown unit \"\(unitText)\"."))
            }
            guard lastUnitIndex == -1 || index < lastUnitIndex else {
                return .failure(Problem(message: "\"\(text)\" repeats a unit or puts a smaller unit first."))
            }
            rest = rest.dropFirst(unitText.count)
            let (product, overflow1) = amount.multipliedReportingOverflow(by: units[index].1)
            let (sum, overflow2) = total.addingReportingOverflow(product)
            guard !overflow1, !overflow2 else { return .failure(Problem(message: "\"\(text)\" is too long.")) }
            total = sum
            lastUnitIndex = index
        }
        return .success(.init(milliseconds: total))
    }

    /// The shortest canonical form: `90s` prints as `1m30s`, `86400s` as `1d`.
    public var description: String {
        if milliseconds == 0 { return "0s" }
        var rest = milliseconds
        var text = ""
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
            if rest >= size {
                text += "\(rest / size)\(unit)"
                rest %= size
            }
        }
        return text
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        switch Self.parse(text) {
        case .success(let d): self = d
        case .failure(let p): throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: p.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
