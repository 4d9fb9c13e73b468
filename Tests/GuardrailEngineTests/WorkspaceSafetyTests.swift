import Foundation
import GuardrailCore
import GuardrailEngine
import Testing

/// The workspace reads only what lies inside `--dir`, only regular files, and none larger than the
/// limit: each refusal is tried as an attack, and the test checks that nothing came through.
@Suite("workspace refusals")
struct WorkspaceSafetyTests {
    static let secret = "hunter2-SECRET-LINE-OF-THE-FOREIGN-FILE"

    /// A configuration directory with one good tenant, and a directory beside it (outside it).
    static func layout() throws -> (root: URL, outside: URL) {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-wsafe-\(UUID().uuidString)")
        let root = base.appendingPathComponent("config"), outside = base.appendingPathComponent("outside")
        for dir in [root.appendingPathComponent("manifests"), outside] {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        }
        try Data(tenant("acme").utf8).write(to: root.appendingPathComponent("manifests/tenants.yaml"))
        // Read as YAML, this line is an unknown key whose text an error would echo.
        try Data("\(secret): x\n".utf8).write(to: outside.appendingPathComponent("shadow.yaml"))
        return (root, outside)
    }

    static func tenant(_ name: String, id: String = "3f6c1d2e-8a4b-4c1e-9a57-0d2f5b8e7c11") -> String {
        "apiVersion: guardrail/v1\nkind: Tenant\nmetadata: {name: \(name)}\nspec: {id: \(id)}\n"
    }

    static func link(_ path: String, in root: URL, to target: String) throws {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: url.path, withDestinationPath: target)
    }

    static func load(_ root: URL, maxFileSize: Int = Workspace.defaultMaxFileSize) throws -> (Configuration, [Diagnostic]) {
        let (configuration, diagnostics) = try Workspace(root: root.path, maxFileSize: maxFileSize).load()
        return (configuration, diagnostics.all)
    }

    @Test("a file that links outside --dir is refused by its own path; nothing of the target is read or named")
    func fileLinkOutsideIsRefused() throws {
        let (root, outside) = try Self.layout()
        try Self.link("alerts/shadow.yaml", in: root, to: outside.appendingPathComponent("shadow.yaml").path)
        try Self.link("manifests/relative.yaml", in: root, to: "../../outside/shadow.yaml")
        let (configuration, diagnostics) = try Self.load(root)
        #expect(
            diagnostics.map(\.description).sorted() == [
                "alerts/shadow.yaml:1:1: error: alerts/shadow.yaml resolves outside the configuration directory\n  Guardrail reads only files inside --dir; a symbolic link that leads out of it is refused, and nothing was read through it.",
                "manifests/relative.yaml:1:1: error: manifests/relative.yaml resolves outside the configuration directory\n  Guardrail reads only files inside --dir; a symbolic link that leads out of it is refused, and nothing was read through it.",
            ])
        #expect(configuration.files == ["manifests/tenants.yaml"])
        #expect(!diagnostics.contains { $0.description.contains("SECRET") || $0.description.contains(outside.path) })
    }

    @Test("a folder that links outside --dir is refused, both a top-level folder and one inside it")
    func folderLinkOutsideIsRefused() throws {
        let (root, outside) = try Self.layout()
        try Self.link("policies", in: root, to: outside.path)
        try Self.link("manifests/nested", in: root, to: outside.path)
        let (configuration, diagnostics) = try Self.load(root)
        #expect(
            diagnostics.map(\.summary).sorted() == [
                "manifests/nested resolves outside the configuration directory",
                "policies resolves outside the configuration directory",
            ])
        #expect(configuration.files == ["manifests/tenants.yaml"])
        #expect(!diagnostics.contains { $0.description.contains("SECRET") })
    }

    @Test("links that stay inside --dir are read, and a link to its own folder does not loop")
    func linksInsideAreRead() throws {
        let (root, _) = try Self.layout()
        try FileManager.default.createDirectory(at: root.appendingPathComponent("shared"), withIntermediateDirectories: true)
        try Data(Self.tenant("beta", id: "9b1f0c3a-2d4e-4f60-8a71-5c2b3d4e5f60").utf8).write(to: root.appendingPathComponent("shared/beta.yaml"))
        try Self.link("manifests/beta.yaml", in: root, to: "../shared/beta.yaml")
        try Self.link("manifests/loop", in: root, to: ".")
        let (configuration, diagnostics) = try Self.load(root)
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        #expect(configuration.tenants.map(\.name).sorted() == ["acme", "beta"])
        #expect(configuration.files == ["manifests/beta.yaml", "manifests/tenants.yaml"])
    }

    @Test("a FIFO named like a manifest is refused instead of blocking the read forever")
    func fifoIsRefused() throws {
        let (root, _) = try Self.layout()
        #expect(mkfifo(root.appendingPathComponent("manifests/pipe.yaml").path, 0o600) == 0)
        let (_, diagnostics) = try Self.load(root)
        #expect(diagnostics.map(\.summary) == ["manifests/pipe.yaml is not a regular file"])
    }

    @Test("a file over the size limit is refused unread with its size and the flag that raises it; one at the limit is read")
    func sizeLimit() throws {
        let (root, _) = try Self.layout()
        let atLimit = Self.tenant("acme")
        let limit = atLimit.utf8.count
        let (ok, okDiagnostics) = try Self.load(root, maxFileSize: limit)
        #expect(okDiagnostics.isEmpty, "\(okDiagnostics)")
        #expect(ok.tenants.map(\.name) == ["acme"])
        let (configuration, diagnostics) = try Self.load(root, maxFileSize: limit - 1)
        #expect(configuration.tenants.isEmpty)
        #expect(
            diagnostics.map(\.description) == [
                "manifests/tenants.yaml:1:1: error: manifests/tenants.yaml is larger than the \(limit - 1) bytes limit for a manifest file\n  It holds at least \(limit) bytes, so it was not read. Split it into several files, or raise the limit with --max-file-size."
            ])
    }

    @Test("the default limit is 16 MiB: a 17 MiB file is refused")
    func defaultSizeLimit() throws {
        let (root, _) = try Self.layout()
        #expect(Workspace.defaultMaxFileSize == 16 << 20)
        let big = Data(repeating: UInt8(ascii: "#"), count: 17 << 20)
        try big.write(to: root.appendingPathComponent("manifests/big.yaml"))
        let (configuration, diagnostics) = try Self.load(root)
        #expect(diagnostics.map(\.summary) == ["manifests/big.yaml is larger than the 16 MiB limit for a manifest file"])
        #expect(diagnostics.first?.detail.hasPrefix("It holds at least 17 MiB") == true)
        #expect(configuration.files == ["manifests/tenants.yaml"])
    }

    @Test("sizes in refusals read as people write them")
    func sizesAreDescribed() {
        #expect(Workspace.describe(bytes: 300) == "300 bytes")
        #expect(Workspace.describe(bytes: 1536) == "1.5 KiB")
        #expect(Workspace.describe(bytes: 16 << 20) == "16 MiB")
        #expect(Workspace.describe(bytes: 50_000_000) == "47.7 MiB")
    }
}
