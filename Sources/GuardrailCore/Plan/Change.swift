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
        var after: Desired?
        var hazards: [Hazard]
        var reason: Reason
        var details: [String]
        /// Boxed: only a flag change starting a rollout has one, and inline it was a quarter of every change.
        var rolloutBox: Box<RolloutPreview>?
        var rollout: RolloutPreview? { rolloutBox?.value }

        init(
            address: Address, kind: String, action: Action, before: Attributes?, after: Desired?, hazards: [Hazard], reason: Reason,
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
            self.rolloutBox = rollout.map(Box.init)
        }

        func copy() -> Storage {
            Storage(
                address: address, kind: kind, action: action, before: before, after: after, hazards: hazards, reason: reason,
                details: details, rollout: rollout)
        }
    }

    /// The desired side as the diff found it, or as a saved plan spelled it.
    private enum Desired {
        case attributes(Attributes)
        /// The configuration's own object: its attributes are worked out when read. A plan of
        /// 100,000 new tenants held a dictionary of about 600 bytes per tenant for them otherwise,
        /// while the object shares its strings and labels with the configuration.
        case object(any DesiredObject)

        var attributes: Attributes {
            switch self {
            case .attributes(let attributes): attributes
            case .object(let box): box.attributes
            }
        }
    }

    /// A value shared by reference and never written.
    final class Box<Value: Sendable>: Sendable {
        let value: Value
        init(_ value: Value) { self.value = value }
    }

    /// The configuration's object behind a change, held by one reference (an `any Resource` is five
    /// words inline, with the object boxed besides).
    private protocol DesiredObject: AnyObject, Sendable {
        var attributes: Attributes { get }
    }

    private final class Desire<R: Resource>: DesiredObject {
        let object: R
        init(_ object: R) { self.object = object }
        var attributes: Attributes { object.attributes }
    }

    /// Why, with the address left out of the two reasons a large plan is made of: a plan of
    /// 100,000 new tenants held 100,000 sentences otherwise, each naming its own change's address.
    enum Reason {
        case text(String)
        /// The object is declared and missing live (a create).
        case notLive
        /// The object exists live and is not declared (a delete).
        case notDeclared
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
        get { storage.after?.attributes }
        set { unique.after = newValue.map(Desired.attributes) }
    }

    /// The object the desired side was made from, when the diff made this change (not when it was
    /// read from a saved plan): what a kind's store writes without rebuilding it from `after`.
    public func desiredObject<R: Resource>(as _: R.Type) -> R? {
        guard case .object(let box) = storage.after else { return nil }
        return (box as? Desire<R>)?.object
    }
    public var hazards: [Hazard] {
        get { storage.hazards }
        _modify { yield &unique.hazards }
    }
    public var reason: String {
        get {
            switch storage.reason {
            case .text(let text): text
            case .notLive: "\(address) is in the configuration but does not exist live"
            case .notDeclared: "\(address) exists live but is not in the configuration"
            }
        }
        set { unique.reason = .text(newValue) }
    }
    /// Facts a reviewer wants that are not attributes, such as a schedule's next run times. Never diffed.
    public var details: [String] {
        get { storage.details }
        _modify { yield &unique.details }
    }
    /// For a flag change that starts a rollout: its phases, cohorts and guardrails.
    public var rollout: RolloutPreview? {
        get { storage.rollout }
        set { unique.rolloutBox = newValue.map(Box.init) }
    }

    public init(
        address: Address, kind: String, action: Action, before: Attributes?, after: Attributes?,
        hazards: [Hazard] = [], reason: String, details: [String] = []
    ) {
        storage = Storage(
            address: address, kind: kind, action: action, before: before, after: after.map(Desired.attributes), hazards: hazards,
            reason: .text(reason), details: details, rollout: nil)
    }

    /// A change whose desired side is `object`; `after` is its attributes.
    public init<R: Resource>(
        address: Address, kind: String, action: Action, before: Attributes?, desired object: R,
        hazards: [Hazard] = [], reason: String, details: [String] = []
    ) {
        self.init(address: address, kind: kind, action: action, before: before, desired: object, hazards: hazards, because: .text(reason))
        self.details = details
    }

    init<R: Resource>(
        address: Address, kind: String, action: Action, before: Attributes?, desired object: R?, hazards: [Hazard] = [], because reason: Reason
    ) {
        storage = Storage(
            address: address, kind: kind, action: action, before: before, after: object.map { .object(Desire($0)) }, hazards: hazards,
            reason: reason, details: [], rollout: nil)
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
            after: try c.decodeIfPresent(Attributes.self, forKey: .after).map(Desired.attributes),
            hazards: try c.decode([Hazard].self, forKey: .hazards),
            reason: .text(try c.decode(String.self, forKey: .reason)), details: try c.decodeIfPresent([String].self, forKey: .details) ?? [],
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
