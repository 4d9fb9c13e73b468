/// Equal label sets as one shared dictionary.
///
/// Labels repeat: 100,000 tenants carry a few dozen distinct `{cohort, region, tier}` sets. Each
/// decoded tenant would otherwise hold a dictionary of its own (about 200 bytes for three labels);
/// handing out the first equal one instead costs one hash per object and shares its storage
/// (dictionaries are copy-on-write, so nothing can change a shared set under another object).
public struct LabelSets: Sendable {
    private var seen: Set<[String: String]> = []

    /// Past this many distinct sets, new ones are returned as they are: sharing pays only when
    /// sets repeat, and an estate of unique sets should not also keep an index of them.
    public static let limit = 4096

    public init() {}

    /// `labels`, or the equal set seen before.
    public mutating func shared(_ labels: [String: String]) -> [String: String] {
        if labels.isEmpty { return labels }
        if let index = seen.firstIndex(of: labels) { return seen[index] }
        if seen.count < Self.limit { seen.insert(labels) }
        return labels
    }
}
