import Foundation

/// Where a rollout stands. A kill is kept apart (`RolloutState.killed`) so a release returns to it.
public enum RolloutStatus: String, Hashable, Sendable, Codable, CaseIterable {
    case progressing, paused, completed
    case rolledBack = "rolled-back"
}

/// One guardrail's recent history within the current phase.
public struct GuardrailTrack: Hashable, Sendable, Codable {
    public var consecutiveFailures = 0
    public var consecutiveErrors = 0
    public var consecutiveNoData = 0
    public var lastEvaluatedAt: Date?
    public var lastVerdict: GuardrailVerdict.Kind?

    public init() {}
}

/// The controller-owned part of a flag: the current phase and why the rollout is where it is.
public struct RolloutState: Hashable, Sendable, Codable {
    public var status: RolloutStatus
    /// Index into the rollout's phases.
    public var phase: Int
    public var phaseStartedAt: Date
    /// Why the rollout is in its status, in a sentence: "paused by alice", "bounce-rate breached ...".
    public var reason: String
    public var killed: Bool
    /// `Rollout.fingerprint` of the spec this state follows; a different one is a spec change.
    public var specFingerprint: String
    /// The tenant ids the flag was on for (overrides aside) before the rollout began: what a rollback restores.
    public var baseline: [String]
    public var tracks: [String: GuardrailTrack]

    public init(
        status: RolloutStatus, phase: Int, phaseStartedAt: Date, reason: String, killed: Bool = false,
        specFingerprint: String, baseline: [String] = [], tracks: [String: GuardrailTrack] = [:]
    ) {
        self.status = status
        self.phase = phase
        self.phaseStartedAt = phaseStartedAt
        self.reason = reason
        self.killed = killed
        self.specFingerprint = specFingerprint
        self.baseline = baseline
        self.tracks = tracks
    }

    /// The status as operators see it: a kill shows over everything.
    public var displayStatus: String { killed ? "killed" : status.rawValue }

    /// Who the flag is on for in this state (a kill is applied by `flag_enabled`, not here).
    public var exposure: Exposure {
        status == .rolledBack ? .baseline(baseline) : .phase(phase)
    }
}

/// A decision the rollout made, for the event log: every evaluation, advance, breach and command.
public struct RolloutDecision: Hashable, Sendable, Codable {
    public enum Kind: String, Hashable, Sendable, Codable, CaseIterable {
        case start, evaluation, advance, complete, breach, rollback, pause, resume, hold, promote, abort, retry, kill, release
        case stepBack = "step-back"
        case specChange = "spec-change"
    }

    public var kind: Kind
    public var phase: Int
    public var message: String
    public var actor: String?
    public var verdict: GuardrailVerdict?

    public init(kind: Kind, phase: Int, message: String, actor: String? = nil, verdict: GuardrailVerdict? = nil) {
        self.kind = kind
        self.phase = phase
        self.message = message
        self.actor = actor
        self.verdict = verdict
    }
}

/// Something that happened to a rollout.
public enum RolloutEvent: Hashable, Sendable {
    /// One evaluation step, with the verdicts of the guardrails that were due (possibly none).
    case tick([GuardrailVerdict])
    case promote(by: String)
    case pause(by: String, reason: String?)
    case resume(by: String)
    case abort(by: String)
    case retry(by: String)
    case kill(by: String)
    case release(by: String)
    /// The manifest's rollout changed; the machine holds the new spec and is told the old one.
    case specChanged(previous: Rollout)
}

/// What the caller must do after a transition. The machine itself does no I/O.
public enum RolloutAction: Hashable, Sendable {
    /// Rewrite the cohort ledger for this exposure.
    case updateCohort(Exposure)
    /// Set or clear the flag's kill switch.
    case setKilled(Bool)
    /// Append to the rollout event log.
    case record(RolloutDecision)
    /// An operator command that does not apply in this state; nothing changed.
    case reject(String)
}

