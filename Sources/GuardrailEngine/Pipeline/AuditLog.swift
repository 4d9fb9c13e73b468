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

    /// The plan's changes as the audit log stores them: canonical JSON, one object per change with
    /// its address, action, the attributes that changed (updates and replaces) and both sides.
    /// Written straight into one string, since a 10,000-tenant apply records 10,000 objects.
    static func changesJSON(_ plan: Plan) -> String {
        var out = "["
        out.reserveCapacity(plan.changes.count * 256)
        for (i, change) in plan.changes.enumerated() {
            if i > 0 { out += "," }
            // Keys in sorted order, as canonical JSON has them.
            out += "{\"action\":"
            TextEscaping.append(change.action.rawValue, .json, quoted: true, to: &out)
            out += ",\"address\":"
            TextEscaping.append(change.address.description, .json, quoted: true, to: &out)
            if let after = change.after {
                out += ",\"after\":"
                AttributeValue.map(after).appendCanonicalJSON(to: &out)
            }
            if let before = change.before {
                out += ",\"before\":"
                AttributeValue.map(before).appendCanonicalJSON(to: &out)
            }
            // For creates and deletes every attribute changed; saying so 10,000 times costs the insert.
            if change.action == .update || change.action == .replace {
                out += ",\"changed\":"
                AttributeValue.list(change.changedAttributes.map { .string($0) }).appendCanonicalJSON(to: &out)
            }
            out += "}"
        }
        return out + "]"
    }

    /// Records an apply; `changes` is `changesJSON(plan)`, which the caller may build ahead of time.
    static func record(_ plan: Plan, changes: String, osUser: String, reason: String? = nil, on connection: DatabaseConnection, schema: SQLIdentifier,
                       logger: Logger) async throws {
        let s = plan.summary
        try await connection.query("""
            INSERT INTO \(unescaped: schema.qualifying("audit_log"))
                (plan_id, environment, git_commit, os_user, added, changed, destroyed, changes, reason)
            VALUES (\(UUID(uuidString: plan.id) ?? UUID()), \(plan.environment), \(plan.gitCommit), \(osUser),
                    \(s.add), \(s.change), \(s.destroy), \(changes)::json, nullif(\(reason ?? ""), ''))
            """, logger: logger)
    }

    static func recent(limit: Int, on connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws -> [Entry] {
        let rows = try await connection.query("""
            SELECT plan_id, environment, git_commit, os_user, applied_at, added, changed, destroyed
            FROM \(unescaped: schema.qualifying("audit_log")) ORDER BY applied_at DESC LIMIT \(limit)
            """, logger: logger)
        var entries: [Entry] = []
        for (id, env, commit, user, at, added, changed, destroyed) in try rows.decode((UUID, String, String?, String, Date, Int, Int, Int).self) {
            entries.append(Entry(planID: id.uuidString.lowercased(), environment: env, gitCommit: commit, osUser: user, appliedAt: at,
                                 added: added, changed: changed, destroyed: destroyed))
        }
        return entries
    }
}
