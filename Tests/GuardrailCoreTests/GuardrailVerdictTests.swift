import GuardrailCore
import Testing

@Suite("guardrail verdicts")
struct GuardrailVerdictTests {
    static let max = Guardrail(name: "bounce", query: "q", condition: .max(0.02), minSamples: .init(query: "n", min: 100))
    static let min = Guardrail(name: "delivered", query: "q", condition: .min(0.9))
    static let ratio = Guardrail(name: "errors", query: "q", condition: .compareToControl(maxRatio: 1.5))

    struct Case: Sendable, CustomTestStringConvertible {
        var guardrail: Guardrail
        var reading: GuardrailReading
        var kind: GuardrailVerdict.Kind
        var testDescription: String { "\(guardrail.name): \(reading) -> \(kind.rawValue)" }
    }

    static let cases: [Case] = [
        Case(guardrail: max, reading: .init(value: .value(0.01), samples: .value(500)), kind: .pass),
        Case(guardrail: max, reading: .init(value: .value(0.02), samples: .value(500)), kind: .pass),
        Case(guardrail: max, reading: .init(value: .value(0.03), samples: .value(500)), kind: .fail),
        Case(guardrail: max, reading: .init(value: .value(0.03), samples: .value(99)), kind: .insufficientSamples),
        Case(guardrail: max, reading: .init(value: .value(0.03), samples: .noData("empty")), kind: .insufficientSamples),
        Case(guardrail: max, reading: .init(value: .value(0.03), samples: .error("timeout")), kind: .error),
        Case(guardrail: max, reading: .init(value: .noData("empty"), samples: .value(500)), kind: .noData),
        Case(guardrail: max, reading: .init(value: .value(.nan), samples: .value(500)), kind: .noData),
        Case(guardrail: max, reading: .init(value: .error("bad_data"), samples: .value(500)), kind: .error),
        Case(guardrail: min, reading: .init(value: .value(0.95)), kind: .pass),
        Case(guardrail: min, reading: .init(value: .value(0.5)), kind: .fail),
        Case(guardrail: ratio, reading: .init(value: .value(0.03), baseline: .value(0.02)), kind: .pass),
        Case(guardrail: ratio, reading: .init(value: .value(0.031), baseline: .value(0.02)), kind: .fail),
        Case(guardrail: ratio, reading: .init(value: .value(0), baseline: .value(0)), kind: .pass),
        Case(guardrail: ratio, reading: .init(value: .value(0.1), baseline: .value(0)), kind: .fail),
        Case(guardrail: ratio, reading: .init(value: .value(0.1), baseline: .noData("no control")), kind: .noData),
        Case(guardrail: ratio, reading: .init(value: .value(0.1), baseline: .error("down")), kind: .error),
    ]

    @Test("verdict", arguments: cases)
    func verdict(_ c: Case) {
        let verdict = c.guardrail.verdict(for: c.reading)
        #expect(verdict.kind == c.kind, "\(verdict.message)")
        #expect(verdict.threshold == c.guardrail.thresholdDescription)
    }

    @Test("a verdict keeps the value, the sample count and the threshold for the event log")
    func verdictRecordsEverything() {
        let verdict = Self.max.verdict(for: .init(value: .value(0.031), samples: .value(250)))
        #expect(verdict.value == 0.031)
        #expect(verdict.samples == 250)
        #expect(verdict.threshold == "<= 0.02")
        #expect(verdict.message == "0.031 is above the maximum 0.02")
    }
}
