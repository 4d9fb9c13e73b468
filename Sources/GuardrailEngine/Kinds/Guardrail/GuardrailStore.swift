import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// Reads and writes `<schema>.guardrails`: the query in a column of its own, the rest as the
/// Guardrail's attributes in `spec`.
enum GuardrailStore: KindStore {
    typealias Object = Guardrail
    static let sinceSchemaVersion = 5
    static let tables = ["guardrails"]

    static func observe(_ connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws -> [Guardrail] {
        let rows = try await connection.query("SELECT name, spec::text FROM \(schema.qualifying("guardrails"))", logger: logger)
        var out: [Guardrail] = []
        for (name, spec) in try rows.decode((String, String).self) {
            out.append(try Guardrail(name: name, attributes: try StoredJSON.attributes(spec, of: "guardrail.\(name)")))
        }
        return out
    }

    static func apply(_ changes: [Change], on connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws {
        let table = schema.qualifying("guardrails")
        let (removed, updated, created) = try split(changes)
        try await delete(removed, from: table, on: connection, logger: logger)
        if !updated.isEmpty {
            try await connection.query(
                """
                UPDATE \(table) AS t SET query = u.query, spec = u.spec::jsonb, updated_at = now()
                FROM unnest(\(updated.map(\.name))::text[], \(updated.map(\.query))::text[], \(updated.map(\.storedSpec))::text[]) AS u(name, query, spec)
                WHERE t.name = u.name
                """, logger: logger)
        }
        if !created.isEmpty {
            try await connection.query(
                """
                INSERT INTO \(table) (name, query, spec)
                SELECT u.name, u.query, u.spec::jsonb
                FROM unnest(\(created.map(\.name))::text[], \(created.map(\.query))::text[], \(created.map(\.storedSpec))::text[]) AS u(name, query, spec)
                """, logger: logger)
        }
    }
}

extension Guardrail {
    var storedSpec: String { AttributeValue.map(attributes).canonicalJSON }
}

/// JSON that Guardrail itself wrote into a jsonb column, read back as attributes.
enum StoredJSON {
    static func attributes(_ text: String, of address: String) throws -> Attributes {
        guard let map = try value(text, of: address).mapValue else {
            throw DatabaseError.other("the stored state of \(address) is not a JSON object; was it edited by hand?")
        }
        return map
    }

    static func value(_ text: String, of address: String) throws -> AttributeValue {
        do {
            return try JSONDecoder().decode(AttributeValue.self, from: Data(text.utf8))
        } catch {
            throw DatabaseError.other("the stored state of \(address) is not readable JSON (\(error))")
        }
    }
}
