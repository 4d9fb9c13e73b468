import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// Reads the flag snapshot in one consistent read (three queries, whatever the number of flags), and
/// names the channel Postgres notifies when flags, the ledger or tenants change (schema version 7).
public enum FlagSnapshotStore {
    public static func channel(_ schema: SQLIdentifier) -> String { "\(schema.name)_flags_changed" }

    public static func load(_ connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger, now: Date = Date()) async throws -> FlagSnapshot
    {
        try await connection.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger, context: "reading the flag snapshot") {
            c in
            guard let version = try await Migrations.currentVersion(c, schema: schema, logger: logger), version >= FlagStore.sinceSchemaVersion else {
                return FlagSnapshot(loadedAt: now)
            }
            var flags: [String: FlagSnapshot.Flag] = [:]
            let flagRows = try await c.query(
                """
                SELECT f.name, f.killed, f.enabled, r.status || ' at phase ' || (r.phase + 1)
                FROM \(schema.qualifying("flags")) f LEFT JOIN \(schema.qualifying("rollouts")) r ON r.flag = f.name
                """, logger: logger)
            for (name, killed, enabled, rollout) in try flagRows.decode((String, Bool, Bool, String?).self) {
                flags[name] = FlagSnapshot.Flag(killed: killed, enabled: enabled, rollout: rollout, cohort: [])
            }
            // One row per flag, its cohort packed as 16-byte ids in uuid order (the byte order
            // TenantIDSet keeps): half a million ledger rows arrive as a hundred values, so the read
            // holds a few megabytes instead of a row object per id.
            let cohortRows = try await c.query(
                """
                SELECT flag, string_agg(uuid_send(tenant_id), ''::bytea ORDER BY tenant_id)
                FROM \(schema.qualifying("flag_cohorts")) GROUP BY flag
                """, logger: logger)
            for (flag, packed) in try cohortRows.decode((String, ByteBuffer).self) {
                guard let cohort = packed.readableBytesView.withUnsafeBytes({ TenantIDSet(packed: $0) }) else {
                    throw DatabaseError.other("the cohort of \(flag) did not arrive as 16-byte ids")
                }
                flags[flag]?.cohort = cohort
            }
            var tenants: [String: UUID] = [:]
            let tenantRows = try await c.query("SELECT name, id FROM \(schema.qualifying("tenants"))", logger: logger)
            for (name, id) in try tenantRows.decode((String, UUID).self) { tenants[name] = id }
            return FlagSnapshot(flags: flags, tenantIDs: tenants, loadedAt: now)
        }
    }

    /// Statement-level triggers that notify `channel` when a flag, the ledger or a tenant changes;
    /// NOTIFY is delivered at commit, so a listener reloads exactly committed state.
    @Sendable static func statements(_ s: SQLIdentifier) -> [String] {
        // The channel is `<schema>_flags_changed`; the trigger's own schema names it, so nothing is spliced in.
        let body = "\nBEGIN\n    PERFORM pg_notify(TG_TABLE_SCHEMA || '_flags_changed', '');\n    RETURN NULL;\nEND\n"
        var out = [
            """
            CREATE FUNCTION \(s.qualifying("notify_flags_changed"))() RETURNS trigger
            LANGUAGE plpgsql AS \(SQLIdentifier.dollarQuoted(body))
            """
        ]
        for table in ["flags", "flag_cohorts", "tenants"] {
            out.append(
                """
                CREATE TRIGGER flags_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON \(s.qualifying(table))
                FOR EACH STATEMENT EXECUTE FUNCTION \(s.qualifying("notify_flags_changed"))()
                """)
        }
        return out
    }
}
