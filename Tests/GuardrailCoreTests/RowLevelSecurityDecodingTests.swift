import GuardrailCore
import Testing

/// What `guardrail validate` rejects in RowLevelSecurity and RoleGrants manifests, offline, with the
/// exact line and column of the cause.
@Suite("RowLevelSecurity and RoleGrants decoding")
struct RowLevelSecurityDecodingTests {
    static func load(_ yaml: String, path: String = "policies/rls.yaml") -> (Configuration, [String]) {
        let (configuration, diagnostics) = ConfigurationLoader.load([ManifestSource(path: path, bytes: Array(yaml.utf8))])
        return (configuration, diagnostics.sorted.filter { $0.severity == .error }.map { "\($0.location.map(\.description) ?? "-"): \($0.summary)" })
    }

    static func rls(_ policies: String, name: String = "public.properties", extra: String = "") -> String {
        """
        apiVersion: guardrail/v1
        kind: RowLevelSecurity
        metadata: {name: '\(name)'}
        spec:
          searchPath: [public]\(extra)
          policies:
        \(policies)
        """
    }

    @Test("a full manifest decodes: defaults, PUBLIC, role sets, and expressions kept as written")
    func decodesAFullManifest() throws {
        let (configuration, errors) = Self.load(
            Self.rls(
                """
                  - name: tenant_isolation
                    roles: [viewer, app_user, viewer_2]
                    using: tenant_id = current_setting('app.current_tenant_id')::uuid
                    withCheck: tenant_id = current_setting('app.current_tenant_id')::uuid
                  - {name: audit, command: select, as: restrictive, roles: [public], using: "true"}
                """, extra: "\n  forced: true"))
        #expect(errors.isEmpty, "\(errors)")
        let rls = try #require(configuration.rowLevelSecurity.first)
        #expect(rls.table == QualifiedName(schema: "public", name: "properties"))
        #expect(rls.enabled && rls.forced)
        #expect(rls.searchPath == ["public"])
        #expect(rls.policies.map(\.name) == ["audit", "tenant_isolation"])
        #expect(rls.policies[0].roles == ["PUBLIC"] && rls.policies[0].mode == .restrictive && rls.policies[0].command == .select)
        #expect(rls.policies[1].roles == ["app_user", "viewer", "viewer_2"])
        #expect(rls.policies[1].command == .all && rls.policies[1].mode == .permissive)
        #expect(rls.policies[1].using == "tenant_id = current_setting('app.current_tenant_id')::uuid")
        #expect(rls.policies[1].source.using?.description == "policies/rls.yaml:10:12")
        #expect(configuration.locations[rls.address]?.description == "policies/rls.yaml:3:18")
    }

