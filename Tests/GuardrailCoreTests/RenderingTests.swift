import Foundation
import Testing
@testable import GuardrailCore

/// Text, JSON and Markdown renderings of one fixed plan, compared with golden files, plus the
/// properties that must hold for any plan: JSON round trips, Markdown size, no forged lines.
///
/// Regenerate the goldens with `GUARDRAIL_UPDATE_GOLDEN=1 swift test --filter GuardrailCoreTests.Rendering`
/// and review the diff before committing it.
@Suite("Rendering")
struct RenderingTests {
    static let replacementID = "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a"

    /// Live: acme, globex and old-brokerage. Desired: acme renamed and relabelled, globex with a new id
    /// (a replace), initech new, old-brokerage gone. One change of each action.
    static let goldenPlan: Plan = {
        let live = LiveState(
            schemaVersion: 1,
            tenants: [
                Tenant(name: "acme", id: acmeID, displayName: "Acme Realty", labels: ["cohort": "internal", "tier": "gold"]),
                Tenant(name: "globex", id: globexID, displayName: "Globex", labels: ["cohort": "early"]),
                Tenant(name: "old-brokerage", id: initechID, displayName: "Old Brokerage", status: .offboarding),
            ])
        var desired = Configuration()
        desired.tenants = [
            Tenant(name: "acme", id: acmeID, displayName: "Acme Realty Group", labels: ["cohort": "beta", "tier": "gold"]),
            Tenant(name: "globex", id: replacementID, displayName: "Globex", labels: ["cohort": "early"]),
            Tenant(name: "initech", id: "6e5d4c3b-2a1f-4e0d-9c8b-7a6f5e4d3c2b", displayName: "Initech", labels: ["cohort": "pilot"]),
        ]
        let context = PlanBuilder.Context(
            environment: "staging", planID: "7c1e2f40-9a8b-4c3d-8e2f-1a0b9c8d7e6f",
            createdAt: "2025-06-01T12:00:00Z", gitCommit: "0123456789abcdef0123456789abcdef01234567")
        return PlanBuilder.plan(desired: desired, live: live, context: context)
    }()

    static let emptyPlan = Plan(
        id: "0f0e0d0c-0b0a-4908-8706-050403020100", environment: "staging", createdAt: "2025-06-01T12:00:00Z",
        changes: [], compared: ["Tenant": 3], fingerprints: [:])