/// The rollout engine's decisions as a pure function: `(state, event, now) -> (state, actions)`.
///
/// In the style of hummingbird's HTTP/2 connection state machine: the caller feeds events and runs
/// the returned actions, and the clock is a parameter, so every transition is testable without I/O.
///
/// Rules:
/// - A guardrail breaches on its `failures`-th consecutive failing evaluation that had enough
///   samples. No data and too few samples neither count nor reset the streak; a pass resets it.
/// - No data holds (no advance, no rollback) unless the guardrail's `onNoData` says pause or rollback.
/// - Query errors are counted apart; below `errorLimit` consecutive errors they hold, at the limit the
///   guardrail's `onError` acts (`hold` pauses there, so errors never hold forever).
/// - A phase advances when its bake has passed and every guardrail's latest verdict in the phase passed.
/// - On breach the rollout rolls back (to the pre-rollout cohort), steps back one phase and pauses, or
///   pauses, as `onBreach` says. Breaches act in paused rollouts too: the exposure is still live.
/// - A rolled-back rollout stays down until its spec changes or an operator retries.
/// - A kill beats everything: nothing evaluates, advances or re-enables until a release.
public struct RolloutStateMachine: Sendable {
    public let rollout: Rollout
    public let guardrails: [String: Guardrail]
    /// The environment's caps on bakes and evaluation intervals (a local environment watches a
    /// whole rollout in seconds); the declared rollout, and so its fingerprint, is unchanged.
    public let timing: RolloutTiming

    public init(rollout: Rollout, guardrails: [String: Guardrail], timing: RolloutTiming = RolloutTiming()) {
        self.rollout = rollout
        self.guardrails = guardrails
        self.timing = timing
    }

    var lastPhase: Int { max(0, rollout.phases.count - 1) }

    /// A new rollout at its first phase. `baseline` is who the flag was on for before; when that
    /// was everybody there is nothing to roll out and the rollout starts completed.
    public func start(now: Date, baseline: [String], alreadyFull: Bool = false, by actor: String? = nil) -> (RolloutState, [RolloutAction]) {
        if alreadyFull {
            let state = RolloutState(
                status: .completed, phase: lastPhase, phaseStartedAt: now,
                reason: "the flag was already on for every tenant", specFingerprint: rollout.fingerprint, baseline: baseline)
            return (
                state,
                [
                    .updateCohort(state.exposure),
                    .record(RolloutDecision(kind: .start, phase: lastPhase, message: "rollout completed at once: \(state.reason)", actor: actor)),
                ]
            )
        }
        let state = RolloutState(
            status: .progressing, phase: 0, phaseStartedAt: now, reason: "rollout started",
            specFingerprint: rollout.fingerprint, baseline: baseline)
        return (
            state,
            [
                .updateCohort(.phase(0)),
                .record(RolloutDecision(kind: .start, phase: 0, message: "rollout started at phase 1 (\(phaseName(0)))", actor: actor)),
            ]
        )
    }

    /// The guardrails whose interval has passed since their last evaluation. None when the rollout
    /// is killed, completed or rolled back: nothing is exposed by the rollout then, or nothing is left to decide.
    public func due(_ state: RolloutState, now: Date) -> [String] {
        guard !state.killed, state.status == .progressing || state.status == .paused else { return [] }
        return rollout.guardrails.filter { name in
            guard let last = state.tracks[name]?.lastEvaluatedAt else { return true }
            let interval = timing.interval(guardrails[name]?.interval ?? .seconds(60))
            return now.timeIntervalSince(last) * 1000 >= Double(interval.milliseconds)
        }
    }

    /// When the current phase may advance, bake-wise.
    public func bakeEnds(_ state: RolloutState) -> Date {
        state.phaseStartedAt.addingTimeInterval(
            rollout.phases.indices.contains(state.phase) ? timing.bake(rollout.phases[state.phase].bake).seconds : 0)
    }

