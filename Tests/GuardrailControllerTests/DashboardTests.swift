import Foundation
import GuardrailTestSupport
@testable import GuardrailController
import GuardrailCore
@testable import GuardrailEngine
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The dashboard in-process: each page's JSON twin says what the state holds, the HTML pages show
/// the same values, and text from manifests, the database and errors is always escaped, in HTML
/// text, attributes and SVG.
@Suite("controller dashboard")
struct DashboardTests {
    static let script = "<script>alert(1)</script>"
    static let image = "\"><img src=x onerror=alert(2)>"
    static let hostile = script + " " + image

    /// The pages count bakes down from the real clock, so the state is built around it.
    static let now = Date()

    static func flag(description: String = "Email channel") -> FeatureFlag {
        FeatureFlag(
            name: "channel.email", description: description, enabled: true,
            rollout: Rollout(
                phases: [
                    RolloutPhase(name: "internal", selector: ["cohort": "internal"], bake: .seconds(60)),
                    RolloutPhase(name: "canary", percent: 10, bake: .seconds(120)),
                    RolloutPhase(name: "half", percent: 50, bake: .seconds(120)),
                    RolloutPhase(name: "all", percent: 100),
                ], guardrails: ["bounce-rate"], onBreach: .rollback))
    }

    static let bounceRate = Guardrail(
        name: "bounce-rate", description: "Bounces per sent email", query: "sum(bounced) / sum(sent)",
        condition: .max(0.05), interval: .seconds(1), failures: 2)

    /// A state mid-rollout (phase 2 of 4, 40 s into a 120 s bake) with a few guardrail values,
    /// a drift correction, held drift, an error and a backup schedule; `text` goes into every
    /// field a manifest, the database or an error can fill.
    static func state(text: String = "", leader: Bool = true) async -> ControllerState {
        let state = ControllerState(environment: "production", holder: "replica-1")
        var tick = Reconciler.TickReport(startedAt: now.addingTimeInterval(-2))
        tick.leader = leader
        tick.epoch = 4
        tick.duration = 0.25
        tick.steps = ["plan": 0.12, "plan.observe": 0.08, "rollouts": 0.05, "backups": 0.01]
        tick.plan = Plan.Summary(add: 0, change: 2, destroy: 0)
        tick.driftByKind = ["Tenant": 1, "RowLevelSecurityPolicy": 1]
        tick.drift = [
            .init(kind: "Tenant", address: "tenant.acme", action: "update", reason: "display_name differs \(text)"),
            .init(kind: "RowLevelSecurityPolicy", address: "rls.public.leases.policy.tenant_isolation", action: "update", reason: "using differs"),
        ]
        tick.applied = ["tenant.acme"]
        tick.reported = [("rls.public.leases.policy.tenant_isolation", "widens-access: needs a human `guardrail apply` \(text)")]
        tick.errors = ["backups: pg_dump failed \(text)"]
        for (i, value) in [0.01, 0.02, 0.09].enumerated() {
            var early = Reconciler.TickReport(startedAt: now.addingTimeInterval(Double(i - 10)))
            early.leader = leader
            let verdict = bounceRate.verdict(for: GuardrailReading(value: .value(value)))
            early.rollouts = [
                RolloutTickResult(
                    flag: "channel.email", status: "progressing", phase: 1, phaseName: "canary",
                    verdicts: [verdict], decisions: [])
            ]
            await state.record(early, manifestsLoaded: true)
        }
        var noData = Reconciler.TickReport(startedAt: now.addingTimeInterval(-6))
        noData.leader = leader
        noData.rollouts = [
            RolloutTickResult(
                flag: "channel.email", status: "progressing", phase: 1, phaseName: "canary",
                verdicts: [bounceRate.verdict(for: GuardrailReading(value: .noData("empty result \(text)")))],
                decisions: [])
        ]
        await state.record(noData, manifestsLoaded: true)
        tick.rollouts = [RolloutTickResult(flag: "channel.email", status: "progressing", phase: 1, phaseName: "canary", verdicts: [], decisions: [])]
        await state.record(tick, manifestsLoaded: true)

        var guardrail = bounceRate
        guardrail.description = "Bounces per sent email \(text)"
        var rollout = RolloutState(
            status: .progressing, phase: 1, phaseStartedAt: now.addingTimeInterval(-40),
            reason: "advanced to phase 2 (canary)", specFingerprint: "f")
        var track = GuardrailTrack()
        track.consecutiveFailures = 1
        rollout.tracks = ["bounce-rate": track]
        let pause = RolloutDecision(kind: .pause, phase: 1, message: "paused by alice: \(text)", actor: "alice")
        let report = RolloutStatusReport(
            flag: flag(description: "Email channel \(text)"), killed: false, killedBy: nil, killedAt: nil,
            state: rollout, guardrails: [guardrail], enabledCount: 3, eligibleCount: 30,
            events: [
                RolloutEventRecord(at: now.addingTimeInterval(-30), decision: pause, reason: "looking into it \(text)"),
                RolloutEventRecord(
                    at: now.addingTimeInterval(-40),
                    decision: RolloutDecision(
                        kind: .advance, phase: 1, message: "advanced to phase 2 (canary)", actor: "controller replica-1")),
            ], now: now)
        await state.setRollouts([report], at: now.addingTimeInterval(-1))

        let schedule = BackupSchedule(
            name: "nightly", schedule: try! CronSchedule.parse("0 2 * * *").get(), retention: .init(keep: 3),
            rpo: .seconds(26 * 3600), restoreDrill: .init(schedule: try! CronSchedule.parse("0 5 * * 0").get()))
        let run = BackupRunner.Run(
            id: 7, schedule: "nightly", scheduledFor: nil, status: .failed, startedAt: now.addingTimeInterval(-600),
            finishedAt: now.addingTimeInterval(-590), sizeBytes: nil, sha256: nil, file: nil, error: "pg_dump: error \(text)")
        let good = BackupRunner.Run(
            id: 6, schedule: "nightly", scheduledFor: nil, status: .succeeded, startedAt: now.addingTimeInterval(-3600),
            finishedAt: now.addingTimeInterval(-3500), sizeBytes: 4_200_000, sha256: nil, file: nil, error: nil)
        let drill = BackupRunner.Drill(
            id: 2, schedule: "nightly", backupRunID: 6, status: "failed", startedAt: now.addingTimeInterval(-3000),
            finishedAt: now.addingTimeInterval(-2990),
            checks: [
                .init(
                    name: "row count public.properties \(text)", passed: false,
                    detail: "0 rows, at least 1 \(text)")
            ],
            error: "a check failed \(text)")
        if leader {
            await state.setBackups(
                [
                    BackupRunner.Status(
                        schedule: schedule, lastSuccess: good, lastRun: run, lastDrill: drill, age: 3500,
                        meetsRPO: true, nextRun: now.addingTimeInterval(3600))
                ], at: now)
        }
        return state
    }

