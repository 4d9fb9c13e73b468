import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// Reads and writes `<schema>.alertmanager_secrets`: the SHA-256 of the routing's resolved secrets
/// as last confirmed loaded by Alertmanager. Alertmanager prints secrets back as `<secret>`, so this
/// digest is how a plan notices that a Slack URL or a PagerDuty key changed.
enum AlertRoutingStore {
    static let sinceSchemaVersion = 11

    static let migration = Migrations.Migration(version: 11, name: "alertmanager secrets digest") { s in
        [
            """
            CREATE TABLE \(s.qualifying("alertmanager_secrets")) (
                alertmanager text PRIMARY KEY,
                digest text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
            )
            """
        ]
    }

    /// The digest recorded for this Alertmanager, or nil when none was.
    static func observeDigest(_ connection: DatabaseConnection, schema: SQLIdentifier, alertmanager: String, logger: Logger) async throws -> String? {
        let rows = try await connection.query(
            "SELECT digest FROM \(schema.qualifying("alertmanager_secrets")) WHERE alertmanager = \(alertmanager)", logger: logger)
        for (digest) in try rows.decode(String.self) { return digest }
        return nil
    }

    static func record(_ digest: String, alertmanager: String, on connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws
    {
        try await connection.query(
            """
            INSERT INTO \(schema.qualifying("alertmanager_secrets")) (alertmanager, digest) VALUES (\(alertmanager), \(digest))
            ON CONFLICT (alertmanager) DO UPDATE SET digest = excluded.digest, applied_at = clock_timestamp()
            """, logger: logger)
    }
}
