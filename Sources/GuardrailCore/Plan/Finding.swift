/// A warning about the desired state that is not a change: something that will not do what it seems to.
///
/// Example: a policy that targets a role with BYPASSRLS, which Postgres never applies to that role.
/// Findings are shown with every plan, including one with no changes, and never block an apply.
public struct Finding: Hashable, Sendable, Codable, CustomStringConvertible {
    public var address: Address
    public var message: String

    public init(address: Address, message: String) {
        self.address = address
        self.message = message
    }

    public var description: String { "\(address): \(message)" }
}
