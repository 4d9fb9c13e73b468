import GuardrailCore
import Testing

/// The pure diff for row-level security and grants: which changes, in which order, with which hazards.
@Suite("Row-level security and grants diff")
struct CatalogDiffTests {
    typealias Policy = RowLevelSecurity.Policy
    static let properties = QualifiedName(schema: "public", name: "properties")
    static let tenant = "tenant_id = current_setting('app.current_tenant_id')::uuid"

    static func table(enabled: Bool = true, forced: Bool = false, _ policies: [Policy]) -> RowLevelSecurity {
        RowLevelSecurity(table: properties, enabled: enabled, forced: forced, searchPath: ["public"], policies: policies)
    }

    static func live(_ rls: RowLevelSecurity?, managed: Bool = true) -> CatalogState {
        var state = CatalogState()
        if var rls {
            rls.searchPath = []
            state.tables[rls.table] = rls
            state.tableFacts[rls.table] = CatalogState.TableFacts(owner: "owner")
            if managed { state.managedTables.insert(rls.table) }
        }
        return state
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var desired: RowLevelSecurity?
        var live: RowLevelSecurity?
        var managed = true
        /// `action address: hazard kinds`, in plan order.
        var expected: [String]
        var testDescription: String { name }
    }

    static let tenantPolicy = Policy(name: "tenant", roles: ["app"], using: tenant, withCheck: tenant)

    static let cases: [Case] = [
        Case(name: "identical state plans nothing", desired: table([tenantPolicy]), live: table([tenantPolicy]), expected: []),
        Case(
            name: "roles in another order are the same set",
            desired: table([Policy(name: "tenant", roles: ["viewer", "app"], using: tenant)]),
            live: table([Policy(name: "tenant", roles: ["app", "viewer"], using: tenant)]), expected: []),
        Case(
            name: "a new policy and ENABLE: the create comes first, then the enable",
            desired: table([tenantPolicy]), live: table(enabled: false, []),
            expected: [
                "create rls.public.properties.policy.tenant: widens-access",
                "update rls.public.properties: may-break-queries",
            ]),
        Case(
            name: "DISABLE and dropping every policy: the disable comes first",
            desired: table(enabled: false, []), live: table([tenantPolicy]),
            expected: [
                "update rls.public.properties: destroys, widens-access",
                "delete rls.public.properties.policy.tenant: destroys, may-break-queries",
            ]),
        Case(
            name: "NO FORCE comes before policy drops, FORCE after creates",
            desired: table(forced: false, []), live: table(forced: true, [tenantPolicy]),
            expected: [
                "update rls.public.properties: widens-access",
                "delete rls.public.properties.policy.tenant: destroys, may-break-queries",
            ]),
        Case(
            name: "adding a role to a permissive policy widens access",
            desired: table([Policy(name: "tenant", roles: ["app", "viewer"], using: tenant, withCheck: tenant)]), live: table([tenantPolicy]),
            expected: ["update rls.public.properties.policy.tenant: widens-access"]),
        Case(
            name: "widening a permissive policy to PUBLIC widens access",
            desired: table([Policy(name: "tenant", roles: ["PUBLIC"], using: tenant, withCheck: tenant)]), live: table([tenantPolicy]),
            expected: ["update rls.public.properties.policy.tenant: widens-access"]),
        Case(
            name: "removing a role from a restrictive policy widens access",
            desired: table([Policy(name: "r", mode: .restrictive, roles: ["app"], using: "true")]),
            live: table([Policy(name: "r", mode: .restrictive, roles: ["app", "viewer"], using: "true")]),
            expected: ["update rls.public.properties.policy.r: widens-access"]),
        Case(
            name: "an added restrictive policy may break queries",
            desired: table([tenantPolicy, Policy(name: "r", mode: .restrictive, roles: ["app"], using: "true")]), live: table([tenantPolicy]),
            expected: ["create rls.public.properties.policy.r: may-break-queries"]),
        Case(
            name: "a dropped restrictive policy widens access and destroys",
            desired: table([tenantPolicy]), live: table([tenantPolicy, Policy(name: "r", mode: .restrictive, roles: ["app"], using: "true")]),
            expected: ["delete rls.public.properties.policy.r: destroys, widens-access"]),
        Case(
            name: "a changed command is a replace; all to select narrows a permissive policy",
            desired: table([Policy(name: "tenant", command: .select, roles: ["app"], using: tenant)]),
            live: table([Policy(name: "tenant", roles: ["app"], using: tenant)]),
            expected: ["replace rls.public.properties.policy.tenant: may-break-queries"]),
        Case(
            name: "permissive to restrictive is a replace that may break queries",
            desired: table([Policy(name: "tenant", mode: .restrictive, roles: ["app"], using: tenant)]),
            live: table([Policy(name: "tenant", roles: ["app"], using: tenant)]),
            expected: ["replace rls.public.properties.policy.tenant: may-break-queries"]),
        Case(
            name: "adding WITH CHECK is an update in place, flagged both ways",
            desired: table([tenantPolicy]), live: table([Policy(name: "tenant", roles: ["app"], using: tenant)]),
            expected: ["update rls.public.properties.policy.tenant: widens-access, may-break-queries"]),
        Case(
            name: "removing WITH CHECK needs a replace: ALTER POLICY cannot remove it",
            desired: table([Policy(name: "tenant", roles: ["app"], using: tenant)]), live: table([tenantPolicy]),
            expected: ["replace rls.public.properties.policy.tenant: widens-access, may-break-queries"]),
        Case(
            name: "a deleted manifest of a managed table disables RLS first, then drops its policies",
            desired: nil, live: table(forced: true, [tenantPolicy]),
            expected: [
                "delete rls.public.properties: destroys, widens-access",
                "delete rls.public.properties.policy.tenant: destroys, may-break-queries",
            ]),
        Case(name: "a table Guardrail never managed is left alone", desired: nil, live: table([tenantPolicy]), managed: false, expected: []),
    ]

