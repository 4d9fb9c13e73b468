import Foundation
import GuardrailEngine

/// A private Postgres 15 cluster that archives its WAL with `pgbackrest archive-push` into a
/// repository of its own: a posix directory, or a bucket on a private S3-compatible server with TLS
/// (`scripts/lib/private-s3`). The repository is encrypted with aes-256-cbc.
///
/// The database host's own pgbackrest.conf (`server.conf`, used by archive_command) holds the
/// passphrase, as on a real database host; Guardrail's environment gets it from a variable.
public final class PgBackRestCluster: @unchecked Sendable {
    public enum Repository: Sendable { case posix, s3 }

    public let postgres: PrivatePostgres
    public let root: URL
    public let stanza = "main"
    public let cipherPass = "pitr-" + UUID().uuidString.lowercased()
    public let repository: Repository
    /// The S3 server's TLS port and bucket, for an s3 repository.
    public private(set) var s3Port: Int?
    public let bucket = "guardrail-pitr"
    public let s3Key = "AKIA" + String(UUID().uuidString.prefix(12)).replacingOccurrences(of: "-", with: "")
    public let s3Secret = "s3secret-" + UUID().uuidString.lowercased()
    private var s3Directory: URL?

    public var adminURL: String { postgres.adminURL }
    public var dataDirectory: String { postgres.directory.appendingPathComponent("data").path }
    public var repoPath: String { repository == .posix ? root.appendingPathComponent("repo").path : "/repo" }

    public struct Failed: Error, CustomStringConvertible {
        public var description: String
    }

    private init(postgres: PrivatePostgres, root: URL, repository: Repository) {
        self.postgres = postgres
        self.root = root
        self.repository = repository
    }

    /// Starts the cluster, its repository and archiving; the stanza is not created (the first `backup run` does it).
    public static func start(repository: Repository = .posix) throws -> PgBackRestCluster {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-pgbackrest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let cluster = PgBackRestCluster(postgres: try PrivatePostgres.start(), root: root, repository: repository)
        do {
            try cluster.configure()
        } catch {
            cluster.stop()
            throw error
        }
        return cluster
    }

    /// The OS user the cluster runs as (`postgres` when the tests run as root).
    public static var osUser: String? { geteuid() == 0 ? "postgres" : nil }

