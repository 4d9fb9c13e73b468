import Foundation
import Synchronization

/// Collects, while manifests are decoded, the keys each mapping was opened with: where the mapping
/// is (`file`, `mark`) and its `allowed:` list. Tests compare them with the schema `guardrail schema`
/// writes, so a key a decoder accepts cannot be missing from it. Off (nil) in normal runs.
///
/// Pieces are decoded on every core at once, so what it records has one owner, the mutex.
public final class KeyRecorder: Sendable {
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

    private struct State {
        var recorded: [Entry] = []
        var demanded: Set<Requirement> = []
    }

    private let state = Mutex(State())

    public init() {}

    func record(file: String, mark: YAMLMark, context: String, allowed: [String]) {
        state.withLock { $0.recorded.append(Entry(file: file, mark: mark, context: context, allowed: allowed)) }
    }

    func recordRequired(file: String, mark: YAMLMark, key: String) {
        _ = state.withLock { $0.demanded.insert(Requirement(file: file, mark: mark, key: key)) }
    }

    /// The keys decoders demanded, each once.
    public var requirements: Set<Requirement> {
        state.withLock { $0.demanded }
    }

    /// Everything recorded, in file and position order.
    public var entries: [Entry] {
        state.withLock { $0.recorded }.sorted {
            ($0.file, $0.mark.line, $0.mark.column, $0.context) < ($1.file, $1.mark.line, $1.mark.column, $1.context)
        }
    }
}