    public func handle(_ state: RolloutState, _ event: RolloutEvent, now: Date) -> (RolloutState, [RolloutAction]) {
        switch event {
        case .tick(let verdicts): return tick(state, verdicts, now: now)
        case .promote(let actor): return promote(state, by: actor, now: now)
        case .pause(let actor, let why):
            guard !state.killed else { return reject(state, "the flag is killed; release it first") }
            guard state.status == .progressing else { return reject(state, "the rollout is \(state.status.rawValue), not progressing") }
            var s = state
            s.status = .paused
            s.reason = "paused by \(actor)" + (why.map { ": \($0)" } ?? "")
            return (s, [.record(RolloutDecision(kind: .pause, phase: s.phase, message: s.reason, actor: actor))])
        case .resume(let actor):
            guard !state.killed else { return reject(state, "the flag is killed; release it first") }
            guard state.status == .paused else { return reject(state, "the rollout is \(state.status.rawValue), not paused") }
            var s = state
            s.status = .progressing
            s.reason = "resumed by \(actor)"
            for key in s.tracks.keys {
                s.tracks[key]!.consecutiveErrors = 0
                s.tracks[key]!.consecutiveNoData = 0
            }
            return (s, [.record(RolloutDecision(kind: .resume, phase: s.phase, message: s.reason, actor: actor))])
        case .abort(let actor):
            guard state.status != .rolledBack else { return reject(state, "the rollout is already rolled back") }
            var s = state
            s.status = .rolledBack
            s.reason = "aborted by \(actor)"
            s.tracks = [:]
            return (
                s,
                [
                    .updateCohort(s.exposure),
                    .record(RolloutDecision(kind: .abort, phase: s.phase, message: "\(s.reason); back to the pre-rollout cohort", actor: actor)),
                ]
            )
        case .retry(let actor):
            guard !state.killed else { return reject(state, "the flag is killed; release it first") }
            guard state.status == .rolledBack else {
                return reject(state, "only a rolled-back rollout can be retried; it is \(state.status.rawValue)")
            }
            var s = state
            s.status = .progressing
            s.phase = 0
            s.phaseStartedAt = now
            s.tracks = [:]
            s.reason = "retried by \(actor)"
            return (
                s,
                [
                    .updateCohort(s.exposure),
                    .record(RolloutDecision(kind: .retry, phase: 0, message: "\(s.reason); restarting at phase 1 (\(phaseName(0)))", actor: actor)),
                ]
            )
        case .kill(let actor):
            guard !state.killed else { return reject(state, "the flag is already killed") }
            var s = state
            s.killed = true
            return (
                s,
                [
                    .setKilled(true),
                    .record(
                        RolloutDecision(kind: .kill, phase: s.phase, message: "killed by \(actor): off for every tenant until released", actor: actor)
                    ),
                ]
            )
        case .release(let actor):
            guard state.killed else { return reject(state, "the flag is not killed") }
            var s = state
            s.killed = false
            // Bake starts over: the exposure before the kill was not watched while the flag was off.
            s.phaseStartedAt = now
            s.tracks = [:]
            return (
                s,
                [
                    .setKilled(false),
                    .record(
                        RolloutDecision(
                            kind: .release, phase: s.phase,
                            message: "released by \(actor); back to \(s.status.rawValue) at phase \(s.phase + 1) (\(phaseName(s.phase)))",
                            actor: actor)),
                ]
            )
        case .specChanged(let previous):
            return specChanged(state, previous: previous, now: now)
        }
    }

    // MARK: - Transitions

    private func reject(_ state: RolloutState, _ why: String) -> (RolloutState, [RolloutAction]) {
        (state, [.reject(why)])
    }

    /// The name of phase `index`, or "?" past the end.
    public func phaseName(_ index: Int) -> String {
        rollout.phases.indices.contains(index) ? rollout.phases[index].name : "?"
    }