    @Test("RLS changes, order and hazards", arguments: cases)
    func rlsChanges(_ c: Case) {
        let changes = RowLevelSecurity.changes(desired: c.desired.map { [$0] } ?? [], live: Self.live(c.live, managed: c.managed))
        let described = changes.map { "\($0.action.rawValue) \($0.address): " + $0.hazards.map(\.kind.rawValue).joined(separator: ", ") }
        #expect(described == c.expected)
    }

    @Test("a change's before and after carry the table, so a saved plan applies without the manifest")
    func attributesRoundTrip() throws {
        let policy = Policy(name: "tenant", command: .update, mode: .restrictive, roles: ["b", "a"], using: "x", withCheck: nil)
        let attributes = policy.attributes(on: Self.properties)
        #expect(try Policy(attributes: attributes) == policy)
        #expect(try QualifiedName(attributes: attributes, kind: RowLevelSecurity.policyKind) == Self.properties)
        #expect(attributes["with_check"] == .null)
        #expect(attributes["roles"] == .list([.string("a"), .string("b")]))
    }

    static func grantsLive(
        _ roles: [String: RoleGrantsState], managed: Set<String> = [], tablesInSchema: [String: [QualifiedName]] = [:],
        owners: [QualifiedName: String] = [:]
    ) -> CatalogState {
        CatalogState(roleGrants: roles, managedRoles: managed, tablesInSchema: tablesInSchema, grantTableOwners: owners)
    }

