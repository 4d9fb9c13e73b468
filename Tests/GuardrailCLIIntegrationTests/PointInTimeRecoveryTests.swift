import Foundation
import GuardrailTestSupport
import Synchronization
import Testing

/// pgBackRest end to end: a private cluster archiving WAL into an encrypted repository, Guardrail's
/// `backup run`, `backup restore --to`, drills, and the refusals, all through the real binary.
@Suite(
    "point-in-time recovery with pgBackRest", .serialized,
    .enabled(if: TestPostgres.isAvailable, "needs scripts/test (Postgres 15 and pgbackrest installed)"))
struct PointInTimeRecoveryTests {
    static func schedule(name: String = "weekly-full", type: String = "full", rto: String = "5m") -> String {
        """
        apiVersion: guardrail/v1
        kind: BackupSchedule
        metadata: {name: \(name)}
        spec:
          schedule: "0 1 * * 0"
          timezone: UTC
          method: pgbackrest
          type: \(type)
          retention: {full: 2}
          rpo: 1h
          rto: \(rto)
          restoreDrill:
            schedule: "0 5 * * 0"
            checks:
              rowCounts: [{table: public.pitr_rows, min: 1}]
              sql: [{name: rows restored, query: "SELECT count(*) > 0 FROM public.pitr_rows"}]

        """
    }

    struct Workspace {
        var cluster: PgBackRestCluster
        var dir: URL
        var env: [String: String]
        var transcript = ""

        mutating func run(_ args: [String], extra: [String: String] = [:]) throws -> CommandResult {
            let r = try CommandRunner.run(args, in: dir, environment: env.merging(extra) { _, b in b })
            transcript += "$ guardrail \(args.joined(separator: " "))\n" + r.output
            return r
        }
    }

    func workspace(_ repository: PgBackRestCluster.Repository = .posix, schedules: [String] = [Self.schedule()]) throws -> Workspace {
        let cluster = try PgBackRestCluster.start(repository: repository)
        var files = ["environments/local.yaml": cluster.environmentYAML]
        for (i, s) in schedules.enumerated() { files["manifests/backups-\(i).yaml"] = s }
        let dir = try Fixtures.writeWorkspace(files: files)
        var env = cluster.secretVariables
        env["DATABASE_URL"] = cluster.adminURL
        return Workspace(cluster: cluster, dir: dir, env: env)
    }

