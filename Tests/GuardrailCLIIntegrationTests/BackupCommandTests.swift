import Foundation
import GuardrailTestSupport
import Testing

@Suite("backup from the command line", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct BackupCommandTests {
    static let schedule = """
        apiVersion: guardrail/v1
        kind: BackupSchedule
        metadata: {name: nightly}
        spec:
          schedule: "0 2 * * *"
          timezone: UTC
          retention: {keep: 3}
          rpo: 26h
          restoreDrill:
            schedule: "0 4 * * 0"
            checks: {rowCounts: [{table: guardrail.tenants, min: 2}]}

        """

    /// Three tenants and the nightly schedule, with backups going to a fresh directory.
    func workspace() async throws -> (TestDatabase, URL, URL, [String: String]) {
        let db = try await TestPostgres.createDatabase()
        let backups = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-cli-backups-\(UUID().uuidString)")
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 3),
            "manifests/backups.yaml": Self.schedule,
            "environments/local.yaml": Fixtures.localEnvironmentYAML + "  backups: {directory: \"${GUARDRAIL_BACKUP_DIR}\"}\n",
        ])
        return (db, dir, backups, ["DATABASE_URL": db.urlString, "GUARDRAIL_BACKUP_DIR": backups.path])
    }

    @Test("backup run, drill and list work end to end, and an unknown schedule is named with a suggestion")
    func runDrillList() async throws {
        let (db, dir, backups, env) = try await workspace()
        defer { Task { await db.drop() } }
        var transcript = ""
        func run(_ args: [String]) async throws -> CommandResult {
            let r = try await InProcess.run(args, in: dir, environment: env)
            transcript += r.output
            return r
        }
        let plan = try await run(["plan", "--env", "local"])
        #expect(plan.stdout.contains("# next runs (UTC): "), "\(plan.output)")
        #expect(try await run(["apply", "--env", "local", "--auto-approve"]).status == 0)

        let backup = try await run(["backup", "run", "nightly", "--env", "local"])
        #expect(backup.status == 0, "\(backup.output)")
        #expect(backup.stdout.contains("Backup nightly succeeded: \(backups.path)/nightly/nightly-"))

        let drill = try await run(["backup", "drill", "nightly", "--env", "local"])
        #expect(drill.status == 0, "\(drill.output)")
        let line = drill.stdout.split(separator: "\n").first { $0.hasPrefix("rows in guardrail.tenants") }.map(String.init) ?? ""
        #expect(
            line.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
                == "rows in guardrail.tenants pass 3 rows (at least 2 expected)")

        let list = try await run(["backup", "list", "--env", "local"])
        #expect(list.status == 0)
        #expect(list.stdout.contains("nightly"))
        #expect(list.stdout.contains(" ok "), "\(list.stdout)")
        #expect(!list.stderr.contains("can be read by other users"), "\(list.stderr)")

        // Archives are the owner's alone, in folders only the owner can enter.
        let folder = backups.appendingPathComponent("nightly")
        let archives = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".dump") }
        #expect(archives.count == 1)
        func mode(_ path: String) throws -> Int { (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue }
        let archive = folder.appendingPathComponent(archives[0]).path
        #expect(try mode(archive) == 0o600)
        #expect(try mode(folder.path) == 0o700)
        #expect(try mode(backups.path) == 0o700)
        // An archive made readable by others (as older versions wrote them) is named by backup list.
        #expect(chmod(archive, 0o644) == 0)
        let exposed = try await run(["backup", "list", "--env", "local"])
        #expect(exposed.status == 0)
        #expect(exposed.stderr.contains("warning: \(archive) can be read by other users (mode 644)"), "\(exposed.stderr)")

        let metrics = try await run(["backup", "list", "--env", "local", "--format", "prometheus"])
        #expect(metrics.stdout.contains("guardrail_backup_rpo_met{schedule=\"nightly\"} 1"), "\(metrics.stdout)")
        #expect(metrics.stdout.contains("guardrail_backup_rpo_seconds{schedule=\"nightly\"} 93600"))
        #expect(metrics.stdout.contains("guardrail_backup_drill_last_success{schedule=\"nightly\"} 1"))
        #expect(metrics.stdout.contains("# TYPE guardrail_backup_last_size_bytes gauge"))

        let unknown = try await run(["backup", "run", "nighty", "--env", "local"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no backup schedule \"nighty\""))
        #expect(unknown.stderr.contains("Did you mean \"nightly\"?"))
        #expect(!transcript.contains(db.password))
    }

    @Test("backup tick runs the due backup and the due drill once; a second tick finds both taken")
    func tickRunsDueWorkOnce() async throws {
        let (db, dir, backups, env) = try await workspace()
        defer { Task { await db.drop() } }
        #expect(try await InProcess.run(["apply", "--env", "local", "--auto-approve"], in: dir, environment: env).status == 0)
        let first = try await InProcess.run(["backup", "tick", "--env", "local"], in: dir, environment: env)
        #expect(first.status == 0, "\(first.output)")
        #expect(first.stdout.contains("backup nightly: succeeded \(backups.path)/nightly/nightly-"), "\(first.stdout)")
        #expect(first.stdout.contains("drill nightly: succeeded"), "\(first.stdout)")
        let second = try await InProcess.run(["backup", "tick", "--env", "local"], in: dir, environment: env)
        #expect(second.status == 0, "\(second.output)")
        #expect(second.stdout.contains("backup.nightly at "), "\(second.stdout)")
        #expect(second.stdout.contains("drill of backup.nightly at "), "\(second.stdout)")
        #expect(!second.stdout.contains("succeeded"))
        #expect(try await db.scalar("SELECT count(*) FROM guardrail.backup_runs") == "1")
        #expect(try await db.scalar("SELECT count(*) FROM guardrail.backup_drills") == "1")
    }
}
