extension Environment {
    static let postgresShape = MappingShape(
        "The database Guardrail reconciles.",
        [
            FieldShape("url", .templated, required: true, "The connection URL, usually ${DATABASE_URL}; its password prints as ***."),
            FieldShape(
                "schema", .string(StringFormat(minLength: 1, maxLength: 63)),
                "The schema Guardrail keeps its own state in (guardrail when left out)."),
            FieldShape("lockTimeout", .duration, "How long an apply waits for a table lock (30s when left out)."),
            FieldShape("statementTimeout", .duration, "The server-side limit on each statement; queries also get a client-side deadline from it."),
        ])

    static let prometheusShape = MappingShape(
        "The Prometheus guardrail queries and alert rules are checked against.",
        [
            FieldShape("url", .templated, required: true, "Prometheus's base URL.")
        ])

    static let alertsShape = MappingShape(
        "Where alert rules from alerts/ are applied.",
        [
            FieldShape("target", .word(AlertTarget.self), required: true, "prometheus (a rules directory) or mimir (a ruler's API)."),
            FieldShape("rulesDir", .templated, "prometheus: the directory its rule_files include; left empty, rules are not managed."),
            FieldShape("url", .templated, "mimir: the ruler's base URL."),
            FieldShape("tenant", .templated, "mimir: the X-Scope-OrgID tenant."),
            FieldShape("namespacePrefix", .text, "mimir: the prefix of the ruler namespaces Guardrail owns."),
        ],
        rules: [
            "allOf": .array([
                .object([
                    "if": .object(["properties": .object(["target": .object(["const": .string(AlertTarget.prometheus.rawValue)])])]),
                    "then": .object(["required": .array([.string("rulesDir")])]),
                ]),
                .object([
                    "if": .object(["properties": .object(["target": .object(["const": .string(AlertTarget.mimir.rawValue)])])]),
                    "then": .object(["required": .array([.string("url")])]),
                ]),
            ])
        ])

    static let alertmanagerShape = MappingShape(
        "The Alertmanager alerts/routing.yaml is applied to, and Guardrail's own events go to.",
        [
            FieldShape("url", .templated, required: true, "Alertmanager's base URL; left empty, the routing is not managed."),
            FieldShape("configFile", .templated, "The configuration file Alertmanager loads, which apply writes."),
        ])

    static let repoShape = MappingShape(
        "The pgBackRest repository.",
        [
            FieldShape("type", .word(PgBackRest.RepoType.self), "posix (the default) or s3."),
            FieldShape("path", .templated, "The repository's path (in the bucket, for s3)."),
            FieldShape("bucket", .templated, "s3: the bucket."),
            FieldShape("endpoint", .templated, "s3: the endpoint host."),
            FieldShape("region", .templated, "s3: the region."),
            FieldShape("port", .integer(1...65535), "s3: the endpoint's port."),
            FieldShape("uriStyle", .word(["path", "host"]), "s3: address buckets by host name (host) or in the path (path)."),
            FieldShape("verifyTLS", .boolean, "s3: verify the endpoint's certificate (true when left out)."),
            FieldShape(
                "cipherType", .word(["aes-256-cbc", "none"]), "aes-256-cbc to encrypt the repository (then cipherPassEnv is needed), or none."),
        ], allowsNull: true,
        rules: [
            "if": .object([
                "properties": .object(["type": .object(["const": .string(PgBackRest.RepoType.s3.rawValue)])]),
                "required": .array([.string("type")]),
            ]),
            "then": .object(["required": .array(["bucket", "endpoint", "region"].map(JSONValue.string))]),
        ])

    static let pgbackrestShape = MappingShape(
        "The pgBackRest repository and database host that method: pgbackrest schedules use.",
        [
            FieldShape("stanza", .string(StringFormat(pattern: "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")), required: true, "The stanza."),
            FieldShape("configFile", .templated, "A pgbackrest.conf to read besides what Guardrail sets."),
            FieldShape("pgPath", .templated, "The primary's data directory (pg1-path); a restore never writes there."),
            FieldShape("repo", .mapping(repoShape), "The repository (or describe it in configFile)."),
            FieldShape(
                "cipherPassEnv", .string(.variableName), "The name of the variable holding the repository's passphrase, never the passphrase."),
            FieldShape("s3KeyEnv", .string(.variableName), "The name of the variable holding the S3 access key."),
            FieldShape("s3KeySecretEnv", .string(.variableName), "The name of the variable holding the S3 secret key."),
            FieldShape("osUser", .text, "When Guardrail runs as root: the user pgBackRest and restored clusters run as."),
            FieldShape(
                "options", .map(keys: StringFormat(pattern: "^[a-z0-9-]+$"), values: .templated, allowsNull: false),
                "Further non-secret pgBackRest options, such as {log-path: /var/log/pgbackrest}."),
        ], rules: MappingShape.atLeastOne(of: ["repo", "configFile"]))

