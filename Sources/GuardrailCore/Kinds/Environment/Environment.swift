/// Where one environment's live state is: its Postgres, Prometheus, rules target and backup folder.
///
/// One file per environment in `environments/`, named after it (`environments/production.yaml`).
public struct Environment: Sendable {
    public enum DriftMode: String, Hashable, Sendable, Codable, CaseIterable { case enforce, warn }
    public enum AlertTarget: String, Hashable, Sendable, Codable, CaseIterable { case prometheus, mimir }

    public struct Postgres: Sendable {
        public var url: TemplatedString
        /// The schema Guardrail keeps its own state in.
        public var schema: String
        /// How long one apply may wait for a table lock before giving up (Postgres `lock_timeout`).
        public var lockTimeout: GuardrailDuration
        public var statementTimeout: GuardrailDuration?
    }

    public struct Prometheus: Sendable {
        public var url: TemplatedString
    }

    public struct Alerts: Sendable {
        public var target: AlertTarget
        public var rulesDirectory: TemplatedString?
        public var url: TemplatedString?
        public var tenant: TemplatedString?
        public var namespacePrefix: String?
    }

    /// The Alertmanager alerts/routing.yaml is applied to: its API and the configuration file it loads.
    public struct Alertmanager: Sendable {
        public var url: TemplatedString
        public var configFile: TemplatedString?
    }

    public struct Backups: Sendable {
        /// Where pg_dump schedules write their archives; nil when the environment only uses pgBackRest.
        public var directory: TemplatedString?
        /// The pgBackRest repository and database host that `method: pgbackrest` schedules use.
        public var pgbackrest: PgBackRest?

        public init(directory: TemplatedString?, pgbackrest: PgBackRest? = nil) {
            self.directory = directory
            self.pgbackrest = pgbackrest
        }
    }

    /// How Guardrail reaches a pgBackRest repository and the database host it backs up.
    ///
    /// ```yaml
    /// backups:
    ///   pgbackrest:
    ///     stanza: main
    ///     pgPath: /var/lib/postgresql/15/main      # the primary's data directory
    ///     repo: {type: s3, bucket: acme-backups, endpoint: s3.eu-west-1.amazonaws.com, region: eu-west-1, path: /pgbackrest}
    ///     cipherPassEnv: PGBACKREST_CIPHER_PASS     # the name of a variable, never the passphrase
    ///     s3KeyEnv: AWS_ACCESS_KEY_ID
    ///     s3KeySecretEnv: AWS_SECRET_ACCESS_KEY
    /// ```
    ///
    /// Secrets are only ever the names of process environment variables: Guardrail hands their
    /// values to pgBackRest through its own environment variables, never on a command line.
    public struct PgBackRest: Sendable {
        public enum RepoType: String, Sendable, CaseIterable { case posix, s3 }

        public struct Repo: Sendable {
            public var type: RepoType
            public var path: TemplatedString?
            public var bucket: TemplatedString?
            public var endpoint: TemplatedString?
            public var region: TemplatedString?
            public var port: Int?
            /// `path` or `host` addressing of S3 buckets.
            public var uriStyle: String?
            public var verifyTLS: Bool
            /// `aes-256-cbc`, or nil for an unencrypted repository.
            public var cipherType: String?
        }

        public var stanza: String
        /// A pgbackrest.conf to read besides what Guardrail sets.
        public var configFile: TemplatedString?
        /// The primary's data directory (`pg1-path`); a restore never writes there.
        public var pgPath: TemplatedString?
        public var repo: Repo?
        public var cipherPassEnv: String?
        public var s3KeyEnv: String?
        public var s3KeySecretEnv: String?
        /// When Guardrail runs as root: the user pgBackRest and restored clusters run as (the cluster's owner).
        public var osUser: String?
        /// Further non-secret pgBackRest options, such as log-path or pg1-socket-path.
        public var options: [String: TemplatedString]
        public var location: SourceLocation?
    }

    public struct Controller: Sendable {
        public var interval: GuardrailDuration
        public var listen: String
        public var drift: [String: DriftMode]
        public var adminToken: TemplatedString?
        /// How long a client may take to send a request's head, from its first byte (or from connecting).
        public var headerReadTimeout: GuardrailDuration = Controller.defaultHeaderReadTimeout
        /// How long a connection may sit with no request before it is closed.
        public var idleTimeout: GuardrailDuration = Controller.defaultIdleTimeout
        /// The most HTTP connections served at once; the controller lowers it to stay below its descriptor limit.
        public var maxConnections: Int = Controller.defaultMaxConnections

