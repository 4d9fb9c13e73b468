import Foundation
import GuardrailController
import GuardrailCore
@testable import GuardrailEngine
import GuardrailTestSupport
import Logging
import NIOConcurrencyHelpers
import Testing

/// The controller's reconcile step against a real Postgres: one leader among replicas, an epoch
/// that fences a deposed leader, drift corrected or only reported by mode, hazardous drift never
/// applied by itself, and drift that does not settle backed off.
@Suite("controller reconcile", .serialized, .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct ReconcilerTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    struct Fixture {
        var db: TestDatabase
        var dir: URL

        func reconciler(_ name: String) -> Reconciler {
            Reconciler(workspace: Workspace(root: dir.path), environment: "local", holder: name, logger: ReconcilerTests.logger)
        }

        func write(_ path: String, _ text: String) throws {
            let url = dir.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
    }

    static func environment(_ db: TestDatabase, drift: String) -> String {
        environment(url: db.urlString, drift: drift)
    }

    /// The lease is an hour: these tests call `tick()` without the loop's renewal task, and a busy
    /// machine may take longer than three 1 s intervals between two ticks of the leader.
    static func environment(url: String, drift: String) -> String {
        """
        apiVersion: guardrail/v1
        kind: Environment
        metadata: {name: local}
        spec:
          postgres: {url: "\(url)", schema: guardrail, lockTimeout: 5s}
          controller: {interval: 1s, leaseDuration: 1h, drift: {\(drift)}}

        """
    }

    func fixture(tenants: Int = 5, drift: String = "tenant: enforce") async throws -> Fixture {
        let db = try await TestPostgres.createDatabase()
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: tenants),
            "environments/local.yaml": Self.environment(db, drift: drift),
        ])
        return Fixture(db: db, dir: dir)
    }

    @Test("of two replicas only one leads; when it steps down the other takes over with a higher epoch")
    func oneLeaderAtATime() async throws {
        let f = try await fixture()
        let a = f.reconciler("a"), b = f.reconciler("b")
        let first = await a.tick(), second = await b.tick()
        #expect(first.leader && !second.leader, "a: \(first.errors) b: \(second.errors)")
        #expect(first.epoch == 1)
        // Measured, not a speed claim: the bound only catches a duration that was never set or is absurd.
        #expect(first.duration > 0 && first.duration < 300, "the tick's own duration: \(first.duration)")
        #expect(try await f.db.scalar("SELECT holder FROM guardrail.controller_leader") == "a")
        // The leader created everything (tenant: enforce); the standby did nothing.
        #expect(first.applied.count == 5 && second.applied.isEmpty)
        #expect(await b.tick().leader == false, "a still leads")

        await a.shutdown()
        let takeover = await b.tick()
        #expect(takeover.leader && takeover.epoch == 2, "\(takeover.errors)")
        #expect(try await f.db.scalar("SELECT holder || ' ' || epoch FROM guardrail.controller_leader") == "b 2")
        await b.shutdown()
        await f.db.drop()
    }

    @Test("two environment files pointing at one database and schema elect one leader between them; the standby names the environment that leads")
    func environmentsSharingADatabaseShareLeadership() async throws {
        let f = try await fixture()
        try f.write(
            "environments/staging.yaml",
            Self.environment(f.db, drift: "tenant: enforce")
                .replacingOccurrences(of: "metadata: {name: local}", with: "metadata: {name: staging}"))
        let lines = LogLines()
        let local = f.reconciler("a")
        let staging = Reconciler(
            workspace: Workspace(root: f.dir.path), environment: "staging", holder: "b",
            logger: Logger(label: "test", factory: { _ in CapturingLog(lines: lines) }))
        let first = await local.tick(), second = await staging.tick()
        #expect(first.leader, "\(first.errors)")
        #expect(!second.leader, "the other environment's controller must not lead the same database and schema: \(second.errors)")
        #expect(lines.all.contains { $0.contains("standing by: environment \"local\" uses the same database and schema") }, "\(lines.all)")
        await local.shutdown()
        #expect(await staging.tick().leader, "and takes over once the first steps down")
        // The first environment's old fence no longer writes: the other environment leads now.
        let session = try await f.db.lockedSession()
        session.fence = LeaderFence(environment: "local", epoch: first.epoch ?? 0)
        var c = try Workspace(root: f.dir.path).load().0
        c.tenants[0].displayName = "Written by a deposed leader of another environment"
        let plan = try await session.plan(c)
        await #expect(throws: LeaderFence.Lost.self) { _ = try await session.apply(plan, overrides: HazardOverrides(), osUser: "a") }
        await session.close()
        await staging.shutdown()
        await f.db.drop()
    }

    @Test("a leader whose lock connection died cannot write once a standby took over: its epoch is stale")
    func deposedLeaderIsFenced() async throws {
        let f = try await fixture()
        let a = f.reconciler("a")
        _ = await a.tick()
        // Cut a's lock connection, as a network partition would; b takes over.
        try await f.db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE '%guardrail controller a leader lock'")
        let b = f.reconciler("b")
        var took = false
        for _ in 0..<20 where !took {
            let r = await b.tick()
            took = r.leader
            if !took { try await Task.sleep(nanoseconds: 100_000_000) }
        }
        #expect(took)
        // a's old fence, used directly as a deposed leader would, is refused inside the transaction.
        let session = try await f.db.lockedSession()
        session.fence = LeaderFence(environment: "local", epoch: 1)
        let configuration = try Workspace(root: f.dir.path).load().0
        var c = configuration
        c.tenants[0].displayName = "Written by a deposed leader"
        let plan = try await session.plan(c)
        await #expect(throws: LeaderFence.Lost.self) { _ = try await session.apply(plan, overrides: HazardOverrides(), osUser: "a") }
        await session.close()
        #expect(try await f.db.scalar("SELECT count(*) FROM guardrail.tenants WHERE display_name LIKE 'Written%'") == "0")
        // And a itself notices at its next tick and stands by.
        let next = await a.tick()

        #expect(!next.leader)
        await a.shutdown(); await b.shutdown()
        await f.db.drop()
    }

    @Test("a reload of a 40,000-deep or an oversized file is refused: the controller keeps the last good configuration and still corrects drift")
    func hostileEditKeepsTheLastGoodConfiguration() async throws {
        let f = try await fixture()
        let r = f.reconciler("a")
        let first = await r.tick()
        #expect(first.leader && first.errors.isEmpty, "\(first.errors)")
        // Before the nesting limit, releasing this tree overflowed the stack and killed the process.
        try f.write("manifests/deep.yaml", "x: " + String(repeating: "[", count: 40_000) + String(repeating: "]", count: 40_000) + "\n")
        try Data(repeating: UInt8(ascii: "#"), count: Workspace.defaultMaxFileSize + 1).write(to: f.dir.appendingPathComponent("manifests/big.yaml"))
        try await f.db.execute("UPDATE guardrail.tenants SET display_name = 'Changed by hand' WHERE name = 'brokerage-1'")
        let report = await r.tick()
        #expect(!report.manifestsReloaded)
        #expect(report.errors.contains { $0.contains("manifests/deep.yaml:1:67: error: YAML nested deeper than 64 levels") }, "\(report.errors)")
        #expect(report.errors.contains { $0.contains("manifests/big.yaml is larger than the 16 MiB limit") }, "\(report.errors)")
        #expect(report.leader)
        #expect(report.applied == ["tenant.brokerage-1"], "the last good configuration still holds: \(report.applied)")
        #expect(try await f.db.scalar("SELECT display_name FROM guardrail.tenants WHERE name = 'brokerage-1'") == "Brokerage 1")
        await r.shutdown()
        await f.db.drop()
    }

    @Test("a manual change to a tenant is corrected within one tick in enforce mode, and only reported in warn mode")
    func driftModes() async throws {
        let f = try await fixture()
        let r = f.reconciler("a")
        _ = await r.tick()
        try await f.db.execute("UPDATE guardrail.tenants SET display_name = 'Changed by hand' WHERE name = 'brokerage-1'")
        let corrected = await r.tick()
        #expect(corrected.applied == ["tenant.brokerage-1"], "\(corrected.applied) \(corrected.errors)")
        #expect(try await f.db.scalar("SELECT display_name FROM guardrail.tenants WHERE name = 'brokerage-1'") == "Brokerage 1")
        #expect(try await f.db.scalar("SELECT os_user FROM guardrail.audit_log ORDER BY applied_at DESC LIMIT 1") == "controller a")

        try f.write("environments/local.yaml", Self.environment(f.db, drift: "tenant: warn"))
        try await f.db.execute("UPDATE guardrail.tenants SET display_name = 'Changed by hand' WHERE name = 'brokerage-1'")
        let warned = await r.tick()
        #expect(warned.manifestsReloaded)
        #expect(warned.applied.isEmpty)
        #expect(warned.reported.map(\.address) == ["tenant.brokerage-1"])
        #expect(warned.reported.first?.reason == "drift mode for tenant is warn")
        #expect(try await f.db.scalar("SELECT display_name FROM guardrail.tenants WHERE name = 'brokerage-1'") == "Changed by hand")
        await r.shutdown()
        await f.db.drop()
    }

    @Test("the controller announces drift it corrects, and drift it leaves for a human once, to the environment's webhook")
    func driftIsAnnounced() async throws {
        let receiver = WebhookReceiver()
        try await receiver.start()
        defer { receiver.stop() }
        let f = try await fixture()
        try f.write(
            "environments/local.yaml", Self.environment(f.db, drift: "tenant: enforce") + "  notifications: [{url: \"\(receiver.url)/hook\"}]\n")
        let r = f.reconciler("a")
        _ = await r.tick()
        try await f.db.execute("UPDATE guardrail.tenants SET display_name = 'Changed by hand' WHERE name = 'brokerage-1'")
        #expect(await r.tick().applied == ["tenant.brokerage-1"])
        // A tenant dropped from the manifests: a destroy, which waits for a human, tick after tick.
        try f.write("manifests/tenants.yaml", Fixtures.tenantsYAML(count: 4))
        _ = await r.tick()
        _ = await r.tick()
        #expect(
            try await WebhookReceiver.eventually {
                receiver.received.contains { $0.contains("DriftCorrected") } && receiver.received.contains { $0.contains("DriftHeld") }
            }, "\(receiver.received)")
        let held = receiver.received.filter { $0.contains("\"event\":\"DriftHeld\"") }
        #expect(held.count == 1, "drift left for a human is announced once, not every tick: \(held)")
        #expect(held.first?.contains("tenant.brokerage-4") == true)
        // The first tick created the tenants (drift too, from an empty database); then the hand change.
        let corrected = try #require(
            receiver.received.first { $0.contains("DriftCorrected") && $0.contains("tenant.brokerage-1") }, "\(receiver.received)")
        #expect(corrected.contains("\"severity\":\"info\""))
        await r.shutdown()
        await f.db.drop()
    }

    @Test("hazardous drift is never applied by the controller: a tenant removed from the manifests stays until a human applies")
    func hazardousDriftWaitsForAHuman() async throws {
        let f = try await fixture(tenants: 5)
        let r = f.reconciler("a")
        _ = await r.tick()
        try f.write("manifests/tenants.yaml", Fixtures.tenantsYAML(count: 4))
        let report = await r.tick()
        #expect(report.applied.isEmpty)
        #expect(report.reported.map(\.address) == ["tenant.brokerage-4"])
        #expect(report.reported.first?.reason.hasPrefix("destroys:") == true)
        #expect(try await f.db.scalar("SELECT count(*) FROM guardrail.tenants") == "5")
        await r.shutdown()
        await f.db.drop()
    }

    @Test("drift that comes back right after it is corrected is reported and backed off, not re-applied every tick")
    func unsettledDriftIsBackedOff() async throws {
        let f = try await fixture(tenants: 3)
        let r = f.reconciler("a")
        _ = await r.tick()
        // Another writer that undoes every correction: a trigger rewriting the display name.
        try await f.db.execute(
            """
            CREATE FUNCTION public.meddle() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.display_name := 'Meddled'; RETURN NEW; END $$;
            CREATE TRIGGER meddle BEFORE UPDATE ON guardrail.tenants FOR EACH ROW EXECUTE FUNCTION public.meddle();
            UPDATE guardrail.tenants SET status = status WHERE name = 'brokerage-0';
            """)
        var applied = 0, unsettled = 0
        for _ in 0..<8 {
            let report = await r.tick()
            applied += report.applied.count
            unsettled += report.unsettled.count
        }
        #expect(applied <= 4, "applied \(applied) times in 8 ticks")
        #expect(unsettled >= 4, "reported unsettled \(unsettled) times")
        await r.shutdown()
        await f.db.drop()
    }

    @Test("every connection cut at once, as a Postgres restart does: the controller recovers by itself within two ticks and corrects drift again")
    func survivesLostConnections() async throws {
        let f = try await fixture(tenants: 3)
        let r = f.reconciler("a")
        #expect(await r.tick().leader)
        try await f.db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        try await f.db.execute("UPDATE guardrail.tenants SET display_name = 'Changed while down' WHERE name = 'brokerage-2'")
        var recovered: Reconciler.TickReport?
        for _ in 0..<2 {
            let report = await r.tick()
            if report.leader, report.errors.isEmpty { recovered = report; break }
        }
        let report = try #require(recovered, "no clean tick within two ticks")
        #expect(report.epoch == 2, "the lock was lost with its connection, so leading again raised the epoch")
        #expect(report.applied == ["tenant.brokerage-2"], "\(report.applied)")
        await r.shutdown()
        await f.db.drop()
    }

    @Test(
        "a real Postgres restart (pg_ctl restart -m fast): the controller recovers by itself within three ticks, leads again and corrects drift made while it was down"
    )
    func survivesARealPostgresRestart() async throws {
        let pg = try PrivatePostgres.start()
        defer { pg.stop() }
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 3),
            "environments/local.yaml": Self.environment(url: pg.adminURL, drift: "tenant: enforce"),
        ])
        let r = Reconciler(workspace: Workspace(root: dir.path), environment: "local", holder: "a", logger: Self.logger)
        let first = await r.tick()
        #expect(first.leader && first.errors.isEmpty, "\(first.errors)")
        #expect(first.applied.count == 3, "the first tick creates the three tenants: \(first.applied)")

        try pg.restart()
        let admin = Database(url: try DatabaseURL(parsing: pg.adminURL), schema: "guardrail")
        try await admin.withConnection(applicationName: "test") { c in
            try await c.query(
                "UPDATE guardrail.tenants SET display_name = 'Changed during the restart' WHERE name = 'brokerage-1'", logger: Self.logger)
        }
        var recovered: Reconciler.TickReport?
        var ticks = 0
        while ticks < 3, recovered == nil {
            ticks += 1
            let report = await r.tick()
            if report.leader, report.errors.isEmpty, !report.applied.isEmpty { recovered = report }
        }
        let report = try #require(recovered, "no clean tick within three ticks of the restart")
        #expect(report.applied == ["tenant.brokerage-1"], "\(report.applied)")
        #expect(report.epoch == 2, "leadership was lost with the server's connections, so it was taken again")
        let name = try await admin.withConnection(applicationName: "test") { c -> String? in
            for (n) in try await c.query("SELECT display_name FROM guardrail.tenants WHERE name = 'brokerage-1'", logger: Self.logger).decode(
                String.self)
            { return n }
            return nil
        }
        #expect(name != "Changed during the restart")
        await r.shutdown()
    }

    @Test(
        "new row-level security waits for a human apply; once applied, RLS switched off by hand and a dropped permissive policy (which widens access when restored) are restored within one tick"
    )
    func policyDrift() async throws {
        let f = try await fixture(tenants: 2, drift: "tenant: enforce, rls: enforce")
        try await f.db.execute("CREATE TABLE public.listings (id bigint PRIMARY KEY, tenant_id uuid NOT NULL)")
        try f.write(
            "policies/listings.yaml",
            """
            apiVersion: guardrail/v1
            kind: RowLevelSecurity
            metadata: {name: public.listings}
            spec:
              enabled: true
              forced: true
              searchPath: [public]
              policies:
                - {name: tenant_isolation, roles: [PUBLIC], using: "tenant_id = current_setting('app.current_tenant_id')::uuid"}

            """)
        let r = f.reconciler("a")
        let first = await r.tick()
        // New configuration: creating the policy widens access and enabling row-level security may
        // break queries, so the first apply is a human's.
        #expect(first.reported.map(\.address).contains("rls.public.listings.policy.tenant_isolation"), "\(first.reported)")
        #expect(first.reported.first { $0.address == "rls.public.listings" }?.reason.hasPrefix("may-break-queries") == true, "\(first.reported)")
        #expect(try await f.db.scalar("SELECT relrowsecurity FROM pg_class WHERE oid = 'public.listings'::regclass") == "f")
        try await Self.humanApply(f)
        #expect(await r.tick().applied.isEmpty)

        try await f.db.execute("ALTER TABLE public.listings DISABLE ROW LEVEL SECURITY")
        let corrected = await r.tick()
        #expect(corrected.applied == ["rls.public.listings"], "\(corrected.applied) \(corrected.reported) \(corrected.errors)")
        #expect(try await f.db.scalar("SELECT relrowsecurity FROM pg_class WHERE oid = 'public.listings'::regclass") == "t")

        // Restoring the dropped policy widens access relative to live state, but it is the
        // configuration a human applied: the controller restores it.
        try await f.db.execute("DROP POLICY tenant_isolation ON public.listings")
        let dropped = await r.tick()
        #expect(dropped.restored == ["rls.public.listings.policy.tenant_isolation"], "\(dropped.reported) \(dropped.errors)")
        #expect(try await f.db.scalar("SELECT count(*) FROM pg_policies WHERE tablename = 'listings'") == "1")
        await r.shutdown()
        await f.db.drop()
    }

    /// A human `guardrail apply` of the workspace as it is now.
    static func humanApply(_ f: Fixture) async throws {
        let session = try await f.db.lockedSession()
        let configuration = try Workspace(root: f.dir.path).load().0
        _ = try await session.apply(try await session.plan(configuration), overrides: HazardOverrides(allowDestroy: true), osUser: "human")
        await session.close()
    }

    static let ownershipPolicies = """
        apiVersion: guardrail/v1
        kind: RowLevelSecurity
        metadata: {name: public.ownership}
        spec:
          enabled: true
          forced: true
          searchPath: [public]
          policies:
            - {name: tenant_isolation, roles: [PUBLIC], using: "tenant_id = current_setting('app.current_tenant_id')::uuid"}

        """

    @Test(
        "under rls: enforce, hand changes to reviewed policies are restored (a widened USING, a hand-added policy), each an audit record and a log line; new configuration still waits for a human"
    )
    func handChangesAreRestoredToWhatWasReviewed() async throws {
        let f = try await fixture(tenants: 2, drift: "tenant: enforce, rls: enforce")
        try await f.db.execute(
            """
            CREATE TABLE public.ownership (id bigint PRIMARY KEY, tenant_id uuid NOT NULL);
            CREATE ROLE guardrail_reader_\(f.db.name) NOLOGIN;
            """)
        try f.write("policies/ownership.yaml", Self.ownershipPolicies)
        let lines = LogLines()
        var logger = Logger(label: "test", factory: { _ in lines.handler() })
        logger.logLevel = .info
        let r = Reconciler(workspace: Workspace(root: f.dir.path), environment: "local", holder: "a", logger: logger)
        _ = await r.tick()
        try await Self.humanApply(f)
        #expect(await r.tick().applied.isEmpty)
        let reviewed = try await f.db.scalar("SELECT qual FROM pg_policies WHERE tablename = 'ownership' AND policyname = 'tenant_isolation'")

        // The attack: tenant isolation widened to every row by hand.
        try await f.db.execute("ALTER POLICY tenant_isolation ON public.ownership USING (true)")
        let widened = await r.tick()
        #expect(widened.restored == ["rls.public.ownership.policy.tenant_isolation"], "\(widened.reported) \(widened.errors)")
        #expect(try await f.db.scalar("SELECT qual FROM pg_policies WHERE tablename = 'ownership' AND policyname = 'tenant_isolation'") == reviewed)
        #expect(
            try await f.db.scalar(
                """
                SELECT count(*) FROM guardrail.audit_log
                WHERE os_user = 'controller a (drift restoration)' AND 'rls.public.ownership.policy.tenant_isolation' = ANY(objects)
                """) == "1", "one audit record for the restoration")
        let line = try #require(lines.all.first { $0.contains("restored the last applied configuration") }, "\(lines.all)")
        #expect(line.contains("rls.public.ownership.policy.tenant_isolation") && line.contains("using=") && line.contains("true"), "\(line)")

        // A permissive policy added by hand on the managed table is dropped.
        try await f.db.execute("CREATE POLICY backdoor ON public.ownership USING (true)")
        let backdoor = await r.tick()
        #expect(backdoor.restored == ["rls.public.ownership.policy.backdoor"], "\(backdoor.reported) \(backdoor.errors)")
        #expect(try await f.db.scalar("SELECT count(*) FROM pg_policies WHERE tablename = 'ownership' AND policyname = 'backdoor'") == "0")

        // New configuration that nobody applied yet: a second permissive policy in the manifest waits.
        let added = "  policies:\n    - {name: readers_all, roles: [guardrail_reader_\(f.db.name)], using: \"true\"}\n"
        try f.write("policies/ownership.yaml", Self.ownershipPolicies.replacingOccurrences(of: "  policies:\n", with: added))
        let fresh = await r.tick()
        #expect(fresh.applied.isEmpty, "\(fresh.applied)")
        #expect(
            fresh.reported.first { $0.address == "rls.public.ownership.policy.readers_all" }?.reason.hasPrefix("widens-access") == true,
            "\(fresh.reported)")
        #expect(try await f.db.scalar("SELECT count(*) FROM pg_policies WHERE tablename = 'ownership' AND policyname = 'readers_all'") == "0")
        // The declared policy was never dropped along the way.
        #expect(try await f.db.scalar("SELECT count(*) FROM pg_policies WHERE tablename = 'ownership' AND policyname = 'tenant_isolation'") == "1")
        await r.shutdown()
        try await f.db.execute("DROP ROLE guardrail_reader_\(f.db.name)")
        await f.db.drop()
    }

    @Test(
        "a stalled leader (its lease not renewed for longer than leaseDuration) is taken over: its backends are ended, the epoch rises, and it stands by when it wakes"
    )
    func stalledLeaderIsTakenOver() async throws {
        let f = try await fixture(tenants: 2)
        let a = f.reconciler("a"), b = f.reconciler("b")
        #expect(await a.tick().leader)
        #expect(try await f.db.scalar("SELECT renewed_at > now() - interval '30 seconds' FROM guardrail.controller_leader") == "t")
        // A fresh lease is respected: the standby neither leads nor touches the leader's connections.
        #expect(await b.tick().leader == false)
        #expect(
            try await f.db.scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE '%: guardrail controller a leader lock'"
            ) == "1")
        #expect(await a.tick().leader, "a renews and still leads")

        // a stops renewing, as a SIGSTOPped process would: its lease ages past the hour of leaseDuration.
        try await f.db.execute("UPDATE guardrail.controller_leader SET renewed_at = clock_timestamp() - interval '61 minutes'")
        let takeover = await b.tick()
        #expect(takeover.leader && takeover.epoch == 2, "\(takeover.errors)")
        #expect(try await f.db.scalar("SELECT holder FROM guardrail.controller_leader") == "b")
        // pg_terminate_backend signals; give the backends a moment to exit.
        var left = "?"
        for _ in 0..<50 where left != "0" {
            left =
                try await f.db.scalar(
                    """
                    SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                      AND (application_name LIKE 'guardrail controller a%' OR application_name LIKE '%: guardrail controller a %')
                    """) ?? "?"
            if left != "0" { try await Task.sleep(nanoseconds: 100_000_000) }
        }
        #expect(left == "0", "every connection of the stalled leader was ended")
        // a wakes: its lock connection is gone, its epoch is stale; it writes nothing and stands by.
        let writesBefore = try await f.db.scalar("SELECT count(*) FROM guardrail.audit_log WHERE os_user = 'controller a'")
        try await f.db.execute("UPDATE guardrail.tenants SET display_name = 'Changed by hand' WHERE name = 'brokerage-0'")
        let woke = await a.tick()
        #expect(!woke.leader && woke.applied.isEmpty, "\(woke.errors)")
        #expect(try await f.db.scalar("SELECT count(*) FROM guardrail.audit_log WHERE os_user = 'controller a'") == writesBefore)
        #expect(try await f.db.scalar("SELECT display_name FROM guardrail.tenants WHERE name = 'brokerage-0'") == "Changed by hand")
        await a.shutdown(); await b.shutdown()
        await f.db.drop()
    }

    @Test("a stale lock hold releases nothing: a step that already released cannot release the lock the next step took")
    func staleHoldReleasesNothing() async throws {
        let db = try await TestPostgres.createDatabase()
        let session = try await Session.open(db.environment(), applicationName: "holds")
        let held =
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        let correction = try await session.acquireLock(timeout: .seconds(5), applicationName: "correction")
        await session.releaseLock(correction)
        let rollout = try await session.acquireLock(timeout: .seconds(5), applicationName: "rollout")
        #expect(rollout != correction)
        // What a deferred release of the correction step would do, late.
        await session.releaseLock(correction)
        #expect(session.refusedReleases == 1)
        #expect(try await db.scalar(held) == "1", "the rollout step still holds the lock")
        let other = try await Session.open(db.environment(), applicationName: "other")
        await #expect(throws: AdvisoryLock.Timeout.self) {
            try await other.acquireLock(timeout: GuardrailDuration(milliseconds: 300), applicationName: "other")
        }
        await other.close()
        await session.releaseLock(rollout)
        #expect(try await db.scalar(held) == "0")
        await session.close()
        await db.drop()
    }

    @Test(
        "stress: ticks that correct drift and run a rollout, while applies contend for the apply lock; no controller write runs while an apply holds the lock"
    )
    func applyLockIsNeverReleasedUnderAStep() async throws {
        let prometheus = try #require(TestPrometheus.url)
        let db = try await TestPostgres.createDatabase()
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 20),
            "manifests/flags.yaml": Fixtures.rolloutYAML(
                guardrail: "fine", spec: "{query: 'sum(vector(0.001))', max: 0.05, interval: 1s, errorLimit: 100}",
                phases: [
                    "{name: internal, tenants: {selector: {cohort: internal}}, bake: 1s}",
                    "{percent: 25, bake: 1s}", "{percent: 50, bake: 1s}", "{percent: 100}",
                ]),
            "environments/local.yaml": Self.environment(db, drift: "tenant: enforce, flag: enforce, guardrail: enforce")
                .replacingOccurrences(of: "  controller:", with: "  prometheus: {url: \"\(prometheus)\"}\n  controller:"),
        ])
        let f = Fixture(db: db, dir: dir)
        let r = f.reconciler("stress")
        #expect(await r.tick().leader)
        let configuration = try Workspace(root: dir.path).load().0
        let stop = NIOLockedValueBox(false)
        // The contender: takes the apply lock as `guardrail apply` does, and while it holds it,
        // looks for a controller connection inside a writing transaction (one with an xid: the
        // corrections and the rollout step lock rows; a plan only reads). A step whose lock was
        // released under it would show up here, writing while someone else holds the lock.
        let contender = Task { () -> (holds: Int, violations: [String]) in
            var holds = 0, violations: [String] = []
            while !stop.withLockedValue({ $0 }) {
                guard let session = try? await db.lockedSession() else { continue }
                holds += 1
                for _ in 0..<5 {
                    let writers =
                        (try? await db.rows(
                            """
                            SELECT application_name, state FROM pg_stat_activity
                            WHERE datname = current_database() AND application_name LIKE 'guardrail controller stress%' AND backend_xid IS NOT NULL
                            """)) ?? []
                    violations += writers.map { "\($0[0] ?? "") \($0[1] ?? "")" }
                    try? await Task.sleep(nanoseconds: 20_000_000)
                }
                // An apply of the guardrails only (no changes): the whole apply path under the lock,
                // without correcting the tenants' drift before the controller can.
                if let plan = try? await session.plan(configuration, targets: ["guardrail"]) {
                    _ = try? await session.apply(plan, overrides: HazardOverrides(), osUser: "contender")
                }
                await session.close()
                try? await Task.sleep(nanoseconds: 150_000_000)
            }
            return (holds, violations)
        }
        var corrected = 0, rolloutSteps = 0
        var errors: [String] = []
        for i in 0..<30 {
            // Drift every tick, so every tick takes the lock for a correction and then for the rollout step.
            try await db.execute("UPDATE guardrail.tenants SET display_name = 'Changed by hand \(i)' WHERE name = 'brokerage-\(i % 20)'")
            let report = await r.tick()
            corrected += report.applied.count
            rolloutSteps += report.rollouts.isEmpty ? 0 : 1
            // Waiting for the lock is contention, not a fault.
            errors += report.errors.filter { !$0.contains("apply lock") }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        stop.withLockedValue { $0 = true }
        let (holds, violations) = await contender.value
        #expect(violations.isEmpty, "controller writes while the contender held the apply lock: \(violations)")
        #expect(await r.refusedLockReleases == 0, "a step tried to release a lock it did not hold")
        #expect(errors.isEmpty, "\(errors)")
        #expect(holds >= 5, "the contender took the lock \(holds) times")
        #expect(corrected >= 5 && rolloutSteps >= 5, "corrections \(corrected), rollout steps \(rolloutSteps)")
        #expect(
            try await db.scalar(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ) == "1",
            "only the leader lock is left held: every apply lock was released by its holder")
        print("measured: stress ran 30 ticks (\(corrected) corrections, \(rolloutSteps) rollout steps) against \(holds) contending applies")
        await r.shutdown()
        await db.drop()
    }

    @Test("Prometheus stopped mid-rollout: ticks go on, the rollout holds and records errors; started again, the rollout advances")
    func survivesPrometheusRestart() async throws {
        let prometheus = try await PrivatePrometheus.start()
        defer { prometheus.stop() }
        let db = try await TestPostgres.createDatabase()
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 20),
            "manifests/flags.yaml": Fixtures.rolloutYAML(
                guardrail: "fine", spec: "{query: 'sum(vector(0.001))', max: 0.05, interval: 1s, errorLimit: 100}",
                phases: [
                    "{name: internal, tenants: {selector: {cohort: internal}}, bake: 1s}",
                    "{percent: 50, bake: 1s}", "{percent: 100}",
                ]),
            "environments/local.yaml": Self.environment(db, drift: "tenant: enforce, flag: enforce, guardrail: enforce")
                .replacingOccurrences(of: "  controller:", with: "  prometheus: {url: \"\(prometheus.url)\"}\n  controller:"),
        ])
        let f = Fixture(db: db, dir: dir)
        let r = f.reconciler("a")
        _ = await r.tick()
        #expect(try await db.scalar("SELECT phase FROM guardrail.rollouts") == "0")
        prometheus.kill()
        for _ in 0..<4 {
            try await Task.sleep(nanoseconds: 600_000_000)
            let report = await r.tick()
            #expect(report.leader)
            #expect(report.rollouts.first?.verdicts.allSatisfy { $0.kind == .error } ?? true, "\(report.rollouts)")
        }
        #expect(try await db.scalar("SELECT phase FROM guardrail.rollouts") == "0", "no advance without the metrics")
        #expect(try await db.scalar("SELECT count(*) > 0 FROM guardrail.rollout_events WHERE verdict = 'error'") == "t")
        try await prometheus.restart()
        var phase = "0"
        for _ in 0..<20 where phase != "2" {
            try await Task.sleep(nanoseconds: 600_000_000)
            _ = await r.tick()
            phase = try await db.scalar("SELECT phase FROM guardrail.rollouts") ?? ""
        }
        #expect(phase == "2", "the rollout went on once Prometheus was back")
        // Every decision the controller made names it, as the audit log does.
        #expect(try await db.scalar("SELECT count(*) FROM guardrail.rollout_events WHERE actor IS DISTINCT FROM 'controller a'") == "0")
        #expect(try await db.scalar("SELECT count(*) FROM guardrail.rollout_events WHERE kind = 'advance' AND actor = 'controller a'") == "2")
        await r.shutdown()
        await db.drop()
    }
}

/// Log lines collected from a swift-log handler, for tests that check what was logged.
final class LogLines: Sendable {
    private let lines = NIOLockedValueBox<[String]>([])
    var all: [String] { lines.withLockedValue { $0 } }
    func append(_ line: String) { lines.withLockedValue { $0.append(line) } }

    func handler() -> JSONLogHandler {
        var handler = JSONLogHandler(label: "test") { [lines] line in lines.withLockedValue { $0.append(line) } }
        handler.logLevel = .info
        return handler
    }
}

/// Every log event as `level message metadata`, for tests that read the leadership's warnings.
struct CapturingLog: LogHandler {
    let lines: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        lines.append("\(event.level) \(event.message) \(event.metadata ?? [:])")
    }
}
