import Foundation
import GuardrailCore

/// The configuration folder on disk: `manifests/`, `policies/`, `alerts/` and `environments/`.
public struct Workspace: Sendable {
    public static let folders = ["manifests", "policies", "alerts", "environments"]

    public let root: URL

    public init(root: String) {
        self.root = URL(fileURLWithPath: root, isDirectory: true).standardizedFileURL
    }

    /// Every `.yaml`/`.yml` file under the configuration folders, with paths relative to the root.
    public func sources(folders: [String] = Workspace.folders) throws -> [ManifestSource] {
        let fm = FileManager.default
        var sources: [ManifestSource] = []
        for folder in folders {
            let base = root.appendingPathComponent(folder, isDirectory: true)
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: base.path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            guard let enumerator = fm.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles]) else { continue }
            for case let url as URL in enumerator {
                let ext = url.pathExtension
                guard ext == "yaml" || ext == "yml" else { continue }
                let relative = folder + "/" + url.standardizedFileURL.path.dropFirst(base.path.count + 1)
                guard let data = fm.contents(atPath: url.path) else {
                    throw DiagnosticError(.error("cannot read \(relative)", detail: "Check that the file exists and is readable.", at: .file(relative)))
                }
                sources.append(ManifestSource(path: relative, bytes: [UInt8](data)))
            }
        }
        return sources
    }

    /// Whether the root holds any of the configuration folders: a command run from the wrong
    /// directory must say so, not plan an empty configuration.
    public var hasConfiguration: Bool {
        Self.folders.contains { folder in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: root.appendingPathComponent(folder).path, isDirectory: &isDirectory) && isDirectory.boolValue
        }
    }

    /// Reads and decodes the whole configuration. Diagnostics include every problem found.
    public func load() throws -> (Configuration, Diagnostics) {
        ConfigurationLoader.load(try sources())
    }

    /// Reads only `environments/`: for commands that act on live state (backups, history) and need
    /// the environment but not the desired state, so they do not pay for decoding every manifest.
    public func loadEnvironments() throws -> (Configuration, Diagnostics) {
        ConfigurationLoader.load(try sources(folders: ["environments"]))
    }

    /// The commit the configuration is at, when it is a Git checkout; read from `.git` without running git.
    public func gitCommit() -> String? {
        var dir = root
        let fm = FileManager.default
        for _ in 0..<32 {
            let git = dir.appendingPathComponent(".git")
            var isDirectory: ObjCBool = false
            if fm.fileExists(atPath: git.path, isDirectory: &isDirectory) {
                var gitDir = git
                if !isDirectory.boolValue {
                    // A worktree or submodule: `.git` is a file saying `gitdir: <path>`.
                    guard let text = try? String(contentsOf: git, encoding: .utf8), text.hasPrefix("gitdir: ") else { return nil }
                    let path = text.dropFirst(8).trimmingCharacters(in: .whitespacesAndNewlines)
                    gitDir = URL(fileURLWithPath: path, relativeTo: dir).standardizedFileURL
                }
                return Self.resolveHEAD(gitDir: gitDir)
            }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { return nil }
            dir = parent
        }
        return nil
    }

    static func resolveHEAD(gitDir: URL) -> String? {
        guard let head = try? String(contentsOf: gitDir.appendingPathComponent("HEAD"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines) else { return nil }
        guard head.hasPrefix("ref: ") else { return head.count == 40 ? head : nil }
        let ref = String(head.dropFirst(5))
        var dirs = [gitDir]
        // Linked worktrees keep shared refs in the common directory.
        if let common = try? String(contentsOf: gitDir.appendingPathComponent("commondir"), encoding: .utf8) {
            dirs.append(URL(fileURLWithPath: common.trimmingCharacters(in: .whitespacesAndNewlines), relativeTo: gitDir).standardizedFileURL)
        }
        for dir in dirs {
            if let sha = try? String(contentsOf: dir.appendingPathComponent(ref), encoding: .utf8) {
                return sha.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if let packed = try? String(contentsOf: dir.appendingPathComponent("packed-refs"), encoding: .utf8) {
                for line in packed.split(separator: "\n") where line.hasSuffix(" " + ref) {
                    return String(line.prefix(40))
                }
            }
        }
        return nil
    }
}