    /// A fresh directory to restore into, in a parent the cluster's user can enter (inside the
    /// cluster's folder, so stopping the cluster removes it).
    func restoreDirectory(_ w: Workspace) throws -> String {
        let parent = w.cluster.root.appendingPathComponent("restore-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        return parent.appendingPathComponent("restored").path
    }

    static func port(in output: String) -> Int? {
        guard let r = output.range(of: "running on 127.0.0.1:") else { return nil }
        return Int(output[r.upperBound...].prefix { $0.isNumber })
    }

    @Test("write rows, note the time, delete them, restore to that time: the rows are back, the RTO is printed, the primary is untouched")
    func restoreToTime() throws {
        var w = try workspace()
        defer { w.cluster.stop() }
        let plan = try w.run(["plan", "--env", "local"])
        #expect(plan.stdout.contains("pgBackRest stanza \"main\" does not exist in the repository yet"), "\(plan.output)")
        #expect(try w.run(["apply", "--env", "local", "--auto-approve"]).status == 0, "\(w.transcript)")
        let backup = try w.run(["backup", "run", "weekly-full", "--env", "local"])
        #expect(backup.status == 0, "\(w.transcript)")
        #expect(backup.stdout.contains("Backup weekly-full succeeded: pgBackRest full backup "), "\(backup.output)")

        try w.cluster.psql("CREATE TABLE public.pitr_rows (id int PRIMARY KEY, note text)")
        try w.cluster.psql("INSERT INTO public.pitr_rows SELECT g, 'row ' || g FROM generate_series(1, 250) g")
        Thread.sleep(forTimeInterval: 1.0)
        let target = try w.cluster.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
        Thread.sleep(forTimeInterval: 1.0)
        try w.cluster.psql("DELETE FROM public.pitr_rows")
        #expect(try w.cluster.psql("SELECT count(*) FROM public.pitr_rows") == "0")

        let into = try restoreDirectory(w)
        defer { PgBackRestCluster.discardRestored(into) }
        let restore = try w.run(["backup", "restore", "--env", "local", "--to", target, "--into", into])
        #expect(restore.status == 0, "\(w.transcript)")
        #expect(restore.stdout.contains("RTO: "), "\(restore.output)")
        #expect(restore.stdout.contains("Connection URL: postgres://guardrail_admin@127.0.0.1:"), "\(restore.output)")
        let port = try #require(Self.port(in: restore.stdout), "\(restore.output)")
        #expect(try w.cluster.psql("SELECT count(*) FROM public.pitr_rows", port: port) == "250")
        #expect(try w.cluster.psql("SELECT pg_is_in_recovery()", port: port) == "f")
        // The restored cluster must not push WAL into the primary's archive.
        #expect(try w.cluster.psql("SHOW archive_mode", port: port) == "off")
        let rto = restore.stdout.split(separator: "\n").first { $0.hasPrefix("RTO: ") }.flatMap { Double($0.dropFirst(5).prefix { $0 != "s" }) }
        #expect(try #require(rto) < 300, "the measured RTO is under the 5m objective")
        let mode = (try FileManager.default.attributesOfItem(atPath: into)[.posixPermissions] as! NSNumber).intValue
        #expect(mode == 0o700)
        // The primary still has what it had.
        #expect(try w.cluster.psql("SELECT count(*) FROM public.pitr_rows") == "0")
        #expect(!w.transcript.contains(w.cluster.cipherPass), "the passphrase never appears in output")

        // Restoring into the primary's data directory is refused, and changes nothing there.
        let before = try FileManager.default.contentsOfDirectory(atPath: w.cluster.dataDirectory).sorted()
        let primary = try w.run(["backup", "restore", "--env", "local", "--to", "latest", "--into", w.cluster.dataDirectory])
        #expect(primary.status == 1)
        #expect(primary.stderr.contains("is the primary's data directory or overlaps it"), "\(primary.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: w.cluster.dataDirectory).sorted() == before)
        #expect(try w.cluster.psql("SELECT count(*) FROM public.pitr_rows") == "0")
    }

    @Test("a target before the oldest backup or after the newest archived WAL is refused, naming the window, and nothing is restored")
    func targetOutsideWindowIsRefused() throws {
        var w = try workspace()
        defer { w.cluster.stop() }
        #expect(try w.run(["apply", "--env", "local", "--auto-approve"]).status == 0, "\(w.transcript)")
        #expect(try w.run(["backup", "run", "weekly-full", "--env", "local"]).status == 0, "\(w.transcript)")
        for target in ["2001-01-01T00:00:00Z", "2099-01-01T00:00:00Z"] {
            let into = try restoreDirectory(w)
            let refused = try w.run(["backup", "restore", "--env", "local", "--to", target, "--into", into])
            #expect(refused.status == 1, "\(w.transcript)")
            #expect(refused.stderr.contains("is outside the recoverable window"), "\(refused.output)")
            #expect(refused.stderr.contains("(the end of backup "), "the window's start is named: \(refused.output)")
            #expect(refused.stderr.contains("nothing was restored"))
            #expect(!FileManager.default.fileExists(atPath: into), "no directory was created")
        }
        // An unparseable time is a usage error.
        let bad = try w.run(["backup", "restore", "--env", "local", "--to", "yesterday", "--into", try restoreDirectory(w)])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--to must be an ISO 8601 time"), "\(bad.output)")
    }

    @Test("a wrong passphrase or a corrupted repository file fails with pgBackRest's message and leaves no cluster or directory")
    func wrongPassphraseAndCorruptionLeaveNothing() throws {
        var w = try workspace()
        defer { w.cluster.stop() }
        #expect(try w.run(["apply", "--env", "local", "--auto-approve"]).status == 0, "\(w.transcript)")
        #expect(try w.run(["backup", "run", "weekly-full", "--env", "local"]).status == 0, "\(w.transcript)")

        let into = try restoreDirectory(w)
        let wrong = try w.run(
            ["backup", "restore", "--env", "local", "--to", "latest", "--into", into], extra: ["PGBACKREST_CIPHER_PASS": "not-the-passphrase"])
        #expect(wrong.status == 1, "\(w.transcript)")
        #expect(wrong.stderr.contains("check that the cipher passphrase is the one it was created with"), "\(wrong.output)")
        #expect(!wrong.output.contains("not-the-passphrase"))
        #expect(!FileManager.default.fileExists(atPath: into))

        // A backup file damaged in the repository: pgBackRest cannot decrypt or verify it during the restore.
        let backupRoot = w.cluster.root.appendingPathComponent("repo/backup/\(w.cluster.stanza)")
        let label = try #require(try FileManager.default.contentsOfDirectory(atPath: backupRoot.path).first { $0.hasSuffix("F") })
        let dataFolder = backupRoot.appendingPathComponent("\(label)/pg_data")
        let victim = try #require(
            FileManager.default.enumerator(atPath: dataFolder.path)?.compactMap { $0 as? String }
                .first {
                    $0.hasPrefix("global/") && !$0.hasSuffix("/")
                        && ((try? FileManager.default.attributesOfItem(atPath: dataFolder.appendingPathComponent($0).path)[.size] as? NSNumber)?
                            .intValue ?? 0) > 64
                })
        let file = dataFolder.appendingPathComponent(victim)
        var bytes = try Data(contentsOf: file)
        for i in 32..<min(bytes.count, 64) { bytes[i] ^= 0xFF }
        try bytes.write(to: file)
        let damagedInto = try restoreDirectory(w)
        let damaged = try w.run(["backup", "restore", "--env", "local", "--to", "latest", "--into", damagedInto])
        #expect(damaged.status == 1, "\(w.transcript)")
        #expect(damaged.stderr.contains("pgbackrest restore failed: ERROR"), "\(damaged.output)")
        #expect(!FileManager.default.fileExists(atPath: damagedInto), "the half-restored directory is removed")
        // An empty directory given by the user is kept, and left empty.
        try FileManager.default.createDirectory(atPath: damagedInto, withIntermediateDirectories: false)
        #expect(try w.run(["backup", "restore", "--env", "local", "--to", "latest", "--into", damagedInto]).status == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: damagedInto).isEmpty)
    }

