/// A risk a change carries. Some hazards block the change until the user passes an override flag.
public struct Hazard: Hashable, Sendable, Codable {
    public enum Kind: String, Hashable, Sendable, Codable, CaseIterable {
        /// Removes something: a tenant, a policy, an alert group. Needs `--allow-destroy`.
        case destroys
        /// Deletes all of a kind's managed objects, or more than half. Needs `--allow-mass-delete`.
        case massDelete = "mass-delete"
        /// Lets more principals see or change more rows. Shown, never blocking.
        case widensAccess = "widens-access"
        /// Narrows access, so queries that worked may fail. Shown, never blocking.
        case mayBreakQueries = "may-break-queries"

        /// The flag that lets a blocked change through, if this kind of hazard blocks at all.
        public var override: String? {
            switch self {
            case .destroys: "--allow-destroy"
            case .massDelete: "--allow-mass-delete"
            case .widensAccess, .mayBreakQueries: nil
            }
        }
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}

/// The override flags a user gave to `plan` or `apply`.
public struct HazardOverrides: Hashable, Sendable, Codable {
    public var allowDestroy: Bool
    public var allowMassDelete: Bool

    public init(allowDestroy: Bool = false, allowMassDelete: Bool = false) {
        self.allowDestroy = allowDestroy
        self.allowMassDelete = allowMassDelete
    }

    public func permits(_ hazard: Hazard) -> Bool {
        switch hazard.kind {
        case .destroys: allowDestroy
        case .massDelete: allowMassDelete
        case .widensAccess, .mayBreakQueries: true
        }
    }
}