    /// Each case: the policy lines, and the one error expected, as `file:line:column: summary`.
    static let rejected: [(String, String, String)] = [
        (
            "WITH CHECK on a select policy",
            "  - {name: p, command: select, roles: [a], using: 'true', withCheck: 'true'}",
            "policies/rls.yaml:7:59: withCheck is not allowed on a select policy"
        ),
        (
            "WITH CHECK on a delete policy",
            "  - {name: p, command: delete, roles: [a], withCheck: 'true'}",
            "policies/rls.yaml:7:44: withCheck is not allowed on a delete policy"
        ),
        (
            "USING on an insert policy",
            "  - {name: p, command: insert, roles: [a], using: 'true'}",
            "policies/rls.yaml:7:44: using is not allowed on an insert policy"
        ),
        (
            "PUBLIC mixed with other roles",
            "  - {name: p, roles: [a, PUBLIC], using: 'true'}",
            "policies/rls.yaml:7:26: PUBLIC cannot be combined with other roles in policy \"p\""
        ),
        (
            "an unknown command",
            "  - {name: p, command: selec, roles: [a], using: 'true'}",
            "policies/rls.yaml:7:24: policy.command has an unknown value \"selec\""
        ),
        (
            "an unknown mode",
            "  - {name: p, as: permisive, roles: [a], using: 'true'}",
            "policies/rls.yaml:7:19: policy.as has an unknown value \"permisive\""
        ),
        (
            "a duplicate policy name",
            "  - {name: p, roles: [a], using: 'true'}\n  - {name: p, roles: [b], using: 'false'}",
            "policies/rls.yaml:8:12: duplicate policy name \"p\" on public.properties"
        ),
        (
            "a role listed twice",
            "  - {name: p, roles: [a, b, a], using: 'true'}",
            "policies/rls.yaml:7:29: role \"a\" is listed twice in policy \"p\""
        ),
        (
            "no roles",
            "  - {name: p, roles: [], using: 'true'}",
            "policies/rls.yaml:7:22: policy \"p\" has no roles"
        ),
        (
            "missing roles",
            "  - {name: p, using: 'true'}",
            "policies/rls.yaml:7:5: missing required field \"roles\" in policy"
        ),
        (
            "CURRENT_USER as a role",
            "  - {name: p, roles: [current_user], using: 'true'}",
            "policies/rls.yaml:7:23: current_user is not allowed in policy \"p\" roles"
        ),
        (
            "an unknown key, with a suggestion",
            "  - {name: p, roles: [a], using: 'true', with_check: 'true'}",
            "policies/rls.yaml:7:42: unknown key \"with_check\" in policy"
        ),
        (
            "an expression that closes the USING clause",
            "  - {name: p, roles: [a], using: 'true) OR (true'}",
            "policies/rls.yaml:7:34: invalid using expression in policy \"p\""
        ),
        (
            "an expression with a statement after it",
            "  - {name: p, roles: [a], using: 'true; DROP TABLE x'}",
            "policies/rls.yaml:7:34: invalid using expression in policy \"p\""
        ),
        (
            "an unterminated string in an expression",
            "  - {name: p, roles: [a], withCheck: \"x = 'open\"}",
            "policies/rls.yaml:7:38: invalid withCheck expression in policy \"p\""
        ),
        (
            "a name longer than Postgres keeps",
            "  - {name: \(String(repeating: "n", count: 64)), roles: [a], using: 'true'}",
            "policies/rls.yaml:7:12: invalid policy name \"\(String(repeating: "n", count: 64))\""
        ),
    ]

    @Test("what Postgres would reject is rejected offline, at the exact line and column", arguments: rejected.indices)
    func rejectsAtTheExactPosition(_ index: Int) {
        let (what, policies, expected) = Self.rejected[index]
        let (configuration, errors) = Self.load(Self.rls(policies))
        #expect(errors == [expected], "\(what)")
        _ = configuration
    }