    @Test(
        "a drill on a pgbackrest schedule restores into a scratch cluster, passes its checks and records its RTO; an RTO over the objective fails it")
    func drillRecordsRTO() throws {
        var w = try workspace(schedules: [Self.schedule(), Self.schedule(name: "tight", type: "incr", rto: "1ms")])
        defer { w.cluster.stop() }
        #expect(try w.run(["apply", "--env", "local", "--auto-approve"]).status == 0, "\(w.transcript)")
        try w.cluster.psql("CREATE TABLE public.pitr_rows (id int PRIMARY KEY)")
        try w.cluster.psql("INSERT INTO public.pitr_rows SELECT generate_series(1, 40)")
        #expect(try w.run(["backup", "run", "weekly-full", "--env", "local"]).status == 0, "\(w.transcript)")
        let incr = try w.run(["backup", "run", "tight", "--env", "local"])
        #expect(incr.status == 0, "\(w.transcript)")
        #expect(incr.stdout.contains("pgBackRest incr backup"), "\(incr.output)")

        let drill = try w.run(["backup", "drill", "weekly-full", "--env", "local"])
        #expect(drill.status == 0, "\(w.transcript)")
        #expect(drill.stdout.contains("rows in public.pitr_rows"), "\(drill.output)")
        #expect(drill.stdout.contains("RTO "), "\(drill.output)")
        let tight = try w.run(["backup", "drill", "tight", "--env", "local"])
        #expect(tight.status == 1, "\(w.transcript)")
        #expect(tight.stderr.contains("check \"rto\" failed"), "\(tight.output)")

        let list = try w.run(["backup", "list", "--env", "local"])
        #expect(list.status == 0, "\(w.transcript)")
        #expect(list.stdout.contains("ARCHIVE LAG"), "\(list.stdout)")
        let metrics = try w.run(["backup", "list", "--env", "local", "--format", "prometheus"])
        #expect(metrics.stdout.contains("guardrail_backup_archive_lag_seconds{schedule=\"weekly-full\"}"), "\(metrics.stdout)")
        #expect(metrics.stdout.contains("guardrail_backup_drill_last_rto_seconds{schedule=\"weekly-full\"}"), "\(metrics.stdout)")
        // No scratch directory or server is left behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory()).filter {
            $0.hasPrefix("guardrail-drill-weekly-full-") || $0.hasPrefix("guardrail-drill-tight-")
        }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test("an S3 repository over TLS is encrypted at rest, and neither the passphrase nor the keys appear in output or in any process's arguments")
    func s3RepositoryIsEncryptedAndSecretsStayOutOfArguments() throws {
        var w = try workspace(.s3)
        defer { w.cluster.stop() }
        #expect(try w.run(["apply", "--env", "local", "--auto-approve"]).status == 0, "\(w.transcript)")
        try w.cluster.psql("CREATE TABLE public.pitr_rows (id int PRIMARY KEY)")
        try w.cluster.psql("INSERT INTO public.pitr_rows SELECT generate_series(1, 10)")

        let watcher = ArgumentWatcher(looking: "pgbackrest")
        watcher.start()
        let backup = try w.run(["backup", "run", "weekly-full", "--env", "local"])
        let seen = watcher.stop()
        #expect(backup.status == 0, "\(w.transcript)")
        #expect(seen.contains { $0.contains(" backup") }, "the pgbackrest child was seen: \(seen)")
        for secret in [w.cluster.cipherPass, w.cluster.s3Key, w.cluster.s3Secret] {
            #expect(!seen.contains { $0.contains(secret) }, "a secret was in a process's arguments")
            #expect(!w.transcript.contains(secret))
        }

        let objects = try w.cluster.s3Objects()
        #expect(objects.contains { $0.key.hasSuffix("backup.info") }, "\(objects.map(\.key))")
        #expect(objects.contains { $0.key.contains("/pg_data/") })
        // Encrypted files carry OpenSSL's "Salted__" header; a plain repository's info files start "[backrest]" and its files are gzip (1f8b).
        for object in objects where object.size > 0 {
            #expect(object.head.hasPrefix("53616c7465645f5f"), "\(object.key) is not encrypted: \(object.head)")
        }

        let into = try restoreDirectory(w)
        defer { PgBackRestCluster.discardRestored(into) }
        let restore = try w.run(["backup", "restore", "--env", "local", "--to", "latest", "--into", into])
        #expect(restore.status == 0, "\(w.transcript)")
        let port = try #require(Self.port(in: restore.stdout), "\(restore.output)")
        #expect(try w.cluster.psql("SELECT count(*) FROM public.pitr_rows", port: port) == "10")
    }

