extension BackupSchedule {
    static let retentionShape = MappingShape(
        """
        How long backups are kept. pg_dump: keep and/or maxAge (the newest good backup is never deleted). \
        pgbackrest: full (required) and diff, as pgBackRest counts them.
        """,
        [
            FieldShape("keep", .integer(1...100_000), "pg_dump: keep at most this many successful backups."),
            FieldShape("maxAge", .duration, "pg_dump: delete backups older than this."),
            FieldShape("full", .integer(1...9_999_999), "pgbackrest: full backups to keep; WAL older than the oldest expires with it."),
            FieldShape("diff", .integer(1...9_999_999), "pgbackrest: differential backups to keep."),
        ], allowsNull: false)

    static let rowCountShape = MappingShape(
        "A table that must hold at least min rows after the restore.",
        [
            FieldShape("table", .nonEmptyText, required: true, "A qualified table name, such as public.properties."),
            FieldShape("min", .integer(0...Int.max), "The fewest rows (1 when left out)."),
        ])

    static let sqlCheckShape = MappingShape(
        "A query that must return true on the restored database.",
        [
            FieldShape("name", .text, required: true, "What the check proves, as reports name it."),
            FieldShape("query", .text, required: true, "SQL returning one boolean."),
        ])

    static let checksShape = MappingShape(
        "What a drill checks on the restored database.",
        [
            FieldShape("rowCounts", .list(.mapping(rowCountShape), ListRules()), "Tables with their fewest rows."),
            FieldShape("rlsPolicies", .boolean, "Whether the source's row-level security policies must be present (true when left out)."),
            FieldShape("sql", .list(.mapping(sqlCheckShape), ListRules()), "SQL assertions."),
        ])

    static let restoreDrillShape = MappingShape(
        "A scheduled restore into a scratch database that proves the backups restore.",
        [
            FieldShape("schedule", .cron, required: true, "When the drill runs: a five-field cron in the schedule's time zone."),
            FieldShape("checks", .mapping(checksShape), "What the drill checks."),
            FieldShape("target", .word(DrillTarget.self), "pgbackrest: the point in time restored to, newest (the default) or random-in-window."),
        ])

    /// Keys that only one method takes, as the decoder enforces them.
    static let methodRules: [String: JSONValue] = [
        "if": .object([
            "properties": .object(["method": .object(["const": .string(Method.pgbackrest.rawValue)])]),
            "required": .array([.string("method")]),
        ]),
        "then": .object([
            "required": .array([.string("type")]),
            "properties": .object([
                "database": .bool(false),
                "retention": .object(["required": .array([.string("full")]), "properties": .object(["keep": .bool(false), "maxAge": .bool(false)])]),
            ]),
        ]),
        "else": .object([
            "properties": .object([
                "type": .bool(false), "stanza": .bool(false), "rto": .bool(false),
                "retention": .object([
                    "anyOf": .array([.object(["required": .array([.string("keep")])]), .object(["required": .array([.string("maxAge")])])]),
                    "properties": .object(["full": .bool(false), "diff": .bool(false)]),
                ]),
                "restoreDrill": .object(["properties": .object(["target": .bool(false)])]),
            ])
        ]),
    ]

    /// A BackupSchedule's keys: the decoder's `allowed:` and `guardrail schema`'s properties.
    static let specShape = MappingShape(
        "A scheduled backup: when it runs, retention, the recovery point it promises, and a restore drill.",
        [
            FieldShape("database", .text, "pg_dump: the database to back up (the environment's when left out)."),
            FieldShape("schedule", .cron, required: true, "When backups run: a five-field cron (minute hour day-of-month month day-of-week)."),
            FieldShape("timezone", .nonEmptyText, required: true, "The IANA time zone the schedule is read in, such as UTC or Europe/Berlin."),
            FieldShape("method", .word(Method.self), "pg_dump (the default): one archive per run; pgbackrest: physical backups and WAL archiving."),
            FieldShape("type", .word(BackupType.self), "pgbackrest (required there): full, diff or incr."),
            FieldShape(
                "stanza", .string(StringFormat(pattern: "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")),
                "pgbackrest: the stanza, when not the environment's."),
            FieldShape("retention", .mapping(retentionShape), required: true, "How long backups are kept."),
            FieldShape("rpo", .duration, required: true, "The recovery point objective: how old the newest good backup may be, such as 26h."),
            FieldShape("rto", .duration, "pgbackrest: the recovery time objective each drill's measured restore is held to."),
            FieldShape("allowFrequent", .boolean, "Allow a schedule that fires more than once an hour."),
            FieldShape("restoreDrill", .mapping(restoreDrillShape), "A scheduled restore that proves the backups restore."),
        ], rules: methodRules)

    public static let shape = KindShape(
        kind: kind, fileName: "backup-schedule", title: "Guardrail BackupSchedule",
        description: "A scheduled backup (manifests/): pg_dump or pgBackRest, its retention, RPO and an optional restore drill.",
        root: .document(name: .dnsLabel, nameDescription: "The schedule's name: lowercase letters, digits and '-'.", spec: specShape))
}
