import Foundation
import GuardrailCore
import GuardrailEngine

/// Configuration fixtures: the repository's example configuration and generated estates.
public enum Fixtures {
    /// The repository root (the example configuration lives in its manifests/, policies/, ...).
    public static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The example configuration the demo applies.
    public static func exampleConfiguration() throws -> Configuration {
        let (configuration, diagnostics) = try Workspace(root: repositoryRoot.path).load()
        if diagnostics.hasErrors { throw DiagnosticError(diagnostics.errors) }
        return configuration
    }

    /// The application's tables (scripts/sql/app-schema.sql), which the example policies and grants
    /// name; load it into a database before planning the example configuration.
    public static func appSchemaSQL() throws -> String {
        try String(contentsOf: repositoryRoot.appendingPathComponent("scripts/sql/app-schema.sql"), encoding: .utf8)
    }

    /// A deterministic UUID for tenant number `i`.
    public static func tenantID(_ i: Int, seed: Int = 0) -> String {
        let hex = String(format: "%012x", i)
        let s = String(format: "%08x", seed)
        return "\(s)-0000-4000-8000-\(hex)"
    }

    /// YAML for `count` tenants in the DESIGN shape, 10 lines each.
    public static func tenantsYAML(count: Int, seed: Int = 0, displayPrefix: String = "Brokerage") -> String {
        var out = "# generated\n"
        out.reserveCapacity(count * 220)
        let regions = ["us-east", "us-west", "eu-west"]
        for i in 0..<count {
            out += """
                ---
                apiVersion: guardrail/v1
                kind: Tenant
                metadata:
                  name: brokerage-\(i)
                  labels: {cohort: \(i == 0 ? "internal" : "customer"), region: \(regions[i % 3])}
                spec:
                  id: \(tenantID(i, seed: seed))
                  displayName: \(displayPrefix) \(i)
                  status: active

                """
        }
        return out
    }

    /// A configuration made of generated tenants plus the `local` environment.
    public static func generatedConfiguration(tenants count: Int, seed: Int = 0, displayPrefix: String = "Brokerage") -> Configuration {
        let sources = [
            ManifestSource(path: "manifests/tenants.yaml", bytes: Array(tenantsYAML(count: count, seed: seed, displayPrefix: displayPrefix).utf8)),
            ManifestSource(path: "environments/local.yaml", bytes: Array(localEnvironmentYAML.utf8)),
        ]
        let (configuration, diagnostics) = ConfigurationLoader.load(sources)
        precondition(!diagnostics.hasErrors, "generated configuration is invalid: \(diagnostics.errors)")
        return configuration
    }

    /// Decodes manifest files given as text (path -> YAML), plus the `local` environment; fails on any error.
    public static func configuration(_ files: [String: String]) throws -> Configuration {
        var sources = files.map { ManifestSource(path: $0.key, bytes: Array($0.value.utf8)) }
        sources.append(ManifestSource(path: "environments/local.yaml", bytes: Array(localEnvironmentYAML.utf8)))
        let (configuration, diagnostics) = ConfigurationLoader.load(sources)
        if diagnostics.hasErrors { throw DiagnosticError(diagnostics.sorted) }
        return configuration
    }

    public static let localEnvironmentYAML = """
        apiVersion: guardrail/v1
        kind: Environment
        metadata: {name: local}
        spec:
          postgres: {url: "${DATABASE_URL}", schema: guardrail, lockTimeout: 5s}

        """

    /// Writes a configuration directory (manifests/ and environments/) for CLI tests; returns its path.
    public static func writeWorkspace(files: [String: String]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-ws-\(UUID().uuidString)")
        for (path, text) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        return root
    }

    /// A guardrail named `guardrail` with the given flow-style spec, and the flag `launch.test`
    /// rolling out through `phases` (flow-style list items) watched by it.
    public static func rolloutYAML(guardrail: String, spec: String, phases: [String]) -> String {
        """
        apiVersion: guardrail/v1
        kind: Guardrail
        metadata: {name: \(guardrail)}
        spec: \(spec)
        ---
        apiVersion: guardrail/v1
        kind: FeatureFlag
        metadata: {name: launch.test}
        spec:
          enabled: true
          rollout:
            phases:
        \(phases.map { "      - " + $0 }.joined(separator: "\n"))
            guardrails: [\(guardrail)]

        """
    }
}
