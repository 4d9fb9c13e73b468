import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// Reads and writes the declared part of `<schema>.flags`. The kill switch, the ledger and rollout
/// state are the controller's and operators'; `RolloutStore` keeps them.
enum FlagStore: KindStore {
    typealias Object = FeatureFlag
    static let sinceSchemaVersion = 5
    /// In lock order; the ledger and rollouts change with their flag.
    static let tables = ["flags", "flag_cohorts", "rollouts"]

    static func observe(_ connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws -> [FeatureFlag] {
        let rows = try await connection.query(
            """
            SELECT name, description, enabled, salt, overrides_enable, overrides_disable, coalesce(rollout::text, 'null')
            FROM \(schema.qualifying("flags"))
            """, logger: logger)
        var out: [FeatureFlag] = []
        for (name, description, enabled, salt, enable, disable, rollout) in try rows.decode(
            (String, String, Bool, String, [String], [String], String).self)
        {
            let attributes: Attributes = [
                "description": .string(description), "enabled": .bool(enabled), "salt": .string(salt),
                "overrides": .map(["enable": .list(enable.map { .string($0) }), "disable": .list(disable.map { .string($0) })]),
                "rollout": try StoredJSON.value(rollout, of: "flag.\(name)"),
            ]
            out.append(try FeatureFlag(name: name, attributes: attributes))
        }
        return out
    }

    static func apply(_ changes: [Change], on connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws {
        let table = schema.qualifying("flags")
        let (removed, updated, created) = try split(changes)
        try await delete(removed, from: table, on: connection, logger: logger)
        if !updated.isEmpty {
            let c = Columns(updated)
            try await connection.query(
                """
                UPDATE \(table) AS t
                SET description = u.description, enabled = u.enabled, salt = u.salt, overrides_enable = u.enable,
                    overrides_disable = u.disable, rollout = nullif(u.rollout, '')::jsonb, updated_at = now()
                FROM (SELECT u.name, u.description, u.enabled, u.salt, u.rollout,
                             coalesce((SELECT array_agg(e) FROM jsonb_array_elements_text(u.enable::jsonb) e), '{}') AS enable,
                             coalesce((SELECT array_agg(d) FROM jsonb_array_elements_text(u.disable::jsonb) d), '{}') AS disable
                      FROM unnest(\(c.names)::text[], \(c.descriptions)::text[], \(c.enabled)::boolean[], \(c.salts)::text[],
                                  \(c.enables)::text[], \(c.disables)::text[], \(c.rollouts)::text[])
                           AS u(name, description, enabled, salt, enable, disable, rollout)) AS u
                WHERE t.name = u.name
                """, logger: logger)
        }
        if !created.isEmpty {
            let c = Columns(created)
            try await connection.query(
                """
                INSERT INTO \(table) (name, description, enabled, salt, overrides_enable, overrides_disable, rollout)
                SELECT u.name, u.description, u.enabled, u.salt,
                       coalesce((SELECT array_agg(e) FROM jsonb_array_elements_text(u.enable::jsonb) e), '{}'),
                       coalesce((SELECT array_agg(d) FROM jsonb_array_elements_text(u.disable::jsonb) d), '{}'),
                       nullif(u.rollout, '')::jsonb
                FROM unnest(\(c.names)::text[], \(c.descriptions)::text[], \(c.enabled)::boolean[], \(c.salts)::text[],
                            \(c.enables)::text[], \(c.disables)::text[], \(c.rollouts)::text[])
                     AS u(name, description, enabled, salt, enable, disable, rollout)
                """, logger: logger)
        }
    }

    /// Flags as parallel arrays. Override lists travel as JSON arrays, since Postgres has no arrays of arrays
    /// of different lengths; a flag without a rollout sends an empty string, stored as NULL.
    private struct Columns {
        var names: [String] = [], descriptions: [String] = [], enabled: [Bool] = [], salts: [String] = []
        var enables: [String] = [], disables: [String] = [], rollouts: [String] = []

        init(_ flags: [FeatureFlag]) {
            for f in flags {
                names.append(f.name)
                descriptions.append(f.description)
                enabled.append(f.enabled)
                salts.append(f.salt)
                enables.append(AttributeValue.list(f.overrides.enable.map { .string($0) }).canonicalJSON)
                disables.append(AttributeValue.list(f.overrides.disable.map { .string($0) }).canonicalJSON)
                rollouts.append(f.rollout?.attributeValue.canonicalJSON ?? "")
            }
        }
    }
}
