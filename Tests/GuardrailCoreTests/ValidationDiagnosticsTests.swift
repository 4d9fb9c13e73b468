import Testing
@testable import GuardrailCore

/// Every class of configuration error, each pinned to the exact `file:line:column` and summary that
/// `ConfigurationLoader.load` reports. Line and column numbers are counted by hand from the inputs.
@Suite("Validation diagnostics")
struct ValidationDiagnosticsTests {
    // MARK: Baseline: valid input decodes, so the failures below are not vacuous.

    @Test func validTenantLoadsWithNoDiagnosticsAndNormalisedFields() throws {
        let (config, diagnostics) = load(
            "manifests/tenants.yaml",
            """
            apiVersion: guardrail/v1
            kind: Tenant
            metadata:
              name: acme
              labels: {cohort: internal, tier: gold}
            spec:
              id: 3F6C1D2E-8A4B-4C1E-9A57-0D2F5B8E7C11
              displayName: Acme Realty
              status: suspended
            ---
            apiVersion: guardrail/v1
            kind: Tenant
            metadata: {name: globex}
            spec: {id: \(globexID)}
            """)
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        #expect(
            config.tenants == [
                Tenant(name: "acme", id: acmeID, displayName: "Acme Realty", status: .suspended, labels: ["cohort": "internal", "tier": "gold"]),
                // displayName defaults to the name, status to active.
                Tenant(name: "globex", id: globexID, displayName: "globex", status: .active, labels: [:]),
            ])
        #expect(config.locations[Address(prefix: "tenant", name: "acme")]?.description == "manifests/tenants.yaml:4:9")
        #expect(config.locations[Address(prefix: "tenant", name: "globex")]?.description == "manifests/tenants.yaml:13:18")
        #expect(config.files == ["manifests/tenants.yaml"])
    }

    @Test func validEnvironmentLoadsWithParsedDurationsAndTemplates() throws {
        let (config, diagnostics) = load(
            "environments/production.yaml",
            """
            apiVersion: guardrail/v1
            kind: Environment
            metadata: {name: production}
            spec:
              postgres: {url: "${DATABASE_URL}", schema: ops, lockTimeout: 1m30s}
              prometheus: {url: "http://prometheus:9090"}
              alerts: {target: prometheus, rulesDir: /etc/prometheus/rules.d}
              backups: {directory: /var/backups/realestate}
              controller: {interval: 45s, listen: "0.0.0.0:8080", drift: {tenant: warn}}
            """)
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let env = try #require(config.environments["production"])
        #expect(env.postgres.url.variableNames == ["DATABASE_URL"])
        #expect(env.postgres.schema == "ops")
        #expect(env.postgres.lockTimeout == GuardrailDuration(milliseconds: 90_000))
        #expect(env.postgres.statementTimeout == nil)
        #expect(env.prometheus?.url.raw == "http://prometheus:9090")
        #expect(env.alerts?.target == .prometheus)
        #expect(env.alerts?.rulesDirectory?.raw == "/etc/prometheus/rules.d")
        #expect(env.backups?.directory?.raw == "/var/backups/realestate")
        #expect(env.controller?.interval == .seconds(45))
        #expect(env.controller?.listen == "0.0.0.0:8080")
        #expect(env.controller?.drift == ["tenant": .warn])
    }

    // MARK: One test per class of problem.

    @Test func yamlSyntaxErrorIsReportedAtTheOffendingCharacter() {
        let (config, diagnostics) = load(
            "manifests/tenants.yaml",
            """
            apiVersion: guardrail/v1
            kind: Tenant
            metadata:
              name: a: b
            """)
        #expect(located(diagnostics) == ["manifests/tenants.yaml:4:10: YAML syntax error: mapping values are not allowed in this context"])
        #expect(config.tenants.isEmpty)
    }

    @Test func documentsBeforeASyntaxErrorAreStillDecoded() {
        let (config, diagnostics) = load(
            "manifests/tenants.yaml",
            tenantDocument() + """
                ---
                apiVersion: guardrail/v1
                kind: "Tenant
                """)
        #expect(diagnostics.count == 1)
        #expect(diagnostics.first?.summary.hasPrefix("YAML syntax error") == true)
        #expect(diagnostics.first?.location?.file == "manifests/tenants.yaml")
        #expect(config.tenants.map(\.name) == ["acme"])
    }

    @Test func unknownSpecKeySuggestsTheIntendedKey() {
        let (_, diagnostics) = load(
            "manifests/tenants.yaml",
            """
            apiVersion: guardrail/v1
            kind: Tenant
            metadata:
              name: acme
            spec:
              id: \(acmeID)
              displayname: Acme Realty
            """)
        #expect(located(diagnostics) == ["manifests/tenants.yaml:7:3: unknown key \"displayname\" in Tenant spec"])
        #expect(diagnostics.first?.detail == "Did you mean \"displayName\"? Allowed keys: id, displayName, status.")
    }

    @Test func misspeltMetadataIsUnknownWithSuggestionAndMetadataIsThenMissing() {
        let (_, diagnostics) = load(
            "manifests/tenants.yaml",
            """
            apiVersion: guardrail/v1
            kind: Tenant
            metdata:
              name: acme
            spec:
              id: \(acmeID)
            """)
        #expect(
            located(diagnostics) == [
                "manifests/tenants.yaml:1:1: missing required field \"metadata\" in the document",
                "manifests/tenants.yaml:3:1: unknown key \"metdata\" in the document",
            ])
        #expect(diagnostics.last?.detail.hasPrefix("Did you mean \"metadata\"?") == true)
    }

    @Test func unknownKeyFarFromAnyAllowedKeyHasNoSuggestion() {
        let (_, diagnostics) = load(
            "manifests/tenants.yaml",
            """
            apiVersion: guardrail/v1
            kind: Tenant
            metadata: {name: acme}
            spec: {id: \(acmeID), region: eu}
            """)
        #expect(located(diagnostics) == ["manifests/tenants.yaml:4:50: unknown key \"region\" in Tenant spec"])
        #expect(diagnostics.first?.detail == "Allowed keys: id, displayName, status.")
    }

    struct WrongType: Sendable, CustomTestStringConvertible {
        var yaml: String
        var expected: String
        var detail: String
        var testDescription: String { expected }
    }

    @Test(arguments: [
        WrongType(
            yaml: """
                apiVersion: guardrail/v1
                kind: Tenant
                metadata:
                  name: acme
                spec:
                  id: \(acmeID)
                  displayName: Acme
                  status: 5
                """, expected: "manifests/t.yaml:8:11: Tenant spec.status must be a string",
            detail: "Found an integer `5`; quote it (\"5\") if you meant the text."),
        WrongType(
            yaml: """
                apiVersion: guardrail/v1
                kind: Tenant
                metadata:
                  name: acme
                  labels: [internal, beta]
                spec:
                  id: \(acmeID)
                """, expected: "manifests/t.yaml:5:11: metadata.labels must be a mapping", detail: "Found a list."),
        WrongType(
            yaml: """
                apiVersion: guardrail/v1
                kind: Tenant
                metadata:
                  name: acme
                spec:
                  id: \(acmeID)
                  displayName: [Acme, Realty]
                """, expected: "manifests/t.yaml:7:16: Tenant spec.displayName must be a string", detail: "Found a list."),
        WrongType(
            yaml: """
                apiVersion: guardrail/v1
                kind: Tenant
                metadata:
                  name: acme
                spec:
                  id: \(acmeID)
                  status: actve
                """, expected: "manifests/t.yaml:7:11: Tenant spec.status has an unknown value \"actve\"",
            detail: "Did you mean \"active\"? It must be one of: active, suspended, offboarding."),
        WrongType(
            yaml: """
                apiVersion: guardrail/v1
                kind: Tenant
                metadata:
                  name: acme
                  labels: {cohort: true}
                spec:
                  id: \(acmeID)
                """, expected: "manifests/t.yaml:5:20: the value of metadata.labels.cohort must be a string",
            detail: "Found a boolean `true`; quote it (\"true\") if you meant the text."),
    ])
    func wrongTypeIsReportedAtTheValue(_ c: WrongType) {
        let (_, diagnostics) = load("manifests/t.yaml", c.yaml)
        #expect(located(diagnostics) == [c.expected])
        #expect(diagnostics.first?.detail == c.detail)
    }

    @Test func missingRequiredIdIsReportedAtTheSpecMapping() {
        let (config, diagnostics) = load(
            "manifests/tenants.yaml",
            """
            apiVersion: guardrail/v1
            kind: Tenant
            metadata:
              name: acme
            spec:
              displayName: Acme Realty
            """)
        #expect(located(diagnostics) == ["manifests/tenants.yaml:6:3: missing required field \"id\" in Tenant spec"])
        #expect(diagnostics.first?.detail == "Add `id:` to Tenant spec.")
        #expect(config.tenants.isEmpty)
    }

    @Test func missingMetadataNameIsReportedAtTheMetadataMapping() {
        let (_, diagnostics) = load(
            "manifests/tenants.yaml",
            """
            apiVersion: guardrail/v1
            kind: Tenant
            metadata: {labels: {cohort: internal}}
            """)
        #expect(located(diagnostics) == ["manifests/tenants.yaml:3:11: missing required field \"name\" in metadata"])
    }

    @Test func unknownMetadataKeySuggestsTheIntendedKey() {
        let (config, diagnostics) = load(
            "manifests/tenants.yaml",
            """
            apiVersion: guardrail/v1
            kind: Tenant
            metadata:
              name: acme
              lables: {cohort: internal}
            spec:
              id: \(acmeID)
            """)
        #expect(located(diagnostics) == ["manifests/tenants.yaml:5:3: unknown key \"lables\" in metadata"])
        #expect(diagnostics.first?.detail == "Did you mean \"labels\"? Allowed keys: name, labels, annotations.")
        #expect(config.tenants.map(\.labels) == [[:]])
    }

    @Test func specThatIsNotAMappingIsNamedAfterTheKind() {
        let (_, diagnostics) = load(
            "manifests/tenants.yaml",
            """
            apiVersion: guardrail/v1
            kind: Tenant
            metadata: {name: acme}
            spec: [\(acmeID)]
            """)
        #expect(located(diagnostics) == ["manifests/tenants.yaml:4:7: Tenant spec must be a mapping"])
    }

    @Test func repeatedSpecKeyIsReportedAtTheSecondOccurrence() {
        let (_, diagnostics) = load(
            "manifests/tenants.yaml",
            """
            apiVersion: guardrail/v1
            kind: Tenant
            metadata: {name: acme}
            spec: {id: \(acmeID), id: \(globexID)}
            """)
        #expect(located(diagnostics) == ["manifests/tenants.yaml:4:50: duplicate key \"id\" in Tenant spec"])
    }

    @Test func missingApiVersionAndKindAreReportedAtTheDocument() {
        let (_, noVersion) = load("manifests/a.yaml", "kind: Tenant\nmetadata: {name: acme}\nspec: {id: \(acmeID)}\n")
        #expect(located(noVersion) == ["manifests/a.yaml:1:1: missing required field \"apiVersion\" in the document"])
        let (_, nullKind) = load("manifests/a.yaml", "apiVersion: guardrail/v1\nkind: ~\nmetadata: {name: acme}\n")
        #expect(located(nullKind) == ["manifests/a.yaml:2:7: kind must be a string"])
    }

    @Test func duplicateTenantNameAcrossFilesReportsTheSecondAndNamesTheFirst() {
        // Given out of order: the loader reads files sorted by path, so a.yaml is the first declaration.
        let (config, diagnostics) = load([
            ("manifests/b.yaml", tenantDocument(name: "acme", id: globexID, displayName: "Second")),
            ("manifests/a.yaml", tenantDocument(name: "acme", id: acmeID, displayName: "First")),
        ])
        #expect(located(diagnostics) == ["manifests/b.yaml:4:9: duplicate Tenant name \"acme\""])
        #expect(diagnostics.first?.detail == "tenant.acme is already declared at manifests/a.yaml:4:9; names are unique within a kind.")
        #expect(config.tenants.map(\.displayName) == ["First"])
    }

    @Test func duplicateTenantNameWithTheSameIdIsReportedOnceAsADuplicateName() {
        let (_, diagnostics) = load([
            ("manifests/a.yaml", tenantDocument(name: "acme")),
            ("manifests/b.yaml", tenantDocument(name: "acme")),
        ])
        #expect(located(diagnostics) == ["manifests/b.yaml:4:9: duplicate Tenant name \"acme\""])
    }

    @Test func duplicateTenantIdIsCaughtEvenWhenWrittenInAnotherCase() {
        let (config, diagnostics) = load([
            ("manifests/a.yaml", tenantDocument(name: "acme", id: acmeID)),
            ("manifests/b.yaml", tenantDocument(name: "globex", id: acmeID.uppercased())),
        ])
        #expect(located(diagnostics) == ["manifests/b.yaml:6:7: duplicate tenant id \(acmeID)"])
        #expect(diagnostics.first?.detail.contains("Tenant \"acme\" at manifests/a.yaml:4:9 already has this id") == true)
        #expect(config.tenants.map(\.name) == ["acme"])
    }

    @Test func unknownKindSuggestsTheNearestKind() {
        let (_, diagnostics) = load(
            "manifests/tenants.yaml",
            """
            apiVersion: guardrail/v1
            kind: Tennant
            metadata:
              name: acme
            spec:
              id: \(acmeID)
            """)
        #expect(located(diagnostics) == ["manifests/tenants.yaml:2:7: unknown kind \"Tennant\""])
        #expect(
            diagnostics.first?.detail
                == "Did you mean \"Tenant\"? Known kinds: Environment, Tenant, Guardrail, FeatureFlag, BackupSchedule, RoleGrants, RowLevelSecurity, AlertRouting."
        )
    }

    @Test(arguments: ["guardrail/v2", "v1"])
    func unknownApiVersionIsReportedAtItsValue(_ version: String) {
        let (config, diagnostics) = load(
            "manifests/tenants.yaml",
            """
            apiVersion: \(version)
            kind: Tenant
            metadata:
              name: acme
            spec:
              id: \(acmeID)
            """)
        #expect(located(diagnostics) == ["manifests/tenants.yaml:1:13: unknown apiVersion \"\(version)\""])
        #expect(config.tenants.isEmpty)
    }

    @Test(
        arguments: [
            ("not-a-uuid", "Tenant spec.id is not a valid UUID"),
            ("3f6c1d2e-8a4b-4c1e-9a57-0d2f5b8e7c1", "Tenant spec.id is not a valid UUID"),
            ("3f6c1d2e8a4b4c1e9a570d2f5b8e7c11", "Tenant spec.id is not a valid UUID"),
            ("12345", "Tenant spec.id must be a string"),
        ] as [(String, String)])
    func invalidUUIDIsReportedAtTheId(_ id: String, _ summary: String) {
        let (config, diagnostics) = load("manifests/tenants.yaml", tenantDocument(id: id))
        #expect(located(diagnostics) == ["manifests/tenants.yaml:6:7: \(summary)"])
        #expect(config.tenants.isEmpty)
    }

    static func environmentDocument(name: String = "staging", postgres: String) -> String {
        // Line 7 onwards is the body of `postgres:`.
        """
        apiVersion: guardrail/v1
        kind: Environment
        metadata:
          name: \(name)
        spec:
          postgres:
        \(postgres)
        """
    }

    @Test(
        arguments: [
            ("10 seconds", "\"10 seconds\" has a number without a unit"),
            ("5x", "\"5x\" uses an unknown unit \"x\""),
            ("1m1h", "\"1m1h\" repeats a unit or puts a smaller unit first"),
        ] as [(String, String)])
    func badDurationInEnvironmentIsReportedAtTheValue(_ text: String, _ detail: String) {
        let (config, diagnostics) = load(
            "environments/staging.yaml",
            Self.environmentDocument(
                postgres: """
                        url: "${DATABASE_URL}"
                        lockTimeout: \(text)
                    """))
        #expect(located(diagnostics) == ["environments/staging.yaml:8:18: Environment spec.postgres.lockTimeout is not a valid duration"])
        #expect(diagnostics.first?.detail.contains(detail) == true, "\(diagnostics)")
        // The environment still decodes, with the default lock timeout, so other problems are found too.
        #expect(config.environments["staging"]?.postgres.lockTimeout == .seconds(30))
    }

    @Test func notificationWebhooksAreCheckedWhereTheyAreWritten() {
        let (config, diagnostics) = load(
            "environments/staging.yaml",
            Self.environmentDocument(
                postgres: """
                        url: "${DATABASE_URL}"
                      requireReason: true
                      notifications:
                        - url: "${HOOK_URL}"
                          events: [RolloutRolledBack, FlagKiled]
                          secretHeader: {name: X-Token, value: "literal-secret"}
                        - url: "${OTHER_HOOK}"
                    """))
        #expect(
            located(diagnostics) == [
                "environments/staging.yaml:11:35: unknown event \"FlagKiled\" in notifications[0].events",
                "environments/staging.yaml:12:44: notifications[0].secretHeader.value must come from the process environment",
            ], "\(diagnostics)")
        #expect(diagnostics.first?.detail.hasPrefix("Did you mean \"FlagKilled\"?") == true)
        #expect(!diagnostics.map(\.detail).joined().contains("literal-secret"), "the refused secret is not repeated")
        let environment = config.environments["staging"]
        #expect(environment?.requireReason == true)
        #expect(environment?.notifications.map(\.events) == [["RolloutRolledBack"], []])
        #expect(environment?.notifications.allSatisfy { $0.secretHeader == nil } == true)
    }

    @Test func malformedEnvironmentVariableReferenceIsReportedAtTheString() {
        let (config, diagnostics) = load(
            "environments/staging.yaml",
            Self.environmentDocument(
                postgres: """
                        url: "${1BAD}"
                    """))
        #expect(located(diagnostics) == ["environments/staging.yaml:7:10: invalid variable name \"1BAD\" in \"${1BAD}\""])
        #expect(config.environments["staging"] == nil)
    }

    @Test func environmentOutsideEnvironmentsFolderIsRefused() {
        let (config, diagnostics) = load(
            "manifests/staging.yaml",
            Self.environmentDocument(
                postgres: """
                        url: "${DATABASE_URL}"
                    """))
        #expect(located(diagnostics) == ["manifests/staging.yaml:2:7: Environment document in manifests/"])
        #expect(diagnostics.first?.detail == "Environment documents belong in environments/<name>.yaml.")
        #expect(config.environments.isEmpty)
    }

    @Test func tenantInsideEnvironmentsFolderIsRefused() {
        let (config, diagnostics) = load("environments/acme.yaml", tenantDocument())
        #expect(located(diagnostics) == ["environments/acme.yaml:2:7: Tenant document in environments/"])
        #expect(config.tenants.isEmpty)
    }

    @Test func environmentNameMustMatchFileStem() {
        let (_, diagnostics) = load(
            "environments/staging.yaml",
            Self.environmentDocument(
                name: "production",
                postgres: """
                        url: "${DATABASE_URL}"
                    """))
        #expect(located(diagnostics) == ["environments/staging.yaml:4:9: Environment \"production\" is in a file named staging"])
    }

    @Test(arguments: ["Acme", "acme_realty", "-acme", "acme-", "acme.realty", String(repeating: "a", count: 64)])
    func invalidTenantNameIsReportedAtTheName(_ name: String) {
        let (config, diagnostics) = load("manifests/tenants.yaml", tenantDocument(name: name))
        #expect(located(diagnostics) == ["manifests/tenants.yaml:4:9: invalid Tenant name \"\(name)\""])
        #expect(config.tenants.isEmpty)
    }

    @Test(arguments: ["a/b/c", "_cohort", "cohort-", "Example.com/tier", "bad key", "cohort!"])
    func invalidLabelKeyIsReportedAtTheKey(_ key: String) {
        let (_, diagnostics) = load(
            "manifests/tenants.yaml",
            """
            apiVersion: guardrail/v1
            kind: Tenant
            metadata:
              name: acme
              labels:
                \(key): internal
            spec:
              id: \(acmeID)
            """)
        #expect(located(diagnostics) == ["manifests/tenants.yaml:6:5: invalid key \"\(key)\" in metadata.labels"])
    }

    @Test(arguments: ["cohort", "example.com/cohort", "app.kubernetes.io/part-of", "Tier_2.x"])
    func validLabelKeysAreAccepted(_ key: String) {
        let (config, diagnostics) = load(
            "manifests/tenants.yaml",
            """
            apiVersion: guardrail/v1
            kind: Tenant
            metadata:
              name: acme
              labels:
                \(key): internal
            spec:
              id: \(acmeID)
            """)
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        #expect(config.tenants.first?.labels == [key: "internal"])
    }

    // MARK: One run, every problem.

    @Test func oneLoadReportsEveryProblemAcrossFilesSortedByFileLineAndColumn() {
        let a = """
            apiVersion: guardrail/v1
            kind: Tenant
            metadata:
              name: acme
            spec:
              id: \(acmeID)
              displayname: Acme
              status: 5
            ---
            apiVersion: guardrail/v1
            kind: Tenant
            metadata:
              name: globex
            spec:
              id: not-a-uuid
            ---
            apiVersion: guardrail/v1
            kind: Tenant
            metadata:
              name: initech
            spec:
              id: \(initechID)
            """
        let b = """
            apiVersion: guardrail/v1
            kind: Tennant
            metadata:
              name: hooli
            spec:
              id: \(globexID)
            ---
            apiVersion: guardrail/v1
            kind: Tenant
            metadata:
              name: initech
            spec:
              id: \(globexID)
            """
        let c = """
            apiVersion: guardrail/v1
            kind: Tenant
            metadata: x: y
            """
        let staging = Self.environmentDocument(
            postgres: """
                    url: "${DATABASE_URL}"
                    lockTimeout: 5x
                """)
        // Handed over in no particular order.
        let (config, diagnostics) = load([
            ("manifests/c.yaml", c), ("manifests/a.yaml", a), ("environments/staging.yaml", staging), ("manifests/b.yaml", b),
        ])
        #expect(diagnostics.count == 7)
        #expect(
            located(diagnostics) == [
                "environments/staging.yaml:8:18: Environment spec.postgres.lockTimeout is not a valid duration",
                "manifests/a.yaml:7:3: unknown key \"displayname\" in Tenant spec",
                "manifests/a.yaml:8:11: Tenant spec.status must be a string",
                "manifests/a.yaml:15:7: Tenant spec.id is not a valid UUID",
                "manifests/b.yaml:2:7: unknown kind \"Tennant\"",
                "manifests/b.yaml:11:9: duplicate Tenant name \"initech\"",
                "manifests/c.yaml:3:12: YAML syntax error: mapping values are not allowed in this context",
            ])
        #expect(diagnostics.allSatisfy { $0.severity == .error })
        #expect(config.tenants.map(\.name) == ["initech"])
    }

    @Test func diagnosticsSortByFileThenLineThenColumnWithUnlocatedLast() {
        let d = Diagnostics()
        func at(_ file: String, _ line: Int, _ column: Int) -> GuardrailCore.SourceLocation {
            GuardrailCore.SourceLocation(file: file, line: line, column: column)
        }
        d.error("no location")
        d.error("b 2:1", at: at("b.yaml", 2, 1))
        d.error("a 10:1", at: at("a.yaml", 10, 1))
        d.warning("a 2:9", at: at("a.yaml", 2, 9))
        d.error("a 2:3 first", at: at("a.yaml", 2, 3))
        d.error("a 2:3 second", at: at("a.yaml", 2, 3))
        d.error("a 1:50", at: at("a.yaml", 1, 50))
        #expect(d.sorted.map(\.summary) == ["a 1:50", "a 2:3 first", "a 2:3 second", "a 2:9", "a 10:1", "b 2:1", "no location"])
        #expect(d.errors.count == 6)
        #expect(d.hasErrors)
    }

    @Test func diagnosticDescriptionIsCompilerStyle() {
        let d = Diagnostic.error(
            "unknown key \"displayname\" in Tenant spec", detail: "Did you mean \"displayName\"?\nSecond line.",
            at: GuardrailCore.SourceLocation(file: "manifests/tenants.yaml", line: 12, column: 5))
        #expect(
            d.description == """
                manifests/tenants.yaml:12:5: error: unknown key "displayname" in Tenant spec
                  Did you mean "displayName"?
                  Second line.
                """)
    }
}
