import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// Reads and writes `<schema>.backup_schedules`. A schedule is stored as its plan attributes (jsonb),
/// so what the plan shows is exactly what is compared.
enum BackupScheduleStore: KindStore {
    typealias Object = BackupSchedule
    static let sinceSchemaVersion = 2
    static let tables = ["backup_schedules"]

    static func observe(_ connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws -> [BackupSchedule] {
        let rows = try await connection.query(
            "SELECT name, spec::text FROM \(schema.qualifying("backup_schedules")) ORDER BY name", logger: logger)
        var schedules: [BackupSchedule] = []
        let decoder = JSONDecoder()
        for (name, spec) in try rows.decode((String, String).self) {
            do {
                let attributes = try decoder.decode(Attributes.self, from: Data(spec.utf8))
                schedules.append(try BackupSchedule(name: name, attributes: attributes))
            } catch {
                throw DatabaseError.other(
                    "the live backup schedule \"\(name)\" in \(schema.name).backup_schedules is unreadable (\(error)); fix or delete the row")
            }
        }
        return schedules
    }

    static func apply(_ changes: [Change], on connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws {
        let table = schema.qualifying("backup_schedules")
        let removed = changes.filter { $0.action == .delete }.map(\.address.name)
        let upserts = try objects(changes.filter { $0.action != .delete })
        if !removed.isEmpty {
            try await connection.query("DELETE FROM \(table) WHERE name = ANY(\(removed))", logger: logger)
        }
        if !upserts.isEmpty {
            let names = upserts.map(\.name)
            let specs = upserts.map { AttributeValue.map($0.attributes).canonicalJSON }
            try await connection.query(
                """
                INSERT INTO \(table) (name, spec)
                SELECT u.name, u.spec::jsonb FROM unnest(\(names)::text[], \(specs)::text[]) AS u(name, spec)
                ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = now()
                """, logger: logger)
        }
    }
}
