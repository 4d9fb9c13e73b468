import Foundation
import GuardrailTestSupport
import Testing

/// A pgBackRest schedule is a BackupSchedule like any other: after apply, a fresh plan is empty.
@Suite("pgBackRest schedules converge", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct PgBackRestConvergenceTests {
    @Test("apply of a pgbackrest schedule, then plan: no changes")
    func pgBackRestScheduleConverges() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        let repo = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-converge-repo-\(UUID().uuidString)")
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 2),
            "manifests/backups.yaml": """
            apiVersion: guardrail/v1
            kind: BackupSchedule
            metadata: {name: weekly-full}
            spec:
              schedule: "0 1 * * 0"
              timezone: UTC
              method: pgbackrest
              type: full
              stanza: main
              retention: {full: 4, diff: 7}
              rpo: 24h
              rto: 5m

            """,
            "environments/local.yaml": Fixtures.localEnvironmentYAML + """
                  backups:
                    pgbackrest:
                      stanza: main
                      pgPath: /nonexistent/pgdata
                      repo: {type: posix, path: "\(repo.path)"}

                """,
        ])
        let env = ["DATABASE_URL": db.urlString]
        let apply = try CommandRunner.run(["apply", "--env", "local", "--auto-approve"], in: dir, environment: env)
        #expect(apply.status == 0, "\(apply.output)")
        #expect(try await db.scalar("SELECT count(*) FROM guardrail.backup_schedules") == "1")
        let plan = try CommandRunner.run(["plan", "--env", "local", "--detailed-exitcode"], in: dir, environment: env)
        #expect(plan.status == 0, "a fresh plan after apply has no changes: \(plan.output)")
    }
}
