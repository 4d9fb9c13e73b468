import Foundation
import GuardrailCore
import Testing

/// Rendered plans for row-level security and grants, compared with golden files so that any change
/// to the output shows in review. `GUARDRAIL_UPDATE_GOLDEN=1 swift test --filter CatalogPlanRendering`
/// rewrites them.
@Suite("Row-level security plan rendering")
struct CatalogPlanRenderingTests {
    static let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    static func plan() throws -> Plan {
        let yaml = """
            apiVersion: guardrail/v1
            kind: RowLevelSecurity
            metadata: {name: public.properties}
            spec:
              forced: true
              searchPath: [public]
              policies:
                - {name: tenant_isolation, roles: [app_user, viewer], using: "(tenant_id = (current_setting('app.current_tenant_id'::text))::uuid)"}
                - {name: open_only, command: select, as: restrictive, roles: [viewer], using: "(status = 'open'::text)"}
            ---
            apiVersion: guardrail/v1
            kind: RoleGrants
            metadata: {name: viewer}
            spec: {grants: [{tables: [public.properties], privileges: [select]}]}

            """
        let (configuration, diagnostics) = ConfigurationLoader.load([ManifestSource(path: "policies/p.yaml", bytes: Array(yaml.utf8))])
        #expect(!diagnostics.hasErrors)
        let properties = QualifiedName(schema: "public", name: "properties")
        let offers = QualifiedName(schema: "public", name: "offers")
        var live = LiveState(schemaVersion: 2)
        live.catalog = CatalogState(
            tables: [
                properties: RowLevelSecurity(
                    table: properties, enabled: false,
                    policies: [
                        .init(
                            name: "tenant_isolation", roles: ["app_user"],
                            using: "(tenant_id = (current_setting('app.current_tenant_id'::text))::uuid)"),
                        .init(name: "legacy", roles: ["PUBLIC"], using: "true"),
                    ]),
                offers: RowLevelSecurity(table: offers, enabled: true, policies: [.init(name: "all", roles: ["app_user"], using: "true")]),
            ],
            tableFacts: [properties: .init(owner: "app_owner"), offers: .init(owner: "app_owner")],
            managedTables: [properties, offers],
            roles: ["viewer": .init(bypassRLS: true), "app_user": .init(login: true)],
            roleGrants: ["viewer": RoleGrantsState(role: "viewer", login: false, privileges: [offers: [.select, .delete]])],
            managedRoles: ["viewer"],
            grantTableOwners: [properties: "app_owner", offers: "app_owner"])
        let context = PlanBuilder.Context(environment: "staging", planID: "00000000-0000-4000-8000-000000000000", createdAt: "2025-11-01T00:00:00Z")
        return PlanBuilder.plan(desired: configuration, live: live, context: context)
    }

    static func compare(_ rendered: String, golden name: String) throws {
        let url = goldenDirectory.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["GUARDRAIL_UPDATE_GOLDEN"] == "1" {
            try Data(rendered.utf8).write(to: url)
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        #expect(rendered == expected, "\(name) differs from its golden file; rerun with GUARDRAIL_UPDATE_GOLDEN=1 if the change is intended")
    }

    @Test("text: grants first, then per table the safe order, hazards, and warnings after the summary")
    func text() throws {
        let plan = try Self.plan()
        #expect(
            plan.changes.map(\.address.description) == [
                "grants.viewer",
                "rls.public.offers", "rls.public.offers.policy.all",
                "rls.public.properties.policy.open_only", "rls.public.properties.policy.tenant_isolation",
                "rls.public.properties.policy.legacy", "rls.public.properties",
            ])
        try Self.compare(TextPlanRenderer(color: false).render(plan), golden: "rls-plan.txt")
    }

    @Test("markdown: the warnings and the blocked destroys are in the PR comment")
    func markdown() throws {
        try Self.compare(MarkdownPlanRenderer().render(try Self.plan()), golden: "rls-plan.md")
    }
}
