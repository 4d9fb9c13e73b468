import Foundation
import GuardrailCore
import Testing

/// The rendered plan for a flag whose rollout applying would start, as golden files: a change to the
/// output shows in review as a diff of `Golden/flag-rollout.*`. Run with GUARDRAIL_UPDATE_GOLDEN=1 to rewrite them.
@Suite("flag plan golden files")
struct FlagPlanGoldenTests {
    static let manifests = """
        apiVersion: guardrail/v1
        kind: Guardrail
        metadata: {name: bounce-rate}
        spec:
          query: sum(rate(email_bounced_total{tenant_id=~"{{cohort}}"}[10m])) / sum(rate(email_sent_total{tenant_id=~"{{cohort}}"}[10m]))
          max: 0.02
          failures: 2
        ---
        apiVersion: guardrail/v1
        kind: FeatureFlag
        metadata: {name: channel.email}
        spec:
          description: Outbound email.
          enabled: true
          overrides: {disable: [brokerage-7]}
          rollout:
            phases:
              - {name: internal, tenants: {selector: {cohort: internal}}, bake: 7d}
              - {name: canary, percent: 5, bake: 48h}
              - {percent: 25, bake: 3d}
              - {percent: 100}
            guardrails: [bounce-rate]

        """

    static func plan() throws -> Plan {
        var tenants = ""
        for i in 0..<30 {
            tenants += """
                ---
                apiVersion: guardrail/v1
                kind: Tenant
                metadata: {name: brokerage-\(i), labels: {cohort: \(i == 0 ? "internal" : "customer")}}
                spec: {id: 00000000-0000-4000-8000-\(String(format: "%012d", i)), displayName: Brokerage \(i)}

                """
        }
        let (configuration, diagnostics) = ConfigurationLoader.load([
            ManifestSource(path: "manifests/flags.yaml", bytes: Array(manifests.utf8)),
            ManifestSource(path: "manifests/tenants.yaml", bytes: Array(tenants.utf8)),
        ])
        #expect(!diagnostics.hasErrors, "\(diagnostics.all)")
        var live = LiveState(schemaVersion: 2, tenants: configuration.tenants)
        live.guardrails = configuration.guardrails
        let context = PlanBuilder.Context(
            environment: "production", planID: "00000000-0000-4000-8000-00000000abcd", createdAt: "2026-01-01T00:00:00Z")
        return PlanBuilder.plan(desired: configuration, live: live, context: context)
    }

    func compare(_ text: String, golden name: String) throws {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/\(name)")
        if ProcessInfo.processInfo.environment["GUARDRAIL_UPDATE_GOLDEN"] == "1" {
            try Data(text.utf8).write(to: source)
            return
        }
        let url = try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Golden"), "missing golden file \(name)")
        let expected = try String(contentsOf: url, encoding: .utf8)
        #expect(text == expected, "\(name) differs from the golden file; rerun with GUARDRAIL_UPDATE_GOLDEN=1 if the change is intended")
    }

    @Test("text, JSON and Markdown renderings of a starting rollout match their golden files")
    func goldenFiles() throws {
        let plan = try Self.plan()
        #expect(plan.changes.map(\.address.description) == ["flag.channel.email"])
        try compare(TextPlanRenderer(color: false).render(plan), golden: "flag-rollout.txt")
        try compare(try JSONPlanRenderer.render(plan), golden: "flag-rollout.json")
        try compare(MarkdownPlanRenderer().render(plan), golden: "flag-rollout.md")
    }

    @Test("a saved plan with a rollout preview reads back unchanged")
    func roundTrip() throws {
        let plan = try Self.plan()
        let decoded = try JSONPlanRenderer.decode(Data(try JSONPlanRenderer.render(plan).utf8))
        #expect(decoded == plan)
        #expect(decoded.changes.first?.rollout?.phases.map(\.cohortSize) == [1, 3, 9, 29])
    }
}
