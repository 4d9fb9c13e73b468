import Foundation
import Testing
@testable import GuardrailCore

/// Prometheus rule files as a kind: strict decoding with exact locations, the normalized comparison
/// (what must not and what must produce a change), the YAML Guardrail writes, and its generated rules.
@Suite("Alert rules")
struct AlertRuleTests {
    // Line numbers below are counted in this text.
    static let valid = """
        groups:
          - name: api
            interval: 30s
            rules:
              - record: job:up:sum
                expr: sum by (job) (up)
              - alert: ServiceDown
                expr: up{job="api"} == 0
                for: 1m
                labels: {severity: critical}
                annotations: {summary: "{{ $labels.instance }} is down"}
              - alert: ServiceDown
                expr: up{job="api"} == 0
                for: 10m
                labels: {severity: page}
        """

    static func groups(_ text: String, path: String = "alerts/launch.yaml") -> ([RuleGroup], [String]) {
        let (configuration, diagnostics) = load(path, text)
        return (configuration.ruleGroups, located(diagnostics))
    }

    static func group(_ text: String) throws -> RuleGroup {
        let (groups, problems) = Self.groups(text)
        #expect(problems.isEmpty, "\(problems)")
        return try #require(groups.first)
    }

    @Test("a valid rule file decodes into its namespace, with the same alert allowed twice under different labels")
    func validFileDecodes() throws {
        let (groups, problems) = Self.groups(Self.valid)
        #expect(problems.isEmpty, "\(problems)")
        let api = try #require(groups.first)
        #expect(api.address.description == "alerts.launch.api")
        #expect(api.interval == .seconds(30))
        #expect(api.rules.map(\.title) == ["record job:up:sum", "alert ServiceDown", "alert ServiceDown"])
        #expect(api.rules[1].labels == ["severity": "critical"])
        #expect(api.rules[1].location?.description == "alerts/launch.yaml:7:16")
        #expect(api.rules[1].exprLocation?.description == "alerts/launch.yaml:8:15")
    }

