import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import GuardrailTestSupport
import Testing

/// The rollout and flag commands as an operator runs them.
@Suite("rollout and flag commands", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct FlagCommandTests {
    static let flags = """
        apiVersion: guardrail/v1
        kind: Guardrail
        metadata: {name: error-ratio}
        spec:
          query: sum(cli_errors{tenant_id=~"{{cohort}}"}) / sum(cli_requests{tenant_id=~"{{cohort}}"})
          max: 0.05
          interval: 1s
        ---
        apiVersion: guardrail/v1
        kind: FeatureFlag
        metadata: {name: launch.test}
        spec:
          enabled: true
          overrides: {disable: [brokerage-3]}
          rollout:
            phases:
              - {name: internal, tenants: {selector: {cohort: internal}}, bake: 1h}
              - {name: canary, percent: 10, bake: 1h}
              - {percent: 100}
            guardrails: [error-ratio]

        """

    static let environment = Fixtures.localEnvironmentYAML + "  prometheus: {url: \"${PROMETHEUS_URL}\"}\n"

    func workspace() async throws -> (TestDatabase, URL, [String: String]) {
        let db = try await TestPostgres.createDatabase()
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 20),
            "manifests/flags.yaml": Self.flags,
            "environments/local.yaml": Self.environment,
        ])
        return (db, dir, ["DATABASE_URL": db.urlString, "PROMETHEUS_URL": TestPrometheus.url ?? "http://127.0.0.1:1"])
    }

    @Test("plan shows the rollout with each phase's cohort; status, pause, resume, promote, kill, eval and release work from the command line")
    func operatorFlow() async throws {
        let (db, dir, env) = try await workspace()
        defer { Task { await db.drop() } }
        func run(_ args: String...) async throws -> CommandResult { try await InProcess.run(args, in: dir, environment: env) }

        let plan = try await run("plan", "--env", "local")
        #expect(plan.status == 0, "\(plan.output)")
        #expect(plan.stdout.contains("rollout: starts at phase 1 on apply; on breach: rollback; 19 eligible tenants"), "\(plan.stdout)")
        #expect(plan.stdout.contains("1. internal  named tenants only; cohort 1 (5.26%); bake 1h"), "\(plan.stdout)")
        #expect(plan.stdout.contains("2. canary    10% of 19 = 1.9 -> 2 by rank; cohort 3 (15.79%); bake 1h"), "\(plan.stdout)")
        #expect(plan.stdout.contains("adds 1: brokerage-0"))
        #expect(try await run("apply", "--env", "local", "--auto-approve").status == 0)

        let status = try await run("rollout", "status", "launch.test", "--env", "local")
        #expect(status.status == 0, "\(status.output)")
        #expect(status.stdout.hasPrefix("flag.launch.test: PROGRESSING  1 of 19 eligible tenants enabled"), "\(status.stdout)")
        #expect(status.stdout.contains("▶ 1. internal"))
        #expect(status.stdout.contains("error-ratio  <= 0.05"))

        #expect(try await run("rollout", "pause", "launch.test", "--env", "local", "--reason", "checking dashboards").stdout.contains("paused by"))
        let again = try await run("rollout", "pause", "launch.test", "--env", "local")
        #expect(again.status == 1)
        #expect(again.stderr.contains("the rollout is paused, not progressing"), "\(again.stderr)")
        #expect(try await run("rollout", "resume", "flag.launch.test", "--env", "local").status == 0)
        let promote = try await run("rollout", "promote", "launch.test", "--env", "local")
        #expect(promote.stdout.contains("advanced to phase 2 (canary): promoted by"), "\(promote.output)")

        #expect(try await run("flag", "kill", "launch.test", "--env", "local").status == 0)
        let killed = try await run("flag", "eval", "launch.test", "--tenant", "brokerage-0", "--env", "local")
        #expect(killed.stdout.hasPrefix("flag.launch.test for tenant brokerage-0 (\(Fixtures.tenantID(0))): OFF"), "\(killed.output)")
        #expect(killed.stdout.contains("the flag is killed"))
        #expect(try await run("rollout", "status", "launch.test", "--env", "local").stdout.hasPrefix("flag.launch.test: KILLED"))
        #expect(try await run("flag", "release", "launch.test", "--env", "local").status == 0)
        let on = try await run("flag", "eval", "launch.test", "--tenant", Fixtures.tenantID(0), "--env", "local")
        #expect(on.stdout.contains("): ON"), "\(on.output)")
        #expect(on.stdout.contains("reason \"phase 1 (internal)\""))
        let disabled = try await run("flag", "eval", "launch.test", "--tenant", "brokerage-3", "--env", "local")
        #expect(disabled.stdout.contains("OFF") && disabled.stdout.contains("overrides.disable names this tenant"), "\(disabled.output)")

        // An unknown tenant is not the flag's fault: the message says which is missing, and the closest name.
        let nobody = try await run("flag", "eval", "launch.test", "--tenant", "brokerage-O", "--env", "local")
        #expect(nobody.status == 1)
        #expect(
            nobody.stderr.contains(
                "no tenant named or with id \"brokerage-O\" in this environment; the flag launch.test exists. Did you mean brokerage-0?"),
            "\(nobody.stderr)")
        let noFlag = try await run("flag", "eval", "launch.tset", "--tenant", "brokerage-0", "--env", "local")
        #expect(noFlag.stderr.contains("no flag \"launch.tset\" in this environment. Did you mean launch.test?"), "\(noFlag.stderr)")

        // The current phase is the controller's: a plan after all this has no changes.
        #expect(try await run("plan", "--env", "local", "--detailed-exitcode").status == 0)
        let history = try await run("rollout", "status", "launch.test", "--env", "local")
        for word in ["pause", "resume", "promote", "kill", "release"] {
            #expect(history.stdout.contains("  \(word) "), "\(word) in \(history.stdout)")
        }
    }

    @Test("flag kill takes several flags or a label selector, in one transaction: all of them, or none when one is unknown")
    func multiFlagKill() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        func channel(_ name: String, labels: String) -> String {
            "apiVersion: guardrail/v1\nkind: FeatureFlag\nmetadata: {name: \(name), labels: {\(labels)}}\nspec: {enabled: true}\n---\n"
        }
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 3),
            "manifests/flags.yaml": channel("channel.email", labels: "group: channels") + channel("channel.sms", labels: "group: channels")
                + channel("channel.postal", labels: "group: channels") + channel("search.beta", labels: "group: search"),
            "environments/local.yaml": Self.environment,
        ])
        let env = ["DATABASE_URL": db.urlString, "PROMETHEUS_URL": TestPrometheus.url ?? "http://127.0.0.1:1"]
        func run(_ args: String...) async throws -> CommandResult { try await InProcess.run(args, in: dir, environment: env) }
        func killed() async throws -> String? {
            try await db.scalar("SELECT string_agg(name, ',' ORDER BY name) FROM guardrail.flags WHERE killed")
        }
        #expect(try await run("apply", "--env", "local", "--auto-approve").status == 0)

        // One unknown name: refused, and the two real flags are untouched.
        let partial = try await run("flag", "kill", "channel.email", "channel.sms", "channel.fax", "--env", "local")
        #expect(partial.status == 1, "\(partial.output)")
        #expect(partial.stderr.contains("there is no flag \"channel.fax\" in this environment; no flag was changed"), "\(partial.stderr)")
        #expect(try await killed() == nil)

        let named = try await run("flag", "kill", "channel.email", "flag.channel.sms", "--env", "local")
        #expect(named.status == 0, "\(named.output)")
        #expect(try await killed() == "channel.email,channel.sms")

        // The selector picks the group; the flag already killed is left as it is.
        let group = try await run("flag", "kill", "--selector", "group=channels", "--env", "local")
        #expect(group.status == 0, "\(group.output)")
        #expect(group.stdout.contains("flag.channel.email: already killed; left as it is"), "\(group.stdout)")
        #expect(group.stdout.contains("flag.channel.postal: killed by"), "\(group.stdout)")
        #expect(try await killed() == "channel.email,channel.postal,channel.sms")

        let none = try await run("flag", "kill", "--selector", "group=nothing", "--env", "local")
        #expect(none.status == 1)
        #expect(none.stderr.contains("no flag in the configuration has the labels group=nothing"), "\(none.stderr)")
        #expect(try await run("flag", "kill", "--env", "local").status == 1, "naming nothing is a usage error")

        #expect(try await run("flag", "release", "--selector", "group=channels", "--env", "local").status == 0)
        #expect(try await killed() == nil)
        // Labels are the configuration's own: they are not drift.
        #expect(try await run("plan", "--env", "local", "--detailed-exitcode").status == 0)
    }

    @Test("rollout abort goes back to the pre-rollout cohort and stays down; rollout retry starts again at phase 1")
    func abortAndRetryFromTheCommandLine() async throws {
        let (db, dir, env) = try await workspace()
        defer { Task { await db.drop() } }
        func run(_ args: String...) async throws -> CommandResult { try await InProcess.run(args, in: dir, environment: env) }
        #expect(try await run("apply", "--env", "local", "--auto-approve").status == 0)
        #expect(try await run("rollout", "promote", "launch.test", "--env", "local").status == 0)
        let abort = try await run("rollout", "abort", "launch.test", "--env", "local")
        #expect(abort.status == 0, "\(abort.output)")
        #expect(abort.stdout.contains("back to the pre-rollout cohort"), "\(abort.stdout)")
        #expect(try await run("rollout", "status", "launch.test", "--env", "local").stdout.hasPrefix("flag.launch.test: ROLLED-BACK  0 of 19"))
        let resume = try await run("rollout", "resume", "launch.test", "--env", "local")
        #expect(resume.status == 1, "a rolled-back rollout stays down until retried: \(resume.output)")
        let retry = try await run("rollout", "retry", "launch.test", "--env", "local")
        #expect(retry.status == 0, "\(retry.output)")
        #expect(retry.stdout.contains("restarting at phase 1 (internal)"), "\(retry.stdout)")
        #expect(try await run("rollout", "status", "launch.test", "--env", "local").stdout.hasPrefix("flag.launch.test: PROGRESSING  1 of 19"))
        #expect(try await run("plan", "--env", "local", "--detailed-exitcode").status == 0)
    }

    @Test("rollout tick evaluates against the environment's Prometheus and says what it decided")
    func tickFromTheCommandLine() async throws {
        let (db, dir, env) = try await workspace()
        defer { Task { await db.drop() } }
        #expect(try await InProcess.run(["apply", "--env", "local", "--auto-approve"], in: dir, environment: env).status == 0)
        let tick = try await InProcess.run(["rollout", "tick", "--env", "local"], in: dir, environment: env)
        #expect(tick.status == 0, "\(tick.output)")
        #expect(tick.stdout.contains("flag.launch.test: progressing at phase 1 (internal)"), "\(tick.stdout)")
        // No series exist for these tenants, so the guardrail has no data and the rollout holds.
        #expect(tick.stdout.contains("error-ratio: no-data"), "\(tick.stdout)")
    }

    @Test("commands on an unknown flag or a flag without a rollout fail with a sentence saying why")
    func unknownFlag() async throws {
        let (db, dir, env) = try await workspace()
        defer { Task { await db.drop() } }
        #expect(try await InProcess.run(["apply", "--env", "local", "--auto-approve"], in: dir, environment: env).status == 0)
        let unknown = try await InProcess.run(["rollout", "pause", "launch.tset", "--env", "local"], in: dir, environment: env)
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("there is no flag \"launch.tset\""), "\(unknown.stderr)")
        let bad = try await InProcess.run(["flag", "kill", "Not A Flag", "--env", "local"], in: dir, environment: env)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("is not a flag name"), "\(bad.stderr)")
    }

    @Test("an apply and a flag kill from the command line are announced to the environment's Alertmanager")
    func commandsAreAnnounced() async throws {
        let alertmanager = try await PrivateAlertmanager.start()
        defer { alertmanager.stop() }
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 3),
            "manifests/flags.yaml": "apiVersion: guardrail/v1\nkind: FeatureFlag\nmetadata: {name: channel.email}\nspec: {enabled: true}\n",
            "environments/local.yaml": Self.environment + "  alertmanager: {url: \"${ALERTMANAGER_URL}\"}\n",
        ])
        let env = ["DATABASE_URL": db.urlString, "PROMETHEUS_URL": TestPrometheus.url ?? "http://127.0.0.1:1", "ALERTMANAGER_URL": alertmanager.url]
        func run(_ args: String...) async throws -> CommandResult { try await InProcess.run(args, in: dir, environment: env) }
        let apply = try await run("apply", "--env", "local", "--auto-approve")
        #expect(apply.status == 0, "\(apply.output)")
        let kill = try await run("flag", "kill", "channel.email", "--env", "local")
        #expect(kill.status == 0, "\(kill.output)")
        #expect(!kill.stderr.contains("not delivered"), "\(kill.stderr)")
        let (data, _) = try await URLSession.shared.data(from: URL(string: alertmanager.url + "/api/v2/alerts")!)
        let alerts = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        let labels: [[String: String]] = alerts.compactMap { $0["labels"] as? [String: String] }
        let killed = labels.first { $0["alertname"] == "GuardrailFlagKilled" }
        #expect(killed?["flag"] == "channel.email", "\(labels)")
        #expect(killed?["severity"] == "critical", "\(labels)")
        let applied = labels.first { $0["alertname"] == "GuardrailApplyDone" }
        #expect(applied?["environment"] == "local", "\(labels)")

        // Alertmanager gone: the kill still happens; the command says not delivered.
        alertmanager.stop()
        let release = try await run("flag", "release", "channel.email", "--env", "local")
        #expect(release.status == 0, "\(release.output)")
        #expect(release.stderr.contains("not delivered"), "\(release.stderr)")
        #expect(try await db.scalar("SELECT killed::text FROM guardrail.flags WHERE name = 'channel.email'") == "false")
    }

    @Test("history lists applies and every flag and rollout decision with who and when; filters, JSON and `history show` work")
    func auditTrail() async throws {
        let (db, dir, env) = try await workspace()
        defer { Task { await db.drop() } }
        func run(_ args: String...) async throws -> CommandResult { try await InProcess.run(args, in: dir, environment: env) }
        #expect(try await run("apply", "--env", "local", "--auto-approve").status == 0)
        #expect(try await run("rollout", "pause", "launch.test", "--env", "local", "--reason", "checking dashboards").status == 0)
        #expect(try await run("rollout", "resume", "launch.test", "--env", "local").status == 0)
        #expect(try await run("flag", "kill", "launch.test", "--env", "local").status == 0)
        #expect(try await run("flag", "release", "launch.test", "--env", "local").status == 0)

        let all = try await run("history", "--env", "local")
        #expect(all.status == 0, "\(all.output)")
        let lines = all.stdout.split(separator: "\n").map(String.init)
        let user = ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
        for (kind, text) in [
            ("flag", "release at phase"), ("flag", "kill at phase"), ("rollout", "resume at phase"), ("rollout", "pause at phase"),
            ("rollout", "start at phase"), ("apply", "added, 0 changed, 0 destroyed"),
        ] {
            #expect(lines.contains { $0.contains("  \(kind)  ") && $0.contains(text) }, "\(kind) \(text) in \(all.stdout)")
        }
        #expect(lines.contains { $0.contains("pause at phase") && $0.contains("checking dashboards") && $0.contains(user) }, "\(all.stdout)")
        // Newest first: the release is listed before the kill.
        #expect(try #require(lines.firstIndex { $0.contains("release at phase") }) < #require(lines.firstIndex { $0.contains("kill at phase") }))

        let flags = try await run("history", "--env", "local", "--kind", "flag")
        #expect(flags.stdout.split(separator: "\n").filter { $0.contains("  flag  ") }.count == 2, "\(flags.stdout)")
        #expect(!flags.stdout.contains("  apply  "))
        let onTenant = try await run("history", "--env", "local", "--object", "tenant.brokerage-3")
        #expect(onTenant.stdout.contains("  apply  ") && !onTenant.stdout.contains("  flag  "), "\(onTenant.stdout)")
        #expect(try await run("history", "--env", "local", "--kind", "nonsense").status != 0)

        let json = try await run("history", "--env", "local", "--format", "json", "--since", "1h")
        let actions = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]], "\(json.output)")
        #expect(actions.count >= 6)
        let kill = try #require(actions.first { ($0["summary"] as? String)?.hasPrefix("kill") == true })
        #expect(kill["object"] as? String == "flag.launch.test")
        #expect(kill["actor"] as? String == user)
        let apply = try #require(actions.first { $0["kind"] as? String == "apply" })

        let killRecord = try await run("history", "show", try #require(kill["id"] as? String), "--env", "local")
        #expect(killRecord.status == 0, "\(killRecord.output)")
        #expect(killRecord.stdout.contains("decision: kill") && killRecord.stdout.contains("flag.launch.test"), "\(killRecord.stdout)")
        let applyRecord = try await run("history", "show", try #require(apply["id"] as? String), "--env", "local")
        #expect(
            applyRecord.stdout.contains("create tenant.brokerage-0") && applyRecord.stdout.contains("create flag.launch.test"),
            "\(applyRecord.stdout)")
        let missing = try await run("history", "show", "event-999999", "--env", "local")
        #expect(missing.status == 1 && missing.stderr.contains("no action has the ID event-999999"), "\(missing.output)")
    }

    @Test("where the environment requires a reason, changes without one are refused and change nothing; reasons are stored and shown by history")
    func reasonsRequired() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 20),
            "manifests/flags.yaml": Self.flags,
            "environments/local.yaml": Self.environment + "  requireReason: true\n",
        ])
        let env = ["DATABASE_URL": db.urlString, "PROMETHEUS_URL": TestPrometheus.url ?? "http://127.0.0.1:1"]
        func run(_ args: String...) async throws -> CommandResult { try await InProcess.run(args, in: dir, environment: env) }

        let unexplained = try await run("apply", "--env", "local", "--auto-approve")
        #expect(unexplained.status == 1)
        #expect(unexplained.stderr.contains("environment \"local\" requires a reason for `guardrail apply`"), "\(unexplained.stderr)")
        #expect(try await db.scalar("SELECT (to_regclass('guardrail.tenants') IS NULL)::text") == "true", "the refused apply created nothing")
        #expect(try await run("apply", "--env", "local", "--auto-approve", "--reason", "launch day").status == 0)

        let kill = try await run("flag", "kill", "launch.test", "--env", "local")
        #expect(kill.status == 1)
        #expect(kill.stderr.contains("requires a reason for `guardrail flag kill`"), "\(kill.stderr)")
        #expect(try await db.scalar("SELECT killed::text FROM guardrail.flags WHERE name = 'launch.test'") == "false")
        let blank = try await run("rollout", "pause", "launch.test", "--env", "local", "--reason", "   ")
        #expect(blank.status == 1, "a blank reason is no reason: \(blank.output)")
        #expect(try await run("flag", "kill", "launch.test", "--env", "local", "--reason", "bounces at 6%").status == 0)

        let history = try await run("history", "--env", "local")
        #expect(history.stdout.contains("(reason: bounces at 6%)"), "\(history.stdout)")
        #expect(history.stdout.contains("(reason: launch day)"), "\(history.stdout)")
        let json = try await run("history", "--env", "local", "--kind", "apply", "--format", "json")
        let apply = try #require((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])?.first)
        let record = try await run("history", "show", try #require(apply["id"] as? String), "--env", "local")
        #expect(record.stdout.contains("reason:") && record.stdout.contains("launch day"), "\(record.stdout)")
    }
}
