/// One step of a plan: what happens to one object, and why.
public struct Change: Hashable, Sendable, Codable {
    public enum Action: String, Hashable, Sendable, Codable, CaseIterable {
        case create, update, delete, replace
    }

    public var address: Address
    public var kind: String
    public var action: Action
    /// The live attributes, absent for `create`.
    public var before: Attributes?
    /// The desired attributes, absent for `delete`.
    public var after: Attributes?
    public var hazards: [Hazard]
    public var reason: String
    /// Facts a reviewer wants that are not attributes, such as a schedule's next run times. Never diffed.
    public var details: [String]
    /// For a flag change that starts a rollout: its phases, cohorts and guardrails.
    public var rollout: RolloutPreview?

    public init(address: Address, kind: String, action: Action, before: Attributes?, after: Attributes?,
                hazards: [Hazard] = [], reason: String, details: [String] = []) {
        self.details = details
        self.address = address
        self.kind = kind
        self.action = action
        self.before = before
        self.after = after
        self.hazards = hazards
        self.reason = reason
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
        address = try c.decode(Address.self, forKey: .address)
        kind = try c.decode(String.self, forKey: .kind)
        action = try c.decode(Action.self, forKey: .action)
        before = try c.decodeIfPresent(Attributes.self, forKey: .before)
        after = try c.decodeIfPresent(Attributes.self, forKey: .after)
        hazards = try c.decode([Hazard].self, forKey: .hazards)
        reason = try c.decode(String.self, forKey: .reason)
        details = try c.decodeIfPresent([String].self, forKey: .details) ?? []
        rollout = try c.decodeIfPresent(RolloutPreview.self, forKey: .rollout)
    }
}
