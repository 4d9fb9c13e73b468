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
        public var directory: TemplatedString
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

        public init(interval: GuardrailDuration = .seconds(30), listen: String = "127.0.0.1:8080", drift: [String: DriftMode] = [:],
                    adminToken: TemplatedString? = nil, leaseDuration: GuardrailDuration? = nil, stepTimeout: GuardrailDuration? = nil) {
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

    static let kind = "Environment"
    static let specKeys = ["postgres", "prometheus", "alerts", "alertmanager", "backups", "controller", "rollouts", "plan", "requireReason", "notifications"]
}

extension Environment {
    static func decode(metadata: ObjectMetadata, spec: FieldReader, fileStem: String) -> Environment? {
        let reader = spec.reader
        if let problem = NameRules.dnsLabel(metadata.name) {
            reader.error("invalid Environment name \"\(metadata.name)\"", detail: problem, at: metadata.nameMark)
        } else if metadata.name != fileStem {
            reader.error("Environment \"\(metadata.name)\" is in a file named \(fileStem)",
                         detail: "Each environment lives in environments/<name>.yaml, so `--env \(metadata.name)` finds it; rename the file or the environment.",
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
        if let pg = spec.fields("postgres", allowed: ["url", "schema", "lockTimeout", "statementTimeout"], required: true) {
            let schema = pg.string("schema") ?? "guardrail"
            if pg.has("schema"), schema.isEmpty || schema.utf8.count > 63 {
                reader.error("invalid schema name \"\(schema)\"", detail: "Postgres identifiers have 1 to 63 bytes.", at: pg.node("schema")!.mark)
            }
            if let url = templated(pg, "url", required: true) {
                postgres = Postgres(url: url, schema: schema, lockTimeout: pg.duration("lockTimeout") ?? .seconds(30),
                                    statementTimeout: pg.duration("statementTimeout"))
            }
        }
        var prometheus: Prometheus?
        if let p = spec.fields("prometheus", allowed: ["url"]), let url = templated(p, "url", required: true) {
            prometheus = Prometheus(url: url)
        }
        var alerts: Alerts?
        if let a = spec.fields("alerts", allowed: ["target", "rulesDir", "url", "tenant", "namespacePrefix"]),
           let target = a.oneOf("target", as: AlertTarget.self, required: true) {
            alerts = Alerts(target: target, rulesDirectory: templated(a, "rulesDir"), url: templated(a, "url"),
                            tenant: templated(a, "tenant"), namespacePrefix: a.string("namespacePrefix"))
            if target == .prometheus, alerts?.rulesDirectory == nil, !a.has("rulesDir") {
                reader.error("alerts.rulesDir is required for the prometheus target", detail: "Name the directory the Prometheus server loads rule files from.", at: a.mark)
            }
            if target == .mimir, !a.has("url") {
                reader.error("alerts.url is required for the mimir target", detail: "Give the ruler's base URL, such as http://mimir:8080.", at: a.mark)
            }
        }
        var backups: Backups?
        if let b = spec.fields("backups", allowed: ["directory"]), let directory = templated(b, "directory", required: true) {
            backups = Backups(directory: directory)
        }
        var controller: Controller?
        if let c = spec.fields("controller", allowed: ["interval", "listen", "drift", "adminToken", "headerReadTimeout", "idleTimeout", "maxConnections",
                                                       "leaseDuration", "stepTimeout"]) {
            var drift: [String: DriftMode] = [:]
            if let d = c.node("drift"), case .mapping(let m) = d {
                for entry in m.entries {
                    guard let kind = reader.string(entry.key, "a kind in controller.drift"),
                          let mode = reader.oneOf(entry.value, "controller.drift.\(kind)", as: DriftMode.self) else { continue }
                    let known = ConfigurationLoader.addressPrefixes
                    guard known.contains(kind) else {
                        var detail = ""
                        if let s = Suggestion.closest(to: kind, among: known) { detail = "Did you mean \"\(s)\"? " }
                        reader.error("controller.drift names an unknown kind \"\(kind)\"",
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
                reader.error("controller.leaseDuration (\(lease)) must be longer than controller.interval (\(interval))",
                             detail: "The leader renews its lease every interval; leave leaseDuration out for three intervals.", at: node.mark)
            }
            controller = Controller(interval: interval, listen: c.string("listen") ?? "127.0.0.1:8080",
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
        if let r = spec.fields("rollouts", allowed: ["maxBake", "maxInterval"]) {
            rollouts = RolloutTiming(maxBake: r.duration("maxBake"), maxInterval: r.duration("maxInterval"))
        }
        var planSigningKey: TemplatedString?
        if let p = spec.fields("plan", allowed: ["signingKey"]), let key = templated(p, "signingKey", required: true) {
            // A key written into the file would be readable by everyone who can read the repository.
            if key.variableNames.isEmpty {
                reader.error("plan.signingKey must come from the process environment",
                             detail: "Write it as ${VAR} and set VAR in CI's secrets; a key committed to Git signs nothing.", at: p.node("signingKey")!.mark)
            } else {
                planSigningKey = key
            }
        }
        var alertmanager: Alertmanager?
        if let a = spec.fields("alertmanager", allowed: ["url", "configFile"]), let url = templated(a, "url", required: true) {
            alertmanager = Alertmanager(url: url, configFile: templated(a, "configFile"))
        }
        guard let postgres else { return nil }
        var environment = Environment(name: metadata.name, location: metadata.location, postgres: postgres, prometheus: prometheus,
                                      alerts: alerts, backups: backups, controller: controller, rollouts: rollouts, planSigningKey: planSigningKey)
        environment.alertmanager = alertmanager
        environment.requireReason = spec.bool("requireReason") ?? false
        if let node = spec.node("notifications") {
            switch node {
            case .sequence(let sequence):
                for (i, item) in sequence.items.enumerated() {
                    guard let w = reader.fields(item, "notifications[\(i)]", allowed: ["url", "events", "secretHeader"]),
                          let url = templated(w, "url", required: true) else { continue }
                    var events: [String] = []
                    for (name, mark) in w.stringList("events") ?? [] {
                        if GuardrailEvent.Kind(rawValue: name) == nil {
                            let known = GuardrailEvent.Kind.allCases.map(\.rawValue)
                            reader.error("unknown event \"\(name)\" in notifications[\(i)].events",
                                         detail: (Suggestion.closest(to: name, among: known).map { "Did you mean \"\($0)\"? " } ?? "")
                                            + "Events: \(known.joined(separator: ", ")).", at: mark)
                        } else {
                            events.append(name)
                        }
                    }
                    var header: (name: String, value: TemplatedString)?
                    if let h = w.fields("secretHeader", allowed: ["name", "value"]), let name = h.string("name", required: true),
                       let value = templated(h, "value", required: true) {
                        // A secret written into the file would be readable by everyone who can read the repository.
                        if value.variableNames.isEmpty {
                            reader.error("notifications[\(i)].secretHeader.value must come from the process environment",
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
