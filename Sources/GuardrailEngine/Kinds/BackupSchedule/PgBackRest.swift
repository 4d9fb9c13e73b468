import Foundation
import GuardrailCore

/// pgBackRest as Guardrail drives it: one subprocess per command, with the repository and database
/// host described by the environment's `backups.pgbackrest`.
///
/// Non-secret options go into a configuration file Guardrail writes for the command (0600, in a
/// folder only the command's user can enter, removed afterwards): pgBackRest refuses a command-line
/// option that a command does not take, while a file may hold every option every command needs.
/// Secrets (the cipher passphrase, S3 keys) only ever travel in pgBackRest's own environment
/// variables (`PGBACKREST_REPO1_CIPHER_PASS`, ...), never in an argument list, a file or output.
public struct PgBackRest: Sendable {
    public var stanza: String
    /// A pgbackrest.conf the environment names; Guardrail's own file is then included beside it.
    public var configFile: String?
    /// The primary's data directory. A restore refuses to write there.
    public var pgPath: String?
    /// The user commands and restored clusters run as when Guardrail runs as root.
    public var osUser: String?
    /// `[global]` options, and the stanza's section (`pg1-*`).
    var globalOptions: [String: String]
    var stanzaOptions: [String: String]
    /// pgBackRest's environment variable → its value.
    var secrets: [String: Secret]
    /// The variables the secrets were read from: the child does not need them under a second name.
    var sourceVariables: [String]
    /// Whether the repository is encrypted (so a restore that cannot decrypt it names the passphrase).
    public var encrypted: Bool

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
        /// pgBackRest's exit status, when it ran.
        public var status: Int32?
    }

    /// Resolves the environment's section: templates expanded, secrets read from the variables it names.
    public init(_ config: Environment.PgBackRest, database: DatabaseURL, processEnvironment: [String: String]) throws {
        func expand(_ value: TemplatedString) throws -> String {
            switch value.expand(processEnvironment) {
            case .success(let text): return text
            case .failure(let diagnostic): throw DiagnosticError(diagnostic)
            }
        }
        stanza = config.stanza
        configFile = try config.configFile.map(expand).flatMap { $0.isEmpty ? nil : $0 }
        pgPath = try config.pgPath.map(expand).flatMap { $0.isEmpty ? nil : $0 }
        osUser = config.osUser
        var global: [String: String] = [
            // Console output is the JSON of `info`; messages go to stderr, where failures are read from.
            "log-level-console": "off",
            "log-level-stderr": "warn",
        ]
        var stanzaSection: [String: String] = [:]
        if let pgPath { stanzaSection["pg1-path"] = pgPath }
        stanzaSection["pg1-port"] = String(database.port)
        stanzaSection["pg1-user"] = database.user
        if let socket = database.unixSocketPath { stanzaSection["pg1-socket-path"] = (socket as NSString).deletingLastPathComponent }
        encrypted = false
        if let repo = config.repo {
            global["repo1-type"] = repo.type.rawValue
            if let path = try repo.path.map(expand) { global["repo1-path"] = path }
            if repo.type == .s3 {
                if let v = try repo.bucket.map(expand) { global["repo1-s3-bucket"] = v }
                if let v = try repo.endpoint.map(expand) { global["repo1-s3-endpoint"] = v }
                if let v = try repo.region.map(expand) { global["repo1-s3-region"] = v }
                if let port = repo.port { global["repo1-storage-port"] = String(port) }
                if let style = repo.uriStyle { global["repo1-s3-uri-style"] = style }
                global["repo1-storage-verify-tls"] = repo.verifyTLS ? "y" : "n"
            }
            if let cipher = repo.cipherType {
                global["repo1-cipher-type"] = cipher
                encrypted = true
            }
        }
        for (key, value) in config.options {
            let text = try expand(value)
            if key.hasPrefix("pg1-") || key.hasPrefix("pg-") { stanzaSection[key] = text } else { global[key] = text }
        }
        globalOptions = global
        stanzaOptions = stanzaSection
        var secrets: [String: Secret] = [:]
        var sources: [String] = []
        for (variable, target) in [
            (config.cipherPassEnv, "PGBACKREST_REPO1_CIPHER_PASS"), (config.s3KeyEnv, "PGBACKREST_REPO1_S3_KEY"),
            (config.s3KeySecretEnv, "PGBACKREST_REPO1_S3_KEY_SECRET"),
        ] {
            guard let variable else { continue }
            guard let value = processEnvironment[variable], !value.isEmpty else {
                throw DiagnosticError(
                    .error(
                        "\(variable) is not set",
                        detail: "backups.pgbackrest names it for pgBackRest's \(target); set it in the environment Guardrail runs in.",
                        at: config.location))
            }
            secrets[target] = Secret(value)
            if variable != target { sources.append(variable) }
        }
        if config.cipherPassEnv != nil { encrypted = true }
        self.secrets = secrets
        self.sourceVariables = sources
        if let password = database.password?.value, !password.isEmpty { self.secrets["PGPASSWORD"] = Secret(password) }
    }

    // MARK: - Running commands

    /// The configuration file's text: non-secret options only.
    func configurationText(stanza: String) -> String {
        var text = "[global]\n"
        for key in globalOptions.keys.sorted() { text += "\(key)=\(globalOptions[key]!)\n" }
        text += "\n[\(stanza)]\n"
        for key in stanzaOptions.keys.sorted() { text += "\(key)=\(stanzaOptions[key]!)\n" }
        return text
    }

    /// A folder holding the command's configuration file; removed by `remove()`.
    struct ConfigurationFolder: Sendable {
        var path: String
        var file: String { path + "/pgbackrest.conf" }
        func remove() { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Writes the configuration for `stanza` into a new private folder the command's user owns.
    func writeConfiguration(stanza: String) throws -> ConfigurationFolder {
        var template = Array((NSTemporaryDirectory() + "/guardrail-pgbackrest-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw Failure(description: "cannot create a folder for pgBackRest's configuration: \(String(cString: strerror(errno)))")
        }
        let folder = ConfigurationFolder(path: String(cString: made))
        do {
            let fd = open(folder.file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw Failure(description: "cannot write \(folder.file): \(String(cString: strerror(errno)))") }
            let bytes = Array(configurationText(stanza: stanza).utf8)
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            guard written == bytes.count else { throw Failure(description: "cannot write \(folder.file)") }
            if let owner = try commandUser() {
                guard chown(folder.path, owner.uid, owner.gid) == 0, chown(folder.file, owner.uid, owner.gid) == 0 else {
                    throw Failure(description: "cannot give \(folder.path) to \(osUser ?? ""): \(String(cString: strerror(errno)))")
                }
            }
            return folder
        } catch {
            folder.remove()
            throw error
        }
    }

    /// The user pgBackRest runs as, when it is not this process's: nil unless Guardrail runs as root.
    func commandUser() throws -> (name: String, uid: uid_t, gid: gid_t)? {
        guard geteuid() == 0 else { return nil }
        guard let name = osUser else {
            throw Failure(description: "Guardrail runs as root: set backups.pgbackrest.osUser to the user that owns the database cluster")
        }
        guard let entry = getpwnam(name) else { throw Failure(description: "backups.pgbackrest.osUser \"\(name)\" is not a user on this machine") }
        return (name, entry.pointee.pw_uid, entry.pointee.pw_gid)
    }

    /// The program and arguments for `pgbackrest <command>`; as root, through runuser to `osUser`.
    /// Nothing secret is ever among them.
    func commandLine(_ command: String, _ arguments: [String], stanza: String?, folder: ConfigurationFolder) throws -> (String, [String]) {
        var args: [String] = []
        if let configFile {
            args += ["--config=\(configFile)", "--config-include-path=\(folder.path)"]
        } else {
            args += ["--config=\(folder.file)"]
        }
        if let stanza { args.append("--stanza=\(stanza)") }
        args += arguments
        args.append(command)
        return try asCommandUser(try Self.executable(), args)
    }

    /// The environment the child gets besides Guardrail's own: the secrets under pgBackRest's names.
    var childEnvironment: [String: String] {
        secrets.mapValues(\.value)
    }

    /// Runs `pgbackrest <command>` and returns its result, whatever its status.
    func run(
        _ command: String, _ arguments: [String] = [], stanza: String? = nil, folder: ConfigurationFolder? = nil,
        limit: Int = 4 << 20
    ) async throws -> ExternalCommand.Result {
        let own = folder == nil ? try writeConfiguration(stanza: stanza ?? self.stanza) : nil
        defer { own?.remove() }
        let (program, args) = try commandLine(command, arguments, stanza: stanza ?? self.stanza, folder: folder ?? own!)
        return try await ExternalCommand(executable: program, arguments: args, environment: childEnvironment, removing: sourceVariables)
            .run(limit: limit)
    }

    /// Runs `pgbackrest <command>` and fails with pgBackRest's own message when it does not succeed.
    @discardableResult
    func check(
        _ command: String, _ arguments: [String] = [], stanza: String? = nil, folder: ConfigurationFolder? = nil
    ) async throws -> ExternalCommand.Result {
        let result = try await run(command, arguments, stanza: stanza, folder: folder)
        guard result.status == 0 else {
            throw Failure(description: "pgbackrest \(command) failed: " + Self.message(result), status: result.status)
        }
        return result
    }

    /// pgBackRest's error lines (ERROR and its HINTs), or the tail of what it printed.
    static func message(_ result: ExternalCommand.Result) -> String {
        let lines = (result.stderr + "\n" + result.stdout).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty
        }
        if let first = lines.firstIndex(where: { $0.hasPrefix("ERROR") }) {
            return lines[first...].prefix(4).joined(separator: " ")
        }
        let tail = lines.suffix(4).joined(separator: " ")
        return tail.isEmpty ? "exit status \(result.status), no output" : String(tail.prefix(2000))
    }

    static func executable() throws -> String {
        try tool(
            "pgbackrest",
            in: (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"],
            hint: "install pgbackrest (Debian: apt-get install pgbackrest)")
    }

    static func tool(_ name: String, in directories: [String], hint: String = "") throws -> String {
        for dir in directories where !dir.isEmpty {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw ExternalCommand.LaunchError(executable: name, reason: "not found" + (hint.isEmpty ? "" : "; \(hint)"))
    }

    // MARK: - info

    /// `pgbackrest info --output=json`: the source of truth for the backups and the archive.
    public func info(stanza: String? = nil) async throws -> PgBackRestInfo.Stanza {
        let name = stanza ?? self.stanza
        let result = try await run("info", ["--output=json"], stanza: name)
        guard result.status == 0 else { throw Failure(description: "pgbackrest info failed: " + Self.message(result), status: result.status) }
        let stanzas: [PgBackRestInfo.Stanza]
        do {
            // A file decrypted with the wrong passphrase is quoted in a status message as raw bytes,
            // control characters included, which JSON does not allow in a string.
            let bytes = Data(result.stdout.utf8.map { $0 < 0x20 ? 0x20 : $0 })
            stanzas = try JSONDecoder().decode([PgBackRestInfo.Stanza].self, from: bytes)
        } catch {
            throw Failure(description: "pgbackrest info printed JSON Guardrail cannot read: \(error)")
        }
        guard let found = stanzas.first(where: { $0.name == name }) else {
            throw Failure(description: "pgbackrest info does not list stanza \"\(name)\"")
        }
        return found
    }
}

/// What `pgbackrest info --output=json` prints, the parts Guardrail reads.
public enum PgBackRestInfo {
    public struct Stanza: Decodable, Sendable {
        public var name: String
        public var status: Status
        public var backup: [Backup]?
        public var archive: [Archive]?
        public var repo: [Repo]?

        /// Backups in the repository that pgBackRest does not flag as in error, oldest first.
        public var backups: [Backup] { (backup ?? []).filter { $0.error != true }.sorted { $0.timestamp.stop < $1.timestamp.stop } }

        /// Status codes 1 and 3: the stanza has never been created in this repository.
        public var isMissing: Bool { status.code == 1 || status.code == 3 }

        /// The newest WAL segment in the archive.
        public var newestArchivedWAL: String? { (archive ?? []).compactMap(\.max).max() }

        /// pgBackRest's message, with the repository's own when it has one (a wrong passphrase is reported there).
        public var problem: String? {
            guard status.code != 0 else { return nil }
            let repoMessages = (repo ?? []).compactMap { $0.status.code == 0 ? nil : $0.status.message }
            return ([status.message] + repoMessages).joined(separator: ": ")
        }
    }

    public struct Status: Decodable, Sendable {
        public var code: Int
        public var message: String
    }

    public struct Repo: Decodable, Sendable {
        public var key: Int?
        public var cipher: String?
        public var status: Status
    }

    public struct Archive: Decodable, Sendable {
        public var id: String
        public var min: String?
        public var max: String?
    }

    public struct Backup: Decodable, Sendable {
        public struct Times: Decodable, Sendable {
            public var start: Int
            public var stop: Int
        }
        public struct WALRange: Decodable, Sendable {
            public var start: String?
            public var stop: String?
        }
        public struct Sizes: Decodable, Sendable {
            public struct Repository: Decodable, Sendable {
                public var size: Int?
                public var delta: Int?
            }
            public var size: Int?
            public var delta: Int?
            public var repository: Repository?
        }

        public var label: String
        public var type: String
        public var timestamp: Times
        public var archive: WALRange?
        public var info: Sizes?
        public var error: Bool?

        public var stoppedAt: Date { Date(timeIntervalSince1970: TimeInterval(timestamp.stop)) }
        public var startedAt: Date { Date(timeIntervalSince1970: TimeInterval(timestamp.start)) }
    }
}