    @Test("table names: schema required, unquoted uppercase refused with a hint, quoted parts taken exactly")
    func tableNames() {
        #expect(
            Self.load(Self.rls("    []", name: "properties")).1 == ["policies/rls.yaml:3:18: invalid table name \"properties\" for RowLevelSecurity"])
        let (_, upper) = Self.load(Self.rls("    []", name: "public.Properties"))
        #expect(upper == ["policies/rls.yaml:3:18: invalid table name \"public.Properties\" for RowLevelSecurity"])
        #expect(
            QualifiedName.parse("public.Properties").failureDescription?.contains(
                "write properties for the lowercase name, or \"Properties\" for this exact spelling") == true)
        let (quoted, errors) = Self.load(Self.rls("    []", name: #"public."Lease ""A"".b""#))
        #expect(errors.isEmpty)
        #expect(quoted.rowLevelSecurity.first?.table == QualifiedName(schema: "public", name: #"Lease "A".b"#))
        #expect(quoted.rowLevelSecurity.first?.address.description == #"rls.public."Lease ""A"".b""#)
    }

    @Test("searchPath is required, and pg_temp or $user in it are refused")
    func searchPathRules() {
        let missing = """
            apiVersion: guardrail/v1
            kind: RowLevelSecurity
            metadata: {name: public.t}
            spec: {enabled: true}
            """
        #expect(Self.load(missing).1 == ["policies/rls.yaml:4:7: missing required field \"searchPath\" in RowLevelSecurity spec"])
        let temp = Self.rls("    []").replacingOccurrences(of: "searchPath: [public]", with: "searchPath: [public, pg_temp, $user]")
        #expect(
            Self.load(temp).1 == [
                "policies/rls.yaml:5:24: invalid schema \"pg_temp\" in searchPath",
                "policies/rls.yaml:5:33: invalid schema \"$user\" in searchPath",
            ])
    }

    @Test("every problem in a file is reported in one run")
    func reportsEveryProblem() {
        let (_, errors) = Self.load(
            Self.rls(
                """
                  - {name: a, command: select, roles: [x], withCheck: 'true'}
                  - {name: b, command: insert, roles: [x, PUBLIC], using: 'true'}
                """))
        #expect(errors.count == 3, "\(errors)")
    }

    @Test("RoleGrants: reserved role names, unknown privileges, tables and schemas together, missing targets")
    func roleGrantsRules() {
        func grants(_ name: String, _ spec: String) -> [String] {
            Self.load("apiVersion: guardrail/v1\nkind: RoleGrants\nmetadata: {name: '\(name)'}\nspec:\n\(spec)\n").1
        }
        #expect(grants("public", "  grants: []") == ["policies/rls.yaml:3:18: \"public\" cannot be managed as a role"])
        #expect(grants("pg_monitor", "  grants: []") == ["policies/rls.yaml:3:18: \"pg_monitor\" cannot be managed as a role"])
        #expect(
            grants("analyst", "  grants: [{tables: [public.t], privileges: [select, truncate]}]")
                == ["policies/rls.yaml:5:54: unknown privilege \"truncate\""])
        #expect(
            grants("analyst", "  grants: [{tables: [public.t], schemas: [public], privileges: [select]}]")
                == ["policies/rls.yaml:5:33: a grant names both tables and schemas"])
        #expect(grants("analyst", "  grants: [{privileges: [select]}]") == ["policies/rls.yaml:5:12: a grant names no tables"])
        #expect(grants("analyst", "  grants: [{tables: [t], privileges: [select]}]") == ["policies/rls.yaml:5:22: invalid table name \"t\" in grant"])
        #expect(grants("analyst", "  login: yes\n  grants: []") == ["policies/rls.yaml:5:10: RoleGrants spec.login must be true or false"])
    }

    @Test("two manifests for the same table, however it is spelled, are a duplicate")
    func duplicateTables() {
        let yaml = Self.rls("    []") + "\n---\n" + Self.rls("    []", name: #"public."properties""#)
        #expect(Self.load(yaml).1 == ["policies/rls.yaml:11:18: duplicate RowLevelSecurity name \"public.\"properties\"\""])
    }
}

extension Result where Failure == IdentifierSyntax.Problem {
    var failureDescription: String? {
        if case .failure(let problem) = self { return problem.description }
        return nil
    }
}

@Suite("Imported manifests")
struct ImportedManifestTests {
    @Test("manifests written for live tables and roles decode back to exactly the same objects")
    func manifestsRoundTrip() throws {
        let table = QualifiedName(schema: "My Schema", name: "Lease \"Terms\".v2")
        let rls = RowLevelSecurity(
            table: table, enabled: true, forced: false, searchPath: [],
            policies: [
                .init(name: "yes", command: .select, mode: .restrictive, roles: ["PUBLIC"], using: "(a = 'x: y # z'::text)"),
                .init(
                    name: "tab\tand \"quote\" \u{2028} line", command: .insert, roles: ["true", "Role Two", "null"],
                    withCheck: "(EXISTS ( SELECT 1\n   FROM public.t\n  WHERE (t.b = \\'\\\\')))"),
            ])
        let grants = RoleGrantsState(
            role: "on", login: true,
            privileges: [
                table: [.select, .update], QualifiedName(schema: "public", name: "a"): [.select, .update],
                QualifiedName(schema: "public", name: "b"): [.delete],
            ])
        let yaml = RowLevelSecurity.manifestYAML([rls], header: "header\nsecond line") + RoleGrants.manifestYAML([grants], header: "grants")
        let (configuration, diagnostics) = ConfigurationLoader.load([ManifestSource(path: "policies/imported.yaml", bytes: Array(yaml.utf8))])
        #expect(!diagnostics.hasErrors, "\(diagnostics.all)\n\(yaml)")
        #expect(configuration.rowLevelSecurity == [rls])
        let decoded = try #require(configuration.roleGrants.first)
        #expect(decoded.state(in: CatalogState()) == grants)
        #expect(
            yaml.contains(#"    - tables: ["\"My Schema\".\"Lease \"\"Terms\"\".v2\"", public.a]"# + "\n      privileges: [select, update]"),
            "\(yaml)")
    }
}

