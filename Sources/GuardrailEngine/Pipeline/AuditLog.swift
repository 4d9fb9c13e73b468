import CompressNIO
import Foundation
import GuardrailCore
import Logging
import NIOCore
import PostgresNIO

/// The record of every apply: who, when, from which commit, and what changed.
///
/// Since schema version 15 an apply keeps its whole plan, the JSON document `plan --format json`
/// prints (`JSONPlanRenderer`): every change with both sides, hazards, notes and findings,
/// gzip-compressed, in `audit_plans` rows of at most `planPartBytes` each, so no row is large whatever
/// the apply. The `audit_log` row has a small summary that `history` lists without decompressing:
/// counts per kind and action, the first address, the addresses themselves when there are at most
/// `listedObjectsLimit` (otherwise the distinct first segments, such as `tenant`), and the changes
/// spelled out when there are at most three. Rows written before version 15 keep their `changes`
/// JSON, and the migration derived their summary from it.
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

    /// Up to this many changes, the row lists every address it changed (what `history --object`
    /// matches); above, only their first segments.
    public static let listedObjectsLimit = 1_000

    /// The summary column: what `history` shows without reading the plan.
    public struct Summary: Codable, Sendable, Equatable {
        /// Changes per kind and action: `{"Tenant": {"create": 3}}`.
        public var counts: [String: [String: Int]]
        /// `create tenant.a, update tenant.b` when the apply made one to three changes.
        public var listed: String?
        /// The hazard overrides the apply was given, so its plan renders as it was applied.
        public var overrides: HazardOverrides
        /// The plan document's size before compression.
        public var planBytes: Int

        enum CodingKeys: String, CodingKey {
            case counts, listed, overrides
            case planBytes = "plan_bytes"
        }
    }

    /// What an apply's row stores, built off the transaction's path (rendering and compressing a
    /// large plan takes a while; Postgres migrates, checks and writes meanwhile).
    struct Record: Sendable {
        /// The compressed plan document, cut into parts of at most `planPartBytes`.
        var planParts: [ByteBuffer]
        var summary: String
        var firstObject: String?
        var objects: [String]
        var objectsComplete: Bool
    }

    static func prepare(_ plan: Plan, overrides: HazardOverrides) throws -> Record {
        // The document is compressed as it is written, a piece at a time, and each part is cut
        // when the compressor's window of `planPartBytes` fills: neither the document nor its
        // compressed whole is ever one buffer (at 100,000 tenants they were 100 MB and 60 MB).
        let compressor = CompressionAlgorithm.gzip().compressor
        compressor.window = ByteBufferAllocator().buffer(capacity: planPartBytes)
        try compressor.startStream()
        defer { try? compressor.finishStream() }
        var parts: [ByteBuffer] = []
        var planBytes = 0
        var piece = ByteBuffer()
        func compress(_ bytes: [UInt8], finish: Bool) throws {
            planBytes += bytes.count
            piece.clear()
            piece.writeBytes(bytes)
            try piece.compressStream(with: compressor, flush: finish ? .finish : .no) { parts.append($0) }
        }
        try JSONPlanRenderer.render(plan, overrides: overrides, pieceBytes: 256 * 1024) { try compress($0, finish: false) }
        try compress([], finish: true)
        var counts: [String: [String: Int]] = [:]
        for change in plan.changes { counts[change.kind, default: [:]][change.action.rawValue, default: 0] += 1 }
        let listed =
            (1...3).contains(plan.changes.count)
            ? plan.changes.map { "\($0.action.rawValue) \($0.address.description)" }.joined(separator: ", ") : nil
        let summary = Summary(counts: counts, listed: listed, overrides: overrides, planBytes: planBytes)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let addresses = plan.changes.map(\.address.description)
        let complete = addresses.count <= listedObjectsLimit
        var objects = addresses
        if !complete {
            var seen = Set<String>()
            objects = addresses.map(firstSegment).filter { seen.insert($0).inserted }
        }
        return Record(
            planParts: parts, summary: String(decoding: try encoder.encode(summary), as: UTF8.self),
            firstObject: addresses.first, objects: objects, objectsComplete: complete)
    }

    /// `tenant` of `tenant.acme`: what a large apply's row lists instead of every address.
    static func firstSegment(_ address: String) -> String {
        String(address.prefix { $0 != "." })
    }

    /// The most compressed plan one `audit_plans` row holds.
    public static let planPartBytes = 256 * 1024

    /// The plan document of an apply's `audit_plans` parts, in order.
    static func planDocument(_ parts: [ByteBuffer], expectedBytes: Int?) throws -> [UInt8] {
        var buffer = ByteBuffer()
        for var part in parts { buffer.writeBuffer(&part) }
        // The summary says how large the document is; nothing is inflated past 1 GiB whatever a row holds.
        let limit = min((expectedBytes ?? buffer.readableBytes * 32) + 4096, 1 << 30)
        var out = try buffer.decompress(with: .gzip(), maxSize: limit)
        return out.readBytes(length: out.readableBytes) ?? []
    }

    /// Records an apply; `prepared` is `prepare(plan, overrides:)`, which the caller may build ahead of time.
    static func record(
        _ plan: Plan, prepared: Record, osUser: String, reason: String? = nil, on connection: DatabaseConnection,
        schema: SQLIdentifier, logger: Logger
    ) async throws {
        let s = plan.summary, id = UUID(uuidString: plan.id) ?? UUID()
        try await connection.query(
            """
            INSERT INTO \(schema.qualifying("audit_log"))
                (plan_id, environment, git_commit, os_user, added, changed, destroyed, reason,
                 summary, first_object, objects, objects_complete)
            VALUES (\(id), \(plan.environment), \(plan.gitCommit), \(osUser),
                    \(s.add), \(s.change), \(s.destroy), nullif(\(reason ?? ""), ''),
                    \(prepared.summary)::jsonb, \(prepared.firstObject), \(prepared.objects), \(prepared.objectsComplete))
            """, logger: logger)
        for (part, gzip) in prepared.planParts.enumerated() {
            try await connection.query(
                """
                INSERT INTO \(schema.qualifying("audit_plans")) (plan_id, part, gzip) VALUES (\(id), \(part), \(gzip))
                """, logger: logger)
        }
    }

    /// An import (`guardrail import`): who adopted which objects, why, and a one-line summary.
    public struct Import: Sendable {
        public var actor: String
        public var gitCommit: String?
        public var reason: String?
        public var summary: String

        public init(actor: String, gitCommit: String?, reason: String?, summary: String) {
            self.actor = actor
            self.gitCommit = gitCommit
            self.reason = reason
            self.summary = summary
        }
    }

    /// An import's row: no changes and no plan, its summary under `import` (how `history` tells it
    /// from an apply), and the addresses it adopted.
    static func record(
        _ record: Import, objects: [String], environment: String, on connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger
    ) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let summary = String(decoding: try encoder.encode(["import": record.summary]), as: UTF8.self)
        try await connection.query(
            """
            INSERT INTO \(schema.qualifying("audit_log"))
                (plan_id, environment, git_commit, os_user, added, changed, destroyed, reason,
                 summary, first_object, objects, objects_complete)
            VALUES (\(UUID()), \(environment), \(record.gitCommit), \(record.actor), 0, 0, 0, nullif(\(record.reason ?? ""), ''),
                    \(summary)::jsonb, \(objects.first), \(objects), true)
            """, logger: logger)
    }

    static func recent(limit: Int, on connection: DatabaseConnection, schema: SQLIdentifier, logger: Logger) async throws -> [Entry] {
        let rows = try await connection.query(
            """
            SELECT plan_id, environment, git_commit, os_user, applied_at, added, changed, destroyed
            FROM \(schema.qualifying("audit_log")) ORDER BY applied_at DESC LIMIT \(limit)
            """, logger: logger)
        var entries: [Entry] = []
        for (id, env, commit, user, at, added, changed, destroyed) in try rows.decode((UUID, String, String?, String, Date, Int, Int, Int).self) {
            entries.append(
                Entry(
                    planID: id.uuidString.lowercased(), environment: env, gitCommit: commit, osUser: user, appliedAt: at,
                    added: added, changed: changed, destroyed: destroyed))
        }
        return entries
    }
}
