import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// What was last applied to each catalog object (row-level security, its policies, role grants):
/// a fingerprint of the desired attributes, written in the apply's transaction by `guardrail apply`
/// and by the controller alike.
///
/// It lets the controller tell drift *restoration* (live state changed by hand; the configuration
/// a human reviewed and applied is put back) from *new* configuration (not applied by anyone yet,
/// so its hazards wait for a human). Only catalog kinds are recorded: theirs are the changes that
/// carry access hazards, and a 10,000-tenant apply should not write 10,000 more rows.
public enum AppliedConfiguration {
    public static let sinceSchemaVersion = 10

    static func records(_ change: Change) -> Bool { CatalogPipeline.isCatalogKind(change.kind) }

    /// Inside the apply's transaction, after its changes: a delete forgets the object; anything
    /// else records the desired side.
    static func record(
        _ changes: [Change], planID: String, actor: String, on c: DatabaseConnection, schema: SQLIdentifier, logger: Logger
    ) async throws {
        let recorded = changes.filter(records)
        guard !recorded.isEmpty else { return }
        let gone = recorded.filter { $0.action == .delete }.map(\.address.description)
        let kept = recorded.filter { $0.action != .delete }
        let table = schema.qualifying("applied_configuration")
        if !gone.isEmpty {
            try await c.query("DELETE FROM \(table) WHERE address = ANY(\(gone)::text[])", logger: logger)
        }
        guard !kept.isEmpty else { return }
        let addresses = kept.map(\.address.description), kinds = kept.map(\.kind), fingerprints = kept.map { Fingerprint.of($0.after) }
        try await c.query(
            """
            INSERT INTO \(table) AS a (address, kind, fingerprint, plan_id, applied_by)
            SELECT u.address, u.kind, u.fingerprint, \(planID), \(actor)
            FROM unnest(\(addresses)::text[], \(kinds)::text[], \(fingerprints)::text[]) AS u(address, kind, fingerprint)
            ON CONFLICT (address) DO UPDATE
            SET kind = excluded.kind, fingerprint = excluded.fingerprint, plan_id = excluded.plan_id,
                applied_by = excluded.applied_by, applied_at = clock_timestamp()
            """, logger: logger)
    }

    /// The table address a policy address belongs to (`rls.public.t.policy.p` → `rls.public.t`).
    static func tableAddress(ofPolicy address: String) -> String? {
        address.range(of: ".policy.", options: .backwards).map { String(address[..<$0.lowerBound]) }
    }

    /// The addresses among `changes` that restore the last applied configuration:
    /// - a create or update whose desired side is what was last applied to that object;
    /// - the delete of a policy Guardrail never applied (added by hand) on a table whose
    ///   row-level security Guardrail applied.
    public static func restorations(among changes: [Change], session: Session) async throws -> Set<String> {
        let candidates = changes.filter(records)
        guard !candidates.isEmpty else { return [] }
        let connection = session.connection, schema = session.schema, logger = session.logger
        guard let version = try await Migrations.currentVersion(connection, schema: schema, logger: logger), version >= sinceSchemaVersion else {
            return []
        }
        var addresses = Set(candidates.map(\.address.description))
        for change in candidates where change.action == .delete && change.kind == RowLevelSecurity.policyKind {
            if let table = tableAddress(ofPolicy: change.address.description) { addresses.insert(table) }
        }
        var applied: [String: String] = [:]
        let rows = try await connection.query(
            """
            SELECT address, fingerprint FROM \(schema.qualifying("applied_configuration")) WHERE address = ANY(\(Array(addresses))::text[])
            """, logger: logger)
        for (address, fingerprint) in try rows.decode((String, String).self) { applied[address] = fingerprint }
        var restorations: Set<String> = []
        for change in candidates {
            let address = change.address.description
            switch change.action {
            case .create, .update, .replace:
                if let fingerprint = applied[address], fingerprint == Fingerprint.of(change.after) { restorations.insert(address) }
            case .delete:
                if change.kind == RowLevelSecurity.policyKind, applied[address] == nil,
                    let table = tableAddress(ofPolicy: address), applied[table] != nil
                {
                    restorations.insert(address)
                }
            }
        }
        return restorations
    }
}