        public static let defaultHeaderReadTimeout = GuardrailDuration.seconds(10)
        public static let defaultIdleTimeout = GuardrailDuration.seconds(60)
        public static let defaultMaxConnections = 512
        /// How long a leader's lease lasts without a renewal before a standby may take over
        /// (Kubernetes Lease semantics). Nil means three intervals.
        public var leaseDuration: GuardrailDuration?
        /// The longest one step of a tick may take (a backup of a large database); nil means the
        /// environment's lock and statement timeouts. `/healthz` and the watchdog allow it on top of
        /// three intervals.
        public var stepTimeout: GuardrailDuration?

        public init(
            interval: GuardrailDuration = .seconds(30), listen: String = "127.0.0.1:8080", drift: [String: DriftMode] = [:],
            adminToken: TemplatedString? = nil, leaseDuration: GuardrailDuration? = nil, stepTimeout: GuardrailDuration? = nil
        ) {
            self.interval = interval
            self.listen = listen
            self.drift = drift
            self.adminToken = adminToken
            self.leaseDuration = leaseDuration
            self.stepTimeout = stepTimeout
        }

        /// The lease a leader holds between renewals: `leaseDuration`, or three intervals.
        public var effectiveLeaseDuration: GuardrailDuration {
            leaseDuration ?? GuardrailDuration(milliseconds: 3 * interval.milliseconds)
        }
    }

    public var name: String
    public var location: SourceLocation
    public var postgres: Postgres
    public var prometheus: Prometheus?
    public var alerts: Alerts?
    public var backups: Backups?
    public var controller: Controller?
    /// Caps on bakes and guardrail intervals, for environments where a rollout should run in seconds.
    public var rollouts: RolloutTiming
    /// The HMAC key saved plans are signed with and checked against (`plan.signingKey: ${VAR}`).
    public var planSigningKey: TemplatedString?
    public var alertmanager: Alertmanager? = nil
    /// Every mutating command and admin action must say why (`--reason`, or `reason` in the body).
    public var requireReason = false
    /// Plain webhooks that get one JSON document per event, for teams without Alertmanager.
    public var notifications: [Webhook] = []

    /// `notifications: [{url, events, secretHeader: {name, value}}]`.
    public struct Webhook: Sendable {
        public var url: TemplatedString
        /// Event names (`RolloutRolledBack`, `FlagKilled`, ...); empty for every event.
        public var events: [String]
        public var secretHeader: (name: String, value: TemplatedString)?
    }

    public static let kind = "Environment"
    static let specKeys = specShape.keys
}

