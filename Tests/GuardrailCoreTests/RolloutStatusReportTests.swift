import Foundation
import Testing
@testable import GuardrailCore

/// `guardrail rollout status` as text: the phase timeline and each guardrail's recent values and
/// verdicts, oldest to newest, with the failing streak that a breach is counted from.
@Suite("Rollout status report")
struct RolloutStatusReportTests {
    static let manifests = """
        apiVersion: guardrail/v1
        kind: Guardrail
        metadata: {name: bounce-rate}
        spec: {query: 'sum(rate(bounces[5m]))', max: 0.05, interval: 30s, failures: 3}
        ---
        apiVersion: guardrail/v1
        kind: Guardrail
        metadata: {name: api-errors}
        spec: {query: 'sum(rate(errors[5m]))', max: 0.01, interval: 30s, errorLimit: 5}
        ---
        apiVersion: guardrail/v1
        kind: FeatureFlag
        metadata: {name: channel.email}
        spec:
          enabled: true
          rollout:
            phases:
              - {name: internal, tenants: [acme], bake: 1h}
              - {name: canary, percent: 5, bake: 2h}
              - {percent: 100}
            guardrails: [bounce-rate, api-errors]
            onBreach: rollback
        ---
        apiVersion: guardrail/v1
        kind: Tenant
        metadata: {name: acme}
        spec: {id: 3f6c1d2e-8a4b-4c1e-9a57-0d2f5b8e7c11, displayName: Acme}

        """

    static func verdict(_ name: String, _ kind: GuardrailVerdict.Kind, _ value: Double?) -> GuardrailVerdict {
        GuardrailVerdict(guardrail: name, kind: kind, query: "q", value: value, threshold: "<= 0.05", message: "m")
    }

    @Test func guardrailLinesShowRecentValuesOldestFirstWithVerdictsAndTheFailingStreak() throws {
        let (configuration, diagnostics) = load("manifests/launch.yaml", Self.manifests)
        #expect(!diagnostics.contains { $0.severity == .error }, "\(diagnostics)")
        let flag = try #require(configuration.flags.first)
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        var bounce = GuardrailTrack()
        bounce.consecutiveFailures = 2
        var errors = GuardrailTrack()
        errors.consecutiveErrors = 1
        let state = RolloutState(
            status: .progressing, phase: 1, phaseStartedAt: now.addingTimeInterval(-1_800), reason: "phase 2 (canary) baking",
            specFingerprint: "f", tracks: ["bounce-rate": bounce, "api-errors": errors])
        // Newest first, as the engine reads them; eight bounce-rate evaluations, of which six are shown.
        let bounceValues: [(GuardrailVerdict.Kind, Double?)] = [
            (.fail, 0.09), (.fail, 0.07), (.pass, 0.02), (.noData, nil), (.pass, 0.01),
            (.insufficientSamples, 0.04), (.pass, 0.011), (.pass, 0.012),
        ]
        var events = bounceValues.enumerated().map { i, v in
            RolloutEventRecord(
                at: now.addingTimeInterval(Double(-30 * i)),
                decision: RolloutDecision(
                    kind: .evaluation, phase: 1, message: "evaluated",
                    verdict: Self.verdict("bounce-rate", v.0, v.1)))
        }
        events.append(
            RolloutEventRecord(
                at: now.addingTimeInterval(-60),
                decision: RolloutDecision(
                    kind: .evaluation, phase: 1, message: "evaluated",
                    verdict: Self.verdict("api-errors", .error, nil))))
        events.append(
            RolloutEventRecord(
                at: now.addingTimeInterval(-1_800),
                decision: RolloutDecision(
                    kind: .advance, phase: 1,
                    message: "advanced to phase 2 (canary)", actor: "controller a")))
        let report = RolloutStatusReport(
            flag: flag, killed: false, killedBy: nil, killedAt: nil, state: state, guardrails: configuration.guardrails,
            enabledCount: 2, eligibleCount: 40, events: events, now: now)
        let text = report.render()
        let lines = text.split(separator: "\n").map(String.init)

        #expect(lines[0] == "flag.channel.email: PROGRESSING  2 of 40 eligible tenants enabled")
        #expect(lines.contains { $0.hasPrefix("  ✓ 1. internal") })
        #expect(lines.contains { $0.hasPrefix("  ▶ 2. canary") && $0.hasSuffix("bake ends in 1h30m") }, "\(text)")
        #expect(lines.contains { $0.hasPrefix("  · 3.") })
        let bounceLine = try #require(lines.first { $0.hasPrefix("  bounce-rate") })
        // The six newest, oldest first: the last two are the failing streak.
        #expect(bounceLine.hasSuffix("<= 0.05            0.04 ~  0.01 ✓  - ?  0.02 ✓  0.07 ✗  0.09 ✗  failing 2/3"), "\(bounceLine)")
        let errorLine = try #require(lines.first { $0.hasPrefix("  api-errors") })
        #expect(errorLine.hasSuffix("<= 0.01            - !  errors 1/5"), "\(errorLine)")
        #expect(text.contains("advance     advanced to phase 2 (canary) [controller a]"))
        #expect(!text.contains("evaluated"), "evaluations are values, not decisions")
    }

    @Test func anEnvironmentThatCapsBakesShowsTheBakeTheControllerRuns() throws {
        let (configuration, _) = load("manifests/launch.yaml", Self.manifests)
        let flag = try #require(configuration.flags.first)
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        let state = RolloutState(status: .progressing, phase: 1, phaseStartedAt: now.addingTimeInterval(-1), reason: "advanced", specFingerprint: "f")
        var report = RolloutStatusReport(
            flag: flag, killed: false, killedBy: nil, killedAt: nil, state: state, guardrails: configuration.guardrails,
            enabledCount: 2, eligibleCount: 40, events: [], now: now)
        report.timing = RolloutTiming(maxBake: .seconds(3), maxInterval: .seconds(1))
        let canary = try #require(report.render().split(separator: "\n").first { $0.hasPrefix("  ▶ 2. canary") })
        #expect(canary.contains("bake 3s (capped from 2h by rollouts.maxBake)"), "\(canary)")
        #expect(canary.hasSuffix("bake ends in 2s"), "\(canary)")
    }

    @Test func aGuardrailNeverEvaluatedSaysSo() throws {
        let (configuration, _) = load("manifests/launch.yaml", Self.manifests)
        let flag = try #require(configuration.flags.first)
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        let state = RolloutState(status: .progressing, phase: 0, phaseStartedAt: now, reason: "started", specFingerprint: "f")
        let report = RolloutStatusReport(
            flag: flag, killed: false, killedBy: nil, killedAt: nil, state: state, guardrails: configuration.guardrails,
            enabledCount: 1, eligibleCount: 40, events: [], now: now)
        #expect(report.render().contains("bounce-rate  <= 0.05            not evaluated yet"))
    }
}
