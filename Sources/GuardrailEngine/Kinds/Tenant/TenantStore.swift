import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// Reads and writes `<schema>.tenants`.
enum TenantStore: KindStore {
    typealias Object = Tenant
    static let sinceSchemaVersion = 1
    static let tables = ["tenants"]

    static func observe(_ connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws -> [Tenant] {
        // Labels come back as two sorted arrays so no JSON is parsed client-side. Rows are decoded
        // as they arrive; equal label sets share one dictionary (see `LabelSets`).
        let read = try await connection.fold(
            """
            SELECT t.name, t.id, t.display_name, t.status,
                   coalesce(l.keys, '{}'), coalesce(l.vals, '{}')
            FROM \(schema.qualifying("tenants")) t
            LEFT JOIN LATERAL (
                SELECT array_agg(key ORDER BY key) AS keys, array_agg(value ORDER BY key) AS vals
                FROM jsonb_each_text(t.labels)
            ) l ON true
            """, into: (tenants: [Tenant](), labelSets: LabelSets()), logger: logger
        ) { read, row in
            let (name, id, displayName, status, keys, values) = try row.decode((String, UUID, String, String, [String], [String]).self)
            var labels: [String: String] = [:]
            labels.reserveCapacity(keys.count)
            for (k, v) in zip(keys, values) { labels[k] = v }
            read.tenants.append(
                Tenant(
                    name: name, id: id.uuidString.lowercased(), displayName: displayName,
                    status: Tenant.Status(rawValue: status) ?? .active, labels: read.labelSets.shared(labels)))
        }
        return read.tenants
    }

    /// `observe`, answered from `cache` while the table holds the same row versions: one aggregate over
    /// every row's ctid and xmin, which any insert, update or delete changes, instead of 10,000 rows
    /// decoded. Run it in the same snapshot as the rest of the observation. Without a cache, `observe`.
    static func observe(
        _ connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger, cache: ObservationCache<[Tenant]>?
    ) async throws -> [Tenant] {
        guard let cache else { return try await observe(connection, schema: schema, logger: logger) }
        let rows = try await connection.query(
            """
            SELECT count(*)::text || ':' || coalesce(md5(string_agg(ctid::text || ':' || xmin::text, ',')), '')
            FROM \(schema.qualifying("tenants"))
            """, logger: logger)
        var digest = ""
        for (value) in try rows.decode(String.self) { digest = value }
        if let tenants = cache.value(for: digest) { return tenants }
        let tenants = try await observe(connection, schema: schema, logger: logger)
        cache.store(tenants, for: digest)
        return tenants
    }

    static func apply(_ changes: [Change], on connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws {
        let table = schema.qualifying("tenants")
        // New tenants are read from their changes as they are copied, not gathered first.
        let (removed, updated, created) = try partition(changes)
        try await delete(removed, from: table, on: connection, logger: logger)

        if !updated.isEmpty {
            let c = Columns(updated)
            try await connection.query(
                """
                UPDATE \(table) AS t
                SET id = u.id, display_name = u.display_name, status = u.status, labels = u.labels::jsonb, updated_at = now()
                FROM unnest(\(c.names)::text[], \(c.ids)::text[]::uuid[], \(c.displayNames)::text[], \(c.statuses)::text[], \(c.labels)::text[])
                     AS u(name, id, display_name, status, labels)
                WHERE t.name = u.name
                """, logger: logger)
        }
        if !created.isEmpty {
            // New rows go in by COPY: no arrays for the server to parse and unnest.
            try await CopyText.copy(
                created, into: "tenants", columns: ["name", "id", "display_name", "status", "labels"], schema: schema, on: connection,
                logger: logger
            ) { rows, change in
                guard let t = try object(of: change) else { return }
                rows.field(t.name)
                rows.field(t.id)  // canonical UUID text, cast by the server
                rows.field(t.displayName)
                rows.field(t.status.rawValue)
                rows.field(t.labels.attributeValue.canonicalJSON, last: true)
            }
        }
    }

    /// Tenants as parallel arrays, bound as one parameter each and unnested server-side.
    private struct Columns {
        var names: [String] = [], ids: [String] = [], displayNames: [String] = [], statuses: [String] = [], labels: [String] = []

        init(_ tenants: [Tenant]) {
            for t in tenants {
                names.append(t.name)
                ids.append(t.id)  // canonical UUID text, cast by the server
                displayNames.append(t.displayName)
                statuses.append(t.status.rawValue)
                labels.append(t.labels.attributeValue.canonicalJSON)
            }
        }
    }
}