    static func app(_ state: ControllerState) -> some ApplicationProtocol {
        Application(router: ControllerRouter.build(state: state, adminToken: "s3cret", actions: ControllerHTTPTests.RecordingActions()))
    }

    static func object(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    @Test("the JSON twins: /v1/rollouts has the phases, cohort and guardrail values; /v1/drift each change's fate; /v1/backups RPO, runs and drills")
    func jsonTwins() async throws {
        let state = await Self.state()
        try await Self.app(state).test(.router) { client in
            try await client.execute(uri: "/v1/rollouts", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                let doc = try Self.object(response)
                let flags = try #require(doc["flags"] as? [[String: Any]])
                #expect(flags.count == 1)
                let flag = flags[0]
                #expect(flag["flag"] as? String == "channel.email")
                #expect(flag["status"] as? String == "progressing")
                #expect(flag["cohortSize"] as? Int == 3)
                #expect(flag["eligibleTenants"] as? Int == 30)
                #expect(flag["currentPhase"] as? Int == 2)
                let phases = try #require(flag["phases"] as? [[String: Any]])
                #expect(phases.map { $0["state"] as? String } == ["done", "current", "next", "next"])
                #expect(phases[1]["audience"] as? String == "10%")
                #expect(phases[0]["audience"] as? String == "cohort=internal")
                let remaining = try #require(phases[1]["bakeRemainingSeconds"] as? Double)
                #expect(remaining > 0 && remaining <= 80, "a 120 s bake begun 40 s before the document: \(remaining)")
                let guardrails = try #require(flag["guardrails"] as? [[String: Any]])
                #expect(guardrails.count == 1)
                #expect(guardrails[0]["condition"] as? String == "max")
                #expect(guardrails[0]["limit"] as? Double == 0.05)
                #expect(guardrails[0]["consecutiveFailures"] as? Int == 1)
                let points = try #require(guardrails[0]["points"] as? [[String: Any]])
                #expect(points.map { $0["verdict"] as? String } == ["pass", "pass", "fail", "no-data"], "oldest first, as the ticks recorded them")
                #expect(points.map { $0["value"] as? Double } == [0.01, 0.02, 0.09, nil])
                let decisions = try #require(flag["decisions"] as? [[String: Any]])
                #expect(decisions.map { $0["kind"] as? String } == ["pause", "advance"])
                #expect(decisions[0]["reason"] as? String == "looking into it ")
                #expect(decisions[0]["actor"] as? String == "alice")
            }
            try await client.execute(uri: "/v1/drift", method: .get) { response in
                let doc = try Self.object(response)
                let kinds = try #require(doc["kinds"] as? [[String: Any]])
                #expect(kinds.map { $0["kind"] as? String } == ["RowLevelSecurityPolicy", "Tenant"])
                let policy = try #require(kinds[0]["items"] as? [[String: Any]])
                #expect(policy[0]["status"] as? String == "waits-for-human")
                #expect((policy[0]["waitReason"] as? String)?.hasPrefix("widens-access") == true)
                #expect(kinds[0]["waitingForHuman"] as? Int == 1)
                let tenant = try #require(kinds[1]["items"] as? [[String: Any]])
                #expect(tenant[0]["status"] as? String == "corrected")
                #expect(kinds[1]["corrected"] as? Int == 1)
                #expect((doc["plan"] as? [String: Int])?["change"] == 2)
            }
            try await client.execute(uri: "/v1/backups", method: .get) { response in
                let doc = try Self.object(response)
                let schedules = try #require(doc["schedules"] as? [[String: Any]])
                #expect(schedules.count == 1)
                #expect(schedules[0]["name"] as? String == "nightly")
                #expect(schedules[0]["rpoMet"] as? Bool == true)
                #expect(schedules[0]["rpo"] as? String == "1d2h")
                #expect((schedules[0]["lastRun"] as? [String: Any])?["status"] as? String == "failed")
                let drill = try #require(schedules[0]["lastDrill"] as? [String: Any])
                #expect(drill["status"] as? String == "failed")
                #expect((drill["checks"] as? [[String: Any]])?.first?["passed"] as? Bool == false)
            }
            try await client.execute(uri: "/v1/status", method: .get) { response in
                let doc = try Self.object(response)
                #expect(doc["leader"] as? Bool == true)
                let tick = try #require(doc["lastTick"] as? [String: Any])
                #expect(tick["epoch"] as? Int == 4)
                #expect((tick["stepSeconds"] as? [String: Double])?["plan"] == 0.12)
                let rollouts = try #require(doc["rollouts"] as? [[String: Any]])
                #expect(rollouts.first?["cohortSize"] as? Int == 3)
                #expect(rollouts.first?["eligibleTenants"] as? Int == 30)
                #expect((doc["backups"] as? [[String: Any]])?.first?["lastDrillStatus"] as? String == "failed")
                let errors = try #require(doc["recentErrors"] as? [[String: Any]])
                #expect(errors.first?["message"] as? String == "backups: pg_dump failed ")
            }
        }
    }

    @Test("each HTML page shows its twin's values: the phase strip, the chart's marks, the decisions, drift and backups")
    func pagesShowTheDocuments() async throws {
        let state = await Self.state()
        try await Self.app(state).test(.router) { client in
            try await client.execute(uri: "/rollouts", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                let csp = try #require(response.headers[.contentSecurityPolicy])
                #expect(csp.contains("script-src 'sha256-") && csp.contains("default-src 'none'"))
                let page = String(buffer: response.body)
                #expect(page.contains("<li class=\"phase ok\" data-state=\"done\">"))
                #expect(page.contains("<li class=\"phase info\" data-state=\"current\">"))
                #expect(page.contains("left of 2m"), "the bake countdown")
                #expect(page.contains("<strong>3</strong> of 30 eligible tenants"))
                #expect(page.contains("<svg class=\"chart\""))
                #expect(page.components(separatedBy: "data-verdict=\"pass\"").count == 3)
                #expect(page.components(separatedBy: "data-verdict=\"fail\"").count == 2)
                #expect(page.components(separatedBy: "data-verdict=\"no-data\"").count == 2)
                #expect(page.contains("class=\"threshold\""))
                #expect(page.contains(">max 0.05</text>"))
                #expect(page.contains("failing 1 of 2"))
                #expect(page.contains("<tr data-kind=\"pause\">"))
            }
            try await client.execute(uri: "/drift", method: .get) { response in
                let page = String(buffer: response.body)
                #expect(page.contains("waits for a human"))
                #expect(page.contains("<code>tenant.acme</code>"))
            }
            try await client.execute(uri: "/backups", method: .get) { response in
                let page = String(buffer: response.body)
                #expect(page.contains("RPO met"))
                #expect(page.contains("Drill failed"))
            }
            try await client.execute(uri: "/", method: .get) { response in
                let page = String(buffer: response.body)
                #expect(page.contains("Leader"))
                #expect(page.contains("epoch 4"))
                #expect(page.contains("<th scope=\"row\">plan.observe</th>"))
                #expect(page.contains("href=\"/rollouts#channel.email\""))
                #expect(page.contains("<a href=\"/v1/status\">JSON</a>"))
            }
        }
    }

    @Test("the pages rendered from the fixture state are left in .build/test-artifacts for a person to look at")
    func fixturePages() async throws {
        let inputs = await Self.state().dashboardInputs()
        let dir = try Chromium.artifactsDirectory()
        let pages = [
            ("overview", DashboardHTML.overview(StatusDocument.make(inputs))),
            ("rollouts", DashboardHTML.rollouts(RolloutsDocument.make(inputs))),
            ("drift", DashboardHTML.drift(DriftDocument.make(inputs))), ("backups", DashboardHTML.backups(BackupsDocument.make(inputs))),
        ]
        for (name, html) in pages {
            #expect(html.hasPrefix("<!doctype html>") && html.hasSuffix("</html>\n"), "\(name)")
            try Data(html.utf8).write(to: dir.appendingPathComponent("dashboard-fixture-\(name).html"))
        }
    }

    @Test("a standby says so on every page and in every twin, and shows no stale rollouts or backups")
    func standby() async throws {
        let state = await Self.state(leader: false)
        try await Self.app(state).test(.router) { client in
            for path in ["/v1/rollouts", "/v1/drift", "/v1/backups"] {
                try await client.execute(uri: path, method: .get) { response in
                    let doc = try Self.object(response)
                    #expect(doc["leader"] as? Bool == false, "\(path)")
                    #expect((doc["notice"] as? String)?.contains("standby") == true, "\(path)")
                }
            }
            try await client.execute(uri: "/rollouts", method: .get) { response in
                let page = String(buffer: response.body)
                #expect(page.contains("This replica is on standby"))
                #expect(page.contains("<li class=\"phase info\" data-state=\"current\">"), "a standby reads the rollouts from Postgres too")
                #expect(page.contains("<tr data-kind=\"pause\">"))
            }
            try await client.execute(uri: "/backups", method: .get) { response in
                #expect(!String(buffer: response.body).contains("RPO met"), "a standby does not read the backup status")
            }
            for path in ["/", "/drift"] {
                try await client.execute(uri: path, method: .get) { response in
                    let page = String(buffer: response.body)
                    #expect(page.contains("standby"), "\(path)")
                    #expect(!page.contains("In sync"), "\(path): a standby plans nothing, so it cannot say there is no drift")
                }
            }
        }
    }

    @Test("<script> and \"><img onerror> in descriptions, reasons, drift, errors and backup failures are escaped on every page, never raw")
    func escaping() async throws {
        let state = await Self.state(text: Self.hostile)
        try await Self.app(state).test(.router) { client in
            for path in ["/", "/rollouts", "/drift", "/backups"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .ok)
                    let page = String(buffer: response.body)
                    #expect(!page.contains("<script>alert"), "\(path): a raw script element")
                    #expect(!page.contains("<img"), "\(path): a raw img element")
                    #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "\(path): the text is shown, escaped")
                    #expect(page.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"), "\(path)")
                    // The page's own script is the only one, and the policy allows only it.
                    #expect(page.components(separatedBy: "<script").count == 2, "\(path)")
                }
            }
            // The JSON twins carry the text as it is (JSON is not HTML).
            try await client.execute(uri: "/v1/rollouts", method: .get) { response in
                let doc = try Self.object(response)
                let flag = try #require((doc["flags"] as? [[String: Any]])?.first)
                #expect(flag["description"] as? String == "Email channel \(Self.hostile)")
            }
        }
        // The guardrail's tooltip and title are in SVG: escaped the same way.
        let inputs = await state.dashboardInputs(now: Self.now)
        let html = DashboardHTML.rollouts(RolloutsDocument.make(inputs))
        let svg = try #require(html.range(of: "<svg class=\"chart\"").map { String(html[$0.lowerBound...]) })
        #expect(svg.contains("empty result &lt;script&gt;alert(1)&lt;/script&gt;"), "the no-data mark's tooltip")
    }

    @Test("the HTML escaper: the five characters, in text and attributes; control characters replaced; numbers as they are")
    func escaper() {
        let name = "a&b<c>\"d'e\u{1}"
        let html: HTML = "<p title=\"\(name)\">\(name) \(3)</p>"
        #expect(html.raw == "<p title=\"a&amp;b&lt;c&gt;&quot;d&#39;e\u{FFFD}\">a&amp;b&lt;c&gt;&quot;d&#39;e\u{FFFD} 3</p>")
        #expect(HTML.coordinate(12.345) == "12.35")
        #expect(HTML.coordinate(.nan) == "0")
        #expect(DashboardHTML.anchor("channel.email\"><x") == "channel.email___x")
    }

    @Test("the guardrail history keeps the newest points per series and drops the least recently evaluated series past its cap")
    func historyIsBounded() {
        var history = GuardrailHistory(capacity: 3, maxSeries: 2)
        let g = Self.bounceRate
        for i in 0..<5 {
            history.record(flag: "a", g.verdict(for: GuardrailReading(value: .value(Double(i) / 100))), at: Self.now.addingTimeInterval(Double(i)))
        }
        #expect(history.points(flag: "a", guardrail: "bounce-rate").map(\.value) == [0.02, 0.03, 0.04])
        history.record(flag: "b", g.verdict(for: GuardrailReading(value: .value(0.5))), at: Self.now.addingTimeInterval(10))
        history.record(flag: "c", g.verdict(for: GuardrailReading(value: .value(0.5))), at: Self.now.addingTimeInterval(11))
        #expect(history.seriesCount == 2)
        #expect(history.points(flag: "a", guardrail: "bounce-rate").isEmpty, "the oldest series went first")
        #expect(history.points(flag: "c", guardrail: "bounce-rate").count == 1)
        history.record(flag: "c", g.verdict(for: GuardrailReading(value: .value(.infinity))), at: Self.now.addingTimeInterval(12))
        #expect(history.points(flag: "c", guardrail: "bounce-rate").last?.value == nil, "a value JSON cannot carry is kept as none")
    }
}

@Suite("dashboard times")
struct DashboardTimeTests {
    @Test("timestamps are written and read back as ISO 8601 in UTC, as Foundation's formatter writes them")
    func isoTimes() {
        let formatter = ISO8601DateFormatter()
        for seconds in [0, 951_782_400, 1_796_000_000, 4_102_444_799, -34_560_000] as [Double] {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(ISOTime.string(date) == formatter.string(from: date))
            #expect(ISOTime.date(ISOTime.string(date)) == date)
        }
        let precise = Date(timeIntervalSince1970: 1_796_000_000.25)
        #expect(ISOTime.string(precise, milliseconds: true).hasSuffix(":20.250Z"))
        #expect(abs((ISOTime.date(ISOTime.string(precise, milliseconds: true))?.timeIntervalSince1970 ?? 0) - 1_796_000_000.25) < 0.0005)
        #expect(ISOTime.date("2026-13-01T00:00:00Z") == nil)
        #expect(ISOTime.date("not a time") == nil)
    }
}
