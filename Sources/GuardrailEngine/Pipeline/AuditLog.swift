import Foundation
import GuardrailCore
import Logging
import PostgresNIO

/// The record of every apply: who, when, from which commit, and what changed.
public enum AuditLog {
    public struct Entry: Sendable {
        public var planID: String
        public var environment: String
        public var gitCommit: String?
        public var osUser: String
        public var appliedAt: Date
        public var added: Int
        public var changed: Int
        public var destroyed: Int
    }

    static func record(_ plan: Plan, osUser: String, on connection: PostgresConnection, schema: SQLIdentifier, logger: Logger) async throws {
        let s = plan.summary
        let changes = AttributeValue.list(plan.changes.map { change in
            var entry: Attributes = [
                "address": .string(change.address.description),
                "action": .string(change.action.rawValue),
            ]
            // For creates and deletes every attribute changed; saying so 10,000 times costs the insert.
            if change.action == .update || change.action == .replace {
                entry["changed"] = .list(change.changedAttributes.map { .string($0) })
            }
            if let before = change.before { entry["before"] = .map(before) }
            if let after = change.after { entry["after"] = .map(after) }
            return .map(entry)
        }).canonicalJSON
        try await connection.query("""
            INSERT INTO \(unescaped: schema.qualifying("audit_log"))
                (plan_id, environment, git_commit, os_user, added, changed, destroyed, changes)
            VALUES (\(UUID(uuidString: plan.id) ?? UUID()), \(plan.environment), \(plan.gitCommit), \(osUser),
                    \(s.add), \(s.change), \(s.destroy), \(changes)::json)
            """, logger: logger)
    }

    static func recent(limit: Int, on connection: PostgresConnection, schema: SQLIdentifier, logger: Logger) async throws -> [Entry] {
        let rows = try await connection.query("""
            SELECT plan_id, environment, git_commit, os_user, applied_at, added, changed, destroyed
            FROM \(unescaped: schema.qualifying("audit_log")) ORDER BY applied_at DESC LIMIT \(limit)
            """, logger: logger)
        var entries: [Entry] = []
        for try await (id, env, commit, user, at, added, changed, destroyed) in rows.decode((UUID, String, String?, String, Date, Int, Int, Int).self) {
            entries.append(Entry(planID: id.uuidString.lowercased(), environment: env, gitCommit: commit, osUser: user, appliedAt: at,
                                 added: added, changed: changed, destroyed: destroyed))
        }
        return entries
    }
}
