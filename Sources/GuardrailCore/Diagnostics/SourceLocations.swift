/// Where each object was declared, by address: what errors found after decoding point at.
///
/// Kept compact, as it holds one entry per object: names by address prefix, each with its file (an
/// index into the files seen), line and column. A map from whole addresses to `SourceLocation`s was
/// 64 bytes a slot, 17 MB for 100,000 tenants; this is 28.
public struct SourceLocations: Sendable, Equatable {
    private struct Packed: Sendable, Equatable {
        var file: UInt32
        var line: UInt32
        var column: UInt32
    }

    private var files: [String] = []
    private var fileIndexes: [String: UInt32] = [:]
    private var byPrefix: [String: [String: Packed]] = [:]

    public init() {}

    /// Where `address` was declared; nil when it was not (or the location is forgotten with nil).
    public subscript(address: Address) -> SourceLocation? {
        get {
            byPrefix[address.prefix]?[address.name].map {
                SourceLocation(file: files[Int($0.file)], line: Int($0.line), column: Int($0.column))
            }
        }
        set {
            guard let newValue else {
                byPrefix[address.prefix]?[address.name] = nil
                return
            }
            let file: UInt32
            if let known = fileIndexes[newValue.file] {
                file = known
            } else {
                file = UInt32(files.count)
                files.append(newValue.file)
                fileIndexes[newValue.file] = file
            }
            byPrefix[address.prefix, default: [:]][address.name] = Packed(
                file: file, line: UInt32(clamping: newValue.line), column: UInt32(clamping: newValue.column))
        }
    }

    /// Every address with a location, in no particular order.
    public var keys: [Address] {
        byPrefix.flatMap { prefix, names in names.keys.map { Address(prefix: prefix, name: $0) } }
    }

    public var count: Int { byPrefix.values.reduce(0) { $0 + $1.count } }

    /// Room for `count` more addresses under `prefix`.
    public mutating func reserveCapacity(_ count: Int, prefix: String) {
        guard count > 0 else { return }
        byPrefix[prefix, default: [:]].reserveCapacity((byPrefix[prefix]?.count ?? 0) + count)
    }

    /// The same addresses at the same places (however the files were numbered).
    public static func == (a: SourceLocations, b: SourceLocations) -> Bool {
        guard a.count == b.count else { return false }
        return a.keys.allSatisfy { a[$0] == b[$0] }
    }
}
