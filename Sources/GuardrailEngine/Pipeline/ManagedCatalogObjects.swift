import GuardrailCore
import Logging
import PostgresNIO

/// The tables and roles whose row-level security and grants Guardrail manages, kept in
/// `<schema>.managed_catalog_objects`.
///
/// A table or role enters the record when an apply (or `guardrail import`) takes it over, and leaves
/// it when an apply releases it after its manifest was deleted. Plans observe the record's objects as
/// well as the configuration's, so a deleted manifest plans a removal; objects Guardrail never managed
/// are never read into a plan.
enum ManagedCatalogObjects {
    static let sinceSchemaVersion = 3
    static let table = "managed_catalog_objects"

    struct Record: Sendable {
        var tables: Set<QualifiedName> = []
        var roles: Set<String> = []
    }

    static func read(_ connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws -> Record {
        let rows = try await connection.query(
            "SELECT kind, schema_name, name FROM \(schema.qualifying(table))", logger: logger)
        var record = Record()
        for (kind, schemaName, name) in try rows.decode((String, String, String).self) {
            switch kind {
            case RowLevelSecurity.kind: record.tables.insert(QualifiedName(schema: schemaName, name: name))
            case RoleGrants.kind: record.roles.insert(name)
            default: continue
            }
        }
        return record
    }

    /// Records tables and roles as managed; `createdRoles` are marked as created by Guardrail.
    static func adopt(
        tables: [QualifiedName], roles: [String], createdRoles: Set<String> = [],
        on connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger
    ) async throws {
        guard !tables.isEmpty || !roles.isEmpty else { return }
        let kinds = tables.map { _ in RowLevelSecurity.kind } + roles.map { _ in RoleGrants.kind }
        let schemas = tables.map(\.schema) + roles.map { _ in "" }
        let names = tables.map(\.name) + roles
        let created = tables.map { _ in false } + roles.map { createdRoles.contains($0) }
        try await connection.query(
            """
            INSERT INTO \(schema.qualifying(table)) AS m (kind, schema_name, name, created_by_guardrail)
            SELECT * FROM unnest(\(kinds)::text[], \(schemas)::text[], \(names)::text[], \(created)::boolean[])
            ON CONFLICT (kind, schema_name, name) DO UPDATE
                SET created_by_guardrail = m.created_by_guardrail OR excluded.created_by_guardrail
            """, logger: logger)
    }

    /// Forgets tables and roles whose manifests were deleted.
    static func release(
        tables: [QualifiedName], roles: [String], on connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger
    ) async throws {
        guard !tables.isEmpty || !roles.isEmpty else { return }
        let kinds = tables.map { _ in RowLevelSecurity.kind } + roles.map { _ in RoleGrants.kind }
        let schemas = tables.map(\.schema) + roles.map { _ in "" }
        let names = tables.map(\.name) + roles
        try await connection.query(
            """
            DELETE FROM \(schema.qualifying(table)) m
            USING unnest(\(kinds)::text[], \(schemas)::text[], \(names)::text[]) AS r(kind, schema_name, name)
            WHERE m.kind = r.kind AND m.schema_name = r.schema_name AND m.name = r.name
            """, logger: logger)
    }
}
