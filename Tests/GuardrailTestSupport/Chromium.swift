import Foundation

/// Headless Chromium (Debian's `chromium`, which `scripts/test` installs) as a real browser for the
/// controller's dashboard: the DOM after the page loaded and ran, and screenshots.
public enum Chromium {
    public static var path: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    public struct Failed: Error, CustomStringConvertible {
        public var description: String
    }

    /// The serialized DOM of `url` once loaded.
    public static func dumpDOM(_ url: String) throws -> String {
        let result = try run(["--dump-dom", url])
        guard result.status == 0, !result.stdout.isEmpty else {
            throw Failed(description: "chromium --dump-dom \(url) exited \(result.status): \(result.stderr.suffix(2000))")
        }
        return result.stdout
    }

    /// A PNG of `url` at the given window size.
    public static func screenshot(_ url: String, to file: URL, width: Int = 1280, height: Int = 2000) throws {
        try? FileManager.default.removeItem(at: file)
        let result = try run(["--screenshot=\(file.path)", "--window-size=\(width),\(height)", "--hide-scrollbars", url])
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw Failed(description: "chromium --screenshot \(url) wrote no file (exit \(result.status)): \(result.stderr.suffix(2000))")
        }
    }

    /// Each run gets a profile of its own, so runs never share state; `timeout` ends a hung browser.
    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        guard let chromium = path else { throw Failed(description: "chromium is not installed; scripts/test installs it") }
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-chromium-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: profile) }
        return try SystemCommand.run(
            "/usr/bin/timeout",
            [
                "120", chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-dev-shm-usage", "--user-data-dir=\(profile.path)",
            ] + arguments)
    }

    /// Where tests leave what a person should look at (screenshots): `.build/test-artifacts/` in the
    /// package, which `.gitignore` covers.
    public static func artifactsDirectory() throws -> URL {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = root.appendingPathComponent(".build/test-artifacts")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}