    @Test("every rule-file mistake is reported at its file:line:column, all in one run")
    func mistakesAreLocated() {
        let (_, problems) = Self.groups(
            """
            groups:
              - name: api
                interval: 30 seconds
                rules:
                  - alert: A
                    expresion: up == 0
                  - record: not a metric
                    expr: up
                    for: 5m
                  - alert: B
                    record: b
                    expr: up
                  - alert: C
                    expr: up
                    labels: {__name__: x, 1bad: y}
                  - alert: D
                    expr: up
                    annotations: {summary: "{{ $labels.job"}
                  - alert: E
                    expr: up
                  - alert: E
                    expr: up
                    keep_firing_for: soon
              - name: api
                rules: []
            """)
        #expect(
            problems == [
                "alerts/launch.yaml:3:15: group \"api\" interval is not a valid duration",
                "alerts/launch.yaml:5:9: missing required field \"expr\" in a rule in group \"api\"",
                "alerts/launch.yaml:6:9: unknown key \"expresion\" in a rule in group \"api\"",
                "alerts/launch.yaml:7:17: invalid recording rule name \"not a metric\"",
                "alerts/launch.yaml:9:9: for is not allowed in a recording rule",
                "alerts/launch.yaml:11:9: a rule sets both alert and record",
                "alerts/launch.yaml:15:18: invalid key \"__name__\" in alert C labels",
                "alerts/launch.yaml:15:31: invalid key \"1bad\" in alert C labels",
                "alerts/launch.yaml:18:22: the template in annotation summary of alert D is unbalanced",
                "alerts/launch.yaml:23:26: alert E keep_firing_for is not a valid duration",
                "alerts/launch.yaml:25:12: group \"api\" has no rules",
            ], "\(problems)")
    }

    @Test("an unknown key suggests the intended one")
    func unknownKeySuggestion() {
        let (configuration, diagnostics) = load("alerts/launch.yaml", "groups:\n  - name: g\n    rules:\n      - alert: A\n        exrp: up\n")
        _ = configuration
        let unknown = diagnostics.first { $0.summary.hasPrefix("unknown key") }
        #expect(unknown?.detail.hasPrefix("Did you mean \"expr\"?") == true, "\(String(describing: unknown))")
    }

    @Test("the same alert with the same labels twice in a group is an error; so is a reserved or unusable file name")
    func duplicatesAndNames() {
        let (_, duplicate) = Self.groups(
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n      - alert: A\n        expr: up > 1\n")
        #expect(duplicate == ["alerts/launch.yaml:6:16: duplicate alert A in group \"g\""], "\(duplicate)")
        let (_, reserved) = Self.groups("groups: []\n", path: "alerts/guardrail.yaml")
        #expect(reserved == ["alerts/guardrail.yaml:1:1: the rule namespace \"guardrail\" is reserved"], "\(reserved)")
        let (_, dotted) = Self.groups("groups: []\n", path: "alerts/launch.v2.yaml")
        #expect(dotted == ["alerts/launch.v2.yaml:1:1: invalid rule file name \"launch.v2\""], "\(dotted)")
        let (_, repeated) = Self.groups("groups:\n  - name: g\n    rules: [{alert: A, expr: up}]\n  - name: g\n    rules: [{alert: B, expr: up}]\n")
        #expect(repeated == ["alerts/launch.yaml:4:5: duplicate group name \"g\" in namespace launch"], "\(repeated)")
        let (_, twoDocs) = Self.groups("groups: []\n---\ngroups: []\n")
        #expect(twoDocs == ["alerts/launch.yaml:3:1: a rule file holds one document"], "\(twoDocs)")
    }

    @Test(
        "a group name that is not a safe path segment is refused, in a rule file and in a ruler's listing",
        arguments: ["..", ".", "a/b", "../../other-tenant", "a\\\\b", "api\\u202E", "a\\u0007b", String(repeating: "g", count: 256)])
    func unsafeGroupNamesAreRefused(_ name: String) throws {
        let text = "groups:\n  - name: \"\(name)\"\n    rules: [{alert: A, expr: up}]\n"
        let (groups, diagnostics) = Self.groups(text)
        #expect(groups.isEmpty)
        #expect(diagnostics.count == 1 && diagnostics[0].hasPrefix("alerts/launch.yaml:2:11: invalid rule group name"), "\(diagnostics)")
        // The Mimir target reads live groups through the same decoder, leniently.
        let document = try #require(YAMLParser.parse(text, file: "ruler").documents.first)
        guard case .mapping(let root) = document.root else { Issue.record("not a mapping"); return }
        let collected = Diagnostics()
        let live = RuleFile.decodeGroups(
            root.entries[0].value, namespace: "launch", reader: NodeReader(file: "ruler", diagnostics: collected), lenient: true)
        #expect(live.isEmpty)
        #expect(collected.all.map(\.summary).allSatisfy { $0.hasPrefix("invalid rule group name") } && collected.all.count == 1, "\(collected.all)")
    }

    @Test(
        "ordinary group names, with dots, dashes and non-ASCII letters, are accepted", arguments: ["api", "api.v2", "...x", "zahlungsströme", "a b"])
    func ordinaryGroupNamesAreAccepted(_ name: String) {
        let (groups, diagnostics) = Self.groups("groups:\n  - name: \"\(name)\"\n    rules: [{alert: A, expr: up}]\n")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        #expect(groups.map(\.group) == [name])
    }

    // MARK: Comparison

    static func changes(_ live: String, _ desired: String) throws -> [Change] {
        RuleGroup.changes(desired: [try group(desired)], live: [try group(live)])
    }

    @Test(
        "no change for the same rules written differently",
        arguments: [
            ("expr: sum by (job) (up)", "expr: |\n              sum by (job) (\n                up   # all targets\n              )"),
            ("for: 1m", "for: 60s"),
            ("interval: 30s", "interval: 30000ms"),
            ("labels: {severity: critical}", "labels:\n              severity: critical"),
            ("expr: up{job=\"api\"} == 0", "expr: up{ job = \"api\" }==0"),
        ])
    func equivalentSpellingsDoNotDiff(pair: (String, String)) throws {
        let base = """
            groups:
              - name: api
                interval: 30s
                rules:
                  - alert: ServiceDown
                    expr: up{job="api"} == 0
                    for: 1m
                    labels: {severity: critical}
                  - record: job:up:sum
                    expr: sum by (job) (up)
            """
        #expect(base.contains(pair.0))
        let changes = try Self.changes(base, base.replacingOccurrences(of: pair.0, with: pair.1))
        #expect(changes.isEmpty, "\(changes)")
    }

    @Test("real changes are reported at field level, and order and string literals count")
    func realChangesDiff() throws {
        let base = """
            groups:
              - name: api
                rules:
                  - alert: ServiceDown
                    expr: up{job="api"} == 0
                    for: 5m
                  - alert: Other
                    expr: up{job="a b"} == 0
            """
        let longer = try Self.changes(base, base.replacingOccurrences(of: "for: 5m", with: "for: 10m"))
        #expect(longer.count == 1 && longer[0].action == .update && longer[0].changedAttributes == ["rules[0]"])
        #expect(longer[0].before?["rules[0]"]?.mapValue?["for"] == .string("5m"))
        #expect(longer[0].after?["rules[0]"]?.mapValue?["for"] == .string("10m"))
        #expect(longer[0].reason == "rules[0] differs from the configuration")

        let literal = try Self.changes(base, base.replacingOccurrences(of: "job=\"a b\"", with: "job=\"a  b\""))
        #expect(literal.count == 1, "spacing inside a string literal is part of the value")

        let swapped = base.replacingOccurrences(of: "ServiceDown", with: "TMP").replacingOccurrences(of: "Other", with: "ServiceDown")
            .replacingOccurrences(of: "TMP", with: "Other")
        #expect(try Self.changes(base, swapped).first?.changedAttributes == ["rules[0]", "rules[1]"])

        let dropped = try Self.changes(base, base.replacingOccurrences(of: "        for: 5m\n", with: ""))
        #expect(dropped.first?.after?["rules[0]"]?.mapValue?["for"] == nil)
    }

    @Test("an expression that differs only in spacing is shown as the configuration writes it")
    func alignedExpressionsShowConfigurationText() throws {
        let live = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up==0\n        for: 1m\n"
        let desired = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        for: 2m\n"
        let change = try #require(try Self.changes(live, desired).first)
        #expect(change.before?["rules[0]"]?.mapValue?["expr"] == .string("up == 0"))
        // And the fingerprint of both spellings is the same.
        let a = RuleGroup.fingerprintForm(try Self.group(live).attributes)
        let b = RuleGroup.fingerprintForm(try Self.group(live.replacingOccurrences(of: "up==0", with: "up == 0")).attributes)
        #expect(Fingerprint.of(a) == Fingerprint.of(b))
    }

    @Test("deleting every managed group is a destroy and a mass delete")
    func massDelete() throws {
        let g = try Self.group(Self.valid)
        let changes = RuleGroup.changes(desired: [], live: [g])
        #expect(changes.map(\.action) == [.delete])
        #expect(Set(changes[0].hazards.map(\.kind)) == [.destroys, .massDelete])
    }

    @Test(
        "comparison keys drop spacing and comments but keep literals",
        arguments: [
            ("sum by (job) (\n  rate(x[5m])\n) > 0", "sum by(job)(rate(x[5m]))>0"),
            ("a and b", "a and b"),
            ("x offset 5m", "x offset 5m"),
            ("up{a=\"x # y\"}  # note", "up{a=\"x # y\"}"),
            ("label_replace(up, 'a  b', `c\\d`, \"e\\\"f\", \"\")", "label_replace(up,'a  b',`c\\d`,\"e\\\"f\",\"\")"),
        ])
    func comparisonKeys(pair: (String, String)) {
        #expect(PromQLText.comparisonKey(pair.0) == pair.1)
    }

    // MARK: Writing

    @Test("the YAML Guardrail writes decodes back to the same groups, whatever the strings hold")
    func writtenFileRoundTrips() throws {
        let tricky = AlertRule(
            kind: .alert, name: "Tricky: \"quoted\" #1", expr: "sum(x{a=\"b\\\\c\"})\n  > 0 # done",
            forDuration: .seconds(90), keepFiringFor: .seconds(300),
            labels: ["severity": "yes", "route": "on: off"],
            annotations: ["summary": "{{ $labels.job }}: 100%\ttab\u{2028}sep", "empty": ""])
        let groups = [
            RuleGroup(namespace: "launch", group: "api: \"errors\" #1", interval: .seconds(60), limit: 10, rules: [tricky]),
            RuleGroup(namespace: "launch", group: "- weird: [group]", rules: [AlertRule(kind: .record, name: "a:b:c", expr: "1")]),
        ]
        let text = RuleGroup.ruleFile(groups)
        let diagnostics = Diagnostics()
        let back = RuleFile.decode(Array(text.utf8), path: "live.yaml", namespace: "launch", diagnostics: diagnostics)
        #expect(diagnostics.all.isEmpty, "\(diagnostics.all)\n\(text)")
        #expect(back == groups)
        #expect(back.first?.rules.first?.expr == tricky.expr, "the expression is written as given, not normalized")
        // A ruler body is one group as a top-level mapping.
        let parsed = YAMLParser.parse(Array(groups[0].rulerBody.utf8), file: "body")
        let reader = NodeReader(file: "body", diagnostics: diagnostics)
        #expect(RuleFile.decodeGroup(parsed.documents[0].root, namespace: "launch", reader: reader, lenient: false) == groups[0])
    }

    @Test("saved plan attributes rebuild the same group, and unknown attributes are refused")
    func attributesRoundTrip() throws {
        let g = try Self.group(Self.valid)
        #expect(try RuleGroup(name: g.name, attributes: g.attributes) == g)
        var extra = g.attributes
        extra["rules[7]"] = .map(["alert": .string("X"), "expr": .string("up")])
        #expect(throws: AttributeError.self) { try RuleGroup(name: g.name, attributes: extra) }
    }

    // MARK: Generated rules

    @Test("each backup schedule gets a freshness alert from its RPO and each rolled-out flag a breach alert")
    func generatedRules() throws {
        let (configuration, diagnostics) = load([
            (
                "manifests/backups.yaml",
                """
                apiVersion: guardrail/v1
                kind: BackupSchedule
                metadata: {name: nightly}
                spec: {schedule: "0 2 * * *", timezone: UTC, method: pg_dump, retention: {keep: 3}, rpo: 26h}
                """
            ),
            ("manifests/tenants.yaml", tenantDocument()),
            (
                "manifests/flags.yaml",
                """
                apiVersion: guardrail/v1
                kind: FeatureFlag
                metadata: {name: channel.email}
                spec:
                  enabled: true
                  rollout:
                    phases: [{percent: 5, bake: 1h}, {percent: 100}]
                ---
                apiVersion: guardrail/v1
                kind: FeatureFlag
                metadata: {name: plain}
                spec: {enabled: true}
                """
            ),
        ])
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let groups = GeneratedRules.groups(for: configuration)
        #expect(groups.map(\.address.description) == ["alerts.guardrail.backup-freshness", "alerts.guardrail.rollout-breaches"])
        let stale = groups[0].rules[0]
        #expect(stale.expr.contains("> 93600"), "26h is 93600 seconds: \(stale.expr)")
        #expect(stale.expr.contains("absent(guardrail_backup_last_success_timestamp_seconds{schedule=\"nightly\"})"))
        #expect(stale.labels["schedule"] == "nightly")
        #expect(groups[1].rules.map { $0.labels["flag"] } == ["channel.email"], "only flags with a rollout")
        // Both page: alerts/routing.yaml sends severity="critical" to PagerDuty and #incidents.
        #expect(groups.flatMap(\.rules).map { $0.labels["severity"] } == ["critical", "critical"])
        #expect(GeneratedRules.groups(for: Configuration()).isEmpty)
    }

    @Test("an alerts plan renders as the golden text and Markdown")
    func goldenRendering() throws {
        let live = try Self.group(Self.valid)
        let desired = try Self.group(
            Self.valid.replacingOccurrences(of: "for: 10m", with: "for: 15m")
                .replacingOccurrences(of: "{{ $labels.instance }} is down", with: "{{ $labels.instance }} stopped answering"))
        let (pipeline, problems) = Self.groups(
            "groups:\n  - name: pipeline\n    rules:\n      - alert: DLQDepth\n        expr: dlq_depth > 0\n        for: 5m\n",
            path: "alerts/launch.yaml")
        #expect(problems.isEmpty)
        var live2 = LiveState(schemaVersion: 7)
        live2.ruleGroups = [live]
        var configuration = Configuration()
        configuration.ruleGroups = [desired] + pipeline
        var plan = PlanBuilder.plan(
            desired: configuration, live: live2,
            context: .init(
                environment: "production", planID: "00000000-0000-4000-8000-000000000001",
                createdAt: "2026-12-01T00:00:00Z", managesAlerts: true))
        plan.changes[1].details = ["rules[0] alert DLQDepth: its expression was true for 12m of the last 1d (1% of the time, sampled every 1m)."]
        try Golden.check(TextPlanRenderer(color: false).render(plan), against: "alerts-plan.txt")
        try Golden.check(MarkdownPlanRenderer().render(plan), against: "alerts-plan.md")
    }
}