    private func configure() throws {
        for name in ["repo", "log", "lock", "spool"] {
            try FileManager.default.createDirectory(
                at: root.appendingPathComponent(name), withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o750])
        }
        if repository == .s3 {
            let dir = root.appendingPathComponent("s3")
            let script = Fixtures.repositoryRoot.appendingPathComponent("scripts/lib/private-s3").path
            let (status, out, err) = try SystemCommand.run(script, ["start", dir.path, bucket])
            guard status == 0, let port = Int(out.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw Failed(description: "private-s3 failed (\(status)): \(err.suffix(2000))")
            }
            s3Port = port
            s3Directory = dir
        }
        var server = "[global]\n" + repositoryOptions.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "\n") + "\n"
        server += "repo1-cipher-pass=\(cipherPass)\n"
        if repository == .s3 { server += "repo1-s3-key=\(s3Key)\nrepo1-s3-key-secret=\(s3Secret)\n" }
        server +=
            "log-path=\(root.path)/log\nlock-path=\(root.path)/lock\nspool-path=\(root.path)/spool\nlog-level-console=off\nlog-level-stderr=warn\n"
        server += "\n[\(stanza)]\npg1-path=\(dataDirectory)\n"
        let conf = root.appendingPathComponent("server.conf")
        try Data(server.utf8).write(to: conf)
        chmod(conf.path, 0o600)
        if let user = Self.osUser {
            let (status, _, err) = try SystemCommand.run("/bin/chown", ["-R", user, root.path])
            guard status == 0 else { throw Failed(description: "chown failed: \(err)") }
        }
        try psql("ALTER SYSTEM SET archive_mode = on")
        try psql("ALTER SYSTEM SET archive_command = 'pgbackrest --config=\(conf.path) --stanza=\(stanza) archive-push %p'")
        try postgres.restart()
    }

    /// The repository options both the database host and Guardrail's environment describe.
    var repositoryOptions: [String: String] {
        var o = ["repo1-path": repoPath, "repo1-cipher-type": "aes-256-cbc"]
        if repository == .s3, let s3Port {
            o["repo1-type"] = "s3"
            o["repo1-s3-endpoint"] = "127.0.0.1"
            o["repo1-storage-port"] = String(s3Port)
            o["repo1-storage-verify-tls"] = "n"
            o["repo1-s3-uri-style"] = "path"
            o["repo1-s3-bucket"] = bucket
            o["repo1-s3-region"] = "us-east-1"
        }
        return o
    }

    /// The environment's `backups.pgbackrest` block (indented for `spec:`); secrets from the variables
    /// PGBACKREST_CIPHER_PASS, S3_KEY and S3_KEY_SECRET (see `secretVariables`).
    public var backupsYAML: String {
        var repo: String
        switch repository {
        case .posix: repo = "{type: posix, path: \"\(repoPath)\", cipherType: aes-256-cbc}"
        case .s3:
            repo =
                "{type: s3, path: /repo, bucket: \(bucket), endpoint: 127.0.0.1, port: \(s3Port ?? 0), region: us-east-1, uriStyle: path, verifyTLS: false, cipherType: aes-256-cbc}"
        }
        var yaml = """
              backups:
                pgbackrest:
                  stanza: \(stanza)
                  pgPath: "\(dataDirectory)"
                  repo: \(repo)
                  cipherPassEnv: PGBACKREST_CIPHER_PASS

            """
        if repository == .s3 { yaml += "      s3KeyEnv: S3_KEY\n      s3KeySecretEnv: S3_KEY_SECRET\n" }
        if let user = Self.osUser { yaml += "      osUser: \(user)\n" }
        yaml += """
                  options: {log-path: "\(root.path)/log", lock-path: "\(root.path)/lock", pg1-socket-path: "\(postgres.directory.path)", start-fast: "y", archive-timeout: "30"}

            """
        return yaml
    }

    /// What the Guardrail process's environment needs for `backupsYAML`.
    public var secretVariables: [String: String] {
        var env = ["PGBACKREST_CIPHER_PASS": cipherPass]
        if repository == .s3 { env["S3_KEY"] = s3Key; env["S3_KEY_SECRET"] = s3Secret }
        return env
    }

    /// A complete environments/local.yaml for this cluster's `postgres` database.
    public var environmentYAML: String {
        """
        apiVersion: guardrail/v1
        kind: Environment
        metadata: {name: local}
        spec:
          postgres: {url: "${DATABASE_URL}", schema: guardrail, lockTimeout: 5s}

        """ + backupsYAML
    }

    /// Runs SQL on the cluster as its superuser (tests only), returning psql's unaligned output.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres", port: Int? = nil) throws -> String {
        var url = try DatabaseURL(parsing: adminURL)
        if let port { url.port = port }
        let password = url.password?.value ?? ""
        let target = "host=127.0.0.1 port=\(url.port) user=\(url.user) dbname=\(database) password=\(password) sslmode=disable"
        let (status, out, err) = try SystemCommand.run("/usr/bin/psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", target, "-c", sql])
        guard status == 0 else { throw Failed(description: "psql failed: \(err)") }
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The objects in the S3 bucket: key, the first 16 bytes in hex, and size.
    public func s3Objects() throws -> [(key: String, head: String, size: Int)] {
        guard let s3Port else { return [] }
        let script = Fixtures.repositoryRoot.appendingPathComponent("scripts/lib/s3-objects.py").path
        let (status, out, err) = try SystemCommand.run("/usr/bin/env", ["python3", script, String(s3Port), bucket])
        guard status == 0 else { throw Failed(description: "s3-objects failed: \(err.suffix(2000))") }
        return out.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "\t").map(String.init)
            guard parts.count == 3, let size = Int(parts[2]) else { return nil }
            return (parts[0], parts[1], size)
        }
    }

    /// Stops a restored cluster in `directory` (if one runs there) and removes it.
    public static func discardRestored(_ directory: String) {
        let pgCtl = "/usr/lib/postgresql/15/bin/pg_ctl"
        if FileManager.default.fileExists(atPath: directory + "/postmaster.pid") {
            if let user = osUser {
                _ = try? SystemCommand.run("/usr/sbin/runuser", ["-u", user, "--", pgCtl, "-D", directory, "-m", "immediate", "-w", "stop"])
            } else {
                _ = try? SystemCommand.run(pgCtl, ["-D", directory, "-m", "immediate", "-w", "stop"])
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    public func stop() {
        postgres.stop()
        if let s3Directory { _ = try? SystemCommand.run(s3Directory.appendingPathComponent("stop").path, []) }
        try? FileManager.default.removeItem(at: root)
    }

    deinit { stop() }
}
