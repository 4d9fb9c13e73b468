import GuardrailCore
import Testing

/// Strict decoding of FeatureFlag and Guardrail documents: every problem, at its file:line:column.
@Suite("FeatureFlag and Guardrail manifests")
struct FlagManifestTests {
    static let tenants = """
        apiVersion: guardrail/v1
        kind: Tenant
        metadata: {name: test-tenant, labels: {cohort: internal}}
        spec: {id: 00000000-0000-4000-8000-000000000001}
        ---
        apiVersion: guardrail/v1
        kind: Tenant
        metadata: {name: acme}
        spec: {id: 00000000-0000-4000-8000-000000000002}

        """

    static let bounce = """
        apiVersion: guardrail/v1
        kind: Guardrail
        metadata: {name: bounce-rate}
        spec:
          query: sum(rate(bounced{tenant_id=~"{{cohort}}"}[5m]))
          max: 0.02

        """

    func load(_ flags: String, guardrails: String = Self.bounce) -> (Configuration, [String]) {
        let (configuration, diagnostics) = ConfigurationLoader.load([
            ManifestSource(path: "manifests/flags.yaml", bytes: Array(flags.utf8)),
            ManifestSource(path: "manifests/guardrails.yaml", bytes: Array(guardrails.utf8)),
            ManifestSource(path: "manifests/tenants.yaml", bytes: Array(Self.tenants.utf8)),
        ])
        return (configuration, diagnostics.sorted.map(\.description))
    }

    @Test("a full flag decodes with defaults: salt is the name, phases are named after their percent, onBreach is rollback")
    func fullFlagDecodes() throws {
        let (configuration, problems) = load(
            """
            apiVersion: guardrail/v1
            kind: FeatureFlag
            metadata: {name: channel.email}
            spec:
              enabled: true
              overrides: {enable: [acme]}
              rollout:
                phases:
                  - {name: internal, tenants: {selector: {cohort: internal}}, bake: 24h}
                  - {percent: 5, bake: 48h}
                  - {percent: 100}
                guardrails: [bounce-rate]

            """)
        #expect(problems.isEmpty, "\(problems)")
        let flag = try #require(configuration.flags.first)
        #expect(flag.salt == "channel.email")
        #expect(flag.overrides.enable == ["acme"])
        let rollout = try #require(flag.rollout)
        #expect(rollout.phases.map(\.name) == ["internal", "5%", "100%"])
        #expect(rollout.phases[0].selector == ["cohort": "internal"])
        #expect(rollout.phases[1].bake == .seconds(48 * 3600))
        #expect(rollout.onBreach == .rollback)
        // Attributes round-trip, so a flag read back from Postgres equals the declared one.
        #expect(try FeatureFlag(name: flag.name, attributes: flag.attributes) == flag)
        let guardrail = try #require(configuration.guardrails.first)
        #expect(try Guardrail(name: guardrail.name, attributes: guardrail.attributes) == guardrail)
    }

