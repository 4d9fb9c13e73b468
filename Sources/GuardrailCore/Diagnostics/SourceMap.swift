/// Where the parts of an object were declared, keyed by part, for errors found after decoding.
///
/// It never takes part in equality or hashing: a desired object (with locations) and the same object
/// observed live (without) compare equal.
public struct SourceMap<Key: Hashable & Sendable>: Hashable, Sendable {
    public var locations: [Key: SourceLocation] = [:]

    public init() {}

    public subscript(key: Key) -> SourceLocation? {
        get { locations[key] }
        set { locations[key] = newValue }
    }

    public static func == (_: SourceMap, _: SourceMap) -> Bool { true }
    public func hash(into hasher: inout Hasher) {}
}