    @Test("archiving that fails is reported by backup list, and a backup run records pgBackRest's message as a failed run")
    func failingArchiveIsReported() throws {
        var w = try workspace()
        defer { w.cluster.stop() }
        #expect(try w.run(["apply", "--env", "local", "--auto-approve"]).status == 0, "\(w.transcript)")
        #expect(try w.run(["backup", "run", "weekly-full", "--env", "local"]).status == 0, "\(w.transcript)")
        // The repository becomes unreachable for archive-push.
        try w.cluster.psql("ALTER SYSTEM SET archive_command = 'pgbackrest --config=/nonexistent/pgbackrest.conf --stanza=main archive-push %p'")
        try w.cluster.psql("SELECT pg_reload_conf()")
        try w.cluster.psql("CREATE TABLE public.pitr_rows (id int)")
        try w.cluster.psql("SELECT pg_switch_wal()")
        var failing = false
        for _ in 0..<40 where !failing {
            Thread.sleep(forTimeInterval: 0.5)
            failing = (try w.cluster.psql("SELECT failed_count > 0 FROM pg_stat_archiver")) == "t"
        }
        #expect(failing)
        let list = try w.run(["backup", "list", "--env", "local"])
        #expect(list.stdout.contains("finding: archiving is failing"), "\(list.output)")
        #expect(list.stdout.contains("RPO BREACHED"), "\(list.output)")
        let plan = try w.run(["plan", "--env", "local"])
        #expect(plan.stdout.contains("backup.weekly-full: archiving is failing"), "\(plan.output)")
        let run = try w.run(["backup", "run", "weekly-full", "--env", "local"])
        #expect(run.status == 1, "\(w.transcript)")
        #expect(run.stderr.contains("backup weekly-full failed: pgbackrest backup failed: ERROR"), "\(run.output)")
        let runs = try w.run(["backup", "list", "--env", "local"])
        #expect(runs.stdout.contains("failed"), "\(runs.stdout)")
        // The controller's backup step (a tick) records the failure the same way; nothing new is marked good.
        let tick = try w.run(["backup", "tick", "--env", "local"])
        #expect(tick.status == 1, "\(w.transcript)")
        #expect(
            tick.stdout.contains("backup weekly-full: failed") || tick.stderr.contains("backup weekly-full failed: pgbackrest backup failed: ERROR"),
            "\(tick.output)")
        #expect(
            try w.cluster.psql(
                "SELECT count(*) FILTER (WHERE status = 'succeeded') || '/' || count(*) FILTER (WHERE status = 'failed' AND error LIKE '%pgbackrest backup failed: ERROR%') FROM guardrail.backup_runs"
            ) == "1/2")
    }
}

/// Watches every process's argument list (/proc/PID/cmdline) while a command runs, keeping those
/// that mention a word: what any user on the machine could read.
final class ArgumentWatcher: Sendable {
    private struct State {
        var seen: Set<String> = []
        var running = true
    }
    private let word: String
    private let state = Mutex(State())

    init(looking word: String) { self.word = word }

    func start() {
        Thread { [self] in
            while state.withLock({ $0.running }) {
                for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where pid.allSatisfy(\.isNumber) {
                    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { continue }
                    let line = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
                    if line.contains(word) { state.withLock { _ = $0.seen.insert(line) } }
                }
                usleep(5_000)
            }
        }.start()
    }

    func stop() -> Set<String> {
        state.withLock { $0.running = false }
        usleep(50_000)
        return state.withLock { $0.seen }
    }
}
