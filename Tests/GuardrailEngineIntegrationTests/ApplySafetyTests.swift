import Foundation
import GuardrailCore
@testable import GuardrailEngine
import GuardrailTestSupport
import Testing

/// The apply contract: stale and repeated plans are refused, one apply at a time, all or nothing.
@Suite("Apply safety", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct ApplySafetyTests {
    /// A database with `count` generated tenants applied, and an open, locked session on it.
    func seeded(_ count: Int) async throws -> (TestDatabase, Session, Configuration) {
        let db = try await TestPostgres.createDatabase()
        let session = try await db.lockedSession()
        let configuration = Fixtures.generatedConfiguration(tenants: count)
        _ = try await session.apply(try await session.plan(configuration), overrides: HazardOverrides(), osUser: "tester")
        return (db, session, configuration)
    }

    @Test("a saved plan is refused when an object it touches changed since, naming that object")
    func stalePlanIsRefusedNamingTheObject() async throws {
        let (db, session, configuration) = try await seeded(10)
        defer {
            Task {
                await session.close(); await db.drop()
            }
        }
        var next = configuration
        next.tenants[3].displayName = "Renamed"
        let plan = try await session.plan(next)
        #expect(plan.changes.map(\.address.description) == ["tenant.brokerage-3"])

        try await db.execute("UPDATE guardrail.tenants SET status = 'suspended' WHERE name = 'brokerage-3'")
        let error = await #expect(throws: Session.ApplyRefusal.self) {
            try await session.apply(plan, overrides: HazardOverrides(), osUser: "tester")
        }
        let message = error.map { "\($0)" } ?? ""
        #expect(message.contains("saved plan is stale"))
        #expect(message.contains("tenant.brokerage-3"))
        #expect(try await db.scalar("SELECT display_name FROM guardrail.tenants WHERE name = 'brokerage-3'") == "Brokerage 3")
    }

    @Test("a saved create is refused when the object was created by someone else meanwhile")
    func stalePlanDetectsConcurrentCreate() async throws {
        let (db, session, configuration) = try await seeded(3)
        defer {
            Task {
                await session.close(); await db.drop()
            }
        }
        var next = configuration
        next.tenants.append(Tenant(name: "newcomer", id: Fixtures.tenantID(500), displayName: "New"))
        let plan = try await session.plan(next)
        try await db.execute(
            "INSERT INTO guardrail.tenants (name, id, display_name, status) VALUES ('newcomer', '\(Fixtures.tenantID(501))', 'Other', 'active')")
        let error = await #expect(throws: Session.ApplyRefusal.self) {
            try await session.apply(plan, overrides: HazardOverrides(), osUser: "tester")
        }
        #expect("\(error.map { "\($0)" } ?? "no error")".contains("tenant.newcomer did not exist when the plan was made and has since been created"))
    }

    @Test("a plan that was already applied is refused the second time")
    func appliedPlanIsRefusedAgain() async throws {
        let (db, session, configuration) = try await seeded(3)
        defer {
            Task {
                await session.close(); await db.drop()
            }
        }
        var next = configuration
        next.tenants[0].displayName = "Changed"
        let plan = try await session.plan(next)
        _ = try await session.apply(plan, overrides: HazardOverrides(), osUser: "tester")
        let error = await #expect(throws: Session.ApplyRefusal.self) {
            try await session.apply(plan, overrides: HazardOverrides(), osUser: "tester")
        }
        #expect("\(error.map { "\($0)" } ?? "no error")".contains("was already applied"))
    }

    @Test("a second concurrent apply waits for the lock, then fails naming the holder's application_name and pid")
    func secondApplyIsBlockedAndNamesTheHolder() async throws {
        let (db, holder, _) = try await seeded(1)
        defer {
            Task {
                await holder.close(); await db.drop()
            }
        }
        let other = try await Session.open(db.environment(), applicationName: "second")
        defer { Task { await other.close() } }
        let started = ContinuousClock.now
        let error = await #expect(throws: AdvisoryLock.Timeout.self) {
            try await other.acquireLock(timeout: GuardrailDuration(milliseconds: 700), applicationName: "second apply")
        }
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(650), "gave up after \(waited), before the lock timeout")
        let message = error.map { "\($0)" } ?? ""
        #expect(message.contains("\"test lock\""))
        #expect(message.contains("pid "))
        #expect(message.contains("since "))

        // Once the holder lets go, the lock can be taken.
        await holder.close()
        try await other.acquireLock(timeout: .seconds(5), applicationName: "second apply")
    }

    @Test(
        "two environments on one database and schema share the apply lock: the second waits, is told once after a second who holds it, then fails naming the other environment"
    )
    func environmentsSharingADatabaseShareTheApplyLock() async throws {
        let (db, holder, _) = try await seeded(1)
        let staging = try await Session.open(db.environment(name: "staging"), applicationName: "staging")
        let told = WaitNotices()
        let started = ContinuousClock.now
        let error = await #expect(throws: AdvisoryLock.Timeout.self) {
            try await staging.acquireLock(timeout: .seconds(3), applicationName: "staging apply") { holder in told.add(holder) }
        }
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(2_900), "\(waited)")
        let notices = told.all
        #expect(notices.count == 1, "told once: \(notices)")
        #expect(notices.first??.environment == "local" && notices.first??.applicationName == "test lock", "\(notices)")
        #expect(notices.first??.since != nil)
        let message = error.map { "\($0)" } ?? ""
        #expect(message.contains("Environment \"local\" uses the same database and schema as \"staging\""), "\(message)")

        // Another schema in the same database is another lock.
        let elsewhere = try await Session.open(db.environment(name: "staging", schema: "guardrail_other"), applicationName: "other schema")
        try await elsewhere.acquireLock(timeout: .seconds(1), applicationName: "other schema lock")
        await elsewhere.close()
        await staging.close()
        await holder.close()
        await db.drop()
    }

    @Test("a failure on the last statement of an apply leaves tenants, schema and audit log exactly as they were")
    func failedApplyChangesNothing() async throws {
        let (db, session, configuration) = try await seeded(20)
        defer {
            Task {
                await session.close(); await db.drop()
            }
        }
        let tenantsBefore = try await db.snapshot("guardrail.tenants", orderBy: "name")
        let auditBefore = try await db.snapshot("guardrail.audit_log", orderBy: "plan_id")

        // Deletes and updates run first; the creates run last and two of them share an id, which the
        // unique constraint rejects. Validation would catch this in manifests; here it stands in for
        // any statement Postgres refuses part-way through.
        var next = configuration
        next.tenants.removeLast(2)
        next.tenants[0].displayName = "Updated before the failure"
        next.tenants.append(Tenant(name: "dup-a", id: Fixtures.tenantID(900), displayName: "A"))
        next.tenants.append(Tenant(name: "dup-b", id: Fixtures.tenantID(900), displayName: "B"))
        let plan = try await session.plan(next)
        #expect(plan.summary == Plan.Summary(add: 2, change: 1, destroy: 2))
        let error = await #expect(throws: DatabaseError.self) {
            try await session.apply(plan, overrides: HazardOverrides(allowDestroy: true), osUser: "tester")
        }
        #expect(error?.sqlState == "23505")
        #expect(try await db.snapshot("guardrail.tenants", orderBy: "name") == tenantsBefore)
        #expect(try await db.snapshot("guardrail.audit_log", orderBy: "plan_id") == auditBefore)
    }

    @Test("a failed first apply leaves no guardrail schema behind")
    func failedFirstApplyLeavesNoSchema() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let session = try await db.lockedSession()
        defer { Task { await session.close() } }
        var configuration = Configuration()
        configuration.tenants = [
            Tenant(name: "a", id: Fixtures.tenantID(1), displayName: "A"),
            Tenant(name: "b", id: Fixtures.tenantID(1), displayName: "B"),
        ]
        await #expect(throws: DatabaseError.self) {
            try await session.apply(try await session.plan(configuration), overrides: HazardOverrides(), osUser: "tester")
        }
        #expect(try await db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'guardrail'") == "0")
    }

    @Test("deleting a tenant needs --allow-destroy")
    func deleteNeedsAllowDestroy() async throws {
        let (db, session, configuration) = try await seeded(10)
        defer {
            Task {
                await session.close(); await db.drop()
            }
        }
        var next = configuration
        next.tenants.removeLast()
        let plan = try await session.plan(next)
        #expect(plan.changes.first?.hazards.map(\.kind) == [.destroys])
        let error = await #expect(throws: Session.ApplyRefusal.self) {
            try await session.apply(plan, overrides: HazardOverrides(), osUser: "tester")
        }
        #expect("\(error.map { "\($0)" } ?? "no error")".contains("--allow-destroy"))
        #expect(try await db.scalar("SELECT count(*) FROM guardrail.tenants") == "10")
        _ = try await session.apply(plan, overrides: HazardOverrides(allowDestroy: true), osUser: "tester")
        #expect(try await db.scalar("SELECT count(*) FROM guardrail.tenants") == "9")
    }

    @Test("an empty configuration, or one deleting more than half the tenants, is refused without --allow-mass-delete")
    func massDeleteGuard() async throws {
        let (db, session, configuration) = try await seeded(10)
        defer {
            Task {
                await session.close(); await db.drop()
            }
        }

        let empty = try await session.plan(Configuration())
        #expect(empty.changes.count == 10)
        #expect(empty.changes.allSatisfy { $0.hazards.contains { $0.kind == .massDelete } })
        let error = await #expect(throws: Session.ApplyRefusal.self) {
            try await session.apply(empty, overrides: HazardOverrides(allowDestroy: true), osUser: "tester")
        }
        #expect("\(error.map { "\($0)" } ?? "no error")".contains("--allow-mass-delete"))

        var six = configuration
        six.tenants.removeLast(6)
        let sixPlan = try await session.plan(six)
        #expect(sixPlan.changes.allSatisfy { $0.hazards.contains { $0.kind == .massDelete } })

        var half = configuration
        half.tenants.removeLast(5)
        let halfPlan = try await session.plan(half)
        #expect(halfPlan.changes.allSatisfy { !$0.hazards.contains { $0.kind == .massDelete } })
        #expect(try await db.scalar("SELECT count(*) FROM guardrail.tenants") == "10")

        _ = try await session.apply(empty, overrides: HazardOverrides(allowDestroy: true, allowMassDelete: true), osUser: "tester")
        #expect(try await db.scalar("SELECT count(*) FROM guardrail.tenants") == "0")
    }

    @Test("every apply is recorded in the audit log with plan id, commit, user and counts")
    func applyIsAudited() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let session = try await db.lockedSession()
        defer { Task { await session.close() } }
        let plan = try await session.plan(Fixtures.generatedConfiguration(tenants: 4), gitCommit: "0123456789abcdef0123456789abcdef01234567")
        _ = try await session.apply(plan, overrides: HazardOverrides(), osUser: "alice")
        let history = try await session.history(limit: 10)
        #expect(history.count == 1)
        let entry = try #require(history.first)
        #expect(entry.planID == plan.id)
        #expect(entry.osUser == "alice")
        #expect(entry.gitCommit == "0123456789abcdef0123456789abcdef01234567")
        #expect(entry.added == 4)
        let changes = try await db.scalar("SELECT cardinality(objects) FROM guardrail.audit_log")
        #expect(changes == "4")
        #expect(try await session.action(plan.id)?.plan()?.changes == plan.changes, "the whole plan is recorded")
    }

    @Test(
        "a database an older Guardrail left at schema version 3, with tenants and an audit record, is upgraded by the next apply and keeps its data")
    func upgradeFromAnOlderSchemaKeepsData() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let session = try await db.lockedSession()
        defer { Task { await session.close() } }
        let old = Fixtures.generatedConfiguration(tenants: 3)
        _ = try await session.connection.transaction(logger: session.environment.database.logger, context: "old schema") { c in
            try await Migrations.migrate(c, schema: SQLIdentifier("guardrail"), logger: session.environment.database.logger, upTo: 3)
        }
        for t in old.tenants {
            try await db.execute(
                """
                INSERT INTO guardrail.tenants (name, id, display_name, status, labels)
                VALUES ('\(t.name)', '\(t.id)', '\(t.displayName)', '\(t.status.rawValue)', '\(t.labels.attributeValue.canonicalJSON)')
                """)
        }
        try await db.execute(
            "INSERT INTO guardrail.audit_log (plan_id, environment, os_user, added, changed, destroyed, changes) VALUES (gen_random_uuid(), 'local', 'old', 3, 0, 0, '[]')"
        )
        #expect(try await db.scalar("SELECT max(version) FROM guardrail.schema_migrations") == "3")

        // Planning is read-only: it sees the tenants and does not upgrade anything.
        var next = old
        next.tenants[0].displayName = "Renamed after the upgrade"
        let plan = try await session.plan(next)
        #expect(plan.changes.map(\.action) == [.update])
        #expect(try await db.scalar("SELECT max(version) FROM guardrail.schema_migrations") == "3")

        let report = try await session.apply(plan, overrides: HazardOverrides(), osUser: "t")
        // Versions need not be contiguous on a branch (11 is taken before 9 and 10 land).
        #expect(report.migrations == Migrations.all.map(\.version).filter { $0 > 3 })
        #expect(try await db.scalar("SELECT max(version) FROM guardrail.schema_migrations") == "\(Migrations.latestVersion)")
        #expect(try await db.scalar("SELECT count(*) FROM guardrail.tenants") == "3")
        #expect(
            try await db.scalar("SELECT display_name FROM guardrail.tenants WHERE name = '\(old.tenants[0].name)'") == "Renamed after the upgrade")
        #expect(try await db.scalar("SELECT count(*) FROM guardrail.audit_log") == "2", "the old record is still there")
        #expect(try await db.scalar("SELECT pg_typeof(changes)::text FROM guardrail.audit_log LIMIT 1") == "json")
        #expect(try await session.plan(next).changes.isEmpty)
    }

    @Test("migrations are idempotent and record their versions")
    func migrationsAreIdempotent() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let session = try await db.lockedSession()
        defer { Task { await session.close() } }
        _ = try await session.apply(try await session.plan(Fixtures.generatedConfiguration(tenants: 1)), overrides: HazardOverrides(), osUser: "t")
        var next = Fixtures.generatedConfiguration(tenants: 2)
        next.tenants[0].displayName = "x"
        let report = try await session.apply(try await session.plan(next), overrides: HazardOverrides(), osUser: "t")
        #expect(report.migrations.isEmpty)
        let versions = try await db.rows("SELECT version FROM guardrail.schema_migrations ORDER BY version").map { $0[0] ?? "" }
        #expect(versions == Migrations.all.map { String($0.version) })
    }

    @Test("an apply that cannot get a table lock within lock_timeout fails with Postgres's lock timeout and changes nothing")
    func lockTimeoutBoundsTheWait() async throws {
        let db = try await TestPostgres.createDatabase()
        let configuration = Fixtures.generatedConfiguration(tenants: 3)
        let first = try await db.lockedSession()
        _ = try await first.apply(try await first.plan(configuration), overrides: HazardOverrides(), osUser: "tester")
        await first.close()
        // Someone else holds the tenants table (a long migration, a stuck transaction).
        let blocker = try await db.environment().database.connect(applicationName: "blocker")
        try await blocker.query("BEGIN", logger: TestDatabase.logger)
        try await blocker.query("LOCK TABLE guardrail.tenants IN ACCESS EXCLUSIVE MODE", logger: TestDatabase.logger)
        let session = try await db.lockedSession(db.environment(lockTimeout: .seconds(1)))
        var next = configuration
        next.tenants[0].displayName = "Renamed"
        let plan = PlanBuilder.plan(
            desired: next, live: LiveState(schemaVersion: Migrations.latestVersion, tenants: configuration.tenants),
            context: .init(environment: "local", planID: UUID().uuidString.lowercased(), createdAt: "now"))
        let started = Date()
        await #expect(throws: (any Error).self) { _ = try await session.apply(plan, overrides: HazardOverrides(), osUser: "tester") }
        let waited = Date().timeIntervalSince(started)
        #expect(waited < 10, "the apply gave up after lock_timeout, not after waiting for the blocker (\(waited)s)")
        try await blocker.query("ROLLBACK", logger: TestDatabase.logger)
        await blocker.close()
        await session.close()
        #expect(try await db.scalar("SELECT display_name FROM guardrail.tenants WHERE name = 'brokerage-0'") == "Brokerage 0")
        await db.drop()
    }
}

/// The holders an `onWait` callback was given.
final class WaitNotices: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var notices: [AdvisoryLock.Holder?] = []
    func add(_ holder: AdvisoryLock.Holder?) { lock.withLock { notices.append(holder) } }
    var all: [AdvisoryLock.Holder?] { lock.withLock { notices } }
}