    @Test("grants: a missing role is created, a grant widens, a revoke may break queries, login changes are shown")
    func grantChanges() {
        let offers = QualifiedName(schema: "public", name: "offers")
        let desired = [
            RoleGrants(role: "analyst", grants: [RoleGrants.Grant(targets: [.table(Self.properties)], privileges: [.select, .update])]),
            RoleGrants(role: "fresh", login: true, grants: [RoleGrants.Grant(targets: [.schema("public")], privileges: [.select])]),
        ]
        let live = Self.grantsLive(
            [
                "analyst": RoleGrantsState(role: "analyst", login: true, privileges: [Self.properties: [.select, .delete], offers: [.insert]])
            ], tablesInSchema: ["public": [offers, Self.properties]], owners: [offers: "fresh"])
        let changes = RoleGrants.changes(desired: desired, live: live)
        #expect(changes.map { "\($0.action.rawValue) \($0.address)" } == ["update grants.analyst", "create grants.fresh"])
        #expect(
            changes[0].hazards.map(\.message) == [
                "grants UPDATE on public.properties",
                "revokes INSERT on public.offers; DELETE on public.properties",
                "the role can no longer log in",
            ])
        // fresh owns public.offers: an owner's privileges are implicit, so only properties is granted.
        #expect(changes[1].after?["privileges"] == .map(["public.properties": .list([.string("select")])]))
        #expect(changes[1].hazards.map(\.kind) == [.widensAccess, .widensAccess])
    }

    @Test("grants: a managed role without a manifest has its privileges revoked; an unmanaged one is left alone")
    func grantReleases() {
        let live = Self.grantsLive(
            [
                "old": RoleGrantsState(role: "old", login: false, privileges: [Self.properties: [.select]]),
                "stranger": RoleGrantsState(role: "stranger", login: false, privileges: [Self.properties: [.select]]),
            ], managed: ["old"])
        let changes = RoleGrants.changes(desired: [], live: live)
        #expect(changes.map { "\($0.action.rawValue) \($0.address)" } == ["delete grants.old"])
        #expect(changes.first?.hazards.map(\.kind) == [.destroys, .mayBreakQueries])
    }

    @Test("mass delete: deleting every managed RLS table is flagged; policy deletes are judged by their table")
    func massDelete() {
        var live = Self.live(Self.table([Self.tenantPolicy]))
        let other = QualifiedName(schema: "public", name: "offers")
        live.tables[other] = RowLevelSecurity(table: other, enabled: true, policies: [Self.tenantPolicy])
        live.managedTables.insert(other)
        var configuration = Configuration()
        configuration.rowLevelSecurity = [Self.table([])]
        let oneOfTwo = CatalogPlan.changes(desired: configuration, live: live)
        #expect(!oneOfTwo.contains { $0.hazards.contains { $0.kind == .massDelete } })
        let all = CatalogPlan.changes(desired: Configuration(), live: live)
        #expect(
            all.filter { $0.hazards.contains { $0.kind == .massDelete } }.map(\.address.description) == [
                "rls.public.offers", "rls.public.properties",
            ])
    }

    @Test("findings: BYPASSRLS, superuser, unforced owner, disabled RLS with policies, no permissive policy, no expressions")
    func findings() {
        var live = Self.live(Self.table([]))
        live.roles = ["bypass": .init(bypassRLS: true), "root": .init(superuser: true), "app": .init()]
        live.tableFacts[Self.properties] = CatalogState.TableFacts(owner: "owner", rolesWithOwnerPrivileges: ["owner", "owner_member"])
        let desired = Self.table([Policy(name: "p", roles: ["app", "bypass", "root", "owner", "owner_member"], using: "true")])
        #expect(
            RowLevelSecurity.findings(desired: [desired], live: live).map(\.message) == [
                "the policy does nothing for bypass: it has BYPASSRLS",
                "the policy does nothing for owner: it owns public.properties, and owners bypass row-level security unless the table is forced (set forced: true)",
                "the policy does nothing for owner_member: it has the privileges of owner, which owns public.properties, and owners bypass row-level security unless the table is forced (set forced: true)",
                "the policy does nothing for root: superusers bypass row-level security",
            ])
        var forced = desired
        forced.forced = true
        #expect(RowLevelSecurity.findings(desired: [forced], live: live).count == 2)
        #expect(
            RowLevelSecurity.findings(desired: [Self.table([Policy(name: "p", roles: ["PUBLIC"], using: "true")])], live: live).map(\.message)
                == [
                    "its PUBLIC policies do nothing for its owner owner: owners bypass row-level security unless the table is forced (set forced: true)"
                ])
        #expect(
            RowLevelSecurity.findings(desired: [Self.table(enabled: false, [Self.tenantPolicy])], live: live).map(\.message)
                == ["row-level security is disabled, so none of its 1 policy applies"])
        #expect(
            RowLevelSecurity.findings(desired: [Self.table([Policy(name: "r", mode: .restrictive, roles: ["app"])])], live: live).map(\.message) == [
                "row-level security is enabled with no permissive policy, so every role but the owner sees no rows and can write none",
                "the policy has neither using nor withCheck, so it restricts nothing",
            ])
    }
}
