/// An object Guardrail manages: one of the kinds (tenant, flag, policy, ...).
///
/// Desired state (from manifests) and observed state (from the live system) are values of the same
/// type, so diffing is comparing two arrays. Each kind describes itself as `Attributes` for the plan,
/// and rebuilds itself from them when a saved plan is applied.
public protocol Resource: Sendable, Equatable {
    /// The manifest `kind`, such as `Tenant`.
    static var kind: String { get }
    /// The first word of addresses, such as `tenant` in `tenant.acme-realty`.
    static var addressPrefix: String { get }
    /// Attributes whose change cannot be made in place; changing one plans a `replace`.
    static var immutableAttributes: Set<String> { get }
    /// What deleting one of these does, shown as the destroy hazard.
    static var destroyHazard: String { get }

    var name: String { get }
    var attributes: Attributes { get }
    init(name: String, attributes: Attributes) throws
}

extension Resource {
    public var address: Address { Address(prefix: Self.addressPrefix, name: name) }
    public static var immutableAttributes: Set<String> { [] }
}

/// A problem turning saved attributes back into an object: the plan file was edited or is from another version.
public struct AttributeError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }

    public static func missing(_ key: String, in kind: String) -> AttributeError {
        AttributeError("the saved \(kind) has no valid \"\(key)\" attribute")
    }
}

/// The name users see for an object in plans, logs, metrics and `--target`: `tenant.acme-realty`.
public struct Address: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var prefix: String
    public var name: String

    public init(prefix: String, name: String) {
        self.prefix = prefix
        self.name = name
    }

    public var description: String { "\(prefix).\(name)" }

    public static func < (lhs: Address, rhs: Address) -> Bool {
        (lhs.prefix, lhs.name) < (rhs.prefix, rhs.name)
    }

    /// Whether `--target pattern` selects this address: the address itself, anything below it,
    /// or a whole kind (`tenant`).
    public func matches(target pattern: String) -> Bool {
        let full = description
        return full == pattern || full.hasPrefix(pattern + ".") || prefix == pattern
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let dot = text.firstIndex(of: ".") else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "address \(text) has no kind prefix"))
        }
        self.init(prefix: String(text[..<dot]), name: String(text[text.index(after: dot)...]))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
