import Foundation
import GuardrailEngine
import Testing

/// The Git commit an apply records, read from `.git` without running git: a branch ref, packed
/// refs, a detached HEAD and a linked worktree's `.git` file.
@Suite("workspace git commit")
struct WorkspaceGitTests {
    static func git(_ args: [String], in dir: URL) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        p.arguments = ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"] + args
        p.currentDirectoryURL = dir
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("the commit is found through a branch, packed refs, a detached HEAD and a worktree; none outside a checkout")
    func findsTheCommit() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-git-\(UUID().uuidString)")
        let repo = root.appendingPathComponent("repo")
        try FileManager.default.createDirectory(at: repo.appendingPathComponent("manifests"), withIntermediateDirectories: true)
        #expect(Workspace(root: repo.path).gitCommit() == nil)
        _ = try Self.git(["init", "-q"], in: repo)
        try Data("x".utf8).write(to: repo.appendingPathComponent("manifests/a.yaml"))
        _ = try Self.git(["add", "."], in: repo)
        _ = try Self.git(["commit", "-q", "-m", "first"], in: repo)
        let head = try Self.git(["rev-parse", "HEAD"], in: repo)
        #expect(head.count == 40)
        #expect(Workspace(root: repo.path).gitCommit() == head)
        #expect(Workspace(root: repo.appendingPathComponent("manifests").path).gitCommit() == head, "found from a subfolder")
        _ = try Self.git(["pack-refs", "--all"], in: repo)
        #expect(Workspace(root: repo.path).gitCommit() == head, "from packed-refs")
        _ = try Self.git(["checkout", "-q", "--detach"], in: repo)
        #expect(Workspace(root: repo.path).gitCommit() == head, "detached HEAD")
        _ = try Self.git(["checkout", "-q", "main"], in: repo)
        let tree = root.appendingPathComponent("tree")
        _ = try Self.git(["worktree", "add", "-q", tree.path], in: repo)
        #expect(Workspace(root: tree.path).gitCommit() == head, "linked worktree")
        try? FileManager.default.removeItem(at: root)
    }
}
