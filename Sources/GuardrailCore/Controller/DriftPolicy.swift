/// What the controller does with a plan's changes: drift it corrects by itself, and drift it only
/// reports for a human `apply`. Pure.
///
/// Each kind has a drift mode from the environment (`controller.drift`, keyed by the first word of
/// its addresses: `tenant: enforce`); a kind not listed is `warn`. Even in `enforce`, a change of
/// *new* configuration that destroys, deletes in bulk, widens access or may break queries is never
/// applied automatically: those hazards exist so a person reviews what they introduce.
///
/// A *restoration* is different: its desired side is the configuration a human already applied
/// (recorded per object at apply), and live state differs only because someone changed it by hand.
/// In `enforce` it is applied even when it widens access or may break queries relative to today's
/// live state, as Flux and Argo CD self-heal; that includes dropping a policy someone added by hand
/// to a managed table. Mass deletes never, and never a destroy of an object the configuration
/// declares (a `replace`).
public struct DriftPolicy: Sendable {
    public var modes: [String: Environment.DriftMode]

    public init(modes: [String: Environment.DriftMode]) {
        self.modes = modes
    }

    /// Hazards that only a human apply may accept in new configuration.
    public static let manualOnly: Set<Hazard.Kind> = [.destroys, .massDelete, .widensAccess, .mayBreakQueries]
    /// Hazards a restoration may carry and still be applied: the human who applied the configuration
    /// reviewed them. A destroy only as a `delete` (of something the configuration does not declare).
    static let restorable: Set<Hazard.Kind> = [.widensAccess, .mayBreakQueries]

    public struct Decision: Sendable, Equatable {
        public var enforce: [Change]
        /// The addresses among `enforce` that restore the last applied configuration.
        public var restorations: Set<String> = []
        /// Changes left for a human, each with why.
        public var reported: [(change: Change, reason: String)]

        public static func == (a: Decision, b: Decision) -> Bool {
            a.enforce == b.enforce && a.restorations == b.restorations && a.reported.map(\.change) == b.reported.map(\.change)
                && a.reported.map(\.reason) == b.reported.map(\.reason)
        }
    }

    /// Policies (`rls.public.t.policy.p`) share their table's `rls` prefix, so they follow its mode.
    public func mode(of change: Change) -> Environment.DriftMode {
        modes[change.address.prefix] ?? .warn
    }

    /// `restorations` are the addresses whose change restores the last applied configuration (the
    /// caller compares each change's desired side with what was recorded at apply).
    public func decide(_ plan: Plan, restorations: Set<String> = []) -> Decision {
        var decision = Decision(enforce: [], reported: [])
        for change in plan.changes {
            let address = change.address.description
            if mode(of: change) == .enforce, restorations.contains(address), Self.restores(change) {
                decision.enforce.append(change)
                decision.restorations.insert(address)
            } else if let hazard = change.hazards.first(where: { Self.manualOnly.contains($0.kind) }) {
                decision.reported.append((change, "\(hazard.kind.rawValue): \(hazard.message); needs a human `guardrail apply`"))
            } else if mode(of: change) == .warn {
                decision.reported.append((change, "drift mode for \(change.address.prefix) is warn"))
            } else {
                decision.enforce.append(change)
            }
        }
        return decision
    }

    /// Whether a restoration's hazards are ones the controller may accept: never a mass delete, and
    /// a destroy only when the object is not declared (a `delete`; a `replace` recreates a declared one).
    static func restores(_ change: Change) -> Bool {
        change.hazards.allSatisfy { hazard in
            restorable.contains(hazard.kind) || (hazard.kind == .destroys && change.action == .delete)
        }
    }
}

/// Spots drift that comes back right after being corrected (another writer, a trigger, a server
/// that rewrites what it stores), so the controller reports it and backs off instead of applying
/// the same change every tick. Pure: the caller feeds it each tick's applied changes.
public struct SettleTracker: Sendable {
    struct Entry: Sendable {
        var fingerprint: String
        var repeats: Int
        /// The tick before which this address is not applied again.
        var quietUntil: Int
    }

    private var entries: [String: Entry] = [:]
    public private(set) var tick = 0
    /// The longest pause, in ticks, between attempts at a change that does not settle.
    public var maxQuietTicks: Int

    public init(maxQuietTicks: Int = 64) {
        self.maxQuietTicks = maxQuietTicks
    }

    /// What a change wants: its address and desired attributes.
    static func fingerprint(_ change: Change) -> String {
        change.action.rawValue + ":" + Fingerprint.of(change.after)
    }

    /// Starts a tick: the changes planned now, split into those to apply and those held back
    /// because the same change was applied before and came back.
    public mutating func admit(_ changes: [Change]) -> (apply: [Change], unsettled: [(change: Change, repeats: Int)]) {
        tick += 1
        var apply: [Change] = [], unsettled: [(Change, Int)] = []
        let planned = Set(changes.map(\.address.description))
        // Addresses that did not come back have settled.
        for key in entries.keys where !planned.contains(key) { entries[key] = nil }
        for change in changes {
            let key = change.address.description
            guard let entry = entries[key], entry.fingerprint == Self.fingerprint(change) else {
                apply.append(change)
                continue
            }
            if tick < entry.quietUntil { unsettled.append((change, entry.repeats)) } else { apply.append(change) }
        }
        return (apply, unsettled)
    }

    /// Records the changes applied this tick. One that was applied before and is back again waits
    /// 2, 4, 8 ... ticks (up to `maxQuietTicks`) before the next attempt.
    public mutating func applied(_ changes: [Change]) {
        for change in changes {
            let key = change.address.description, fingerprint = Self.fingerprint(change)
            if let entry = entries[key], entry.fingerprint == fingerprint {
                let repeats = entry.repeats + 1
                entries[key] = Entry(fingerprint: fingerprint, repeats: repeats, quietUntil: tick + min(maxQuietTicks, 1 << min(repeats, 20)))
            } else {
                entries[key] = Entry(fingerprint: fingerprint, repeats: 0, quietUntil: tick)
            }
        }
    }
}

/// Exponential backoff with a cap, for errors: 1, 2, 4 ... intervals, at most `cap`. Pure.
public struct Backoff: Sendable, Equatable {
    public private(set) var failures = 0
    public var base: Double
    public var cap: Double

    public init(base: Double, cap: Double) {
        self.base = base
        self.cap = cap
    }

    /// The delay before the next attempt, in seconds.
    public var delay: Double { failures == 0 ? base : min(cap, base * Double(1 << min(failures, 30))) }

    public mutating func failed() { failures += 1 }
    public mutating func succeeded() { failures = 0 }
}
