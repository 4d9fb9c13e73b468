import Foundation

/// Collects, while manifests are decoded, the keys each mapping was opened with: where the mapping
/// is (`file`, `mark`) and its `allowed:` list. Tests compare them with the schema `guardrail schema`
/// writes, so a key a decoder accepts cannot be missing from it. Off (nil) in normal runs.
public final class KeyRecorder: @unchecked Sendable {
    public struct Entry: Hashable, Sendable {
        public var file: String
        public var mark: YAMLMark
        /// The decoder's name for the mapping, as its diagnostics say it ("Tenant spec").
        public var context: String
        public var allowed: [String]

        public init(file: String, mark: YAMLMark, context: String, allowed: [String]) {
            self.file = file
            self.mark = mark
            self.context = context
            self.allowed = allowed
        }
    }

    /// A key a decoder demanded of a mapping (`FieldReader.required`).
    public struct Requirement: Hashable, Sendable {
        public var file: String
        public var mark: YAMLMark
        public var key: String
    }

    private let lock = NSLock()
    private var recorded: [Entry] = []
    private var demanded: Set<Requirement> = []

    public init() {}

    func record(file: String, mark: YAMLMark, context: String, allowed: [String]) {
        lock.lock()
        recorded.append(Entry(file: file, mark: mark, context: context, allowed: allowed))
        lock.unlock()
    }

    func recordRequired(file: String, mark: YAMLMark, key: String) {
        lock.lock()
        demanded.insert(Requirement(file: file, mark: mark, key: key))
        lock.unlock()
    }

    /// The keys decoders demanded, each once.
    public var requirements: Set<Requirement> {
        lock.lock()
        defer { lock.unlock() }
        return demanded
    }

    /// Everything recorded, in file and position order.
    public var entries: [Entry] {
        lock.lock()
        defer { lock.unlock() }
        return recorded.sorted { ($0.file, $0.mark.line, $0.mark.column, $0.context) < ($1.file, $1.mark.line, $1.mark.column, $1.context) }
    }
}
