import Foundation
import Testing
@testable import GuardrailCore

/// What the controller corrects by itself and what it leaves for a human, what it stops retrying,
/// and how it backs off. Pure.
@Suite("controller drift policy")
struct DriftPolicyTests {
    static func change(_ prefix: String, _ name: String, _ action: Change.Action = .update, hazards: [Hazard] = [], after: String = "x") -> Change {
        Change(
            address: Address(prefix: prefix, name: name), kind: prefix, action: action, before: ["v": .string("live")],
            after: action == .delete ? nil : ["v": .string(after)], hazards: hazards, reason: "r")
    }

    static func plan(_ changes: [Change]) -> Plan {
        Plan(id: "p", environment: "production", createdAt: "t", changes: changes, compared: [:], fingerprints: [:])
    }

    @Test(
        "enforce corrects safe drift; warn and unlisted kinds only report; destroys, mass deletes, widening and narrowing of new configuration are never automatic"
    )
    func decisions() {
        let policy = DriftPolicy(modes: ["tenant": .enforce, "rls": .enforce, "flag": .warn])
        let decision = policy.decide(
            Self.plan([
                Self.change("tenant", "acme"),
                Self.change("tenant", "gone", .delete, hazards: [Hazard(.destroys, "deleting a tenant")]),
                Self.change("tenant", "bulk", .delete, hazards: [Hazard(.massDelete, "every one")]),
                Self.change("rls", "public.t.policy.p", hazards: [Hazard(.widensAccess, "adds a permissive policy")]),
                Self.change("rls", "public.u", hazards: [Hazard(.mayBreakQueries, "narrows access")]),
                Self.change("flag", "channel.email"),
                Self.change("backup", "nightly"),
            ]))
        #expect(decision.enforce.map(\.address.description) == ["tenant.acme"])
        #expect(decision.restorations.isEmpty)
        #expect(
            decision.reported.map(\.change.address.description)
                == ["tenant.gone", "tenant.bulk", "rls.public.t.policy.p", "rls.public.u", "flag.channel.email", "backup.nightly"])
        #expect(decision.reported[0].reason.hasPrefix("destroys: deleting a tenant; needs a human"))
        #expect(decision.reported[3].reason.hasPrefix("may-break-queries: narrows access; needs a human"), "a revoke of new configuration waits too")
        #expect(decision.reported[4].reason == "drift mode for flag is warn")
        #expect(decision.reported[5].reason == "drift mode for backup is warn", "a kind with no mode is warn")
    }

    @Test(
        "a restoration of the last applied configuration is applied in enforce despite widening or narrowing; never a mass delete, a replace, or in warn mode"
    )
    func restorations() {
        let policy = DriftPolicy(modes: ["rls": .enforce, "grants": .warn])
        let widened = Self.change("rls", "public.t.policy.p", hazards: [Hazard(.widensAccess, "w"), Hazard(.mayBreakQueries, "n")])
        let handAdded = Self.change("rls", "public.t.policy.extra", .delete, hazards: [Hazard(.destroys, "drops"), Hazard(.widensAccess, "w")])
        let replaced = Self.change("rls", "public.t.policy.q", .replace, hazards: [Hazard(.destroys, "drops and recreates")])
        let bulk = Self.change("rls", "public.t.policy.r", .delete, hazards: [Hazard(.massDelete, "all")])
        let warned = Self.change("grants", "app", hazards: [Hazard(.widensAccess, "grant")])
        let newConfiguration = Self.change("rls", "public.t.policy.new", .create, hazards: [Hazard(.widensAccess, "adds")])
        let all = [widened, handAdded, replaced, bulk, warned, newConfiguration]
        let decision = policy.decide(Self.plan(all), restorations: Set(all.dropLast().map(\.address.description)))
        #expect(decision.enforce.map(\.address.description) == ["rls.public.t.policy.p", "rls.public.t.policy.extra"])
        #expect(decision.restorations == ["rls.public.t.policy.p", "rls.public.t.policy.extra"])
        #expect(
            decision.reported.map(\.change.address.description)
                == ["rls.public.t.policy.q", "rls.public.t.policy.r", "grants.app", "rls.public.t.policy.new"])
    }

    @Test("a correction that comes back with the same desired state is held back for 2, 4, 8 ... ticks; one that settles is forgotten")
    func unsettledDriftBacksOff() {
        var tracker = SettleTracker(maxQuietTicks: 8)
        let c = Self.change("tenant", "acme")
        var applied: [Int] = []
        for tick in 1...20 {
            let (apply, _) = tracker.admit([c])
            if !apply.isEmpty { applied.append(tick) }
            tracker.applied(apply)
        }
        #expect(applied == [1, 2, 4, 8, 16], "\(applied)")
        // The same address wanting something else is a new change, applied at once.
        #expect(tracker.admit([Self.change("tenant", "acme", after: "y")]).apply.count == 1)
        // A tick without the change forgets it: the next time it is planned, it is applied at once.
        var fresh = SettleTracker()
        fresh.applied(fresh.admit([c]).apply)
        _ = fresh.admit([])
        #expect(fresh.admit([c]).apply.count == 1)
    }

    @Test("backoff doubles per failure up to its cap and resets on success")
    func backoff() {
        var b = Backoff(base: 1, cap: 10)
        #expect(b.delay == 1)
        var delays: [Double] = []
        for _ in 0..<6 { b.failed(); delays.append(b.delay) }
        #expect(delays == [2, 4, 8, 10, 10, 10])
        b.succeeded()
        #expect(b.delay == 1)
    }
}

/// The flag snapshot answers as `guardrail.flag_enabled` does.
@Suite("flag snapshot")
struct FlagSnapshotTests {
    static let a = UUID(uuidString: "3f6c1d2e-8a4b-4c1e-9a57-0d2f5b8e7c11")!
    static let b = UUID(uuidString: "9b2e4f10-3c5d-4e6f-8a7b-1c2d3e4f5a6b")!

    @Test("in the cohort is on, out of it off, killed is off for everyone; tenants by name or id; unknown flags and tenants are errors")
    func evaluation() throws {
        let snapshot = FlagSnapshot(
            flags: [
                "channel.email": .init(killed: false, enabled: true, rollout: "progressing at phase 2", cohort: [Self.a]),
                "killed": .init(killed: true, enabled: true, rollout: nil, cohort: [Self.a]),
                "off": .init(killed: false, enabled: false, rollout: nil, cohort: []),
            ], tenantIDs: ["acme": Self.a, "globex": Self.b])
        #expect(try snapshot.evaluate("channel.email", tenant: "acme").get().value == true)
        #expect(try snapshot.evaluate("channel.email", tenant: Self.a.uuidString.lowercased()).get().reason == .targetingMatch)
        #expect(
            try snapshot.evaluate("channel.email", tenant: "globex").get()
                == .init(value: false, reason: .default, detail: "not in the cohort yet (progressing at phase 2)"))
        #expect(try snapshot.evaluate("killed", tenant: "acme").get().value == false)
        #expect(try snapshot.evaluate("off", tenant: "acme").get().reason == .disabled)
        #expect(snapshot.evaluate("nope", tenant: "acme") == .failure(.flagNotFound))
        #expect(snapshot.evaluate("off", tenant: "initech") == .failure(.tenantNotFound("initech")))
    }
}