/// Adding grants to a role's manifest in the user's own file, for `import rls`.
@Suite("Role grants edited in place")
struct RoleGrantsEditTests {
    static let file = """
        # the matrix
        ---
        apiVersion: guardrail/v1
        kind: RoleGrants
        metadata: {name: viewer}
        spec:
          grants:
            # read only
            - tables: [public.properties]
              privileges: [select]
        ---
        apiVersion: guardrail/v1
        kind: RoleGrants
        metadata: {name: ops}
        spec: {grants: [{tables: [public.a], privileges: [select]}]}
        ---
        apiVersion: guardrail/v1
        kind: RoleGrants
        metadata: {name: empty}
        spec: {login: true}

        """

    static let notes = QualifiedName(schema: "public", name: "notes")

    @Test func blockListsGainAnItemAboveTheFirstKeepingComments() throws {
        let edited = try RoleGrants.addingGrants([Self.notes: [.select, .insert]], toRole: "viewer", in: Self.file, file: "policies/r.yaml")
        #expect(
            edited.contains(
                """
                  grants:
                    - tables: [public.notes]
                      privileges: [select, insert]
                    # read only
                    - tables: [public.properties]
                """))
        let (configuration, diagnostics) = ConfigurationLoader.load([ManifestSource(path: "policies/r.yaml", bytes: Array(edited.utf8))])
        #expect(!diagnostics.hasErrors, "\(diagnostics.errors)")
        let viewer = try #require(configuration.roleGrants.first { $0.role == "viewer" })
        #expect(
            viewer.grants == [
                RoleGrants.Grant(targets: [.table(Self.notes)], privileges: [.select, .insert]),
                RoleGrants.Grant(targets: [.table(QualifiedName(schema: "public", name: "properties"))], privileges: [.select]),
            ])
    }

    @Test func flowListsGainAnEntryAndOtherRolesAreUntouched() throws {
        let edited = try RoleGrants.addingGrants([Self.notes: [.select]], toRole: "ops", in: Self.file, file: "policies/r.yaml")
        #expect(edited.contains("spec: {grants: [{tables: [public.notes], privileges: [select]}, {tables: [public.a], privileges: [select]}]}"))
        #expect(edited.replacingOccurrences(of: "{tables: [public.notes], privileges: [select]}, ", with: "") == Self.file)
        let (configuration, diagnostics) = ConfigurationLoader.load([ManifestSource(path: "policies/r.yaml", bytes: Array(edited.utf8))])
        #expect(!diagnostics.hasErrors)
        #expect(
            configuration.roleGrants.first { $0.role == "ops" }?.grants.first
                == RoleGrants.Grant(targets: [.table(Self.notes)], privileges: [.select]))
    }

    @Test func aManifestWithoutAGrantsListOrAnUnknownRoleIsRefused() {
        #expect(throws: RoleGrants.EditProblem.noGrantsList("empty")) {
            try RoleGrants.addingGrants([Self.notes: [.select]], toRole: "empty", in: Self.file, file: "f")
        }
        #expect(throws: RoleGrants.EditProblem.roleNotFound("nobody")) {
            try RoleGrants.addingGrants([Self.notes: [.select]], toRole: "nobody", in: Self.file, file: "f")
        }
    }
}