    @Test func goldenPlanHasOneChangeOfEachAction() {
        #expect(
            Self.goldenPlan.changes.map { "\($0.action.rawValue) \($0.address)" } == [
                "delete tenant.old-brokerage", "replace tenant.globex", "update tenant.acme", "create tenant.initech",
            ])
        #expect(Self.goldenPlan.notes.isEmpty)
    }

    // MARK: Golden files

    @Test func textMatchesGolden() throws {
        try Golden.check(TextPlanRenderer(color: false).render(Self.goldenPlan), against: "plan.txt")
    }

    @Test func jsonMatchesGolden() throws {
        try Golden.check(JSONPlanRenderer.render(Self.goldenPlan), against: "plan.json")
    }

    @Test func markdownMatchesGolden() throws {
        try Golden.check(MarkdownPlanRenderer().render(Self.goldenPlan), against: "plan.md")
    }

    @Test func noChangesTextMatchesGolden() throws {
        try Golden.check(TextPlanRenderer(color: false).render(Self.emptyPlan), against: "no-changes.txt")
    }

    // MARK: Text

    @Test func textUsesTerraformMarkersAndSummaryLine() {
        let lines = TextPlanRenderer(color: false).render(Self.goldenPlan).split(separator: "\n").map(String.init)
        #expect(lines.contains("  - tenant \"old-brokerage\" {"))
        #expect(lines.contains("  -/+ tenant \"globex\" {"))
        #expect(lines.contains("  ~ tenant \"acme\" {"))
        #expect(lines.contains("  + tenant \"initech\" {"))
        #expect(lines.contains("  # tenant.globex must be replaced"))
        #expect(lines.contains { $0.contains("~ display_name = \"Acme Realty\" -> \"Acme Realty Group\"") })
        #expect(lines.contains { $0.contains("~ \"cohort\" = \"internal\" -> \"beta\"") })
        #expect(lines.contains { $0.hasSuffix("\"\(globexID)\" -> \"\(Self.replacementID)\" # forces replacement") })
        #expect(lines.contains("Plan: 2 to add, 1 to change, 2 to destroy."))
        #expect(lines.last == "Blocked: 2 changes need --allow-destroy to apply.")
    }

    @Test func allowedHazardsAreMarkedAllowedAndNothingIsBlocked() {
        let text = TextPlanRenderer(color: false, overrides: HazardOverrides(allowDestroy: true)).render(Self.goldenPlan)
        #expect(!text.contains("Blocked:"))
        #expect(!text.contains("blocked: needs"))
        #expect(text.components(separatedBy: "(allowed by --allow-destroy)").count - 1 == 2)
    }

    @Test func colorOnlyAddsSGRSequences() throws {
        let plain = TextPlanRenderer(color: false).render(Self.goldenPlan)
        let colored = TextPlanRenderer(color: true).render(Self.goldenPlan)
        #expect(!plain.contains("\u{1B}"))
        #expect(colored.contains("\u{1B}[32m+\u{1B}[0m"))
        let stripped = colored.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
        #expect(stripped == plain)
    }

    @Test func noChangesSaysSoAndWhatWasCompared() {
        var plan = Self.emptyPlan
        plan.compared = ["Tenant": 1]
        plan.notes = ["a note"]
        #expect(
            TextPlanRenderer(color: false).render(plan) == """
                Note: a note

                No changes. Live state matches the configuration.

                Compared 1 tenant in environment "staging".

                """)
    }

    static let hostile = "Evil\n  + tenant \"forged\" {\r\u{1B}[2K\u{1B}]0;pwned\u{07}\u{9B}31m\u{0}"

    /// A plan whose only change carries `hostile` in a display name, a label key, a label value and a hazard-free update.
    static let hostilePlan: Plan = {
        let before = Tenant(name: "acme", id: acmeID, displayName: "Acme", labels: ["cohort": "internal"])
        let after = Tenant(name: "acme", id: acmeID, displayName: hostile, labels: ["cohort": hostile, hostile: "x"])
        let changes = Diff.changes(
            desired: [after, Tenant(name: "initech", id: initechID, displayName: hostile, labels: [hostile: hostile])],
            observed: [before])
        return Plan(id: "p", environment: "staging", createdAt: "t", changes: changes, compared: [:], fingerprints: [:])
    }()

    @Test(arguments: [false, true])
    func controlCharactersInValuesCannotForgeTextLines(_ color: Bool) {
        let text = TextPlanRenderer(color: color).render(Self.hostilePlan)
        // Our own colour codes are removed first; the hostile escape sequences are not of that form.
        let lines = text.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
            .split(separator: "\n", omittingEmptySubsequences: false)
        #expect(!lines.contains { $0.hasPrefix("  + tenant \"forged\"") })
        #expect(!text.contains("\r"))
        #expect(!text.contains("\u{0}"))
        #expect(!text.contains("\u{07}"))
        #expect(!text.contains("\u{9B}"))
        #expect(!text.contains("\u{1B}]"))
        #expect(!text.contains("\u{1B}[2K"))
        // Every change still renders as exactly one block with one header.
        #expect(lines.filter { $0.hasPrefix("  # tenant.") }.count == 2)
        #expect(text.contains(#"display_name = "Acme" -> "Evil\n  + tenant \"forged\" {\r\u{1b}[2K\u{1b}]0;pwned\u{7}\u{9b}31m\u{0}""#))
    }

    /// Live names are not validated like configured ones: the tenants table takes any text, and a saved
    /// plan file can be edited. Such a name must not forge a line in either the text or the Markdown plan.
    static let forgedNamePlan: Plan = {
        let evil = "old\n  + tenant \"forged\" {\r\n| create | `tenant.forged` | |\u{1B}[2K"
        let changes = Diff.changes(desired: [Tenant](), observed: [Tenant(name: evil, id: acmeID, displayName: "Old")])
        return Plan(id: "p", environment: "staging", createdAt: "t", changes: changes, compared: ["Tenant": 1], fingerprints: [:])
    }()

    @Test func liveNameWithControlCharactersCannotForgeTextLines() {
        let text = TextPlanRenderer(color: false).render(Self.forgedNamePlan)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(!lines.contains { $0.hasPrefix("  + tenant \"forged\"") }, "\(text)")
        #expect(!lines.contains { $0.hasPrefix("| create |") })
        #expect(!text.contains("\r"))
        #expect(!text.contains("\u{1B}"))
        #expect(lines.filter { $0.hasPrefix("  # tenant.") }.count == 1)
        #expect(lines.contains(#"  # tenant.old\n  + tenant "forged" {\r\n| create | `tenant.forged` | |\u{1b}[2K will be destroyed"#))
    }

    @Test func liveNameWithControlCharactersCannotForgeMarkdownRows() {
        let markdown = MarkdownPlanRenderer().render(Self.forgedNamePlan)
        let outsideCode = markdown.components(separatedBy: "<details>").first ?? markdown
        let rows = outsideCode.split(separator: "\n").filter {
            $0.hasPrefix("| ") && !$0.hasPrefix("| Kind") && !$0.hasPrefix("| Tenant") && !$0.hasPrefix("| |")
        }
        #expect(rows.count == 1, "\(outsideCode)")
        #expect(rows.first?.hasPrefix("| delete | `tenant.old") == true)
        #expect(!markdown.contains("\r"))
        #expect(!markdown.contains("\u{1B}"))
    }

    /// "Trojan Source": characters that reorder or hide text. Each must show as `\u{...}` in every plan.
    static let invisible: [Unicode.Scalar] = [
        "\u{202A}", "\u{202B}", "\u{202C}", "\u{202D}", "\u{202E}", "\u{2066}", "\u{2067}", "\u{2068}", "\u{2069}",
        "\u{200B}", "\u{200C}", "\u{200D}", "\u{200E}", "\u{200F}", "\u{FEFF}", "\u{2060}", "\u{061C}", "\u{00AD}",
    ]

    static let invisiblePlan: Plan = {
        let text = "ok" + invisible.map { String($0) + "x" }.joined()
        let changes = Diff.changes(
            desired: [Tenant(name: "acme\u{202E}moc", id: acmeID, displayName: text, labels: ["cohort": "in\u{200B}ternal"])],
            observed: [Tenant(name: "acme\u{202E}moc", id: acmeID, displayName: "Acme")])
        return Plan(id: "p", environment: "staging", createdAt: "t", changes: changes, compared: ["Tenant": 1], fingerprints: [:])
    }()

    @Test func bidiAndZeroWidthCharactersAreShownEscapedInTextAndMarkdownPlans() {
        let text = TextPlanRenderer(color: false).render(Self.invisiblePlan)
        let markdown = MarkdownPlanRenderer().render(Self.invisiblePlan)
        for (name, output) in [("text", text), ("markdown", markdown)] {
            for scalar in Self.invisible {
                #expect(!output.unicodeScalars.contains(scalar), "\(name) shows U+\(String(scalar.value, radix: 16, uppercase: true)) raw")
            }
            #expect(output.contains(#"\u{202E}"#), "\(name): \(output)")
            #expect(output.contains(#"in\u{200B}ternal"#), "\(name): \(output)")
        }
        #expect(
            text.contains(
                #"display_name = "Acme" -> "ok\u{202A}x\u{202B}x\u{202C}x\u{202D}x\u{202E}x\u{2066}x\u{2067}x\u{2068}x\u{2069}x\u{200B}x\u{200C}x\u{200D}x\u{200E}x\u{200F}x\u{FEFF}x\u{2060}x\u{61C}x\u{AD}x""#
            ), "\(text)")
        #expect(text.contains(#"# tenant.acme\u{202E}moc will be updated in place"#), "\(text)")
        // Other non-ASCII text is left alone; a zero-width joiner is shown even inside an emoji.
        #expect(TextEscaping.escape("Café – 東京 👩\u{200D}💻", .display, quoted: false) == #"Café – 東京 👩\u{200D}💻"#)
        #expect(TextEscaping.escape("Café – 東京", .display, quoted: false) == "Café – 東京")
    }

    @Test func quoteEscapesEveryControlCharacter() {
        #expect(AttributeValue.quote("a\"b\\c\nd\re\tf\u{1B}g\u{7F}h\u{85}i") == #""a\"b\\c\nd\re\tf\u{1b}g\u{7f}h\u{85}i""#)
        for scalar in (0..<0x20).map({ Unicode.Scalar($0)! }) + [Unicode.Scalar(0x7F)!] + (0x80...0x9F).map({ Unicode.Scalar($0)! }) {
            let quoted = AttributeValue.quote(String(Character(scalar)))
            #expect(
                quoted.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F && !(0x80...0x9F).contains($0.value) },
                "U+\(String(scalar.value, radix: 16)) was not escaped")
        }
    }

    @Test("a plan of more than 1,000 changes prints the first 200, every later hazard, a count per kind and how to see the rest")
    func largePlansAreShortenedButKeepEveryHazard() {
        var rng = SplitMix64(seed: 3)
        var changes = Diff.changes(desired: tenants(1_500, rng: &rng), observed: [])
        changes[1_200].hazards = [Hazard(.widensAccess, "lets viewer read every row")]
        let plan = Plan(id: "p", environment: "production", createdAt: "t", changes: changes, compared: [:], fingerprints: [:])
        let short = TextPlanRenderer(color: false, shortenAbove: TextPlanRenderer.defaultShortenAbove).render(plan)
        #expect(short.contains("# \(changes[0].address)"))
        #expect(short.contains("# \(changes[199].address)"))
        #expect(!short.contains("# \(changes[200].address) "))
        #expect(!short.contains("# \(changes[1_000].address) "))
        #expect(short.contains("1 more change with hazards:"))
        #expect(short.contains("# \(changes[1_200].address)") && short.contains("lets viewer read every row"))
        #expect(short.contains("1299 more changes without hazards not shown (`--full` prints every change"))
        #expect(short.contains("By kind:\n  Tenant  1500 to add, 0 to change, 0 to destroy"))
        #expect(short.contains("Plan: 1500 to add, 0 to change, 0 to destroy."))
        let full = TextPlanRenderer(color: false).render(plan)
        #expect(full.contains("# \(changes[1_499].address)"))
        #expect(short.utf8.count * 5 < full.utf8.count)
        // A plan at the limit is printed whole.
        var small = plan
        small.changes = Array(changes.prefix(1_000))
        #expect(TextPlanRenderer(color: false, shortenAbove: 1_000).render(small) == TextPlanRenderer(color: false).render(small))
    }

    // MARK: JSON

    @Test func jsonRoundTripsToAnEqualPlan() throws {
        let json = try JSONPlanRenderer.render(Self.goldenPlan)
        #expect(try JSONPlanRenderer.decode(Data(json.utf8)) == Self.goldenPlan)
        let hostile = try JSONPlanRenderer.render(Self.hostilePlan)
        #expect(try JSONPlanRenderer.decode(Data(hostile.utf8)) == Self.hostilePlan)
    }

    @Test func jsonRoundTripsEveryAttributeValueShape() throws {
        let attributes: Attributes = [
            "null": .null, "bool": .bool(false), "int": .int(-42), "double": .double(0.02), "string": .string("x\ny\u{1}"),
            "list": .list([.int(1), .string("two"), .null, .list([])]), "map": .map(["nested": .map(["k": .bool(true)])]),
        ]
        var plan = Self.emptyPlan
        plan.changes = [
            Change(
                address: Address(prefix: "flag", name: "channel.email"), kind: "FeatureFlag", action: .update,
                before: attributes, after: attributes.merging(["int": .int(43)]) { $1 },
                hazards: [Hazard(.widensAccess, "w"), Hazard(.mayBreakQueries, "m")], reason: "r")
        ]
        plan.gitCommit = nil
        plan.notes = ["n"]
        plan.fingerprints = ["flag.channel.email": Fingerprint.of(attributes)]
        let json = try JSONPlanRenderer.render(plan)
        #expect(try JSONPlanRenderer.decode(Data(json.utf8)) == plan)
    }

    /// The plan document is written by hand for speed; it must say exactly what the `Codable`
    /// definition says (same keys, same values), in the layout JSONEncoder's pretty printing has.
    @Test func handWrittenJSONSaysWhatCodableSays() throws {
        var rollout = Self.goldenPlan
        rollout.findings = [Finding(address: Address(prefix: "flag", name: "x"), message: "a \"quoted\", {braced}: [bracketed] message\n")]
        rollout.binding = PlanBinding(
            environment: "e", database: DatabaseTarget(systemIdentifier: "1", name: "d", schema: "s"), alerts: nil,
            targets: [], configuration: ConfigurationDigest(sha256: "00", files: [:]))
        rollout.signature = "hmac-sha256:00"
        rollout.changes[0].hazards.append(Hazard(.massDelete, "commas, colons: and \\ \"quotes\" [] {}"))
        for plan in [Self.goldenPlan, Self.hostilePlan, rollout] {
            let written = try JSONPlanRenderer.render(plan)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let codable = try encoder.encode(plan)
            var mine = try #require(try JSONSerialization.jsonObject(with: Data(written.utf8)) as? [String: Any])
            #expect(mine.removeValue(forKey: "summary") != nil)
            #expect(mine.removeValue(forKey: "blocked") != nil)
            let theirs = try #require(try JSONSerialization.jsonObject(with: codable) as? [String: Any])
            #expect(NSDictionary(dictionary: mine).isEqual(to: theirs))
            #expect(try JSONPlanRenderer.decode(Data(written.utf8)) == plan)
            // Deterministic, so a fresh plan can be compared with a saved one byte for byte.
            #expect(try JSONPlanRenderer.render(plan) == written)
            #expect(written.contains("\"fingerprints\" : {"))
        }
        // An empty container reads as JSONEncoder writes one: a blank line inside.
        #expect(try JSONPlanRenderer.render(Self.emptyPlan).contains("\"changes\" : [\n\n  ]"))
    }

    @Test func jsonHasFormatVersionSummaryAndDocumentedKeys() throws {
        let json = try JSONPlanRenderer.render(Self.goldenPlan)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["format_version"] as? String == "1.0")
        #expect(
            Set(object.keys) == [
                "format_version", "plan_id", "environment", "created_at", "git_commit", "summary", "blocked",
                "changes", "compared", "fingerprints", "notes", "findings",
            ])
        #expect(object["plan_id"] as? String == Self.goldenPlan.id)
        let summary = try #require(object["summary"] as? [String: Int])
        #expect(summary == ["add": 2, "change": 1, "destroy": 2])
        #expect(object["blocked"] as? Bool == true)
        let allowed =
            try JSONSerialization.jsonObject(
                with: Data(JSONPlanRenderer.render(Self.goldenPlan, overrides: HazardOverrides(allowDestroy: true)).utf8)) as? [String: Any]
        #expect(allowed?["blocked"] as? Bool == false)
        let changes = try #require(object["changes"] as? [[String: Any]])
        #expect(changes.map { $0["action"] as? String } == ["delete", "replace", "update", "create"])
        #expect(Set(changes[0].keys) == ["address", "kind", "action", "before", "hazards", "reason", "details"])
    }

    @Test func decodingRejectsAPlanWithoutItsRequiredFields() {
        #expect(throws: DecodingError.self) { try JSONPlanRenderer.decode(Data(#"{"format_version":"1.0"}"#.utf8)) }
        #expect(throws: (any Error).self) { try JSONPlanRenderer.decode(Data("not json".utf8)) }
    }

    // MARK: Markdown

    static func bigPlan(_ count: Int, displayName: (Int) -> String = { "Brokerage number \($0) with a fairly long name" }) -> Plan {
        let desired = (0..<count).map { i in
            Tenant(
                name: "tenant-\(String(format: "%05d", i))", id: String(format: "%08x-0000-4000-8000-%012x", i, i), displayName: displayName(i),
                labels: ["cohort": "wave-\(i % 7)", "region": "eu"])
        }
        return Plan(
            id: "big", environment: "production", createdAt: "t", changes: Diff.changes(desired: desired, observed: [Tenant]()),
            compared: ["Tenant": count], fingerprints: [:])
    }

    @Test func markdownForFiveThousandChangesStaysUnderTheLimitAndSaysItWasCut() {
        let markdown = MarkdownPlanRenderer().render(Self.bigPlan(5000))
        #expect(markdown.utf8.count <= 60_000)
        #expect(markdown.hasPrefix("### Guardrail plan for `production`: 5000 to add, 0 to change, 0 to destroy\n"))
        #expect(markdown.contains("more changes not listed here._"))
        #expect(
            markdown.contains("_The full plan is longer than a comment allows and was cut. Run `guardrail plan --env production` to see all of it._"))
        // The fence is still closed, so the comment renders.
        #expect(markdown.contains("```\n\n</details>\n"))
    }

    @Test(arguments: [1, 50, 400, 2000])
    func markdownStaysUnderItsLimitWhateverTheSize(_ count: Int) {
        let long = MarkdownPlanRenderer(limit: 20_000).render(Self.bigPlan(count) { String(repeating: "é|<", count: 100 + $0 % 50) })
        #expect(long.utf8.count <= 20_000)
        #expect(long.contains("</details>"))
    }

    /// 10,000 tenant changes and, last in plan order, one grant that widens access: the widening
    /// must be in the comment however many changes come before it.
    static var tenThousandAndOneWidening: Plan {
        var plan = bigPlan(10_000)
        plan.changes.append(
            Change(
                address: Address(prefix: "grants", name: "viewer"), kind: "RoleGrants", action: .update,
                before: ["privileges": .map([:])], after: ["privileges": .map(["public.properties": .list([.string("select")])])],
                hazards: [Hazard(.widensAccess, "grants SELECT on public.properties")], reason: "privileges differ"))
        return plan
    }

    @Test func aWideningAfterTenThousandChangesIsInTheComment() throws {
        let rendering = MarkdownPlanRenderer().rendering(Self.tenThousandAndOneWidening)
        #expect(rendering.text.utf8.count <= 60_000)
        #expect(!rendering.hazardsTruncated)
        let hazards = try #require(rendering.text.range(of: "#### Hazards: 1 change"))
        let widening = try #require(rendering.text.range(of: "| update | `grants.viewer` | **widens-access**: grants SELECT on public.properties |"))
        // Above the list of other changes, and before the full plan.
        #expect(hazards.lowerBound < widening.lowerBound)
        #expect(widening.upperBound < rendering.text.range(of: "#### Other changes: 10000")!.lowerBound)
        try Golden.check(rendering.text, against: "markdown-10000-and-a-widening.md")
    }

    @Test func aPlanOfOnlyHazardsListsThemAll() throws {
        let plan = try CatalogPlanRenderingTests.plan()
        #expect(plan.changes.allSatisfy { !$0.hazards.isEmpty })
        let rendering = MarkdownPlanRenderer().rendering(plan)
        #expect(!rendering.hazardsTruncated)
        #expect(!rendering.text.contains("#### Other changes"))
        for change in plan.changes {
            #expect(rendering.text.contains("`\(change.address)`"))
        }
        try Golden.check(rendering.text, against: "markdown-hazards-only.md")
    }

    @Test func anEmptyPlanSaysSoInItsFirstLine() throws {
        let text = MarkdownPlanRenderer().render(Self.emptyPlan)
        #expect(text.hasPrefix("### Guardrail plan for `staging`: no changes\n"))
        try Golden.check(text, against: "markdown-empty.md")
    }

    @Test func hazardsThatDoNotFitAreAnnouncedAtTheTop() {
        var plan = Self.bigPlan(3000)
        for i in plan.changes.indices { plan.changes[i].hazards = [Hazard(.widensAccess, "widens access for tenant number \(i) in a long sentence")] }
        let rendering = MarkdownPlanRenderer(limit: 20_000).rendering(plan)
        #expect(rendering.hazardsTruncated)
        #expect(rendering.text.utf8.count <= 20_000)
        let lines = rendering.text.split(separator: "\n")
        #expect(lines[0].hasPrefix("### Guardrail plan for `production`: 3000 to add"))
        #expect(lines[2].contains("3000 changes carry hazards, more than one comment can hold"))
    }

    @Test func smallMarkdownIsNotTruncated() {
        let markdown = MarkdownPlanRenderer().render(Self.goldenPlan)
        #expect(!markdown.contains("was cut"))
        #expect(!markdown.contains("not listed here"))
        #expect(markdown.contains(TextPlanRenderer(color: false).render(Self.goldenPlan)))
    }

    @Test func markdownEscapesPipesAndHTMLOutsideCode() {
        #expect(
            MarkdownPlanRenderer.escapeText("a | b <script>alert(1)</script> & `x` *y* _z_ [l](u)\nnext")
                == #"a \| b &lt;script&gt;alert(1)&lt;/script&gt; &amp; \`x\` \*y\* \_z\_ \[l\](u) next"#)
        #expect(MarkdownPlanRenderer.escapeCode("a`b|c\nd\r\u{1B}") == #"a'b¦c\nd\r\u{1b}"#)
        #expect(MarkdownPlanRenderer.escapeText("crlf\r\nbell\u{7}") == #"crlf bell\u{7}"#)

        var plan = Self.emptyPlan
        plan.environment = "prod`|x"
        plan.notes = ["<script>alert(1)</script> | note"]
        plan.changes = [
            Change(
                address: Address(prefix: "tenant", name: "acme"), kind: "Tenant", action: .delete,
                before: ["display_name": .string("<script>alert(2)</script> | x")], after: nil,
                hazards: [Hazard(.destroys, "drops <img src=x onerror=alert(3)> | everything")], reason: "r")
        ]
        let markdown = MarkdownPlanRenderer().render(plan)
        let outsideCode = markdown.components(separatedBy: "<details>").first ?? markdown
        #expect(outsideCode.hasPrefix("### Guardrail plan for `prod'¦x`: 0 to add, 0 to change, 1 to destroy, blocked\n"))
        #expect(outsideCode.contains("> &lt;script&gt;alert(1)&lt;/script&gt; \\| note\n"))
        #expect(outsideCode.contains("**destroys** (blocked: `--allow-destroy`): drops &lt;img src=x onerror=alert(3)&gt; \\| everything |\n"))
        #expect(!outsideCode.contains("<script>"))
        #expect(!outsideCode.contains("<img"))
        // Every table row has exactly the columns of its header: no stray unescaped pipe.
        for row in outsideCode.split(separator: "\n") where row.hasPrefix("| ") {
            let cells = row.replacingOccurrences(of: "\\|", with: "").filter { $0 == "|" }.count
            #expect(cells == 3 || cells == 4 || cells == 5, "\(row)")
        }
    }

    @Test func backticksInValuesCannotCloseTheCodeFence() {
        let plan = Self.bigPlan(1) { _ in "```\n</details><script>x</script>````" }
        let markdown = MarkdownPlanRenderer().render(plan)
        #expect(markdown.contains("\n<details><summary>Full plan</summary>\n\n`````diff\n"))
        #expect(markdown.hasSuffix("`````\n\n</details>\n"))
        #expect(markdown.components(separatedBy: "</details>").count == 3)
    }

    @Test func markdownForNoChanges() {
        #expect(
            MarkdownPlanRenderer().render(Self.emptyPlan) == """
                ### Guardrail plan for `staging`: no changes

                **No changes.** Live state matches the configuration. Compared 3 tenants.

                """)
    }
}
