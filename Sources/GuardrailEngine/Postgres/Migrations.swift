import GuardrailCore
import Logging
import PostgresNIO

/// Guardrail's own schema, created and upgraded by numbered migrations.
///
/// Migrations run inside the apply's transaction (Postgres DDL is transactional), so a failed first
/// apply leaves no half-made schema. Each migration is recorded in `schema_migrations`; re-running
/// is a no-op.
public enum Migrations {
    public struct Migration: Sendable {
        public var version: Int
        public var name: String
        public var statements: @Sendable (SQLIdentifier) -> [String]
    }

    public static let all: [Migration] = [
        Migration(version: 1, name: "tenants and audit log") { s in
            [
                """
                CREATE TABLE \(s.qualifying("tenants")) (
                    name text PRIMARY KEY,
                    id uuid NOT NULL UNIQUE,
                    display_name text NOT NULL,
                    status text NOT NULL CHECK (status IN ('active', 'suspended', 'offboarding')),
                    labels jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                """
                CREATE TABLE \(s.qualifying("audit_log")) (
                    plan_id uuid PRIMARY KEY,
                    environment text NOT NULL,
                    git_commit text,
                    os_user text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                    added integer NOT NULL,
                    changed integer NOT NULL,
                    destroyed integer NOT NULL,
                    changes jsonb NOT NULL
                )
                """,
                "CREATE INDEX ON \(s.qualifying("audit_log")) (applied_at DESC)",
            ]
        },
        Migration(version: 2, name: "backup schedules, runs and drills") { s in
            [
                """
                CREATE TABLE \(s.qualifying("backup_schedules")) (
                    name text PRIMARY KEY,
                    spec jsonb NOT NULL CHECK (jsonb_typeof(spec) = 'object'),
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                // scheduled_for is the cron time a run was due at (NULL for `backup run`); the unique index
                // is what lets two ticks race for a due backup and only one of them win.
                """
                CREATE TABLE \(s.qualifying("backup_runs")) (
                    id bigserial PRIMARY KEY,
                    schedule text NOT NULL,
                    scheduled_for timestamptz,
                    status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'pruned')),
                    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                    finished_at timestamptz,
                    size_bytes bigint,
                    sha256 text,
                    file text,
                    error text,
                    pruned_at timestamptz
                )
                """,
                "CREATE UNIQUE INDEX ON \(s.qualifying("backup_runs")) (schedule, scheduled_for)",
                "CREATE INDEX ON \(s.qualifying("backup_runs")) (schedule, status, finished_at DESC)",
                """
                CREATE TABLE \(s.qualifying("backup_drills")) (
                    id bigserial PRIMARY KEY,
                    schedule text NOT NULL,
                    scheduled_for timestamptz,
                    backup_run_id bigint REFERENCES \(s.qualifying("backup_runs")) (id) ON DELETE SET NULL,
                    status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
                    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                    finished_at timestamptz,
                    checks jsonb NOT NULL DEFAULT '[]',
                    error text
                )
                """,
                "CREATE UNIQUE INDEX ON \(s.qualifying("backup_drills")) (schedule, scheduled_for)",
            ]
        },
        // The tables and roles whose row-level security and grants Guardrail has changed, so that
        // deleting a manifest plans their release while objects it never touched stay out of plans.
        Migration(version: 3, name: "managed catalog objects") { s in
            [
                """
                CREATE TABLE \(s.qualifying("managed_catalog_objects")) (
                    kind text NOT NULL CHECK (kind IN ('RowLevelSecurity', 'RoleGrants')),
                    schema_name text NOT NULL DEFAULT '',
                    name text NOT NULL,
                    created_by_guardrail boolean NOT NULL DEFAULT false,
                    since timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (kind, schema_name, name)
                )
                """
            ]
        },
        // json keeps the text as written: large applies record their changes without building jsonb.
        Migration(version: 4, name: "audit changes as json") { s in
            [
                "ALTER TABLE \(s.qualifying("audit_log")) ALTER COLUMN changes TYPE json USING changes::json"
            ]
        },
        Migration(version: 5, name: "feature flags, guardrails, cohort ledger and rollouts", statements: FlagSchema.statements),
        // One row per environment: the controller leader's epoch, raised on every takeover and
        // checked by every write a leader makes, so a deposed leader cannot write.
        Migration(version: 6, name: "controller leader epoch") { s in
            [
                """
                CREATE TABLE \(s.qualifying("controller_leader")) (
                    environment text PRIMARY KEY,
                    epoch bigint NOT NULL,
                    holder text NOT NULL,
                    acquired_at timestamptz NOT NULL DEFAULT clock_timestamp()
                )
                """
            ]
        },
        Migration(version: 7, name: "notify flag changes", statements: FlagSnapshotStore.statements),
        // lz4 compresses a large apply's audit record in a third of pglz's time. A server built
        // without lz4 keeps pglz.
        Migration(version: 8, name: "lz4 for audit changes") { s in
            [
                """
                DO $migration$ BEGIN
                    ALTER TABLE \(s.qualifying("audit_log")) ALTER COLUMN changes SET COMPRESSION lz4;
                EXCEPTION WHEN feature_not_supported THEN NULL;
                END $migration$
                """
            ]
        },
        // The leader's lease: renewed every interval; a standby that finds it older than the
        // lease duration takes over even while the stalled leader's connections stay open.
        Migration(version: 9, name: "controller leader lease") { s in
            [
                "ALTER TABLE \(s.qualifying("controller_leader")) ADD COLUMN renewed_at timestamptz NOT NULL DEFAULT clock_timestamp()"
            ]
        },
        // What was last applied to each catalog object, so the controller restores hand-made drift
        // to the reviewed configuration and leaves new configuration to a human.
        Migration(version: 10, name: "applied configuration") { s in
            [
                """
                CREATE TABLE \(s.qualifying("applied_configuration")) (
                    address text PRIMARY KEY,
                    kind text NOT NULL,
                    fingerprint text NOT NULL,
                    plan_id text NOT NULL,
                    applied_by text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
                )
                """
            ]
        },
        AlertRoutingStore.migration,
        // pgBackRest runs are recorded by the repository's label and the WAL they need; drills by the
        // point in time they restored and the recovery time they measured.
        Migration(version: 12, name: "pgbackrest runs and drills") { s in
            [
                """
                ALTER TABLE \(s.qualifying("backup_runs"))
                    ADD COLUMN label text, ADD COLUMN backup_type text, ADD COLUMN wal_start text, ADD COLUMN wal_stop text
                """,
                "ALTER TABLE \(s.qualifying("backup_drills")) ADD COLUMN rto_seconds double precision, ADD COLUMN target text",
            ]
        },
        // Why a person did it: `--reason` on applies and on flag and rollout commands.
        Migration(version: 13, name: "reasons") { s in
            [
                "ALTER TABLE \(s.qualifying("audit_log")) ADD COLUMN reason text",
                "ALTER TABLE \(s.qualifying("rollout_events")) ADD COLUMN reason text",
            ]
        },
        // Kinds added as plug-ins bring their own tables (`LiveKind.migrations`), recorded by kind and step.
        Migration(version: 14, name: "kind migrations") { s in
            [
                """
                CREATE TABLE \(s.qualifying("kind_migrations")) (
                    kind text NOT NULL,
                    step integer NOT NULL,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (kind, step)
                )
                """
            ]
        },
        Migration(version: 15, name: "audit plans compressed", statements: compressedAuditStatements),
    ]

    /// The first version whose audit rows keep the plan gzip-compressed with a small summary (`AuditLog`).
    public static let compressedAuditSinceVersion = 15

    /// An apply's plan document is kept gzip-compressed in `audit_plans`, in parts of at most
    /// `AuditLog.planPartBytes` (stored as is: gzip does not compress again), and its `audit_log` row
    /// has a summary for listing; `changes` is no longer written. Rows from before get their summary
    /// from their `changes`, so `history` never expands a change list.
    @Sendable static func compressedAuditStatements(_ s: SQLIdentifier) -> [String] {
        let audit = s.qualifying("audit_log"), plans = s.qualifying("audit_plans"), limit = AuditLog.listedObjectsLimit
        return [
            """
            ALTER TABLE \(audit) ALTER COLUMN changes DROP NOT NULL,
                ADD COLUMN summary jsonb, ADD COLUMN first_object text, ADD COLUMN objects text[], ADD COLUMN objects_complete boolean
            """,
            """
            CREATE TABLE \(plans) (
                plan_id uuid NOT NULL REFERENCES \(audit) (plan_id) ON DELETE CASCADE,
                part integer NOT NULL,
                gzip bytea NOT NULL,
                PRIMARY KEY (plan_id, part)
            )
            """,
            "ALTER TABLE \(plans) ALTER COLUMN gzip SET STORAGE EXTERNAL",
            """
            UPDATE \(audit) a SET
                first_object = a.changes -> 0 ->> 'address',
                objects_complete = json_array_length(a.changes) <= \(limit),
                objects = CASE WHEN json_array_length(a.changes) <= \(limit)
                               THEN ARRAY(SELECT c ->> 'address' FROM json_array_elements(a.changes) c)
                               ELSE ARRAY(SELECT DISTINCT split_part(c ->> 'address', '.', 1) FROM json_array_elements(a.changes) c) END,
                summary = jsonb_build_object('listed', CASE WHEN json_array_length(a.changes) BETWEEN 1 AND 3
                    THEN (SELECT string_agg((c ->> 'action') || ' ' || (c ->> 'address'), ', ') FROM json_array_elements(a.changes) c) END)
            WHERE a.changes IS NOT NULL
            """,
        ]
    }

    /// The first version whose audit log and rollout events record a reason.
    public static let reasonsSinceVersion = 13

    public static var latestVersion: Int { all.last!.version }

    /// The schema's version, or nil when Guardrail has never run against this database. Read-only.
    public static func currentVersion(_ connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws -> Int? {
        let rows = try await connection.query(
            "SELECT to_regclass(quote_ident(\(schema.name)) || '.schema_migrations') IS NOT NULL", logger: logger)
        var exists = false
        for (flag) in try rows.decode(Bool.self) { exists = flag }
        guard exists else { return nil }
        let versions = try await connection.query(
            "SELECT coalesce(max(version), 0) FROM \(schema.qualifying("schema_migrations"))", logger: logger)
        for (version) in try versions.decode(Int.self) { return version }
        return 0
    }

    /// Brings the schema to the latest version. Call inside the apply transaction, under the apply lock.
    @discardableResult
    /// `upTo` stops at that version: tests use it to build a database as an older Guardrail left it.
    /// Then runs each registered kind's own migrations that have not run (not with `upTo`).
    public static func migrate(
        _ connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger, upTo: Int? = nil,
        registry: KindRegistry = .builtIn
    ) async throws -> [Migration] {
        let current = try await currentVersion(connection, schema: schema, logger: logger)
        if current == nil {
            try await connection.query("CREATE SCHEMA IF NOT EXISTS \(schema)", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS \(schema.qualifying("schema_migrations")) (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
        }
        let pending = all.filter { $0.version > (current ?? 0) && $0.version <= (upTo ?? Int.max) }
        for migration in pending {
            for statement in migration.statements(schema) {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            try await connection.query(
                "INSERT INTO \(schema.qualifying("schema_migrations")) (version, name) VALUES (\(migration.version), \(migration.name))",
                logger: logger)
        }
        guard upTo == nil else { return pending }
        let kinds = registry.liveKinds.filter { !$0.migrations.isEmpty }
        guard !kinds.isEmpty else { return pending }
        let done = try await kindSteps(connection, schema: schema, logger: logger)
        for kind in kinds {
            for migration in kind.migrations.sorted(by: { $0.step < $1.step }) where migration.step > done[kind.kind] ?? 0 {
                for statement in migration.statements(schema) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    """
                    INSERT INTO \(schema.qualifying("kind_migrations")) (kind, step, name)
                    VALUES (\(kind.kind), \(migration.step), \(migration.name))
                    """, logger: logger)
            }
        }
        return pending
    }

    /// The last step of each kind's own migrations that has run. Needs version 14.
    static func kindSteps(_ connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws -> [String: Int] {
        let rows = try await connection.query(
            "SELECT kind, max(step) FROM \(schema.qualifying("kind_migrations")) GROUP BY kind", logger: logger)
        var steps: [String: Int] = [:]
        for (kind, step) in try rows.decode((String, Int).self) { steps[kind] = step }
        return steps
    }
}