    @Test("unknown tenants in overrides and phases are reference errors at the exact location, with a suggestion")
    func unknownTenantsAreReported() {
        let (_, problems) = load(
            """
            apiVersion: guardrail/v1
            kind: FeatureFlag
            metadata: {name: channel.sms}
            spec:
              enabled: true
              overrides: {enable: [acme], disable: [acmee]}
              rollout:
                phases:
                  - {tenants: [test-tenant, nobody]}
                  - {percent: 10}
                guardrails: [bounce-rte]

            """)
        #expect(
            problems.contains { $0.hasPrefix("manifests/flags.yaml:6:41: error: unknown tenant \"acmee\" in flag.channel.sms overrides.disable") },
            "\(problems)")
        #expect(problems.contains { $0.contains("Did you mean \"acme\"?") })
        #expect(
            problems.contains {
                $0.hasPrefix("manifests/flags.yaml:9:33: error: unknown tenant \"nobody\" in flag.channel.sms rollout.phases[0].tenants")
            }, "\(problems)")
        #expect(
            problems.contains {
                $0.hasPrefix("manifests/flags.yaml:11:18: error: unknown guardrail \"bounce-rte\"") && $0.contains("Did you mean \"bounce-rate\"?")
            }, "\(problems)")
    }

    @Test("percent out of range, decreasing percents, bad durations and bad onBreach are each reported where they are")
    func phaseProblems() {
        let (configuration, problems) = load(
            """
            apiVersion: guardrail/v1
            kind: FeatureFlag
            metadata: {name: channel.postal}
            spec:
              enabled: true
              rollout:
                phases:
                  - {percent: 25, bake: 1 day}
                  - {percent: 5}
                  - {percent: 101}
                  - {bake: 1h}
                onBreach: stepback

            """)
        #expect(configuration.flags.isEmpty)
        #expect(problems.contains { $0.hasPrefix("manifests/flags.yaml:8:29: error: rollout.phases[0].bake is not a valid duration") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("manifests/flags.yaml:9:19: error: phase \"5%\" lowers the percent from 25 to 5") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("manifests/flags.yaml:10:19: error: rollout.phases[2].percent is out of range") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("manifests/flags.yaml:11:9: error: rollout.phases[3] selects no tenants") }, "\(problems)")
        #expect(
            problems.contains {
                $0.hasPrefix("manifests/flags.yaml:12:15: error: FeatureFlag spec.rollout.onBreach has an unknown value \"stepback\"")
                    && $0.contains("Did you mean \"step-back\"?")
            }, "\(problems)")
    }

    @Test("a tenant both enabled and disabled by override, and an unknown key in a phase, are errors")
    func overrideConflictsAndUnknownKeys() {
        let (_, problems) = load(
            """
            apiVersion: guardrail/v1
            kind: FeatureFlag
            metadata: {name: channel.email}
            spec:
              enabled: false
              overrides: {enable: [acme], disable: [acme]}
              rollout:
                phases:
                  - {precent: 5}

            """)
        #expect(problems.contains { $0.hasPrefix("manifests/flags.yaml:6:41: error: tenant \"acme\" is listed twice in overrides") }, "\(problems)")
        #expect(
            problems.contains {
                $0.hasPrefix("manifests/flags.yaml:9:10: error: unknown key \"precent\" in rollout.phases[0]")
                    && $0.contains("Did you mean \"percent\"?")
            }, "\(problems)")
    }

    @Test("overrides.enable on a flag that is off for everyone is a warning with the fix, not an error; with enabled: true it is quiet")
    func enableOverrideOnADisabledFlagWarns() {
        let flag = """
            apiVersion: guardrail/v1
            kind: FeatureFlag
            metadata: {name: channel.email}
            spec:
              enabled: false
              overrides: {enable: [acme]}

            """
        let (configuration, problems) = load(flag)
        #expect(configuration.flags.count == 1, "a warning does not drop the flag")
        #expect(
            problems.count == 1 && problems[0].hasPrefix("manifests/flags.yaml:6:23: warning: overrides.enable has no effect while enabled is false"),
            "\(problems)")
        #expect(problems.first?.contains("set enabled: true") == true)
        let (_, quiet) = load(flag.replacingOccurrences(of: "enabled: false", with: "enabled: true"))
        #expect(quiet.isEmpty, "\(quiet)")
    }

    @Test("a guardrail needs exactly one of max, min and compare; reactions, counts and placeholders are checked")
    func guardrailProblems() {
        let (configuration, problems) = load(
            "",
            guardrails: """
                apiVersion: guardrail/v1
                kind: Guardrail
                metadata: {name: none}
                spec:
                  query: up{tenant_id=~"{{cohort}}"}
                ---
                apiVersion: guardrail/v1
                kind: Guardrail
                metadata: {name: both}
                spec:
                  query: up{tenant_id=~"{{cohort}}"}
                  max: 1
                  min: 0
                ---
                apiVersion: guardrail/v1
                kind: Guardrail
                metadata: {name: typos}
                spec:
                  query: up{tenant_id=~"{{cohrt}}"}
                  max: 1
                  failures: 0
                  onNoData: wait
                  interval: 10 minutes
                ---
                apiVersion: guardrail/v1
                kind: Guardrail
                metadata: {name: ratio}
                spec:
                  query: sum(rate(errors{tenant_id=~"{{cohort}}"}[5m]))
                  compare: {baseline: control, maxRatio: 1.5}
                  onError: rollback

                """)
        #expect(configuration.guardrails.map(\.name) == ["ratio"])
        #expect(configuration.guardrails.first?.condition == .compareToControl(maxRatio: 1.5))
        #expect(problems.contains { $0.hasPrefix("manifests/guardrails.yaml:5:3: error: Guardrail \"none\" has no threshold") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("manifests/guardrails.yaml:13:3: error: Guardrail \"both\" has both max and min") }, "\(problems)")
        #expect(
            problems.contains {
                $0.hasPrefix("manifests/guardrails.yaml:19:10: error: unknown placeholder {{cohrt}}") && $0.contains("Did you mean {{cohort}}?")
            }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("manifests/guardrails.yaml:21:13: error: Guardrail spec.failures is out of range") }, "\(problems)")
        #expect(
            problems.contains { $0.hasPrefix("manifests/guardrails.yaml:22:13: error: Guardrail spec.onNoData has an unknown value \"wait\"") },
            "\(problems)")
        #expect(
            problems.contains { $0.hasPrefix("manifests/guardrails.yaml:23:13: error: Guardrail spec.interval is not a valid duration") },
            "\(problems)")
    }

    @Test("the repository's example configuration validates with the seeds' flags and guardrails")
    func exampleConfiguration() throws {
        // The CLI tier runs `guardrail validate` on the repository; here the parsed shape is checked.
        let (configuration, problems) = load(
            """
            apiVersion: guardrail/v1
            kind: FeatureFlag
            metadata: {name: ai.scoring}
            spec: {enabled: true}

            """)
        #expect(problems.isEmpty)
        #expect(configuration.flags.first?.rollout == nil)
        #expect(configuration.objectCounts.first { $0.kind == "FeatureFlag" }?.count == 1)
    }
}
