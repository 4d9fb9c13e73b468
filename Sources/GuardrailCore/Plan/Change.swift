/// One step of a plan: what happens to one object, and why.
///
/// A value type whose fields live in one shared box, copied only when a copy is mutated: a plan of
/// 10,000 changes passes through the diff, the hazard checks, the kind stores and the renderers, and
/// each pass used to retain every field of every change it touched.
public struct Change: Hashable, Sendable, Codable {
    public enum Action: String, Hashable, Sendable, Codable, CaseIterable {
        case create, update, delete, replace
    }

    /// `@unchecked Sendable` is safe: a `Storage` is written only through `unique`, that is while
    /// exactly one `Change` refers to it; once shared (and so visible to another task) it is never
    /// written again, and a write makes a private copy first.
    private final class Storage: @unchecked Sendable {
        var address: Address
        var kind: String
        var action: Action
        var before: Attributes?
        var after: Attributes?
        var hazards: [Hazard]
        var reason: String
        var details: [String]
        var rollout: RolloutPreview?

        init(
            address: Address, kind: String, action: Action, before: Attributes?, after: Attributes?, hazards: [Hazard], reason: String,
            details: [String], rollout: RolloutPreview?
        ) {
            self.address = address
            self.kind = kind
            self.action = action
            self.before = before
            self.after = after
            self.hazards = hazards
            self.reason = reason
            self.details = details
            self.rollout = rollout
        }

        func copy() -> Storage {
            Storage(
                address: address, kind: kind, action: action, before: before, after: after, hazards: hazards, reason: reason,
                details: details, rollout: rollout)
        }
    }

    private var storage: Storage

    /// The box, made unique first: the only way a field is written.
    private var unique: Storage {
        mutating get {
            if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
            return storage
        }
    }

    public var address: Address {
        get { storage.address }
        set { unique.address = newValue }
    }
    public var kind: String {
        get { storage.kind }
        set { unique.kind = newValue }
    }
    public var action: Action {
        get { storage.action }
        set { unique.action = newValue }
    }
    /// The live attributes, absent for `create`.
    public var before: Attributes? {
        get { storage.before }
        set { unique.before = newValue }
    }
    /// The desired attributes, absent for `delete`.
    public var after: Attributes? {
        get { storage.after }
        set { unique.after = newValue }
    }
    public var hazards: [Hazard] {
        get { storage.hazards }
        _modify { yield &unique.hazards }
    }
    public var reason: String {
        get { storage.reason }
        set { unique.reason = newValue }
    }
    /// Facts a reviewer wants that are not attributes, such as a schedule's next run times. Never diffed.
    public var details: [String] {
        get { storage.details }
        _modify { yield &unique.details }
    }
    /// For a flag change that starts a rollout: its phases, cohorts and guardrails.
    public var rollout: RolloutPreview? {
        get { storage.rollout }
        set { unique.rollout = newValue }
    }

    public init(
        address: Address, kind: String, action: Action, before: Attributes?, after: Attributes?,
        hazards: [Hazard] = [], reason: String, details: [String] = []
    ) {
        storage = Storage(
            address: address, kind: kind, action: action, before: before, after: after, hazards: hazards, reason: reason,
            details: details, rollout: nil)
    }

    public static func == (a: Change, b: Change) -> Bool {
        if a.storage === b.storage { return true }
        return a.address == b.address && a.kind == b.kind && a.action == b.action && a.before == b.before && a.after == b.after
            && a.hazards == b.hazards && a.reason == b.reason && a.details == b.details && a.rollout == b.rollout
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(address)
        hasher.combine(kind)
        hasher.combine(action)
        hasher.combine(before)
        hasher.combine(after)
        hasher.combine(hazards)
        hasher.combine(reason)
        hasher.combine(details)
        hasher.combine(rollout)
    }

    /// The attributes whose value differs, sorted; every attribute for creates and deletes.
    public var changedAttributes: [String] {
        let keys = Set((before ?? [:]).keys).union((after ?? [:]).keys)
        return keys.filter { before?[$0] != after?[$0] }.sorted()
    }

    public func blockingHazards(_ overrides: HazardOverrides) -> [Hazard] {
        hazards.filter { !overrides.permits($0) }
    }

    enum CodingKeys: String, CodingKey {
        case address, kind, action, before, after, hazards, reason, details, rollout
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        storage = Storage(
            address: try c.decode(Address.self, forKey: .address), kind: try c.decode(String.self, forKey: .kind),
            action: try c.decode(Action.self, forKey: .action), before: try c.decodeIfPresent(Attributes.self, forKey: .before),
            after: try c.decodeIfPresent(Attributes.self, forKey: .after), hazards: try c.decode([Hazard].self, forKey: .hazards),
            reason: try c.decode(String.self, forKey: .reason), details: try c.decodeIfPresent([String].self, forKey: .details) ?? [],
            rollout: try c.decodeIfPresent(RolloutPreview.self, forKey: .rollout))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(address, forKey: .address)
        try c.encode(kind, forKey: .kind)
        try c.encode(action, forKey: .action)
        try c.encodeIfPresent(before, forKey: .before)
        try c.encodeIfPresent(after, forKey: .after)
        try c.encode(hazards, forKey: .hazards)
        try c.encode(reason, forKey: .reason)
        try c.encode(details, forKey: .details)
        try c.encodeIfPresent(rollout, forKey: .rollout)
    }
}
