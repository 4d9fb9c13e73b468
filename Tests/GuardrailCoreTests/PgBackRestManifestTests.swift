import Foundation
import Testing
@testable import GuardrailCore

@Suite("pgBackRest schedules and environments")
struct PgBackRestManifestTests {
    func schedule(_ spec: String) -> (Configuration, [String]) {
        let text = "apiVersion: guardrail/v1\nkind: BackupSchedule\nmetadata: {name: weekly-full}\nspec:\n" + spec
        let (c, d) = load("manifests/backups.yaml", text)
        return (c, located(d))
    }

    @Test("a pgbackrest schedule decodes with its type, stanza, retention, rto and drill target, and round-trips through its attributes")
    func decodes() throws {
        let (c, d) = schedule(
            """
              schedule: "0 1 * * 0"
              timezone: UTC
              method: pgbackrest
              type: full
              stanza: main
              retention: {full: 4, diff: 7}
              rpo: 5m
              rto: 5m
              restoreDrill: {schedule: "0 5 * * 0", target: random-in-window, checks: {rlsPolicies: true}}

            """)
        #expect(d.isEmpty, "\(d)")
        let s = try #require(c.backupSchedules.first)
        #expect(s.method == .pgbackrest)
        #expect(s.backupType == .full)
        #expect(s.stanza == "main")
        #expect(s.retention == .init(full: 4, diff: 7))
        #expect(s.rto == .seconds(300))
        #expect(s.restoreDrill?.target == .randomInWindow)
        #expect(try BackupSchedule(name: s.name, attributes: s.attributes) == s)
    }

    @Test("a pg_dump schedule's attributes are what they were before pgBackRest existed")
    func pgDumpAttributesUnchanged() throws {
        let (c, d) = schedule(
            "  schedule: \"0 2 * * *\"\n  timezone: UTC\n  retention: {keep: 3}\n  rpo: 26h\n  restoreDrill: {schedule: \"0 4 * * 0\"}\n")
        #expect(d.isEmpty)
        let s = try #require(c.backupSchedules.first)
        #expect(Set(s.attributes.keys) == ["schedule", "timezone", "method", "rpo", "allow_frequent", "database", "retention", "restore_drill"])
        #expect(Set(s.attributes["restore_drill"]?.mapValue?.keys ?? [:].keys) == ["schedule", "row_counts", "rls_policies", "sql"])
    }

    @Test("each misuse is reported at its own line and column, and no schedule is kept")
    func refusals() {
        // Lines: 5 schedule, 6 timezone, 7 method, 8 type / retention ...
        let (c1, d1) = schedule(
            """
              schedule: "0 1 * * 0"
              timezone: UTC
              method: pgbackrest
              type: weekly
              database: app
              retention: {keep: 3}
              rpo: 5m
              rto: 0s

            """)
        #expect(c1.backupSchedules.isEmpty)
        #expect(d1.contains("manifests/backups.yaml:8:9: BackupSchedule spec.type has an unknown value \"weekly\""), "\(d1)")
        #expect(d1.contains("manifests/backups.yaml:9:13: a pgbackrest schedule backs up the whole cluster, not one database"), "\(d1)")
        #expect(d1.contains("manifests/backups.yaml:10:15: retention.keep does not apply to method: pgbackrest"), "\(d1)")
        #expect(d1.contains("manifests/backups.yaml:10:14: retention needs full for method: pgbackrest"), "\(d1)")
        #expect(d1.contains("manifests/backups.yaml:12:8: rto must be positive"), "\(d1)")

        let (c2, d2) = schedule(
            """
              schedule: "0 2 * * *"
              timezone: UTC
              type: full
              stanza: main
              retention: {keep: 3, full: 2}
              rpo: 26h
              rto: 5m
              restoreDrill: {schedule: "0 4 * * 0", target: newest}

            """)
        #expect(c2.backupSchedules.isEmpty)
        #expect(d2.contains("manifests/backups.yaml:7:3: type applies only to method: pgbackrest"), "\(d2)")
        #expect(d2.contains("manifests/backups.yaml:8:3: stanza applies only to method: pgbackrest"), "\(d2)")
        #expect(d2.contains("manifests/backups.yaml:9:24: retention.full applies only to method: pgbackrest"), "\(d2)")
        #expect(d2.contains("manifests/backups.yaml:11:3: rto applies only to method: pgbackrest"), "\(d2)")
        #expect(d2.contains("manifests/backups.yaml:12:41: restoreDrill.target applies only to method: pgbackrest"), "\(d2)")

        let (_, d3) = schedule(
            "  schedule: \"0 1 * * 0\"\n  timezone: UTC\n  method: pgbackrest\n  type: incr\n  stanza: \"../x\"\n  retention: {full: 1}\n  rpo: 5m\n")
        #expect(d3 == ["manifests/backups.yaml:9:11: invalid stanza \"../x\""], "\(d3)")
    }

    func environment(_ backups: String) -> (Configuration, [String]) {
        let text = """
            apiVersion: guardrail/v1
            kind: Environment
            metadata: {name: production}
            spec:
              postgres: {url: "${DATABASE_URL}"}
              backups:
            \(backups)
            """
        let (c, d) = load("environments/production.yaml", text)
        return (c, located(d))
    }

