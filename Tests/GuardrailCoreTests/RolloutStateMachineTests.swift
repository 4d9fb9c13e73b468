import Foundation
import GuardrailCore
import Testing

/// Every transition of the rollout state machine, table-driven, with an injected clock.
@Suite("rollout state machine")
struct RolloutStateMachineTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    static let errors = Guardrail(name: "errors", query: "q{{cohort}}", condition: .max(0.01), interval: .seconds(60), failures: 2, errorLimit: 3)
    static let quiet = Guardrail(name: "quiet", query: "q{{cohort}}", condition: .max(1), interval: .seconds(60), onNoData: .pause)
    static let strict = Guardrail(name: "strict", query: "q{{cohort}}", condition: .max(1), interval: .seconds(60), onError: .rollback, errorLimit: 1)
    static let blind = Guardrail(name: "blind", query: "q{{cohort}}", condition: .max(1), interval: .seconds(60), onNoData: .rollback)

    static func rollout(_ onBreach: Rollout.BreachAction = .rollback, guardrails: [String] = ["errors"]) -> Rollout {
        Rollout(
            phases: [
                RolloutPhase(name: "internal", selector: ["cohort": "internal"], bake: .seconds(3600)),
                RolloutPhase(name: "canary", percent: 5, bake: .seconds(7200)),
                RolloutPhase(name: "all", percent: 100),
            ], guardrails: guardrails, onBreach: onBreach)
    }

    static func machine(_ onBreach: Rollout.BreachAction = .rollback, guardrails: [String] = ["errors"]) -> RolloutStateMachine {
        RolloutStateMachine(
            rollout: rollout(onBreach, guardrails: guardrails), guardrails: ["errors": errors, "quiet": quiet, "strict": strict, "blind": blind])
    }

    static func state(
        _ status: RolloutStatus = .progressing, phase: Int = 1, startedAt: Double = 0, killed: Bool = false,
        tracks: [String: GuardrailTrack] = [:]
    ) -> RolloutState {
        RolloutState(
            status: status, phase: phase, phaseStartedAt: at(startedAt), reason: "", killed: killed,
            specFingerprint: rollout().fingerprint, baseline: ["b1"], tracks: tracks)
    }

    static func v(_ kind: GuardrailVerdict.Kind, _ g: String = "errors", value: Double? = nil) -> GuardrailVerdict {
        GuardrailVerdict(guardrail: g, kind: kind, query: "q", value: value, threshold: "<= 0.01", message: kind.rawValue)
    }

    static func track(failures: Int = 0, errors: Int = 0, last: GuardrailVerdict.Kind? = nil, at seconds: Double? = nil) -> GuardrailTrack {
        var t = GuardrailTrack()
        t.consecutiveFailures = failures
        t.consecutiveErrors = errors
        t.lastVerdict = last
        t.lastEvaluatedAt = seconds.map(at)
        return t
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var machine: RolloutStateMachine = RolloutStateMachineTests.machine()
        var state: RolloutState
        var event: RolloutEvent
        var now: Double
        var status: RolloutStatus
        var phase: Int
        var killed = false
        /// Decision kinds recorded, in order (evaluations left out).
        var decisions: [RolloutDecision.Kind] = []
        var exposure: Exposure?
        var rejected = false
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        // Bake timing and health.
        Case(name: "bake not passed: holds even when healthy", state: state(), event: .tick([v(.pass)]), now: 7199, status: .progressing, phase: 1),
        Case(
            name: "bake passed and healthy: advances to the next phase", state: state(), event: .tick([v(.pass)]), now: 7200,
            status: .progressing, phase: 2, decisions: [.advance], exposure: .phase(2)),
        Case(
            name: "bake passed but no pass in this phase yet: holds", state: state(tracks: ["errors": track(last: .pass, at: -10)]), event: .tick([]),
            now: 9000, status: .progressing, phase: 1),
        Case(
            name: "bake passed, earlier pass in this phase counts", state: state(tracks: ["errors": track(last: .pass, at: 7000)]), event: .tick([]),
            now: 7300, status: .progressing, phase: 2, decisions: [.advance], exposure: .phase(2)),
        Case(
            name: "last phase healthy after its bake: completes without changing exposure", state: state(phase: 2), event: .tick([v(.pass)]), now: 1,
            status: .completed, phase: 2, decisions: [.complete]),
        Case(
            name: "no guardrails: advances on bake alone", machine: machine(guardrails: []), state: state(phase: 0), event: .tick([]), now: 3600,
            status: .progressing, phase: 1, decisions: [.advance], exposure: .phase(1)),
        // Breaches.
        Case(
            name: "first failure of two: no breach, holds", state: state(), event: .tick([v(.fail, value: 0.5)]), now: 9000, status: .progressing,
            phase: 1,
            decisions: [.hold]),
        Case(
            name: "second consecutive failure: breach rolls back to the pre-rollout cohort",
            state: state(tracks: ["errors": track(failures: 1, last: .fail, at: 60)]),
            event: .tick([v(.fail, value: 0.5)]), now: 120, status: .rolledBack, phase: 1, decisions: [.breach, .rollback],
            exposure: .baseline(["b1"])),
        Case(
            name: "a pass between failures resets the streak", state: state(tracks: ["errors": track(failures: 1, last: .fail, at: 60)]),
            event: .tick([v(.pass)]), now: 120, status: .progressing, phase: 1),
        Case(
            name: "no data between failures neither counts nor resets: the next failure breaches",
            state: state(tracks: ["errors": track(failures: 1, last: .noData, at: 60)]), event: .tick([v(.fail, value: 0.5)]), now: 120,
            status: .rolledBack, phase: 1, decisions: [.breach, .rollback], exposure: .baseline(["b1"])),
        Case(
            name: "too few samples hold like no data, never breach", state: state(tracks: ["errors": track(failures: 1, last: .fail, at: 60)]),
            event: .tick([v(.insufficientSamples)]), now: 9000, status: .progressing, phase: 1, decisions: [.hold]),
        Case(
            name: "breach with step-back: previous phase, paused", machine: machine(.stepBack), state: state(tracks: ["errors": track(failures: 1)]),
            event: .tick([v(.fail)]), now: 120, status: .paused, phase: 0, decisions: [.breach, .stepBack], exposure: .phase(0)),
        Case(
            name: "breach with step-back in the first phase: rolls back", machine: machine(.stepBack),
            state: state(phase: 0, tracks: ["errors": track(failures: 1)]),
            event: .tick([v(.fail)]), now: 120, status: .rolledBack, phase: 0, decisions: [.breach, .rollback], exposure: .baseline(["b1"])),
        Case(
            name: "breach with pause: stays at the phase, paused", machine: machine(.pause), state: state(tracks: ["errors": track(failures: 1)]),
            event: .tick([v(.fail)]), now: 120, status: .paused, phase: 1, decisions: [.breach, .pause]),
        Case(
            name: "a paused rollout still rolls back on breach: the exposure is live", state: state(.paused, tracks: ["errors": track(failures: 1)]),
            event: .tick([v(.fail)]), now: 120, status: .rolledBack, phase: 1, decisions: [.breach, .rollback], exposure: .baseline(["b1"])),
        // No data and errors.
        Case(
            name: "no data holds by default: no advance, no rollback", state: state(), event: .tick([v(.noData)]), now: 9000, status: .progressing,
            phase: 1,
            decisions: [.hold]),
        Case(
            name: "no data pauses when the guardrail says so", machine: machine(guardrails: ["quiet"]), state: state(),
            event: .tick([v(.noData, "quiet")]),
            now: 100, status: .paused, phase: 1, decisions: [.pause]),
        Case(
            name: "no data rolls back when the guardrail says so", machine: machine(guardrails: ["blind"]), state: state(),
            event: .tick([v(.noData, "blind")]),
            now: 100, status: .rolledBack, phase: 1, decisions: [.rollback], exposure: .baseline(["b1"])),
        Case(
            name: "an error below the limit holds", state: state(tracks: ["errors": track(errors: 1)]), event: .tick([v(.error)]), now: 9000,
            status: .progressing, phase: 1, decisions: [.hold]),
        Case(
            name: "errors at the limit pause and say why", state: state(tracks: ["errors": track(errors: 2)]), event: .tick([v(.error)]), now: 100,
            status: .paused, phase: 1, decisions: [.pause]),
        Case(
            name: "errors never count as failures", state: state(tracks: ["errors": track(failures: 1)]), event: .tick([v(.error)]), now: 100,
            status: .progressing, phase: 1),
        Case(
            name: "onError rollback acts at its limit", machine: machine(guardrails: ["strict"]), state: state(), event: .tick([v(.error, "strict")]),
            now: 100,
            status: .rolledBack, phase: 1, decisions: [.rollback], exposure: .baseline(["b1"])),
        Case(
            name: "a paused rollout does not advance even when healthy and baked", state: state(.paused), event: .tick([v(.pass)]), now: 99999,
            status: .paused, phase: 1),
        // Operator commands.
        Case(
            name: "promote skips the bake", state: state(), event: .promote(by: "ops"), now: 1, status: .progressing, phase: 2,
            decisions: [.promote], exposure: .phase(2)),
        Case(
            name: "promote at the last phase completes", state: state(phase: 2), event: .promote(by: "ops"), now: 1, status: .completed, phase: 2,
            decisions: [.promote]),
        Case(
            name: "promote a rolled-back rollout is refused", state: state(.rolledBack), event: .promote(by: "ops"), now: 1, status: .rolledBack,
            phase: 1,
            rejected: true),
        Case(
            name: "pause", state: state(), event: .pause(by: "ops", reason: "investigating"), now: 1, status: .paused, phase: 1, decisions: [.pause]),
        Case(
            name: "pause twice is refused", state: state(.paused), event: .pause(by: "ops", reason: nil), now: 1, status: .paused, phase: 1,
            rejected: true),
        Case(name: "resume", state: state(.paused), event: .resume(by: "ops"), now: 1, status: .progressing, phase: 1, decisions: [.resume]),
        Case(
            name: "resume of a progressing rollout is refused", state: state(), event: .resume(by: "ops"), now: 1, status: .progressing, phase: 1,
            rejected: true),
        Case(
            name: "abort returns to the pre-rollout cohort", state: state(), event: .abort(by: "ops"), now: 1, status: .rolledBack, phase: 1,
            decisions: [.abort], exposure: .baseline(["b1"])),
        Case(
            name: "a rolled-back rollout stays down: ticks change nothing", state: state(.rolledBack), event: .tick([v(.pass)]), now: 99999,
            status: .rolledBack, phase: 1),
        Case(
            name: "retry restarts a rolled-back rollout at the first phase", state: state(.rolledBack), event: .retry(by: "ops"), now: 5,
            status: .progressing, phase: 0, decisions: [.retry], exposure: .phase(0)),
        Case(
            name: "retry of a progressing rollout is refused", state: state(), event: .retry(by: "ops"), now: 5, status: .progressing, phase: 1,
            rejected: true),
        // Kill beats everything.
        Case(name: "kill", state: state(), event: .kill(by: "oncall"), now: 1, status: .progressing, phase: 1, killed: true, decisions: [.kill]),
        Case(
            name: "a killed flag ignores ticks, even a breach", state: state(killed: true, tracks: ["errors": track(failures: 1)]),
            event: .tick([v(.fail)]),
            now: 9999, status: .progressing, phase: 1, killed: true),
        Case(
            name: "a killed flag cannot be promoted", state: state(killed: true), event: .promote(by: "ops"), now: 1, status: .progressing, phase: 1,
            killed: true, rejected: true),
        Case(
            name: "a killed flag cannot be resumed", state: state(.paused, killed: true), event: .resume(by: "ops"), now: 1, status: .paused,
            phase: 1,
            killed: true, rejected: true),
        Case(
            name: "a killed flag cannot be retried", state: state(.rolledBack, killed: true), event: .retry(by: "ops"), now: 1, status: .rolledBack,
            phase: 1,
            killed: true, rejected: true),
        Case(
            name: "a killed flag can still be aborted (lowering exposure)", state: state(killed: true), event: .abort(by: "ops"), now: 1,
            status: .rolledBack,
            phase: 1, killed: true, decisions: [.abort], exposure: .baseline(["b1"])),
        Case(
            name: "release returns to the previous status and restarts the bake", state: state(killed: true), event: .release(by: "oncall"), now: 50,
            status: .progressing, phase: 1, decisions: [.release]),
        Case(
            name: "release of a live flag is refused", state: state(), event: .release(by: "oncall"), now: 1, status: .progressing, phase: 1,
            rejected: true),
    ]

    @Test("transition", arguments: cases)
    func transition(_ c: Case) {
        let (next, actions) = c.machine.handle(c.state, c.event, now: Self.at(c.now))
        #expect(next.status == c.status)
        #expect(next.phase == c.phase)
        #expect(next.killed == c.killed)
        let recorded = actions.compactMap { action -> RolloutDecision.Kind? in
            if case .record(let d) = action, d.kind != .evaluation { return d.kind }
            return nil
        }
        #expect(recorded == c.decisions)
        let exposures = actions.compactMap { action -> Exposure? in
            if case .updateCohort(let e) = action { return e }
            return nil
        }
        #expect(exposures == (c.exposure.map { [$0] } ?? []))
        let rejected = actions.contains { if case .reject = $0 { true } else { false } }
        #expect(rejected == c.rejected)
        if rejected { #expect(next == c.state, "a refused command changes nothing") }
    }

    @Test("breach on the Nth consecutive failure and not before, for N = 1...5")
    func breachOnNth() {
        for n in 1...5 {
            let g = Guardrail(name: "errors", query: "q", condition: .max(0.01), failures: n)
            let machine = RolloutStateMachine(rollout: Self.rollout(), guardrails: ["errors": g])
            var state = Self.state()
            for i in 1...n {
                let (next, actions) = machine.handle(state, .tick([Self.v(.fail, value: 1)]), now: Self.at(Double(i * 60)))
                state = next
                let breached = actions.contains { if case .record(let d) = $0 { d.kind == .breach } else { false } }
                #expect(breached == (i == n), "failures \(n): evaluation \(i)")
            }
            #expect(state.status == .rolledBack)
        }
    }

    @Test("every evaluation is recorded with its verdict, and due guardrails follow their interval")
    func evaluationsAndDue() {
        let machine = Self.machine()
        var state = Self.state()
        #expect(machine.due(state, now: Self.at(0)) == ["errors"])
        let (next, actions) = machine.handle(state, .tick([Self.v(.pass, value: 0.001)]), now: Self.at(10))
        state = next
        let evaluations = actions.compactMap { if case .record(let d) = $0, d.kind == .evaluation { d.verdict } else { nil } }
        #expect(evaluations.map(\.value) == [0.001])
        #expect(machine.due(state, now: Self.at(69)).isEmpty)
        #expect(machine.due(state, now: Self.at(70)) == ["errors"])
        #expect(machine.due(Self.state(.rolledBack), now: Self.at(70)).isEmpty)
        #expect(machine.due(Self.state(killed: true), now: Self.at(70)).isEmpty)
    }

    @Test("a spec change lowers exposure at once, never raises it, and restarts a rolled-back rollout")
    func specChanges() {
        let old = Self.rollout()
        // At phase 2 (5%) the new spec's 2% phase is the highest at or below 5%: exposure drops to it now.
        let lower = Rollout(
            phases: [
                RolloutPhase(name: "internal", selector: ["cohort": "internal"]), RolloutPhase(name: "tiny", percent: 2),
                RolloutPhase(name: "big", percent: 50),
            ], guardrails: ["errors"])
        let m = RolloutStateMachine(rollout: lower, guardrails: ["errors": Self.errors])
        let (s1, a1) = m.handle(Self.state(), .specChanged(previous: old), now: Self.at(5))
        #expect(s1.phase == 1 && s1.status == .progressing && s1.specFingerprint == lower.fingerprint)
        #expect(a1.contains(.updateCohort(.phase(1))))
        #expect(s1.phaseStartedAt == Self.at(5))
        let (s2, a2) = m.handle(Self.state(.rolledBack), .specChanged(previous: old), now: Self.at(5))
        #expect(s2.status == .progressing && s2.phase == 0)
        #expect(a2.contains(.updateCohort(.phase(0))))
        // A killed flag stays killed through a spec change.
        let (s3, _) = m.handle(Self.state(killed: true), .specChanged(previous: old), now: Self.at(5))
        #expect(s3.killed)
    }

    @Test("starting a rollout: phase 1 normally; completed at once when the flag was already on for everyone")
    func start() {
        let (s, a) = Self.machine().start(now: Self.t0, baseline: [])
        #expect(s.status == .progressing && s.phase == 0)
        #expect(a.first == .updateCohort(.phase(0)))
        let (full, _) = Self.machine().start(now: Self.t0, baseline: ["a"], alreadyFull: true)
        #expect(full.status == .completed && full.phase == 2)
    }

    @Test("an environment's timing caps bakes and intervals without changing the declared rollout")
    func timingCapsBakesAndIntervals() {
        let capped = RolloutStateMachine(
            rollout: Self.rollout(), guardrails: ["errors": Self.errors],
            timing: RolloutTiming(maxBake: .seconds(3), maxInterval: .seconds(1)))
        let state = Self.state(phase: 1, startedAt: 0, tracks: ["errors": Self.track(last: .pass, at: 0)])
        #expect(capped.bakeEnds(state) == Self.at(3))
        #expect(Self.machine().bakeEnds(state) == Self.at(7200))
        #expect(capped.due(state, now: Self.at(1)) == ["errors"])
        #expect(Self.machine().due(state, now: Self.at(1)).isEmpty)
        // A bake shorter than the cap keeps its own length.
        #expect(RolloutTiming(maxBake: .seconds(3)).bake(.seconds(2)) == .seconds(2))
        #expect(capped.rollout.fingerprint == Self.rollout().fingerprint)
        let (advanced, _) = capped.handle(state, .tick([Self.v(.pass)]), now: Self.at(4))
        #expect(advanced.phase == 2)
        let (held, _) = Self.machine().handle(state, .tick([Self.v(.pass)]), now: Self.at(4))
        #expect(held.phase == 1)
    }
}