extension Environment {
    static func decode(metadata: ObjectMetadata, spec: FieldReader, fileStem: String) -> Environment? {
        let reader = spec.reader
        if let problem = NameRules.dnsLabel(metadata.name) {
            reader.error("invalid Environment name \"\(metadata.name)\"", detail: problem, at: metadata.nameMark)
        } else if metadata.name != fileStem {
            reader.error(
                "Environment \"\(metadata.name)\" is in a file named \(fileStem)",
                detail:
                    "Each environment lives in environments/<name>.yaml, so `--env \(metadata.name)` finds it; rename the file or the environment.",
                at: metadata.nameMark)
        }

        func templated(_ fields: FieldReader, _ key: String, required: Bool = false) -> TemplatedString? {
            guard let node = required ? fields.required(key) : fields.node(key) else { return nil }
            guard let raw = reader.string(node, "\(fields.context).\(key)") else { return nil }
            let value = TemplatedString(raw: raw, location: reader.location(node.mark))
            if case .failure(let d) = value.pieces() { reader.diagnostics.append(d); return nil }
            return value
        }

        var postgres: Postgres?
        if let pg = spec.fields("postgres", allowed: postgresShape.keys, required: true) {
            let schema = pg.string("schema") ?? "guardrail"
            if pg.has("schema"), schema.isEmpty || schema.utf8.count > 63 {
                reader.error("invalid schema name \"\(schema)\"", detail: "Postgres identifiers have 1 to 63 bytes.", at: pg.node("schema")!.mark)
            }
            if let url = templated(pg, "url", required: true) {
                postgres = Postgres(
                    url: url, schema: schema, lockTimeout: pg.duration("lockTimeout") ?? .seconds(30),
                    statementTimeout: pg.duration("statementTimeout"))
            }
        }
        var prometheus: Prometheus?
        if let p = spec.fields("prometheus", allowed: prometheusShape.keys), let url = templated(p, "url", required: true) {
            prometheus = Prometheus(url: url)
        }
        var alerts: Alerts?
        if let a = spec.fields("alerts", allowed: alertsShape.keys),
            let target = a.oneOf("target", as: AlertTarget.self, required: true)
        {
            alerts = Alerts(
                target: target, rulesDirectory: templated(a, "rulesDir"), url: templated(a, "url"),
                tenant: templated(a, "tenant"), namespacePrefix: a.string("namespacePrefix"))
            if target == .prometheus, alerts?.rulesDirectory == nil, !a.has("rulesDir") {
                reader.error(
                    "alerts.rulesDir is required for the prometheus target",
                    detail: "Name the directory the Prometheus server loads rule files from.", at: a.mark)
            }
            if target == .mimir, !a.has("url") {
                reader.error(
                    "alerts.url is required for the mimir target", detail: "Give the ruler's base URL, such as http://mimir:8080.", at: a.mark)
            }
        }
        var backups: Backups?
        if let b = spec.fields("backups", allowed: backupsShape.keys) {
            let pgbackrest = b.fields("pgbackrest", allowed: pgbackrestShape.keys).flatMap { decodePgBackRest($0, templated: templated) }
            if let directory = templated(b, "directory", required: !b.has("pgbackrest")) {
                backups = Backups(directory: directory, pgbackrest: pgbackrest)
            } else if let pgbackrest, !b.has("directory") {
                backups = Backups(directory: nil, pgbackrest: pgbackrest)
            }
        }
        var controller: Controller?
        if let c = spec.fields("controller", allowed: controllerShape.keys) {
            var drift: [String: DriftMode] = [:]
            if let d = c.node("drift"), case .mapping(let m) = d {
                for entry in m.entries {
                    guard let kind = reader.string(entry.key, "a kind in controller.drift"),
                        let mode = reader.oneOf(entry.value, "controller.drift.\(kind)", as: DriftMode.self)
                    else { continue }
                    let known = ConfigurationLoader.addressPrefixes
                    guard known.contains(kind) else {
                        var detail = ""
                        if let s = Suggestion.closest(to: kind, among: known) { detail = "Did you mean \"\(s)\"? " }
                        reader.error(
                            "controller.drift names an unknown kind \"\(kind)\"",
                            detail: detail + "Drift modes are set per kind, by the first word of its addresses: \(known.joined(separator: ", ")).",
                            at: entry.key.mark)
                        continue
                    }
                    drift[kind] = mode
                }
            } else if let d = c.node("drift") {
                reader.error("controller.drift must be a mapping", detail: "Map each kind to enforce or warn, such as {tenant: enforce}.", at: d.mark)
            }
            let interval = c.duration("interval") ?? .seconds(30)
            let lease = c.duration("leaseDuration")
            // A lease shorter than an interval would expire between two renewals of a healthy leader.
            if let lease, lease <= interval, let node = c.node("leaseDuration") {
                reader.error(
                    "controller.leaseDuration (\(lease)) must be longer than controller.interval (\(interval))",
                    detail: "The leader renews its lease every interval; leave leaseDuration out for three intervals.", at: node.mark)
            }
            controller = Controller(
                interval: interval, listen: c.string("listen") ?? "127.0.0.1:8080",
                drift: drift, adminToken: templated(c, "adminToken"), leaseDuration: lease, stepTimeout: c.duration("stepTimeout"))
            for key in ["headerReadTimeout", "idleTimeout"] {
                guard let d = c.duration(key) else { continue }
                guard d >= .seconds(1) else {
                    reader.error("controller.\(key) is too short", detail: "Give a client at least 1s; found \(d).", at: c.node(key)!.mark)
                    continue
                }
                if key == "headerReadTimeout" { controller?.headerReadTimeout = d } else { controller?.idleTimeout = d }
            }
            if let n = c.int("maxConnections", range: 1...1_000_000) { controller?.maxConnections = n }
        }
        var rollouts = RolloutTiming()
        if let r = spec.fields("rollouts", allowed: rolloutsShape.keys) {
            rollouts = RolloutTiming(maxBake: r.duration("maxBake"), maxInterval: r.duration("maxInterval"))
        }
        var planSigningKey: TemplatedString?
        if let p = spec.fields("plan", allowed: planShape.keys), let key = templated(p, "signingKey", required: true) {
            // A key written into the file would be readable by everyone who can read the repository.
            if key.variableNames.isEmpty {
                reader.error(
                    "plan.signingKey must come from the process environment",
                    detail: "Write it as ${VAR} and set VAR in CI's secrets; a key committed to Git signs nothing.", at: p.node("signingKey")!.mark)
            } else {
                planSigningKey = key
            }
        }
        var alertmanager: Alertmanager?
        if let a = spec.fields("alertmanager", allowed: alertmanagerShape.keys), let url = templated(a, "url", required: true) {
            alertmanager = Alertmanager(url: url, configFile: templated(a, "configFile"))
        }
        guard let postgres else { return nil }
        var environment = Environment(
            name: metadata.name, location: metadata.location, postgres: postgres, prometheus: prometheus,
            alerts: alerts, backups: backups, controller: controller, rollouts: rollouts, planSigningKey: planSigningKey)
        environment.alertmanager = alertmanager
        environment.requireReason = spec.bool("requireReason") ?? false
        if let node = spec.node("notifications") {
            switch node {
            case .sequence(let sequence):
                for (i, item) in sequence.items.enumerated() {
                    guard let w = reader.fields(item, "notifications[\(i)]", allowed: webhookShape.keys),
                        let url = templated(w, "url", required: true)
                    else { continue }
                    var events: [String] = []
                    for (name, mark) in w.stringList("events") ?? [] {
                        if GuardrailEvent.Kind(rawValue: name) == nil {
                            let known = GuardrailEvent.Kind.allCases.map(\.rawValue)
                            reader.error(
                                "unknown event \"\(name)\" in notifications[\(i)].events",
                                detail: (Suggestion.closest(to: name, among: known).map { "Did you mean \"\($0)\"? " } ?? "")
                                    + "Events: \(known.joined(separator: ", ")).", at: mark)
                        } else {
                            events.append(name)
                        }
                    }
                    var header: (name: String, value: TemplatedString)?
                    if let h = w.fields("secretHeader", allowed: secretHeaderShape.keys), let name = h.string("name", required: true),
                        let value = templated(h, "value", required: true)
                    {
                        // A secret written into the file would be readable by everyone who can read the repository.
                        if value.variableNames.isEmpty {
                            reader.error(
                                "notifications[\(i)].secretHeader.value must come from the process environment",
                                detail: "Write it as ${VAR}; a secret committed to Git is not one.", at: h.node("value")!.mark)
                        } else {
                            header = (name, value)
                        }
                    }
                    environment.notifications.append(Webhook(url: url, events: events, secretHeader: header))
                }
            case .scalar(let s) where s.resolved == .null:
                break
            default:
                reader.error("notifications must be a list", detail: "Write each webhook as a `- url: ...` item.", at: node.mark)
            }
        }
        return environment
    }
}

