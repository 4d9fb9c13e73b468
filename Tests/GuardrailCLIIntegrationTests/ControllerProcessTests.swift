import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import GuardrailEngine
import GuardrailTestSupport
import Testing

/// `guardrail controller` as separate processes on one database, as replicas run in production:
/// one leads; the leader killed with SIGKILL mid-rollout is replaced within two intervals and the
/// rollout goes on without a phase advanced twice or a decision lost; SIGTERM exits cleanly; and the
/// published OpenFeature Python SDK with its OFREP provider gets the same answers as
/// `guardrail.flag_enabled`.
@Suite("controller processes", .serialized, .enabled(if: TestPrometheus.isAvailable, "needs the Postgres and Prometheus that scripts/test starts"))
struct ControllerProcessTests {
    static func workspace(_ db: TestDatabase, prometheus: String) throws -> URL {
        try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 30),
            "manifests/flags.yaml": Fixtures.rolloutYAML(
                guardrail: "always-fine", spec: "{query: 'sum(vector(0.001))', max: 0.05, interval: 1s, failures: 2}",
                phases: [
                    "{name: internal, tenants: {selector: {cohort: internal}}, bake: 3s}",
                    "{name: canary, percent: 10, bake: 3s}", "{percent: 50, bake: 3s}", "{percent: 100}",
                ]),
            "environments/local.yaml": environmentYAML(
                db,
                """
                  prometheus: {url: "\(prometheus)"}
                  controller:
                    interval: 1s
                    adminToken: ${GUARDRAIL_ADMIN_TOKEN:-}
                    drift: {tenant: enforce, flag: enforce, guardrail: enforce}
                """),
        ])
    }

    /// environments/local.yaml on `db`, with `spec` lines (indented two spaces) after postgres.
    static func environmentYAML(_ db: TestDatabase, _ spec: String) -> String {
        """
        apiVersion: guardrail/v1
        kind: Environment
        metadata: {name: local}
        spec:
          postgres: {url: "\(db.urlString)", schema: guardrail, lockTimeout: 5s}
        \(spec)

        """
    }

    /// How long a controller process may take to start, lead and make its first decisions: a bound on
    /// progress, not a speed claim, so it is generous for a full parallel suite on two busy cores.
    /// The claims about timing (takeover within two intervals) keep their own tight bounds.
    static let startup: Double = 120

    static func waitFor(_ what: String, timeout: Double, _ check: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await check() { return }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        Issue.record("timed out after \(timeout)s waiting for \(what)")
    }

    @Test("SIGKILL of the leader mid-rollout: the standby takes over within two intervals and finishes the rollout, each phase advanced once")
    func leaderKilledMidRollout() async throws {
        let prometheus = try #require(TestPrometheus.url)
        let db = try await TestPostgres.createDatabase()
        let dir = try Self.workspace(db, prometheus: prometheus)
        let a = try ControllerProcess(replica: "replica-a", directory: dir)
        try await Self.waitFor("replica-a to lead", timeout: Self.startup) {
            (try? await db.scalar("SELECT holder FROM guardrail.controller_leader")) == "replica-a"
        }
        let b = try ControllerProcess(replica: "replica-b", directory: dir)
        _ = try await b.port()
        try await Self.waitFor("the rollout to reach the canary phase", timeout: Self.startup) {
            (try? await db.scalar("SELECT phase FROM guardrail.rollouts WHERE flag = 'launch.test'")) == "1"
        }
        #expect(
            try await db.scalar("SELECT holder FROM guardrail.controller_leader") == "replica-a", "the standby never took over while the leader lived"
        )

        a.kill9()
        let killed = Date()
        try await Self.waitFor("replica-b to take over", timeout: 10) {
            try await db.scalar("SELECT holder FROM guardrail.controller_leader") == "replica-b"
        }
        let takeover = Date().timeIntervalSince(killed)
        #expect(takeover <= 2 * 1.1 + 1, "took over \(takeover)s after the kill (two intervals, with jitter and a tick)")
        #expect(try await db.scalar("SELECT epoch FROM guardrail.controller_leader") == "2")

        try await Self.waitFor("the rollout to complete", timeout: 40) {
            (try? await db.scalar("SELECT status FROM guardrail.rollouts WHERE flag = 'launch.test'")) == "completed"
        }
        let decisions = try await db.rows(
            """
            SELECT kind, phase FROM guardrail.rollout_events WHERE flag = 'launch.test' AND kind IN ('start', 'advance', 'complete') ORDER BY id
            """
        ).map { "\($0[0] ?? "") \($0[1] ?? "")" }
        #expect(decisions == ["start 0", "advance 1", "advance 2", "advance 3", "complete 3"], "\(decisions)")
        #expect(try await db.scalar("SELECT count(*) FROM guardrail.flag_cohorts WHERE flag = 'launch.test'") == "30")
        // Every log line is one JSON object with the object's address.
        let lines = b.log.filter { $0.hasPrefix("{") }
        #expect(!lines.isEmpty)
        #expect(lines.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil })
        #expect(lines.contains { $0.contains("\"address\":\"flag.launch.test\"") && $0.contains("advanced to phase") })
        #expect(!(a.log + b.log).joined().contains(db.password), "the database password never reaches a log line")

        let status = await b.terminate(timeout: 15)
        #expect(status == 0, "SIGTERM: the controller finishes its tick, steps down and exits 0")
        // The lock went with it: a new replica leads at its first tick.
        let once = try CommandRunner.run(["controller", "--env", "local", "--once", "--replica", "replica-c"], in: dir)
        #expect(once.status == 0, "\(once.output)")
        #expect(once.stdout.contains("\"leader\":true"), "\(once.stdout)")
        #expect(once.stdout.contains("\"epoch\":3"), "\(once.stdout)")
        await db.drop()
    }

    @Test(
        "SIGSTOP of the leader mid-rollout: the standby leads within leaseDuration + one interval; after SIGCONT the old leader writes nothing and stands by; no phase advanced twice"
    )
    func stalledLeaderMidRollout() async throws {
        let prometheus = try #require(TestPrometheus.url)
        let db = try await TestPostgres.createDatabase()
        let dir = try Self.workspace(db, prometheus: prometheus)
        let a = try ControllerProcess(replica: "replica-a", directory: dir)
        try await Self.waitFor("replica-a to lead", timeout: 30) {
            (try? await db.scalar("SELECT holder FROM guardrail.controller_leader")) == "replica-a"
        }
        let b = try ControllerProcess(replica: "replica-b", directory: dir)
        _ = try await b.port()
        // Seconds when the machine is quiet; the whole suite in parallel on two cores has taken over 30.
        try await Self.waitFor("the rollout to reach the canary phase", timeout: 90) {
            (try? await db.scalar("SELECT phase FROM guardrail.rollouts WHERE flag = 'launch.test'")) == "1"
        }
        // Frozen with its connections and its leader lock held: without a lease, nobody would take over.
        a.stop()
        let stopped = Date()
        let lastEventOfA = try await db.scalar("SELECT coalesce(max(id), 0) FROM guardrail.rollout_events") ?? "0"
        let appliesOfA = try await db.scalar("SELECT count(*) FROM guardrail.audit_log WHERE os_user LIKE 'controller replica-a%'")
        try await Self.waitFor("replica-b to take over from the stalled leader", timeout: 30) {
            (try? await db.scalar("SELECT holder FROM guardrail.controller_leader")) == "replica-b"
        }
        let takeover = Date().timeIntervalSince(stopped)
        // Lease 3 s (three 1 s intervals) plus one interval; 3 s more for jitter and a loaded machine.
        #expect(takeover <= 3 + 1 + 3, "took over \(takeover)s after SIGSTOP")
        print("measured: the standby led \(String(format: "%.2f", takeover))s after SIGSTOP of the leader (lease 3s, interval 1s)")
        #expect(try await db.scalar("SELECT epoch FROM guardrail.controller_leader") == "2")
        #expect(b.log.contains { $0.contains("the leader's lease expired") && $0.contains("replica-a") }, "\(b.log.suffix(10))")

        a.resume()
        try await Self.waitFor("the rollout to complete", timeout: 40) {
            (try? await db.scalar("SELECT status FROM guardrail.rollouts WHERE flag = 'launch.test'")) == "completed"
        }
        try await Self.waitFor("replica-a to notice it lost leadership", timeout: 15) {
            a.log.contains { $0.contains("stepping down") || $0.contains("lost leadership") }
        }
        #expect(try await db.scalar("SELECT holder FROM guardrail.controller_leader") == "replica-b", "the woken leader did not take leadership back")
        #expect(try await db.scalar("SELECT epoch FROM guardrail.controller_leader") == "2")
        #expect(
            try await db.scalar(
                """
                SELECT count(*) FROM guardrail.rollout_events WHERE id > \(lastEventOfA) AND actor = 'controller replica-a'
                """) == "0", "the stalled leader wrote nothing after it was taken over")
        #expect(
            try await db.scalar("SELECT count(*) FROM guardrail.audit_log WHERE os_user LIKE 'controller replica-a%'") == appliesOfA,
            "replica-a applied nothing after the stall")
        let decisions = try await db.rows(
            """
            SELECT kind, phase FROM guardrail.rollout_events WHERE flag = 'launch.test' AND kind IN ('start', 'advance', 'complete') ORDER BY id
            """
        ).map { "\($0[0] ?? "") \($0[1] ?? "")" }
        #expect(decisions == ["start 0", "advance 1", "advance 2", "advance 3", "complete 3"], "\(decisions)")
        #expect(
            try await db.scalar("SELECT count(*) FROM guardrail.rollout_events WHERE actor IS NULL OR actor NOT LIKE 'controller replica-%'") == "0",
            "every decision names the replica that made it")
        _ = await a.terminate(timeout: 15)
        _ = await b.terminate(timeout: 15)
        await db.drop()
    }

    @Test(
        "a frozen reconcile loop (its query blocked behind a lock): /healthz was 200, then the watchdog logs and exits non-zero past 3 intervals + the step timeout"
    )
    func frozenLoopFailsHealthAndExits() async throws {
        let db = try await TestPostgres.createDatabase()
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 3),
            "environments/local.yaml": """
            apiVersion: guardrail/v1
            kind: Environment
            metadata: {name: local}
            spec:
              postgres: {url: "\(db.urlString)", schema: guardrail, lockTimeout: 2s}
              controller: {interval: 1s, drift: {tenant: enforce}}

            """,
        ])
        let controller = try ControllerProcess(replica: "frozen", directory: dir)
        let port = try await controller.port()
        try await Self.waitFor("the tenants to be created", timeout: 30) { (try? await db.scalar("SELECT count(*) FROM guardrail.tenants")) == "3" }
        let healthy = await controller.get("/healthz", port: port)
        #expect(healthy?.status == 200, "\(String(describing: healthy))")

        // Every tick reads the tenants; an exclusive lock held by another session blocks that read
        // with no lock or statement timeout to end it: the loop is frozen while the process answers HTTP.
        let database = Database(url: db.url, schema: "guardrail")
        let holder = try await database.connect(applicationName: "test lock holder")
        try await holder.query("BEGIN", logger: database.logger)
        try await holder.query("LOCK TABLE guardrail.tenants IN ACCESS EXCLUSIVE MODE", logger: database.logger)
        let frozen = Date()
        var sawUnhealthy = false
        // The bound is 3 × 1 s + 2 s (the lock timeout): 5 s. Generous waits for a loaded machine.
        var status: Int32?
        while status == nil, Date().timeIntervalSince(frozen) < 40 {
            if let health = await controller.get("/healthz", port: port), health.status == 503 {
                sawUnhealthy = true
                #expect(health.body.hasPrefix("stuck: no reconcile tick finished"), "\(health.body)")
            }
            status = await controller.waitForExit(timeout: 0.1)
        }
        let exitedAfter = Date().timeIntervalSince(frozen)
        await holder.close()
        #expect(status == 70, "exit status \(String(describing: status)); log: \(controller.log.suffix(5))")
        // The bound counts from the last tick that finished, up to an interval (and a tick) before the freeze.
        #expect(exitedAfter >= 5 - 1.5, "exited \(exitedAfter)s after the freeze, before the bound")
        print(
            "measured: the frozen controller exited \(String(format: "%.2f", exitedAfter))s after its loop froze (bound 5s); /healthz 503 seen: \(sawUnhealthy)"
        )
        #expect(
            controller.log.contains { $0.contains("the reconcile loop is stuck") && $0.contains("\"level\":\"critical\"") },
            "\(controller.log.suffix(5))")
        // Between the bound and the watchdog's next check (at most a second) /healthz answers 503;
        // whether this poll landed in that window is not asserted. The in-process router test is.
        await db.drop()
    }

    @Test(
        "SIGTERM while a tick is running a backup: the tick finishes (the backup succeeds and is recorded), the lock is released, and the process exits 0"
    )
    func sigtermDuringABackupFinishesTheTick() async throws {
        let db = try await TestPostgres.createDatabase()
        let backups = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-sigterm-backups-\(UUID().uuidString)")
        // A pg_dump that takes three seconds: the tick is certainly mid-backup when SIGTERM comes.
        let bin = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-slow-pg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let realDump =
            ["/usr/lib/postgresql/15/bin/pg_dump", "/usr/bin/pg_dump"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "pg_dump"
        try "#!/bin/sh\nsleep 3\nexec \(realDump) \"$@\"\n".write(to: bin.appendingPathComponent("pg_dump"), atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin.appendingPathComponent("pg_dump").path)
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 3),
            "manifests/backups.yaml": """
            apiVersion: guardrail/v1
            kind: BackupSchedule
            metadata: {name: nightly}
            spec: {schedule: "0 2 * * *", timezone: UTC, retention: {keep: 3}, rpo: 26h}

            """,
            "environments/local.yaml": Self.environmentYAML(
                db,
                """
                  backups: {directory: "\(backups.path)"}
                  controller: {interval: 1s}
                """),
        ])
        #expect(try CommandRunner.run(["apply", "--env", "local", "--auto-approve"], in: dir).status == 0)
        let controller = try ControllerProcess(replica: "replica-a", directory: dir, environment: ["GUARDRAIL_PG_BIN": bin.path])
        try await Self.waitFor("the nightly backup to start", timeout: Self.startup) {
            (try? await db.scalar("SELECT status FROM guardrail.backup_runs")) == "running"
        }
        let signalled = Date()
        let status = await controller.terminate(timeout: 30)
        let took = Date().timeIntervalSince(signalled)
        #expect(status == 0, "\(controller.log.suffix(20))")
        #expect(took < 15, "exited \(took)s after SIGTERM")
        #expect(try await db.scalar("SELECT status FROM guardrail.backup_runs") == "succeeded", "the tick finished its backup before exiting")
        let file = try #require(try await db.scalar("SELECT file FROM guardrail.backup_runs"))
        #expect(FileManager.default.fileExists(atPath: file))
        // The lock went with the process: another replica leads at once.
        let once = try CommandRunner.run(["controller", "--env", "local", "--once", "--replica", "replica-b"], in: dir)
        #expect(once.stdout.contains("\"leader\":true"), "\(once.output)")
        await db.drop()
    }

    @Test("the OpenFeature Python SDK with the OFREP provider gets what guardrail.flag_enabled says, for tenants in and out of the cohort")
    func openFeaturePythonClient() async throws {
        let prometheus = try #require(TestPrometheus.url)
        let pythonPath = try #require(
            ProcessInfo.processInfo.environment["GUARDRAIL_TEST_PYTHONPATH"], "scripts/test installs openfeature-sdk and openfeature-provider-ofrep")
        let db = try await TestPostgres.createDatabase()
        let dir = try Self.workspace(db, prometheus: prometheus)
        let controller = try ControllerProcess(replica: "ofrep", directory: dir, environment: ["GUARDRAIL_ADMIN_TOKEN": "token-123"])
        let port = try await controller.port()
        try await Self.waitFor("the canary phase", timeout: Self.startup) {
            (try? await db.scalar("SELECT phase FROM guardrail.rollouts WHERE flag = 'launch.test'")) == "1"
        }
        let rows = try await db.rows("SELECT t.name, guardrail.flag_enabled('launch.test', t.id) FROM guardrail.tenants t ORDER BY t.name")
        let inCohort = try #require(rows.first { $0[1] == "t" }?[0] ?? nil)
        let outside = try #require(rows.first { $0[1] == "f" }?[0] ?? nil)
        let script = """
            import sys
            from openfeature import api
            from openfeature.evaluation_context import EvaluationContext
            from openfeature.contrib.provider.ofrep import OFREPProvider
            api.set_provider(OFREPProvider(base_url="http://127.0.0.1:\(port)"))
            client = api.get_client()
            for tenant in sys.argv[1:]:
                details = client.get_boolean_details("launch.test", False, EvaluationContext(targeting_key=tenant))
                print(tenant, details.value, details.reason, details.error_code)
            missing = client.get_boolean_details("no.such.flag", True, EvaluationContext(targeting_key=sys.argv[1]))
            print("missing", missing.value, missing.error_code)
            """
        var output = ""
        try await Self.waitFor("OFREP to agree with flag_enabled", timeout: 10) {
            let result = try Self.python(script, arguments: [inCohort, outside], pythonPath: pythonPath)
            output = result
            return result.contains("\(inCohort) True") && result.contains("\(outside) False")
        }
        #expect(output.contains("\(inCohort) True TARGETING_MATCH None"), "\(output)")
        #expect(output.contains("\(outside) False DEFAULT None"), "\(output)")
        #expect(output.contains("missing True FLAG_NOT_FOUND"), "the default value, with the error code: \(output)")
        _ = await controller.terminate(timeout: 15)
        await db.drop()
    }

    @Test("an edited environment moves the flag listener with the ticks: OFREP answers from the database the environment now names")
    func editedEnvironmentMovesTheListener() async throws {
        let first = try await TestPostgres.createDatabase(), second = try await TestPostgres.createDatabase()
        let flag = "apiVersion: guardrail/v1\nkind: FeatureFlag\nmetadata: {name: search.beta}\nspec: {enabled: true}\n"
        let environment = { (db: TestDatabase) in Self.environmentYAML(db, "  controller: {interval: 1s}") }
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 3), "manifests/flags.yaml": flag,
            "environments/local.yaml": environment(second),
        ])
        let file = dir.appendingPathComponent("environments/local.yaml")
        // The second database has the flag killed; the first has it on.
        #expect(try CommandRunner.run(["apply", "--env", "local", "--auto-approve"], in: dir).status == 0)
        #expect(try CommandRunner.run(["flag", "kill", "search.beta", "--env", "local"], in: dir).status == 0)
        try environment(first).write(to: file, atomically: true, encoding: .utf8)
        #expect(try CommandRunner.run(["apply", "--env", "local", "--auto-approve"], in: dir).status == 0)

        let controller = try ControllerProcess(replica: "moving", directory: dir)
        let port = try await controller.port()
        func answer() async -> String {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/ofrep/v1/evaluate/flags/search.beta")!)
            request.httpMethod = "POST"
            request.httpBody = Data(#"{"context":{"targetingKey":"brokerage-0"}}"#.utf8)
            guard let (data, _) = try? await URLSession.shared.data(for: request) else { return "" }
            return String(decoding: data, as: UTF8.self)
        }
        try await Self.waitFor("OFREP to answer from the first database", timeout: Self.startup) { await answer().contains("\"value\":true") }
        // The edit: a tick reloads it, and the listener follows to the second database.
        try environment(second).write(to: file, atomically: true, encoding: .utf8)
        try await Self.waitFor("OFREP to answer from the second database", timeout: 30) { await answer().contains("\"value\":false") }
        #expect(await answer().contains("\"value\":false"))
        _ = await controller.terminate(timeout: 15)
        await first.drop()
        await second.drop()
    }

    @Test("the admin API kills several flags in one transaction (all or none, by name or label selector), and OFREP answers off within 1 s")
    func adminMultiKill() async throws {
        let db = try await TestPostgres.createDatabase()
        func channel(_ name: String, _ group: String) -> String {
            "apiVersion: guardrail/v1\nkind: FeatureFlag\nmetadata: {name: \(name), labels: {group: \(group)}}\nspec: {enabled: true}\n---\n"
        }
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 3),
            "manifests/flags.yaml": channel("channel.email", "channels") + channel("channel.sms", "channels") + channel("channel.postal", "channels")
                + channel("search.beta", "search"),
            // A long interval: what OFREP shows after a kill comes from the change notification, not a tick.
            "environments/local.yaml": Self.environmentYAML(db, "  controller: {interval: 30s, adminToken: \"${GUARDRAIL_ADMIN_TOKEN:-}\"}"),
        ])
        #expect(try CommandRunner.run(["apply", "--env", "local", "--auto-approve"], in: dir).status == 0)
        let controller = try ControllerProcess(replica: "admin", directory: dir, environment: ["GUARDRAIL_ADMIN_TOKEN": "token-123"])
        let base = "http://127.0.0.1:\(try await controller.port())"
        func post(_ path: String, _ body: String, token: String = "token-123") async throws -> (Int, String) {
            var request = URLRequest(url: URL(string: base + path)!)
            request.httpMethod = "POST"
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(body.utf8)
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
        }
        func answer(_ flag: String) async throws -> String {
            try await post("/ofrep/v1/evaluate/flags/\(flag)", #"{"context":{"targetingKey":"brokerage-0"}}"#).1
        }
        func killed() async throws -> String? { try await db.scalar("SELECT string_agg(name, ',' ORDER BY name) FROM guardrail.flags WHERE killed") }
        try await Self.waitFor("OFREP to answer", timeout: Self.startup) { (try? await answer("channel.email"))?.contains("\"value\":true") == true }

        #expect(try await post("/v1/flags/kill", #"{"flags":["channel.email"]}"#, token: "wrong").0 == 401)
        let partial = try await post("/v1/flags/kill", #"{"flags":["channel.email","channel.fax"]}"#)
        #expect(partial.0 == 409, "\(partial)")
        #expect(try await killed() == nil, "one unknown flag: none is killed")
        #expect(try await post("/v1/flags/kill", #"{"selector":{"group":"nothing"}}"#).0 == 409)

        let kill = try await post("/v1/flags/kill", #"{"selector":{"group":"channels"}}"#)
        let killedAt = Date()
        #expect(kill.0 == 200, "\(kill)")
        #expect(try await killed() == "channel.email,channel.postal,channel.sms")
        var visibleAfter = Double.infinity
        while Date().timeIntervalSince(killedAt) < 10 {
            var off = true
            for flag in ["channel.email", "channel.sms", "channel.postal"] where !(try await answer(flag)).contains("\"value\":false") { off = false }
            if off { visibleAfter = Date().timeIntervalSince(killedAt); break }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        print("kill visible over OFREP after \(String(format: "%.3f", visibleAfter)) s")
        #expect(visibleAfter <= 1.0, "the kill took \(visibleAfter) s to reach OFREP")
        #expect(try await answer("search.beta").contains("\"value\":true"), "a flag outside the selector stays on")

        let release = try await post("/v1/flags/release", #"{"flags":["channel.email","flag.channel.sms"]}"#)
        #expect(release.0 == 200, "\(release)")
        #expect(try await killed() == "channel.postal")
        _ = await controller.terminate(timeout: 15)
        await db.drop()
    }

    @Test("the dashboard in headless Chromium: the canary phase mid-rollout, then the breach and the rollback decision; hostile text stays text")
    func dashboardInABrowser() async throws {
        let prometheus = try #require(TestPrometheus.url)
        _ = try #require(Chromium.path, "scripts/test installs chromium")
        let db = try await TestPostgres.createDatabase()
        let series = "guardrail_dashboard_ratio_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let metrics = try TestPrometheus.MetricsFile(name: series)
        defer { metrics.remove() }
        try metrics.write(["\(series) 0.001"])
        let hostile = #"<script>alert(1)</script> \"><img src=x onerror=alert(2)>"#
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 30),
            "manifests/flags.yaml": """
            apiVersion: guardrail/v1
            kind: Guardrail
            metadata: {name: error-ratio}
            spec: {description: "Errors per request \(hostile)", query: 'max(\(series))', max: 0.05, interval: 1s, failures: 2}
            ---
            apiVersion: guardrail/v1
            kind: FeatureFlag
            metadata: {name: launch.test}
            spec:
              description: "The launch \(hostile)"
              enabled: true
              rollout:
                phases:
                  - {name: internal, tenants: {selector: {cohort: internal}}, bake: 2s}
                  - {name: canary, percent: 10, bake: 10m}
                  - {percent: 100}
                guardrails: [error-ratio]

            """,
            "environments/local.yaml": Self.environmentYAML(
                db,
                """
                  prometheus: {url: "\(prometheus)"}
                  controller:
                    interval: 1s
                    adminToken: ${GUARDRAIL_ADMIN_TOKEN:-}
                    drift: {tenant: enforce, flag: enforce, guardrail: enforce}
                """),
        ])
        let controller = try ControllerProcess(replica: "dashboard", directory: dir, environment: ["GUARDRAIL_ADMIN_TOKEN": "token-123"])
        let base = "http://127.0.0.1:\(try await controller.port())"
        func rolloutStatus() async -> String? {
            guard let (data, _) = try? await URLSession.shared.data(from: URL(string: base + "/v1/rollouts")!),
                let doc = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let flag = (doc["flags"] as? [[String: Any]])?.first
            else { return nil }
            return "\(flag["status"] as? String ?? "") \(flag["currentPhase"] as? Int ?? 0)"
        }
        try await Self.waitFor("the canary phase, on the dashboard", timeout: Self.startup) { await rolloutStatus() == "progressing 2" }
        // A pause and a resume with a hostile reason: the decision log shows it as text.
        for verb in ["pause", "resume"] {
            var request = URLRequest(url: URL(string: base + "/v1/rollouts/launch.test/\(verb)")!)
            request.httpMethod = "POST"
            request.setValue("Bearer token-123", forHTTPHeaderField: "Authorization")
            request.httpBody = Data(#"{"reason": "checking \#(hostile)"}"#.utf8)
            let (_, response) = try await URLSession.shared.data(for: request)
            #expect((response as? HTTPURLResponse)?.statusCode == 200, "\(verb)")
        }
        try await Self.waitFor("a guardrail value on the dashboard after the resume", timeout: 30) {
            let dom = (try? Chromium.dumpDOM(base + "/rollouts")) ?? ""
            return dom.contains("data-kind=\"resume\"") && dom.contains("data-verdict=\"pass\"")
        }
        let artifacts = try Chromium.artifactsDirectory()
        let mid = try Chromium.dumpDOM(base + "/rollouts")
        #expect(mid.contains(#"<li class="phase ok" data-state="done">"#), "the internal phase is done")
        #expect(mid.contains(#"<li class="phase info" data-state="current">"#), "the canary phase is current")
        #expect(mid.range(of: #"data-state="current">.*2\. canary"#, options: .regularExpression) != nil)
        #expect(mid.contains("left of 10m"), "the bake countdown")
        let cohort = try #require(try await db.scalar("SELECT count(*) FROM guardrail.flag_cohorts WHERE flag = 'launch.test'"))
        #expect(mid.contains("<strong>\(cohort)</strong> of 30 eligible tenants"), "the ledger's count against the eligible tenants")
        // The read behind the page, with the ledger counted in SQL (the controller takes the count from its flag snapshot).
        let database = Database(url: db.url, schema: "guardrail")
        let reports = try await database.withConnection(applicationName: "dashboard test") { c in
            try await RolloutOverview.read(c, schema: database.schema, timing: .init(), logger: database.logger)
        }
        #expect(reports.map(\.flag.name) == ["launch.test"])
        #expect(reports.first.map { String($0.enabledCount) } == cohort)
        #expect(reports.first?.eligibleCount == 30)
        let kinds = reports.first?.events.map(\.decision.kind.rawValue) ?? []
        #expect(kinds.prefix(2) == ["resume", "pause"] && kinds.contains("advance") && kinds.last == "start", "newest first: \(kinds)")
        #expect(reports.first?.events.first?.reason?.hasPrefix("checking <script>") == true)
        #expect(mid.contains("<svg class=\"chart\""))
        #expect(mid.contains("data-kind=\"pause\""))
        for dom in [mid, try Chromium.dumpDOM(base + "/")] {
            #expect(!dom.contains("<img"), "no element came from the manifests' or the reason's text")
            #expect(dom.components(separatedBy: "<script").count == 2, "the page's own script only")
        }
        #expect(mid.contains("checking &lt;script&gt;alert(1)&lt;/script&gt;"), "the reason, as text")
        try Chromium.screenshot(base + "/rollouts", to: artifacts.appendingPathComponent("dashboard-rollouts-mid-rollout.png"))

        // The guardrail breaches: two failing evaluations, then the rollback.
        try metrics.write(["\(series) 0.3"])
        try await Self.waitFor("the rollback, on the dashboard", timeout: 60) { await rolloutStatus() == "rolled-back 2" }
        let after = try Chromium.dumpDOM(base + "/rollouts")
        #expect(after.contains("data-kind=\"breach\""), "the breach decision")
        #expect(after.contains("data-kind=\"rollback\""), "the rollback decision")
        #expect(after.contains("error-ratio breached at phase 2 (canary)"))
        #expect(after.contains("rolled back to the pre-rollout cohort"))
        #expect(after.contains(#"data-state="rolled-back""#), "the phase strip shows the rolled-back phases")
        #expect(after.contains("data-verdict=\"fail\""), "the chart marks the failing values")
        #expect(after.contains(">max 0.05</text>"), "the threshold line's label")
        #expect(!after.contains("<img"))
        try Chromium.screenshot(base + "/rollouts", to: artifacts.appendingPathComponent("dashboard-rollouts-rolled-back.png"))
        try Chromium.screenshot(base + "/", to: artifacts.appendingPathComponent("dashboard-overview.png"), height: 1200)
        try Chromium.screenshot(base + "/drift", to: artifacts.appendingPathComponent("dashboard-drift.png"), height: 900)
        print("dashboard screenshots: \(artifacts.path)/dashboard-*.png")

        // A standby reads the rollouts from Postgres too, and says that it is one.
        let standby = try ControllerProcess(replica: "dashboard-standby", directory: dir)
        let standbyBase = "http://127.0.0.1:\(try await standby.port())"
        try await Self.waitFor("the standby's dashboard to show the rollback", timeout: Self.startup) {
            ((try? Chromium.dumpDOM(standbyBase + "/rollouts")) ?? "").contains("data-kind=\"rollback\"")
        }
        let standbyDOM = try Chromium.dumpDOM(standbyBase + "/rollouts")
        #expect(standbyDOM.contains("This replica is on standby"))
        #expect(standbyDOM.contains(#"data-state="rolled-back""#))
        _ = await standby.terminate(timeout: 15)
        _ = await controller.terminate(timeout: 15)
        await db.drop()
    }

    static func python(_ script: String, arguments: [String], pythonPath: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        var env = ProcessInfo.processInfo.environment
        env["PYTHONPATH"] = pythonPath
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