    @Test("backups.pgbackrest decodes an encrypted S3 repository whose secrets are variable names, with no directory needed")
    func environmentDecodes() throws {
        let (c, d) = environment(
            """
                pgbackrest:
                  stanza: main
                  pgPath: /var/lib/postgresql/15/main
                  repo: {type: s3, bucket: acme, endpoint: s3.eu-west-1.amazonaws.com, region: eu-west-1, path: /pgbackrest, cipherType: aes-256-cbc}
                  cipherPassEnv: PGBACKREST_CIPHER_PASS
                  s3KeyEnv: AWS_ACCESS_KEY_ID
                  s3KeySecretEnv: AWS_SECRET_ACCESS_KEY
                  options: {log-path: /var/log/pgbackrest, process-max: "2"}

            """)
        #expect(d.isEmpty, "\(d)")
        let p = try #require(c.environments["production"]?.backups?.pgbackrest)
        #expect(c.environments["production"]?.backups?.directory == nil)
        #expect(p.stanza == "main")
        #expect(p.repo?.type == .s3)
        #expect(p.repo?.cipherType == "aes-256-cbc")
        #expect(p.repo?.verifyTLS == true)
        #expect(p.cipherPassEnv == "PGBACKREST_CIPHER_PASS")
        #expect(p.options.keys.sorted() == ["log-path", "process-max"])
    }

    @Test(
        "a secret written into the file, an encrypted repository without a passphrase variable, and keys Guardrail owns are refused where they are written"
    )
    func environmentRefusals() {
        let (c, d) = environment(
            """
                pgbackrest:
                  stanza: main
                  repo: {type: s3, bucket: acme, endpoint: s3.amazonaws.com, region: us-east-1, cipherType: aes-256-cbc}
                  cipherPassEnv: "correct horse battery staple"
                  options: {repo1-cipher-pass: hunter2, repo1-s3-key-secret: x, pg1-path: /data, Log_Path: /x}

            """)
        #expect(c.environments["production"]?.backups?.pgbackrest == nil)
        #expect(d.contains("environments/production.yaml:9:13: an s3 repository needs s3KeyEnv and s3KeySecretEnv"), "\(d)")
        #expect(
            d.contains("environments/production.yaml:10:22: Environment spec.backups.pgbackrest.cipherPassEnv must name an environment variable"),
            "\(d)")
        #expect(
            d.contains(
                "environments/production.yaml:11:17: Environment spec.backups.pgbackrest.options must not hold the secret option \"repo1-cipher-pass\""
            ), "\(d)")
        #expect(
            d.contains(
                "environments/production.yaml:11:45: Environment spec.backups.pgbackrest.options must not hold the secret option \"repo1-s3-key-secret\""
            ), "\(d)")
        #expect(d.contains("environments/production.yaml:11:69: Environment spec.backups.pgbackrest.options cannot set \"pg1-path\""), "\(d)")
        #expect(d.contains("environments/production.yaml:11:86: invalid pgBackRest option name \"Log_Path\""), "\(d)")
        // No diagnostic repeats the secret values.
        #expect(!d.joined().contains("hunter2"))
        #expect(!d.joined().contains("correct horse"))

        let (_, d2) = environment("    pgbackrest: {stanza: main, repo: {type: posix, path: /repo, cipherType: aes-256-cbc}}\n")
        #expect(d2 == ["environments/production.yaml:7:38: an encrypted repository needs cipherPassEnv"], "\(d2)")
        let (_, d3) = environment("    pgbackrest: {stanza: main}\n")
        #expect(d3 == ["environments/production.yaml:7:17: backups.pgbackrest needs repo or configFile"], "\(d3)")
    }
}

@Suite("pgBackRest generated alerts")
struct PgBackRestGeneratedRulesTests {
    @Test("a pgbackrest schedule gets a stale alert on its RPO status and a WAL archive lag alert; a pg_dump schedule keeps its freshness alert")
    func rules() throws {
        let text = """
            apiVersion: guardrail/v1
            kind: BackupSchedule
            metadata: {name: weekly-full}
            spec: {schedule: "0 1 * * 0", timezone: UTC, method: pgbackrest, type: full, retention: {full: 2}, rpo: 5m}
            ---
            apiVersion: guardrail/v1
            kind: BackupSchedule
            metadata: {name: nightly}
            spec: {schedule: "0 2 * * *", timezone: UTC, retention: {keep: 3}, rpo: 26h}

            """
        let (c, d) = load("manifests/backups.yaml", text)
        #expect(d.isEmpty, "\(d)")
        let rules = try #require(GeneratedRules.groups(for: c).first { $0.group == GeneratedRules.backupGroup }).rules
        #expect(
            rules.map { "\($0.name) \($0.labels["schedule"] ?? "")" } == [
                "GuardrailBackupStale nightly", "GuardrailBackupStale weekly-full", "GuardrailWALArchiveLag weekly-full",
            ])
        #expect(
            rules[2].expr
                == "max(guardrail_backup_archive_lag_seconds{schedule=\"weekly-full\"}) > 300 or max(guardrail_backup_archive_failing{schedule=\"weekly-full\"}) > 0"
        )
        #expect(rules[0].expr.contains("guardrail_backup_last_success_timestamp_seconds"))
    }
}
