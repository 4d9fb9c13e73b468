import ArgumentParser
import Foundation
import GuardrailCore
import GuardrailEngine

/// Shell completion of names from the configuration the command line points at (`--dir DIR` among
/// its words, else the current directory): environments, flags, backup schedules and `--target`
/// addresses. Completion prints nothing else and fails quietly: a directory without a
/// configuration, or one that does not load, completes nothing.
enum Completions {
    static func configuration(_ words: [String]) -> Configuration? {
        var dir = "."
        if let i = words.firstIndex(of: "--dir"), i + 1 < words.count {
            dir = words[i + 1]
        } else if let word = words.first(where: { $0.hasPrefix("--dir=") }) {
            dir = String(word.dropFirst("--dir=".count))
        }
        let workspace = Workspace(root: dir)
        guard workspace.hasConfiguration, let (configuration, _) = try? workspace.load() else { return nil }
        return configuration
    }

    static func matching(_ names: [String], _ prefix: String) -> [String] {
        names.filter { $0.hasPrefix(prefix) }.sorted()
    }

    static let environments: CompletionKind = .custom { words, _, prefix in
        let names: [String] = configuration(words).map { Array($0.environments.keys) } ?? []
        return matching(names, prefix)
    }

    static let flags: CompletionKind = .custom { words, _, prefix in
        let names: [String] = configuration(words)?.flags.map { $0.name } ?? []
        return matching(names, prefix)
    }

    static let backupSchedules: CompletionKind = .custom { words, _, prefix in
        let names: [String] = configuration(words)?.backupSchedules.map { $0.name } ?? []
        return matching(names, prefix)
    }

    /// Every address in the configuration, and each kind's prefix (`flag.`), so `--target flag.`
    /// then completes the flags.
    static let addresses: CompletionKind = .custom { words, _, prefix in addressNames(words, prefix) }

    static func addressNames(_ words: [String], _ prefix: String) -> [String] {
        guard let configuration = configuration(words) else { return [] }
        let addresses: [String] = configuration.locations.keys.map { $0.description }
        var kinds: Set<String> = []
        for address in addresses {
            if let dot = address.firstIndex(of: ".") { kinds.insert(String(address[...dot])) }
        }
        return matching(addresses + Array(kinds), prefix)
    }
}
