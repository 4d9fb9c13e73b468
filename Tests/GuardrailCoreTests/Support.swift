import Foundation
import Testing
@testable import GuardrailCore

// Shared helpers for the pure core tests. Nothing here touches the network or a database.

/// Loads manifest files given as (path, text) pairs, the way `guardrail validate` would after reading them.
func load(_ files: [(String, String)]) -> (configuration: Configuration, diagnostics: [Diagnostic]) {
    let (configuration, diagnostics) = ConfigurationLoader.load(files.map { ManifestSource(path: $0.0, bytes: Array($0.1.utf8)) })
    return (configuration, diagnostics.sorted)
}

/// Loads one file.
func load(_ path: String, _ text: String) -> (configuration: Configuration, diagnostics: [Diagnostic]) {
    load([(path, text)])
}

/// `file:line:column: summary`, one string per diagnostic: the part of a diagnostic a test pins exactly.
func located(_ diagnostics: [Diagnostic]) -> [String] {
    diagnostics.map { d in
        (d.location.map { "\($0): " } ?? "") + d.summary
    }
}

let acmeID = "3f6c1d2e-8a4b-4c1e-9a57-0d2f5b8e7c11"
let globexID = "9b2e4f10-3c5d-4e6f-8a7b-1c2d3e4f5a6b"
let initechID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

/// A complete, valid Tenant document; line numbers inside it are what the validation tests count from.
///
///     1 apiVersion: guardrail/v1
///     2 kind: Tenant
///     3 metadata:
///     4   name: <name>
///     5 spec:
///     6   id: <id>
///     7   displayName: <displayName>
func tenantDocument(name: String = "acme", id: String = acmeID, displayName: String = "Acme Realty") -> String {
    """
    apiVersion: guardrail/v1
    kind: Tenant
    metadata:
      name: \(name)
    spec:
      id: \(id)
      displayName: \(displayName)

    """
}

func tenant(
    _ name: String, id: String = acmeID, displayName: String? = nil, status: Tenant.Status = .active,
    labels: [String: String] = [:]
) -> Tenant {
    Tenant(name: name, id: id, displayName: displayName ?? name.capitalized, status: status, labels: labels)
}

/// Golden files live in `Tests/GuardrailCoreTests/Golden/`. Tests read them from the bundle the package copies
/// them into; with `GUARDRAIL_UPDATE_GOLDEN=1` they rewrite the copies in the source tree instead.
enum Golden {
    static var updating: Bool { ProcessInfo.processInfo.environment["GUARDRAIL_UPDATE_GOLDEN"] == "1" }

    static func sourceURL(_ name: String, filePath: String = #filePath) -> URL {
        URL(fileURLWithPath: filePath).deletingLastPathComponent().appendingPathComponent("Golden").appendingPathComponent(name)
    }

    static func expected(_ name: String) throws -> String {
        let url = try #require(
            Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Golden"),
            "golden file Golden/\(name) is not in the test bundle; run with GUARDRAIL_UPDATE_GOLDEN=1 to create it")
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// Compares `actual` with the golden file exactly, or rewrites the golden file when updating.
    static func check(_ actual: String, against name: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        if updating {
            try actual.write(to: sourceURL(name), atomically: true, encoding: .utf8)
            return
        }
        let expected = try expected(name)
        if actual != expected {
            let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
            let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
            let line = zip(a, e).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, e.count)
            let got = line < a.count ? String(a[line]) : "<end of output>"
            let want = line < e.count ? String(e[line]) : "<end of file>"
            Issue.record(
                """
                output differs from Golden/\(name) at line \(line + 1):
                  expected: \(want)
                  actual:   \(got)
                Rerun with GUARDRAIL_UPDATE_GOLDEN=1 if the change is intended, and review the diff.
                """, sourceLocation: sourceLocation)
        }
    }
}