    private func tick(_ state: RolloutState, _ verdicts: [GuardrailVerdict], now: Date) -> (RolloutState, [RolloutAction]) {
        guard !state.killed, state.status == .progressing || state.status == .paused else { return (state, []) }
        var s = state
        var actions: [RolloutAction] = []
        var breach: GuardrailVerdict?
        var rollbackReason: String?
        var pauseReason: String?
        var holds: [String] = []

        for verdict in verdicts {
            actions.append(
                .record(
                    RolloutDecision(
                        kind: .evaluation, phase: s.phase, message: "\(verdict.guardrail): \(verdict.kind.rawValue): \(verdict.message)",
                        verdict: verdict)))
            var track = s.tracks[verdict.guardrail] ?? GuardrailTrack()
            track.lastEvaluatedAt = now
            track.lastVerdict = verdict.kind
            guard let guardrail = guardrails[verdict.guardrail] else {
                holds.append("\(verdict.guardrail) is not defined")
                s.tracks[verdict.guardrail] = track
                continue
            }
            switch verdict.kind {
            case .pass:
                track.consecutiveFailures = 0
                track.consecutiveErrors = 0
                track.consecutiveNoData = 0
            case .fail:
                track.consecutiveFailures += 1
                track.consecutiveErrors = 0
                track.consecutiveNoData = 0
                if track.consecutiveFailures >= guardrail.failures {
                    if breach == nil { breach = verdict }
                } else {
                    holds.append("\(guardrail.name) failed \(track.consecutiveFailures) of \(guardrail.failures) times in a row")
                }
            case .noData, .insufficientSamples:
                track.consecutiveNoData += 1
                track.consecutiveErrors = 0
                let why = "\(guardrail.name) has no data (\(verdict.message))"
                switch guardrail.onNoData {
                case .hold: holds.append(why)
                case .pause: pauseReason = pauseReason ?? why
                case .rollback: rollbackReason = rollbackReason ?? why
                }
            case .error:
                track.consecutiveErrors += 1
                let why =
                    "\(guardrail.name) query failed \(track.consecutiveErrors) time\(track.consecutiveErrors == 1 ? "" : "s") in a row (last: \(verdict.message))"
                if track.consecutiveErrors < guardrail.errorLimit {
                    holds.append(why)
                } else {
                    switch guardrail.onError {
                    case .hold, .pause: pauseReason = pauseReason ?? why
                    case .rollback: rollbackReason = rollbackReason ?? why
                    }
                }
            }
            s.tracks[verdict.guardrail] = track
        }

        if let breach {
            let message = "\(breach.guardrail) breached at phase \(s.phase + 1) (\(phaseName(s.phase))): \(breach.message)"
            actions.append(.record(RolloutDecision(kind: .breach, phase: s.phase, message: message, verdict: breach)))
            switch rollout.onBreach {
            case .rollback:
                return rollBack(s, reason: message, actions: actions)
            case .stepBack where s.phase == 0:
                return rollBack(s, reason: message + "; no earlier phase to step back to", actions: actions)
            case .stepBack:
                let from = s.phase
                s.phase -= 1
                s.phaseStartedAt = now
                s.status = .paused
                s.tracks = [:]
                s.reason = "\(message); stepped back to phase \(s.phase + 1) (\(phaseName(s.phase))) and paused"
                actions.append(.updateCohort(s.exposure))
                actions.append(
                    .record(
                        RolloutDecision(
                            kind: .stepBack, phase: s.phase,
                            message: "stepped back from phase \(from + 1) to phase \(s.phase + 1) (\(phaseName(s.phase))) and paused")))
                return (s, actions)
            case .pause:
                s.status = .paused
                s.reason = message + "; paused"
                for key in s.tracks.keys { s.tracks[key]!.consecutiveFailures = 0 }
                actions.append(.record(RolloutDecision(kind: .pause, phase: s.phase, message: s.reason)))
                return (s, actions)
            }
        }
        if let rollbackReason {
            return rollBack(s, reason: rollbackReason, actions: actions)
        }
        if let pauseReason {
            if s.status == .progressing {
                s.status = .paused
                s.reason = pauseReason + "; paused"
                actions.append(.record(RolloutDecision(kind: .pause, phase: s.phase, message: s.reason)))
            }
            return (s, actions)
        }
        guard s.status == .progressing else { return (s, actions) }

        let unhealthy = rollout.guardrails.filter { name in
            guard let track = s.tracks[name], track.lastVerdict == .pass, let at = track.lastEvaluatedAt else { return true }
            return at < s.phaseStartedAt
        }
        let bakeEnds = bakeEnds(s)
        if now < bakeEnds || !unhealthy.isEmpty {
            // Holds are worth recording only when they are what stops the rollout from advancing.
            if now >= bakeEnds, !holds.isEmpty {
                actions.append(
                    .record(
                        RolloutDecision(kind: .hold, phase: s.phase, message: "holding at phase \(s.phase + 1): " + holds.joined(separator: "; "))))
            }
            return (s, actions)
        }
        return advance(s, now: now, kind: .advance, actor: nil, actions: actions)
    }