    static let backupsShape = MappingShape(
        "Where backups go.",
        [
            FieldShape("directory", .templated, "Where pg_dump schedules write their archives."),
            FieldShape("pgbackrest", .mapping(pgbackrestShape), "The pgBackRest repository for method: pgbackrest schedules."),
        ], rules: MappingShape.atLeastOne(of: ["directory", "pgbackrest"]))

    static let controllerShape = MappingShape(
        "The long-running controller: its tick, HTTP port, drift policy and limits.",
        [
            FieldShape("interval", .duration, "Time between reconcile ticks (30s when left out)."),
            FieldShape("listen", .text, "host:port of the HTTP server (127.0.0.1:8080 when left out)."),
            FieldShape(
                "drift",
                .map(
                    keys: StringFormat(pattern: "^(\(ConfigurationLoader.addressPrefixes.joined(separator: "|")))$"),
                    values: .word(DriftMode.self), allowsNull: false),
                "Per kind, by the first word of its addresses: enforce (correct drift) or warn. Unlisted kinds warn."),
            FieldShape("adminToken", .templated, "The bearer token of the admin API; without one the admin actions are disabled."),
            FieldShape("headerReadTimeout", .duration, "How long a client may take to send a request's head (10s when left out, at least 1s)."),
            FieldShape("idleTimeout", .duration, "How long an idle connection is kept (60s when left out, at least 1s)."),
            FieldShape("maxConnections", .integer(1...1_000_000), "The most HTTP connections served at once (512 when left out)."),
            FieldShape("leaseDuration", .duration, "How long a leader's lease lasts without renewal (three intervals when left out)."),
            FieldShape("stepTimeout", .duration, "The longest one step of a tick may take, such as a backup."),
        ])

    static let rolloutsShape = MappingShape(
        "Caps on bakes and guardrail intervals, for environments where a rollout should run in seconds.",
        [
            FieldShape("maxBake", .duration, "The longest bake any phase gets here."),
            FieldShape("maxInterval", .duration, "The longest interval between guardrail evaluations here."),
        ])

    static let planShape = MappingShape(
        "Saved plans.",
        [
            FieldShape(
                "signingKey", .string(.withVariable), required: true, "The HMAC key saved plans are signed with: a ${VAR}, never the key itself.")
        ])

    static let secretHeaderShape = MappingShape(
        "A header carrying the webhook's secret.",
        [
            FieldShape("name", .text, required: true, "The header's name, such as X-Guardrail-Token."),
            FieldShape("value", .string(.withVariable), required: true, "The header's value: a ${VAR}, never the secret itself."),
        ])

    static let webhookShape = MappingShape(
        "A plain webhook that gets one JSON document per event.",
        [
            FieldShape("url", .templated, required: true, "Where events are posted."),
            FieldShape(
                "events", .list(.word(GuardrailEvent.Kind.self), ListRules(allowsNull: true)), "The events it gets; every event when left out."),
            FieldShape("secretHeader", .mapping(secretHeaderShape), "A header carrying its secret."),
        ])

    /// An Environment's keys: the decoder's `allowed:` and `guardrail schema`'s properties.
    static let specShape = MappingShape(
        "Where one environment's live state is.",
        [
            FieldShape("postgres", .mapping(postgresShape), required: true, "The database."),
            FieldShape("prometheus", .mapping(prometheusShape), "The Prometheus guardrails query."),
            FieldShape("alerts", .mapping(alertsShape), "Where alert rules are applied."),
            FieldShape("alertmanager", .mapping(alertmanagerShape), "The Alertmanager the routing is applied to."),
            FieldShape("backups", .mapping(backupsShape), "Where backups go."),
            FieldShape("controller", .mapping(controllerShape), "The controller's settings."),
            FieldShape("rollouts", .mapping(rolloutsShape), "Caps on bakes and intervals."),
            FieldShape("plan", .mapping(planShape), "Saved plans' signing key."),
            FieldShape("requireReason", .boolean, "Whether every mutating command and admin action must say why (--reason)."),
            FieldShape("notifications", .list(.mapping(webhookShape), ListRules(allowsNull: true)), "Plain webhooks for Guardrail's events."),
        ])

    public static let shape = KindShape(
        kind: kind, fileName: "environment", title: "Guardrail Environment",
        description: "Where one environment's live state is (environments/<name>.yaml): Postgres, Prometheus, alert targets, backups, controller.",
        root: .document(
            name: .dnsLabel, nameDescription: "The environment's name, the same as its file's: environments/<name>.yaml.",
            spec: specShape))
}
