import Foundation
import GuardrailCore
@testable import GuardrailEngine
import GuardrailTestSupport
import Testing

/// Backups against a real Postgres with the real pg_dump and pg_restore.
@Suite("Backups", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct BackupTests {
    struct Fixture {
        var db: TestDatabase
        var directory: URL
        var environment: ResolvedEnvironment
        var runner: BackupRunner

        func files() throws -> [String] {
            guard let e = FileManager.default.enumerator(atPath: directory.path) else { return [] }
            return e.compactMap { $0 as? String }.filter { $0.hasSuffix(".dump") || $0.hasSuffix(".partial") }.sorted()
        }
    }

    static func schedule(
        _ name: String = "nightly", keep: Int = 14, database: String? = nil,
        drill: BackupSchedule.RestoreDrill? = nil
    ) -> BackupSchedule {
        BackupSchedule(
            name: name, database: database, schedule: try! CronSchedule.parse("0 2 * * *").get(), timezone: "UTC",
            retention: .init(keep: keep), rpo: .seconds(26 * 3600), restoreDrill: drill)
    }

    /// A database with a few tenants, an RLS-protected table, and the given schedules applied.
    func fixture(_ schedules: [BackupSchedule], directory: URL? = nil) async throws -> Fixture {
        let db = try await TestPostgres.createDatabase()
        let dir = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-backups-\(UUID().uuidString)")
        var environment = db.environment()
        environment.backupDirectory = dir.path
        var configuration = Fixtures.generatedConfiguration(tenants: 5)
        configuration.backupSchedules = schedules
        let session = try await db.lockedSession(environment)
        _ = try await session.apply(try await session.plan(configuration), overrides: HazardOverrides(), osUser: "tester")
        await session.close()
        try await db.execute(
            """
            CREATE TABLE public.properties (id serial PRIMARY KEY, tenant_id uuid NOT NULL, address text);
            INSERT INTO public.properties (tenant_id, address) SELECT id, 'Main St ' || name FROM guardrail.tenants;
            ALTER TABLE public.properties ENABLE ROW LEVEL SECURITY;
            ALTER TABLE public.properties FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant_isolation ON public.properties USING (tenant_id = current_setting('app.current_tenant_id')::uuid);
            """)
        return Fixture(db: db, directory: dir, environment: environment, runner: try BackupRunner(environment: environment))
    }

    @Test("a schedule converges: apply then plan is empty; the plan shows the next three runs in its time zone")
    func scheduleConverges() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let session = try await db.lockedSession()
        defer { Task { await session.close() } }
        var configuration = Configuration()
        var berlin = Self.schedule(
            drill: .init(
                schedule: try CronSchedule.parse("0 4 * * 0").get(),
                rowCounts: [.init(table: "public.properties", min: 1)], sql: [.init(name: "x", query: "SELECT true")]))
        berlin.timezone = "Europe/Berlin"
        configuration.backupSchedules = [berlin, Self.schedule("hourly", keep: 48)]
        let now = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18 11:06:40 UTC
        let plan = try await session.plan(configuration, now: now)
        #expect(plan.summary.add == 2)
        let nightly = try #require(plan.changes.first { $0.address.description == "backup.nightly" })
        #expect(nightly.details.first == "next runs (Europe/Berlin): 2026-11-19 02:00 GMT+1, 2026-11-20 02:00 GMT+1, 2026-11-21 02:00 GMT+1")
        _ = try await session.apply(plan, overrides: HazardOverrides(), osUser: "t")
        #expect(try await session.plan(configuration).changes.isEmpty)

        configuration.backupSchedules[0].retention = .init(keep: 7, maxAge: .seconds(86_400 * 10))
        let update = try await session.plan(configuration)
        #expect(update.changes.map(\.action) == [.update])
        _ = try await session.apply(update, overrides: HazardOverrides(), osUser: "t")
        #expect(try await session.plan(configuration).changes.isEmpty)

        configuration.backupSchedules.removeLast()
        let delete = try await session.plan(configuration)
        #expect(delete.changes.first?.hazards.contains { $0.kind == .destroys } == true)
        await #expect(throws: Session.ApplyRefusal.self) { try await session.apply(delete, overrides: HazardOverrides(), osUser: "t") }
    }

    @Test("a backup writes a verified, checksummed archive and records the run")
    func backupRecordsRun() async throws {
        let f = try await fixture([Self.schedule()])
        defer { Task { await f.db.drop() } }
        let run = try #require(try await f.runner.backup(try await f.runner.schedule(named: "nightly")))
        #expect(run.status == .succeeded)
        let file = try #require(run.file)
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect(data.count == run.sizeBytes)
        #expect(data.prefix(5) == Data("PGDMP".utf8), "custom-format archives start with PGDMP")
        #expect(try f.files().allSatisfy { !$0.hasSuffix(".partial") })
        let digest = try await f.db.scalar("SELECT sha256 FROM guardrail.backup_runs WHERE id = \(run.id)")
        #expect(digest == run.sha256 && digest?.count == 64)
    }

    @Test("backup run by name starts pg_dump before the claim and renames its file to the run: a verified archive, no leftovers")
    func backupByNameRenamesTheEarlyDump() async throws {
        let f = try await fixture([Self.schedule()])
        defer { Task { await f.db.drop() } }
        let run = try #require(try await f.runner.backup(named: "nightly"))
        #expect(run.status == .succeeded)
        let file = try #require(run.file)
        #expect(file.hasSuffix("-\(run.id).dump"))
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect(data.prefix(5) == Data("PGDMP".utf8))
        #expect(data.count == run.sizeBytes)
        #expect(try f.files() == [URL(fileURLWithPath: file).path.replacingOccurrences(of: f.directory.path + "/", with: "")])
        #expect(try await f.db.scalar("SELECT sha256 FROM guardrail.backup_runs WHERE id = \(run.id)") == run.sha256)
    }

    @Test(
        "backup run by name when the claim comes before pg_dump has created its file: one pg_dump, a verified archive under the run's name, no leftovers"
    )
    func claimBeforeTheDumpFileExists() async throws {
        let f = try await fixture([Self.schedule()])
        defer { Task { await f.db.drop() } }
        // A pg_dump that waits before starting, so the run is claimed while its file does not exist yet;
        // every invocation leaves a line in the log.
        let tools = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-slow-pg-dump-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tools, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tools) }
        let log = tools.appendingPathComponent("invocations")
        let wrapper = tools.appendingPathComponent("pg_dump")
        try "#!/bin/sh\necho \"$*\" >> '\(log.path)'\nsleep 0.5\nexec '\(try PostgresTools.path(of: "pg_dump"))' \"$@\"\n".write(
            to: wrapper, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper.path)
        var runner = f.runner
        runner.pgDumpPath = { wrapper.path }
        let run = try #require(try await runner.backup(named: "nightly"))
        #expect(run.status == .succeeded)
        let invocations = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
        #expect(invocations.count == 1, "pg_dump ran once: \(invocations)")
        #expect(invocations.first?.contains("--no-sync") == true, "Guardrail syncs the finished file itself")
        let file = try #require(run.file)
        #expect(file.hasSuffix("-\(run.id).dump"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)).count == run.sizeBytes)
        #expect(try f.files() == [URL(fileURLWithPath: file).path.replacingOccurrences(of: f.directory.path + "/", with: "")])
    }

    @Test("a schedule naming another database: the early dump of the environment's database is discarded and the named one is backed up")
    func backupByNameOfAnotherDatabase() async throws {
        let other = try await TestPostgres.createDatabase()
        defer { Task { await other.drop() } }
        try await other.execute("CREATE TABLE public.only_in_the_other_database (id int)")
        let f = try await fixture([Self.schedule(database: other.name)])
        defer { Task { await f.db.drop() } }
        let run = try #require(try await f.runner.backup(named: "nightly"))
        let list = try await ExternalCommand(executable: try PostgresTools.path(of: "pg_restore"), arguments: ["--list", try #require(run.file)])
            .run()
        #expect(list.stdout.contains("only_in_the_other_database"))
        #expect(!list.stdout.contains("backup_runs"), "the environment's own database was not the one dumped")
        let files = try f.files()
        #expect(files.count == 1, "no pending file is left: \(files)")
    }

    @Test("backup run of a name with no schedule, or with a wrong password, fails clearly and leaves no file")
    func backupByNameFailuresLeaveNothing() async throws {
        let f = try await fixture([Self.schedule()])
        defer { Task { await f.db.drop() } }
        await #expect(throws: DiagnosticError.self) { try await f.runner.backup(named: "weekly") }
        #expect(try f.files().isEmpty)

        var url = f.db.url
        url.password = Secret("definitely-wrong-password")
        var environment = f.environment
        environment.database = Database(url: url, schema: "guardrail")
        let error = await #expect(throws: (any Error).self) { try await BackupRunner(environment: environment).backup(named: "nightly") }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("password") || text.contains("authentication"), "\(text)")
        #expect(!text.contains("definitely-wrong-password"))
        #expect(try f.files().isEmpty)
        #expect(try await f.db.scalar("SELECT count(*) FROM guardrail.backup_runs") == "0")
    }

    @Test(
        "the in-process archive check reads what pg_restore --list reads, follows every data offset, and rejects truncated, foreign and altered files"
    )
    func archiveCheckAgreesWithPgRestore() async throws {
        let f = try await fixture([Self.schedule()])
        defer { Task { await f.db.drop() } }
        let run = try #require(try await f.runner.backup(named: "nightly"))
        let file = URL(fileURLWithPath: try #require(run.file))
        let bytes = [UInt8](try Data(contentsOf: file))
        func read(_ b: [UInt8]) throws -> CustomArchive.Contents {
            try CustomArchive.read(size: b.count) { offset, count in Array(b[offset..<min(b.count, offset + count)]) }
        }
        let contents = try read(bytes)
        let list = try await ExternalCommand(executable: try PostgresTools.path(of: "pg_restore"), arguments: ["--list", file.path]).run()
        // pg_restore lists each entry as "ID; ...", leaving out the ones it never restores as such.
        let listed = Set(
            list.stdout.split(separator: "\n").filter { !$0.hasPrefix(";") && !$0.isEmpty }
                .compactMap { Int($0.split(separator: ";").first ?? "") })
        let ours = Set(contents.entries.map(\.dumpID))
        #expect(listed.isSubset(of: ours) && !listed.isEmpty)
        let unlisted = contents.entries.filter { !listed.contains($0.dumpID) }.map(\.description)
        #expect(Set(unlisted).isSubset(of: ["ENCODING", "STDSTRINGS", "SEARCHPATH", "DATABASE", "DATABASE PROPERTIES"]), "\(unlisted)")
        let data = contents.entries.filter { $0.description == "TABLE DATA" }
        #expect(data.contains { $0.tag == "tenants" && $0.dataOffset != nil })
        #expect(data.contains { $0.tag == "properties" && $0.dataOffset != nil })

        #expect(throws: CustomArchive.Problem.notAnArchive) { try read(Array("-- plain SQL\n".utf8)) }
        // Cut inside the data: the offsets of the last tables point past the end.
        #expect(throws: CustomArchive.Problem.self) { try read(Array(bytes.prefix(bytes.count * 3 / 4))) }
        // Cut inside the table of contents.
        #expect(throws: CustomArchive.Problem.self) { try read(Array(bytes.prefix(200))) }
        // One byte changed where a data block starts.
        var altered = bytes
        let offset = try #require(data.first?.dataOffset)
        altered[offset] = 0x7F
        #expect(throws: CustomArchive.Problem.self) { try read(altered) }
        // A plain-format dump is not a custom archive.
        var plain = bytes
        plain[5 + 3 + 2] = 0
        #expect(throws: CustomArchive.Problem.notCustomFormat(0)) { try read(plain) }
    }

    @Test("pg_dump failing (the database is gone) leaves no file and a failed run with pg_dump's reason")
    func dumpFailureLeavesNothing() async throws {
        let f = try await fixture([Self.schedule(database: "no_such_database")])
        defer { Task { await f.db.drop() } }
        await #expect(throws: BackupRunner.Failure.self) { try await f.runner.backup(try await f.runner.schedule(named: "nightly")) }
        #expect(try f.files().isEmpty)
        let row = try await f.db.rows("SELECT status, error FROM guardrail.backup_runs").first
        #expect(row?[0] == "failed")
        #expect(row?[1]?.contains("no_such_database") == true, "\(String(describing: row))")
    }

    @Test("pg_dump failing part-way (a table it may not read) leaves no partial file")
    func dumpPermissionFailure() async throws {
        let f = try await fixture([Self.schedule()])
        defer { Task { await f.db.drop() } }
        let role = "dumper_\(f.db.name)"
        try await f.db.execute(
            "CREATE ROLE \(role) LOGIN PASSWORD 'dumper-pw'; GRANT USAGE ON SCHEMA guardrail TO \(role); GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA guardrail TO \(role); GRANT USAGE ON ALL SEQUENCES IN SCHEMA guardrail TO \(role);"
        )
        var url = f.db.url
        url.user = role
        url.password = Secret("dumper-pw")
        var environment = f.environment
        environment.database = Database(url: url, schema: "guardrail")
        let runner = try BackupRunner(environment: environment)
        let error = await #expect(throws: BackupRunner.Failure.self) { try await runner.backup(try await runner.schedule(named: "nightly")) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("permission denied"))
        #expect(!"\(error.map { "\($0)" } ?? "")".contains("dumper-pw"))
        #expect(try f.files().isEmpty)
        try await f.db.execute("DROP OWNED BY \(role); DROP ROLE \(role)")
    }

    /// A 16 KiB tmpfs, for a disk that fills up; nil where mounting is not permitted.
    static func tinyFilesystem() -> URL? {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-full-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        guard let mount = try? SystemCommand.run("/bin/mount", ["-t", "tmpfs", "-o", "size=16k", "tmpfs", dir.path]), mount.status == 0 else {
            return nil
        }
        return dir
    }

    static let canMountTmpfs: Bool = {
        guard let dir = tinyFilesystem() else { return false }
        _ = try? SystemCommand.run("/bin/umount", [dir.path])
        return true
    }()

    @Test(
        "a disk that fills up during pg_dump gives a clear error, a failed run and no partial file",
        .enabled(if: canMountTmpfs, "needs permission to mount a tmpfs"))
    func diskFull() async throws {
        let disk = try #require(Self.tinyFilesystem())
        defer { _ = try? SystemCommand.run("/bin/umount", [disk.path]) }
        let f = try await fixture([Self.schedule()], directory: disk)
        defer { Task { await f.db.drop() } }
        // Enough rows that the archive cannot fit in 16 KiB.
        try await f.db.execute(
            "INSERT INTO public.properties (tenant_id, address) SELECT (SELECT id FROM guardrail.tenants LIMIT 1), md5(g::text) FROM generate_series(1, 5000) g"
        )
        let attempts: [@Sendable () async throws -> BackupRunner.Run?] = [
            { try await f.runner.backup(named: "nightly") },
            { try await f.runner.backup(try await f.runner.schedule(named: "nightly")) },
        ]
        for attempt in attempts {
            let error = await #expect(throws: BackupRunner.Failure.self) { try await attempt() }
            #expect("\(error.map { "\($0)" } ?? "")".contains("No space left on device"), "\(error.map { "\($0)" } ?? "")")
            let files = try f.files()
            #expect(files.isEmpty, "\(files)")
        }
        #expect(try await f.db.scalar("SELECT string_agg(status, ',') FROM guardrail.backup_runs") == "failed,failed")
    }

    @Test("an unwritable backup directory gives a clear error and a failed run")
    func unwritableDirectory() async throws {
        let blocker = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-not-a-dir-\(UUID().uuidString)")
        try Data("x".utf8).write(to: blocker)
        let f = try await fixture([Self.schedule()], directory: blocker.appendingPathComponent("backups"))
        defer { Task { await f.db.drop() } }
        let error = await #expect(throws: BackupRunner.Failure.self) { try await f.runner.backup(try await f.runner.schedule(named: "nightly")) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("cannot create the backup directory"))
        #expect(try await f.db.scalar("SELECT status FROM guardrail.backup_runs") == "failed")
    }

    @Test("a restore drill proves the data and the RLS policies came back, and drops its scratch database")
    func drillProvesRestore() async throws {
        let drill = BackupSchedule.RestoreDrill(
            schedule: try CronSchedule.parse("0 4 * * 0").get(),
            rowCounts: [.init(table: "public.properties", min: 5), .init(table: "guardrail.tenants", min: 5)],
            rlsPolicies: true,
            sql: [.init(name: "five tenants", query: "SELECT count(*) = 5 FROM guardrail.tenants")])
        let f = try await fixture([Self.schedule(drill: drill)])
        defer { Task { await f.db.drop() } }
        let schedule = try await f.runner.schedule(named: "nightly")
        try await f.runner.backup(schedule)
        let result = try #require(try await f.runner.drill(schedule))
        #expect(result.status == "succeeded", "\(result)")
        #expect(
            result.checks.map(\.name) == [
                "checksum", "restore", "rows in public.properties", "rows in guardrail.tenants", "rls policies", "five tenants",
            ])
        #expect(result.checks.allSatisfy { $0.passed })
        #expect(result.checks.first { $0.name == "rls policies" }?.detail.contains("2 policies") == true)
        #expect(try await f.db.scalar("SELECT count(*) FROM pg_database WHERE datname LIKE 'guardrail_drill_\(f.db.name)_%'") == "0")
    }

    @Test("a drill fails when a check fails: too few rows, or an assertion returning false")
    func drillReportsFailedChecks() async throws {
        let drill = BackupSchedule.RestoreDrill(
            schedule: try CronSchedule.parse("0 4 * * 0").get(),
            rowCounts: [.init(table: "public.properties", min: 1000)],
            sql: [.init(name: "impossible", query: "SELECT false")])
        let f = try await fixture([Self.schedule(drill: drill)])
        defer { Task { await f.db.drop() } }
        let schedule = try await f.runner.schedule(named: "nightly")
        try await f.runner.backup(schedule)
        let result = try #require(try await f.runner.drill(schedule))
        #expect(result.status == "failed")
        #expect(result.checks.filter { !$0.passed }.map(\.name) == ["rows in public.properties", "impossible"])
    }

    @Test("a corrupted archive is caught by the drill")
    func corruptedArchiveIsCaught() async throws {
        let f = try await fixture([Self.schedule()])
        defer { Task { await f.db.drop() } }
        let schedule = try await f.runner.schedule(named: "nightly")
        let run = try #require(try await f.runner.backup(schedule))
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: run.file!))
        try handle.seek(toOffset: UInt64(run.sizeBytes! / 2))
        try handle.write(contentsOf: Data(repeating: 0xFF, count: 64))
        try handle.close()
        let result = try #require(try await f.runner.drill(schedule))
        #expect(result.status == "failed")
        #expect(result.error?.contains("corrupted") == true)
    }

    @Test("two ticks at once run a due backup only once")
    func concurrentTicksRunOnce() async throws {
        let f = try await fixture([Self.schedule()])
        defer { Task { await f.db.drop() } }
        let now = Date()
        async let a = f.runner.tick(now: now)
        async let b = f.runner.tick(now: now)
        let (ra, rb) = try await (a, b)
        #expect(ra.backups.count + rb.backups.count == 1)
        #expect(ra.alreadyClaimed.count + rb.alreadyClaimed.count == 1)
        #expect(try f.files().count == 1)
        // A later tick in the same cron period has nothing to do.
        let again = try await f.runner.tick(now: now.addingTimeInterval(60))
        #expect(again.backups.isEmpty && again.errors.isEmpty)
    }

    @Test("retention never deletes the last good backup, even when every later run failed")
    func retentionKeepsLastGood() async throws {
        let f = try await fixture([Self.schedule(keep: 1)])
        defer { Task { await f.db.drop() } }
        let schedule = try await f.runner.schedule(named: "nightly")
        let good = try #require(try await f.runner.backup(schedule))
        let second = try #require(try await f.runner.backup(schedule))
        #expect(try await f.db.scalar("SELECT status FROM guardrail.backup_runs WHERE id = \(good.id)") == "pruned")
        #expect(!FileManager.default.fileExists(atPath: good.file!))
        // Every run after this fails (the database vanishes from the schedule's point of view).
        try await f.db.execute("UPDATE guardrail.backup_schedules SET spec = jsonb_set(spec, '{database}', '\"gone_db\"')")
        let failing = try await f.runner.schedule(named: "nightly")
        for _ in 0..<3 { _ = try? await f.runner.backup(failing) }
        _ = try await f.runner.prune(failing, now: Date().addingTimeInterval(365 * 86_400))
        #expect(try await f.db.scalar("SELECT status FROM guardrail.backup_runs WHERE id = \(second.id)") == "succeeded")
        #expect(FileManager.default.fileExists(atPath: second.file!))
        #expect(try await f.db.scalar("SELECT count(*) FROM guardrail.backup_runs WHERE status = 'failed'") == "3")
    }

    @Test("a run whose runner died is marked failed and its partial file removed at the next tick; a run still holding its lock is left alone")
    func abandonedRunsAreReaped() async throws {
        let f = try await fixture([Self.schedule()])
        // Two 'running' rows, as runners left them: one died (nothing holds its lock), one is alive.
        try await f.db.execute(
            """
            INSERT INTO guardrail.backup_runs (id, schedule, scheduled_for, status) VALUES
              (901, 'nightly', '2026-01-01T02:00:00Z', 'running'), (902, 'nightly', '2026-01-02T02:00:00Z', 'running')
            """)
        let folder = f.directory.appendingPathComponent("nightly")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("half".utf8).write(to: folder.appendingPathComponent(".nightly-20260101T020000Z-901.dump.partial"))
        let alive = try await f.environment.database.connect(applicationName: "a runner that is still working")
        try await alive.query("SELECT pg_advisory_lock(\(BackupClaims.runKey("backup_runs", 902)))", logger: TestDatabase.logger)

        let reaped = try await f.runner.reapAbandoned()
        #expect(reaped == ["backup 901 of nightly"])
        #expect(
            try await f.db.scalar("SELECT status || ': ' || error FROM guardrail.backup_runs WHERE id = 901")
                == "failed: abandoned: the runner stopped before finishing")
        #expect(try await f.db.scalar("SELECT status FROM guardrail.backup_runs WHERE id = 902") == "running")
        let left = try f.files()
        #expect(left.isEmpty, "the partial file of the dead run is gone: \(left)")
        await alive.close()
        // Once its runner is gone, the other one goes too. The server ends the backend (and frees its
        // lock) after the client has closed: wait for that, generously, on a busy machine.
        for _ in 0..<300 {
            if try await f.db.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'a runner that is still working'") == "0" {
                break
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        #expect(try await f.runner.reapAbandoned() == ["backup 902 of nightly"])
        await f.db.drop()
    }
}

/// Backup file names carry the UTC time of the run.
@Suite struct BackupFileStampTests {
    @Test(
        "file stamps are the UTC time, zero-padded, whatever the local time zone",
        arguments: [
            (0.0, "19700101T000000Z"),
            (951_782_400.0, "20000229T000000Z"),
            (1_796_157_774.9, "20261201T204254Z"),
            (1_609_459_199.0, "20201231T235959Z"),
        ])
    func stampIsUTC(_ seconds: Double, _ expected: String) {
        #expect(BackupArchiveStore.fileStamp(Date(timeIntervalSince1970: seconds)) == expected)
    }
}
