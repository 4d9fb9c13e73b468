import Foundation
import GuardrailCore

/// The configuration folder on disk: `manifests/`, `policies/`, `alerts/` and `environments/`.
///
/// Only what lies inside the root is read: a file or folder whose real path (symbolic links
/// resolved) is outside it is refused by its path, without reading it or naming its target, and so
/// are files larger than `maxFileSize` and anything that is not a regular file (a FIFO would block).
public struct Workspace: Sendable {
    public static let folders = ["manifests", "policies", "alerts", "environments"]
    /// The default largest manifest file read: far past any real one, small enough to bound memory.
    public static let defaultMaxFileSize = 16 << 20

    public let root: URL
    /// Files larger than this many bytes are refused unread.
    public let maxFileSize: Int

    public init(root: String, maxFileSize: Int = Workspace.defaultMaxFileSize) {
        self.root = URL(fileURLWithPath: root, isDirectory: true).standardizedFileURL
        self.maxFileSize = maxFileSize
    }

    /// Every `.yaml`/`.yml` file under the configuration folders, with paths relative to the root,
    /// and the refusals (outside the root, too large, not a regular file) as error diagnostics.
    public func sources(folders: [String] = Workspace.folders) throws -> (sources: [ManifestSource], diagnostics: [Diagnostic]) {
        var sources: [ManifestSource] = []
        var refusals: [Diagnostic] = []
        let realRoot = Self.realPath(root.path) ?? root.path
        for folder in folders {
            var visited: Set<String> = []
            try walk(
                root.path + "/" + folder, relative: folder, realRoot: realRoot, visited: &visited,
                sources: &sources, refusals: &refusals)
        }
        return (sources, refusals)
    }

    private func walk(
        _ path: String, relative: String, realRoot: String, visited: inout Set<String>,
        sources: inout [ManifestSource], refusals: inout [Diagnostic]
    ) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        let isLink = st.st_mode & S_IFMT == S_IFLNK
        if isLink {
            guard stat(path, &st) == 0 else {
                refusals.append(.error("cannot read \(relative)", detail: "It is a symbolic link whose target does not exist.", at: .file(relative)))
                return
            }
        }
        let type = st.st_mode & S_IFMT
        let isYAML = relative.hasSuffix(".yaml") || relative.hasSuffix(".yml")
        // A folder is walked and a YAML file read; anything else is none of Guardrail's business.
        guard type == S_IFDIR || isYAML else { return }
        guard let real = Self.realPath(path), real == realRoot || real.hasPrefix(realRoot == "/" ? "/" : realRoot + "/") else {
            refusals.append(
                .error(
                    "\(relative) resolves outside the configuration directory",
                    detail:
                        "Guardrail reads only files inside --dir; a symbolic link that leads out of it is refused, and nothing was read through it.",
                    at: .file(relative)))
            return
        }
        if type == S_IFDIR {
            // A link back to a folder already being walked would loop forever.
            guard visited.insert(real).inserted else { return }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            for name in names.sorted() where !name.hasPrefix(".") {
                try walk(
                    path + "/" + name, relative: relative + "/" + name, realRoot: realRoot, visited: &visited,
                    sources: &sources, refusals: &refusals)
            }
            return
        }
        guard type == S_IFREG else {
            refusals.append(.error("\(relative) is not a regular file", detail: "Manifests are plain files; it was not read.", at: .file(relative)))
            return
        }
        if Int(st.st_size) > maxFileSize {
            refusals.append(tooLarge(relative, size: Int(st.st_size)))
            return
        }
        // Read at most one byte past the limit, so a file that grows after the check still cannot take more memory.
        guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.read(upToCount: maxFileSize + 1) else {
            throw DiagnosticError(.error("cannot read \(relative)", detail: "Check that the file exists and is readable.", at: .file(relative)))
        }
        try? handle.close()
        if data.count > maxFileSize {
            refusals.append(tooLarge(relative, size: data.count))
            return
        }
        sources.append(ManifestSource(path: relative, bytes: [UInt8](data)))
    }

    private func tooLarge(_ relative: String, size: Int) -> Diagnostic {
        .error(
            "\(relative) is larger than the \(Self.describe(bytes: maxFileSize)) limit for a manifest file",
            detail:
                "It holds at least \(Self.describe(bytes: size)), so it was not read. Split it into several files, or raise the limit with --max-file-size.",
            at: .file(relative))
    }

    /// `16 MiB`, `1.5 KiB`, `300 bytes`.
    public static func describe(bytes: Int) -> String {
        let units: [(Int, String)] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
        for (size, unit) in units where bytes >= size {
            if bytes % size == 0 { return "\(bytes / size) \(unit)" }
            return String(format: "%.1f", Double(bytes) / Double(size)) + " " + unit
        }
        return "\(bytes) bytes"
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether the root holds any of the configuration folders: a command run from the wrong
    /// directory must say so, not plan an empty configuration.
    public var hasConfiguration: Bool {
        Self.folders.contains { folder in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: root.appendingPathComponent(folder).path, isDirectory: &isDirectory)
                && isDirectory.boolValue
        }
    }

    /// Reads and decodes the whole configuration. Diagnostics include every problem found.
    public func load() throws -> (Configuration, Diagnostics) {
        try load(folders: Workspace.folders)
    }

    /// Reads only `environments/`: for commands that act on live state (backups, history) and need
    /// the environment but not the desired state, so they do not pay for decoding every manifest.
    public func loadEnvironments() throws -> (Configuration, Diagnostics) {
        try load(folders: ["environments"])
    }

    /// Reads and decodes the whole configuration, taking `environments/` from sources read earlier
    /// (by a command that connected while the rest was read) instead of reading it again.
    public func load(environments: [ManifestSource]) throws -> (Configuration, Diagnostics) {
        let read = try sources(folders: Self.folders.filter { $0 != "environments" })
        let refusals = read.diagnostics
        let (configuration, diagnostics) = ConfigurationLoader.load(read.sources + environments)
        FreedMemory.release()
        diagnostics.append(contentsOf: refusals)
        return (configuration, diagnostics)
    }

    private func load(folders: [String]) throws -> (Configuration, Diagnostics) {
        // The bytes are handed over: the loader lets them go once they are decoded.
        var read = try sources(folders: folders)
        let refusals = read.diagnostics
        let sources = read.sources
        read.sources = []
        let (configuration, diagnostics) = ConfigurationLoader.load(consume sources)
        FreedMemory.release()
        diagnostics.append(contentsOf: refusals)
        return (configuration, diagnostics)
    }

    /// A fingerprint of the configuration on disk: every file's path, size and modification time,
    /// plus the Git HEAD of the checkout. Taken before a load, it tells whether anything changed since.
    public func changeStamp() throws -> String {
        var parts: [String] = [gitCommit() ?? "no-git"]
        let fm = FileManager.default
        for folder in Self.folders {
            let base = root.appendingPathComponent(folder)
            guard let enumerator = fm.enumerator(at: base, includingPropertiesForKeys: [.contentModificationDateKey, .fileSizeKey]) else { continue }
            for case let url as URL in enumerator {
                let values = try? url.resourceValues(forKeys: [.contentModificationDateKey, .fileSizeKey])
                parts.append("\(url.path) \(values?.fileSize ?? -1) \(values?.contentModificationDate?.timeIntervalSince1970 ?? 0)")
            }
        }
        return parts.sorted().joined(separator: "\n")
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
        guard
            let head = try? String(contentsOf: gitDir.appendingPathComponent("HEAD"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        else { return nil }
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
