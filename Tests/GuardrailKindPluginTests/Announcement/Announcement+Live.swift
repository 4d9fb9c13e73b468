import GuardrailCore
import GuardrailEngine
import PostgresNIO

/// The engine half, what `GuardrailEngine/Kinds/<Kind>/` would hold: its table (a migration of its
/// own), and how every announcement is read in one query and written in set-based statements.
extension Announcement: LiveKind {
    static var migrations: [KindMigration] {
        [
            KindMigration(step: 1, name: "announcements") { s in
                [
                    """
                    CREATE TABLE \(s.qualifying("announcements")) (
                        name text PRIMARY KEY,
                        tenant text NOT NULL,
                        message text NOT NULL,
                        severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical'))
                    )
                    """
                ]
            }
        ]
    }

    static var lockedTables: [String] { ["announcements"] }

    static func observe(_ context: ObservationContext, into live: inout LiveState) async throws {
        guard context.kindSteps[kind] != nil else { return }
        let rows = try await context.connection.query(
            "SELECT name, tenant, message, severity FROM \(context.schema.qualifying("announcements"))", logger: context.logger)
        var announcements: [Announcement] = []
        for (name, tenant, message, severity) in try rows.decode((String, String, String, String).self) {
            announcements.append(Announcement(name: name, tenant: tenant, message: message, severity: Severity(rawValue: severity) ?? .info))
        }
        live.objects[Announcement.self] = announcements
    }

    static func apply(_ changes: [Change], _ context: ApplyContext) async throws {
        let table = context.schema.qualifying("announcements")
        let removed = changes.filter { $0.action == .delete || $0.action == .replace }.map(\.address.name)
        let written = try changes.filter { $0.action != .delete }.compactMap { change in
            try change.after.map { try Announcement(name: change.address.name, attributes: $0) }
        }
        if !removed.isEmpty {
            try await context.connection.query("DELETE FROM \(table) WHERE name = ANY(\(removed))", logger: context.logger)
        }
        guard !written.isEmpty else { return }
        try await context.connection.query(
            """
            INSERT INTO \(table) (name, tenant, message, severity)
            SELECT * FROM unnest(\(written.map(\.name)), \(written.map(\.tenant)), \(written.map(\.message)), \(written.map(\.severity.rawValue)))
            ON CONFLICT (name) DO UPDATE SET tenant = excluded.tenant, message = excluded.message, severity = excluded.severity
            """, logger: context.logger)
    }
}
