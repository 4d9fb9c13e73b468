import Foundation
import Testing
@testable import GuardrailCore

@Suite("GuardrailDuration")
struct GuardrailDurationTests {
    static let second: Int64 = 1000, minute: Int64 = 60 * second, hour: Int64 = 60 * minute, day: Int64 = 24 * hour

    @Test(
        arguments: [
            ("90s", 90 * second),
            ("1h30m", hour + 30 * minute),
            ("500ms", 500),
            ("7d", 7 * day),
            ("2w", 14 * day),
            ("1y", 365 * day),
            ("0", 0),
            ("0s", 0),
            ("1m", minute),
            ("60s", minute),
            ("1d2h3m4s5ms", day + 2 * hour + 3 * minute + 4 * second + 5),
            ("1500ms", 1500),
            ("36h", 36 * hour),
        ] as [(String, Int64)])
    func parsesToMilliseconds(_ text: String, _ milliseconds: Int64) throws {
        let parsed = try GuardrailDuration.parse(text).get()
        #expect(parsed.milliseconds == milliseconds)
    }

    @Test func oneMinuteEqualsSixtySeconds() throws {
        let a = try GuardrailDuration.parse("1m").get(), b = try GuardrailDuration.parse("60s").get()
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(try GuardrailDuration.parse("1h").get() > GuardrailDuration.parse("59m59s999ms").get())
    }

    @Test(
        arguments: [
            ("", "The duration is empty."),
            ("5", "\"5\" has a number without a unit (ms, s, m, h, d, w, y)."),
            ("5x", "\"5x\" uses an unknown unit \"x\"."),
            ("5S", "\"5S\" uses an unknown unit \"S\"."),
            ("1m1h", "\"1m1h\" repeats a unit or puts a smaller unit first."),
            ("1m1m", "\"1m1m\" repeats a unit or puts a smaller unit first."),
            ("s", "\"s\" must be a number followed by a unit."),
            ("-5s", "\"-5s\" must be a number followed by a unit."),
            ("1.5h", "\"1.5h\" has a number without a unit (ms, s, m, h, d, w, y)."),
            (" 5s", "\" 5s\" must be a number followed by a unit."),
            ("5s ", "\"5s \" must be a number followed by a unit."),
            ("300000000y", "\"300000000y\" is too long."),
            ("9223372036854775807ms1ms", "\"9223372036854775807ms1ms\" repeats a unit or puts a smaller unit first."),
            ("99999999999999999999s", "\"99999999999999999999s\" must be a number followed by a unit."),
            ("١٢s", "\"١٢s\" must be a number followed by a unit."),
        ] as [(String, String)])
    func rejectsMalformedText(_ text: String, _ message: String) {
        switch GuardrailDuration.parse(text) {
        case .success(let d): Issue.record("\"\(text)\" parsed as \(d.milliseconds)ms")
        case .failure(let problem): #expect(problem.message == message)
        }
    }

    @Test func overflowOnTheSumIsRejected() {
        // Each part fits in Int64 milliseconds; their sum does not.
        let text = "292471208y10000w"
        guard case .failure(let problem) = GuardrailDuration.parse(text) else {
            Issue.record("\(text) should overflow")
            return
        }
        #expect(problem.message == "\"\(text)\" is too long.")
    }

    @Test(
        arguments: [
            (0, "0s"), (500, "500ms"), (1500, "1s500ms"), (90 * second, "1m30s"), (day, "1d"),
            (14 * day, "14d"), (hour + 30 * minute, "1h30m"), (day + 2 * hour + 3 * minute + 4 * second + 5, "1d2h3m4s5ms"),
            (3 * hour + 7 * second, "3h7s"),
        ] as [(Int64, String)])
    func descriptionIsCanonical(_ milliseconds: Int64, _ text: String) {
        #expect(GuardrailDuration(milliseconds: milliseconds).description == text)
    }

    @Test(arguments: ["90s", "86400s", "1h30m", "500ms", "7d", "2w", "1y", "0", "61m", "25h", "1000ms", "1d23h59m59s999ms"])
    func descriptionRoundTripsThroughParse(_ text: String) throws {
        let parsed = try GuardrailDuration.parse(text).get()
        let reparsed = try GuardrailDuration.parse(parsed.description).get()
        #expect(reparsed == parsed)
        // Canonical text is a fixed point.
        #expect(reparsed.description == parsed.description)
    }

    @Test func codableUsesTheCanonicalText() throws {
        let data = try JSONEncoder().encode(["lockTimeout": GuardrailDuration(milliseconds: 90_000)])
        #expect(String(decoding: data, as: UTF8.self) == #"{"lockTimeout":"1m30s"}"#)
        let decoded = try JSONDecoder().decode([String: GuardrailDuration].self, from: Data(#"{"a":"2h","b":"0"}"#.utf8))
        #expect(decoded == ["a": GuardrailDuration(milliseconds: 2 * Self.hour), "b": GuardrailDuration(milliseconds: 0)])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([String: GuardrailDuration].self, from: Data(#"{"a":"2 hours"}"#.utf8))
        }
    }

    @Test func secondsIsFractional() {
        #expect(GuardrailDuration(milliseconds: 1500).seconds == 1.5)
        #expect(GuardrailDuration.seconds(30).milliseconds == 30_000)
    }
}