extension Environment.PgBackRest {
    /// Option names that carry secrets: they may only come from the environment variables named by
    /// cipherPassEnv, s3KeyEnv and s3KeySecretEnv.
    public static func isSecretOption(_ name: String) -> Bool {
        let n = name.lowercased()
        return ["cipher-pass", "s3-key", "key-secret", "s3-token", "sftp-private-key", "passphrase", "password", "azure-key", "gcs-key"]
            .contains { n.contains($0) }
    }

    /// Options Guardrail sets itself per command; a second value under options: would be ambiguous.
    static let reservedOptions: Set<String> = [
        "stanza", "config", "config-include-path", "config-path", "type", "target", "target-action",
        "pg1-path", "repo1-type", "repo1-path", "repo1-cipher-type", "set", "delta", "force",
    ]
}

extension Environment {
    static func decodePgBackRest(_ p: FieldReader, templated: (FieldReader, String, Bool) -> TemplatedString?) -> PgBackRest? {
        let reader = p.reader
        var ok = true
        let stanza = p.string("stanza", required: true)
        if let s = stanza, let problem = BackupSchedule.stanzaProblem(s) {
            reader.error("invalid stanza \"\(s)\"", detail: problem, at: p.node("stanza")!.mark)
            ok = false
        }
        func variableName(_ key: String) -> String? {
            guard let node = p.node(key), let name = reader.string(node, "\(p.context).\(key)") else { return nil }
            // The name of a variable, not its value: a value written here would be committed to Git.
            let valid =
                !name.isEmpty && name.allSatisfy { $0 == "_" || $0.isASCII && ($0.isLetter || $0.isNumber) } && !(name.first?.isNumber ?? true)
            guard valid else {
                reader.error(
                    "\(p.context).\(key) must name an environment variable",
                    detail: "Write the variable's name, such as PGBACKREST_CIPHER_PASS; Guardrail reads the secret from it and never from this file.",
                    at: node.mark)
                ok = false
                return nil
            }
            return name
        }
        let cipherPassEnv = variableName("cipherPassEnv")
        let s3KeyEnv = variableName("s3KeyEnv")
        let s3KeySecretEnv = variableName("s3KeySecretEnv")
        var repo: PgBackRest.Repo?
        if let r = p.fields("repo", allowed: repoShape.keys) {
            let type = r.has("type") ? r.oneOf("type", as: PgBackRest.RepoType.self) : .posix
            let cipher = r.string("cipherType")
            if let c = cipher, c != "aes-256-cbc", c != "none" {
                reader.error(
                    "unknown repo.cipherType \"\(c)\"", detail: "pgBackRest encrypts with aes-256-cbc; write none for an unencrypted repository.",
                    at: r.node("cipherType")!.mark)
                ok = false
            }
            if cipher == "aes-256-cbc", cipherPassEnv == nil, !p.has("cipherPassEnv") {
                reader.error(
                    "an encrypted repository needs cipherPassEnv",
                    detail: "Name the environment variable that holds the passphrase, such as cipherPassEnv: PGBACKREST_CIPHER_PASS.", at: r.mark)
                ok = false
            }
            let uriStyle = r.string("uriStyle")
            if let u = uriStyle, u != "path", u != "host" {
                reader.error(
                    "repo.uriStyle must be path or host", detail: "pgBackRest addresses S3 buckets by host name (host) or in the path (path).",
                    at: r.node("uriStyle")!.mark)
                ok = false
            }
            if let type {
                repo = PgBackRest.Repo(
                    type: type, path: templated(r, "path", false), bucket: templated(r, "bucket", type == .s3),
                    endpoint: templated(r, "endpoint", type == .s3), region: templated(r, "region", type == .s3),
                    port: r.int("port", range: 1...65535), uriStyle: uriStyle, verifyTLS: r.bool("verifyTLS") ?? true,
                    cipherType: cipher == "none" ? nil : cipher)
                if type == .s3, (s3KeyEnv == nil || s3KeySecretEnv == nil), !p.has("s3KeyEnv") || !p.has("s3KeySecretEnv") {
                    reader.error(
                        "an s3 repository needs s3KeyEnv and s3KeySecretEnv",
                        detail:
                            "Name the environment variables that hold the access key and its secret, such as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.",
                        at: r.mark)
                    ok = false
                }
            } else {
                ok = false
            }
        }
        var options: [String: TemplatedString] = [:]
        if let node = p.node("options") {
            if case .mapping(let m) = node {
                for entry in m.entries {
                    guard let key = reader.string(entry.key, "a key of \(p.context).options") else { ok = false; continue }
                    if PgBackRest.isSecretOption(key) {
                        reader.error(
                            "\(p.context).options must not hold the secret option \"\(key)\"",
                            detail: "Secrets reach pgBackRest only through its environment variables: use cipherPassEnv, s3KeyEnv or s3KeySecretEnv.",
                            at: entry.key.mark)
                        ok = false
                        continue
                    }
                    if PgBackRest.reservedOptions.contains(key) {
                        reader.error(
                            "\(p.context).options cannot set \"\(key)\"",
                            detail: "Guardrail sets it from stanza, pgPath, repo and each command; set it there.", at: entry.key.mark)
                        ok = false
                        continue
                    }
                    guard key.allSatisfy({ $0 == "-" || $0.isASCII && ($0.isLowercase || $0.isNumber) }), !key.isEmpty else {
                        reader.error(
                            "invalid pgBackRest option name \"\(key)\"", detail: "Option names are lower-case words joined by '-', such as log-path.",
                            at: entry.key.mark)
                        ok = false
                        continue
                    }
                    guard let raw = reader.string(entry.value, "\(p.context).options.\(key)") else { ok = false; continue }
                    let value = TemplatedString(raw: raw, location: reader.location(entry.value.mark))
                    if case .failure(let d) = value.pieces() { reader.diagnostics.append(d); ok = false; continue }
                    options[key] = value
                }
            } else {
                reader.error(
                    "\(p.context).options must be a mapping",
                    detail: "Map pgBackRest option names to values, such as {log-path: /var/log/pgbackrest}.",
                    at: node.mark)
                ok = false
            }
        }
        if repo == nil, !p.has("configFile"), !p.has("repo") {
            reader.error(
                "backups.pgbackrest needs repo or configFile",
                detail: "Describe the repository (repo: {type: posix, path: /var/lib/pgbackrest}) or name a pgbackrest.conf that does.", at: p.mark)
            ok = false
        }
        let osUser = p.string("osUser")
        guard ok, let stanza else { return nil }
        return PgBackRest(
            stanza: stanza, configFile: templated(p, "configFile", false), pgPath: templated(p, "pgPath", false), repo: repo,
            cipherPassEnv: cipherPassEnv, s3KeyEnv: s3KeyEnv, s3KeySecretEnv: s3KeySecretEnv, osUser: osUser, options: options,
            location: reader.location(p.mark))
    }
}
