import Foundation
import GuardrailCore
import GuardrailTestSupport
import Testing
@testable import GuardrailEngine

/// What Guardrail hands pgBackRest: the argument list and the configuration file hold no secret;
/// the secrets are in pgBackRest's own environment variables only.
@Suite("pgBackRest driver")
struct PgBackRestDriverTests {
    static let environmentYAML = """
        apiVersion: guardrail/v1
        kind: Environment
        metadata: {name: production}
        spec:
          postgres: {url: "${DATABASE_URL}"}
          backups:
            pgbackrest:
              stanza: main
              pgPath: /var/lib/postgresql/15/main
              repo: {type: s3, bucket: acme, endpoint: 127.0.0.1, port: 9443, region: us-east-1, path: /repo, verifyTLS: false, cipherType: aes-256-cbc}
              cipherPassEnv: BACKUP_PASSPHRASE
              s3KeyEnv: BACKUP_S3_KEY
              s3KeySecretEnv: BACKUP_S3_SECRET
              osUser: postgres
              options: {log-path: /var/log/pgbackrest, pg1-socket-path: /run/postgresql}

        """

    let secrets = ["BACKUP_PASSPHRASE": "passphrase-7f3a", "BACKUP_S3_KEY": "AKIAKEY123", "BACKUP_S3_SECRET": "s3-secret-9c1d"]

    func driver(_ extra: [String: String] = [:]) throws -> PgBackRest {
        let configuration = try Fixtures.configuration(["environments/production.yaml": Self.environmentYAML])
        let config = try #require(configuration.environments["production"]?.backups?.pgbackrest)
        let url = try DatabaseURL(parsing: "postgres://backup:db-password-55@127.0.0.1:5433/app")
        return try PgBackRest(config, database: url, processEnvironment: secrets.merging(extra) { _, b in b })
    }

    @Test("the argument list and the configuration file hold no secret; pgBackRest's environment variables hold them all")
    func secretsOnlyInTheEnvironment() throws {
        let p = try driver()
        let folder = try p.writeConfiguration(stanza: "main")
        defer { folder.remove() }
        let (program, arguments) = try p.commandLine("backup", ["--type=incr", "--repo1-retention-full=4"], stanza: "main", folder: folder)
        let text = try String(contentsOfFile: folder.file, encoding: .utf8)
        for secret in secrets.values + ["db-password-55"] {
            #expect(!(([program] + arguments).joined(separator: " ")).contains(secret))
            #expect(!text.contains(secret))
        }
        #expect(arguments.contains("--config=\(folder.file)"))
        #expect(arguments.suffix(3) == ["--type=incr", "--repo1-retention-full=4", "backup"])
        #expect(
            text.contains("repo1-s3-bucket=acme\n") && text.contains("repo1-storage-verify-tls=n\n")
                && text.contains("repo1-cipher-type=aes-256-cbc\n"))
        #expect(
            text.contains("[main]\npg1-path=/var/lib/postgresql/15/main\npg1-port=5433\npg1-socket-path=/run/postgresql\npg1-user=backup\n"),
            "\(text)")
        #expect(
            p.childEnvironment == [
                "PGBACKREST_REPO1_CIPHER_PASS": "passphrase-7f3a", "PGBACKREST_REPO1_S3_KEY": "AKIAKEY123",
                "PGBACKREST_REPO1_S3_KEY_SECRET": "s3-secret-9c1d", "PGPASSWORD": "db-password-55",
            ])
        // The variables the secrets came from are not passed on under their own names too.
        #expect(Set(p.sourceVariables) == Set(secrets.keys))
        // The file is the command user's alone.
        let mode = (try FileManager.default.attributesOfItem(atPath: folder.file)[.posixPermissions] as! NSNumber).intValue
        #expect(mode == 0o600)
        if geteuid() == 0 { #expect(program.hasSuffix("/runuser") && arguments.prefix(3) == ["-u", "postgres", "--"]) }
    }

    @Test("a secret variable that is not set is named, with no value, before anything runs")
    func missingSecret() throws {
        let error = #expect(throws: DiagnosticError.self) { try driver(["BACKUP_S3_SECRET": ""]) }
        #expect(error?.description.contains("BACKUP_S3_SECRET is not set") == true, "\(String(describing: error))")
    }

    @Test("binary bytes quoted by pgBackRest (a file read with the wrong passphrase) are left out of messages")
    func printable() {
        let garbage =
            "FormatError: key/value found outside of section at line 1: (nh\u{FFFD}\u{FFFD}r\u{0001}\u{FFFD}\u{FFFD}z\u{FFFD}1\u{0009}\u{FFFD}\u{FFFD}7=KF\u{FFFD}2\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}9\u{FFFD}W6\u{FFFD}v"
        let text = PgBackRest.printable(
            "[FormatError] unable to load info file 'backup.info':\n" + garbage + "\nHINT: has a stanza-create been performed?")
        #expect(
            text == "[FormatError] unable to load info file 'backup.info': FormatError: (unreadable bytes) HINT: has a stanza-create been performed?")
    }
}

@Suite("backup records before the pgBackRest migration", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct BackupRecordsBeforeMigrationTests {
    @Test("runs and drills recorded by a schema from before migration 12 are listed, with no pgBackRest fields, rather than failing")
    func olderSchemaReads() async throws {
        let db = try await TestPostgres.createDatabase()
        defer { Task { await db.drop() } }
        var environment = db.environment()
        environment.backupDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-old-\(UUID().uuidString)").path
        try await environment.database.withConnection(applicationName: "test") { c in
            _ = try await Migrations.migrate(c, schema: SQLIdentifier("guardrail"), logger: environment.database.logger, upTo: 11)
        }
        try await db.execute(
            """
            INSERT INTO guardrail.backup_runs (schedule, status, finished_at, size_bytes, file) VALUES ('nightly', 'succeeded', now(), 42, '/b/n.dump');
            INSERT INTO guardrail.backup_drills (schedule, status, finished_at) VALUES ('nightly', 'succeeded', now());
            """)
        let runner = try BackupRunner(environment: environment)
        let runs = try await runner.runs()
        #expect(runs.map(\.file) == ["/b/n.dump"])
        #expect(runs.first?.label == nil)
        let drills = try await runner.drills()
        #expect(drills.count == 1 && drills.first?.rtoSeconds == nil)
    }
}
