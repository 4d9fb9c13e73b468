import Foundation
import GuardrailTestSupport
import Testing

/// Shell completion asks the binary (`guardrail ---completion ...`, as the generated bash, zsh and
/// fish scripts do) for names from the configuration it is pointed at.
@Suite("shell completion") struct CompletionTests {
    static func workspace() throws -> URL {
        try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 2),
            "manifests/flags.yaml": "apiVersion: guardrail/v1\nkind: FeatureFlag\nmetadata: {name: channel.email}\nspec: {enabled: true}\n---\n"
                + "apiVersion: guardrail/v1\nkind: FeatureFlag\nmetadata: {name: search.beta}\nspec: {enabled: false}\n",
            "environments/local.yaml": Fixtures.localEnvironmentYAML,
            "environments/staging.yaml": Fixtures.localEnvironmentYAML.replacingOccurrences(of: "name: local", with: "name: staging"),
        ])
    }

    static func complete(_ command: [String], _ argument: String, words: [String], in dir: URL) throws -> [String] {
        let line = ["guardrail"] + words
        let result = try CommandRunner.run(
            ["---completion"] + command + ["--", argument, "\(line.count - 1)", "\(line.last!.count)"] + line, in: dir)
        #expect(result.status == 0, "\(result.output)")
        return result.stdout.split(separator: "\n").map(String.init)
    }

    @Test("environments, flags and --target addresses complete from the configuration; --dir points elsewhere; no configuration completes nothing")
    func namesComplete() throws {
        let dir = try Self.workspace()
        #expect(try Self.complete(["plan"], "--env", words: ["plan", "--env", ""], in: dir) == ["local", "staging"])
        #expect(try Self.complete(["plan"], "--env", words: ["plan", "--env", "st"], in: dir) == ["staging"])
        #expect(try Self.complete(["flag", "kill"], "positional@0", words: ["flag", "kill", ""], in: dir) == ["channel.email", "search.beta"])
        #expect(
            try Self.complete(["apply"], "--target", words: ["apply", "--target", "flag."], in: dir) == [
                "flag.", "flag.channel.email", "flag.search.beta",
            ])
        let targets = try Self.complete(["plan"], "--target", words: ["plan", "--target", ""], in: dir)
        #expect(targets.contains("tenant.") && targets.contains("flag.") && targets.contains("flag.channel.email"), "\(targets)")
        // From another directory, through --dir.
        let elsewhere = FileManager.default.temporaryDirectory
        #expect(try Self.complete(["plan"], "--env", words: ["plan", "--dir", dir.path, "--env", ""], in: elsewhere) == ["local", "staging"])
        let empty = elsewhere.appendingPathComponent("guardrail-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect(try Self.complete(["plan"], "--env", words: ["plan", "--env", ""], in: empty).isEmpty)
    }
}

@Suite("version") struct VersionTests {
    @Test("--version prints the release and the Git commit the binary was built from")
    func versionNamesTheCommit() throws {
        let result = try CommandRunner.run(["--version"], in: FileManager.default.temporaryDirectory)
        #expect(result.status == 0, "\(result.output)")
        let line = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let match = try #require(line.wholeMatch(of: /guardrail (\d+\.\d+\.\d+) \(commit ([0-9a-f]{12}(-modified)?|unknown)\)/), "\(line)")
        // The tests are built from the same checkout as the binary: its HEAD is the commit named.
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        git.arguments = ["git", "-C", source.path, "rev-parse", "--short=12", "HEAD"]
        let out = Pipe()
        git.standardOutput = out
        git.standardError = FileHandle.nullDevice
        try git.run()
        let head = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        git.waitUntilExit()
        if git.terminationStatus == 0 {
            #expect(String(match.output.2).hasPrefix(head), "built from \(match.output.2), the checkout is at \(head)")
        }
    }
}