    private func advance(
        _ state: RolloutState, now: Date, kind: RolloutDecision.Kind, actor: String?, actions: [RolloutAction]
    ) -> (RolloutState, [RolloutAction]) {
        var s = state
        var actions = actions
        let how = actor.map { "promoted by \($0)" } ?? "bake passed and every guardrail is healthy"
        if s.phase >= lastPhase {
            s.status = .completed
            s.reason = "completed: \(how)"
            actions.append(
                .record(
                    RolloutDecision(
                        kind: kind == .promote ? .promote : .complete, phase: s.phase,
                        message: "rollout completed at phase \(s.phase + 1) (\(phaseName(s.phase))): \(how)", actor: actor)))
            return (s, actions)
        }
        s.phase += 1
        s.phaseStartedAt = now
        s.status = .progressing
        s.tracks = [:]
        s.reason = "advanced to phase \(s.phase + 1) (\(phaseName(s.phase))): \(how)"
        actions.append(.updateCohort(s.exposure))
        actions.append(.record(RolloutDecision(kind: kind, phase: s.phase, message: s.reason, actor: actor)))
        return (s, actions)
    }

    private func promote(_ state: RolloutState, by actor: String, now: Date) -> (RolloutState, [RolloutAction]) {
        guard !state.killed else { return reject(state, "the flag is killed; release it first") }
        switch state.status {
        case .progressing, .paused: return advance(state, now: now, kind: .promote, actor: actor, actions: [])
        case .completed: return reject(state, "the rollout is already completed")
        case .rolledBack: return reject(state, "the rollout is rolled back; use retry to start it again")
        }
    }

    private func rollBack(_ state: RolloutState, reason: String, actions: [RolloutAction]) -> (RolloutState, [RolloutAction]) {
        var s = state
        var actions = actions
        s.status = .rolledBack
        s.reason = reason + "; rolled back"
        s.tracks = [:]
        actions.append(.updateCohort(s.exposure))
        actions.append(
            .record(
                RolloutDecision(
                    kind: .rollback, phase: s.phase,
                    message:
                        "rolled back to the pre-rollout cohort (\(s.baseline.count) tenant\(s.baseline.count == 1 ? "" : "s") before overrides): \(reason)"
                )))
        return (s, actions)
    }

    private func specChanged(_ state: RolloutState, previous: Rollout, now: Date) -> (RolloutState, [RolloutAction]) {
        var s = state
        s.specFingerprint = rollout.fingerprint
        s.tracks = [:]
        s.phaseStartedAt = now
        if s.status == .rolledBack {
            s.status = .progressing
            s.phase = 0
            s.reason = "restarted: the rollout spec changed"
            return (s, [.updateCohort(s.exposure), .record(RolloutDecision(kind: .specChange, phase: 0, message: s.reason + " after a rollback"))])
        }
        // Keep the exposure where it is or lower it, never raise it: the highest new phase whose
        // percent does not exceed the current one. A lower percent therefore applies at once.
        let level = Self.level(previous.phases, upTo: s.phase)
        var target = 0
        for i in rollout.phases.indices where Self.level(rollout.phases, upTo: i) <= level { target = i }
        s.phase = target
        if s.status == .completed, target < lastPhase || level < Self.level(rollout.phases, upTo: lastPhase) {
            s.status = .progressing
        }
        s.reason = "the rollout spec changed; continuing from phase \(target + 1) (\(phaseName(target)))"
        return (s, [.updateCohort(s.exposure), .record(RolloutDecision(kind: .specChange, phase: target, message: s.reason))])
    }

    /// The highest percent of phases 0...index.
    static func level(_ phases: [RolloutPhase], upTo index: Int) -> Int {
        guard !phases.isEmpty else { return 0 }
        return phases[0...min(max(index, 0), phases.count - 1)].compactMap(\.percent).max() ?? 0
    }
}

/// Caps an environment puts on rollout timing: no bake longer than `maxBake`, no guardrail evaluated
/// less often than every `maxInterval`. Nil leaves the manifest's values.
public struct RolloutTiming: Hashable, Sendable {
    public var maxBake: GuardrailDuration?
    public var maxInterval: GuardrailDuration?

    public init(maxBake: GuardrailDuration? = nil, maxInterval: GuardrailDuration? = nil) {
        self.maxBake = maxBake
        self.maxInterval = maxInterval
    }

    public func bake(_ declared: GuardrailDuration) -> GuardrailDuration { maxBake.map { min($0, declared) } ?? declared }
    public func interval(_ declared: GuardrailDuration) -> GuardrailDuration { maxInterval.map { min($0, declared) } ?? declared }
}
