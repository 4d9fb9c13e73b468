import Foundation

/// Renders a plan as JSON for machines. The same document is what `plan --out` saves and `apply FILE` reads.
///
/// Top-level keys: `format_version`, `plan_id`, `environment`, `created_at`, `git_commit`, `summary`,
/// `blocked`, `changes` (each with `address`, `kind`, `action`, `before`, `after`, `hazards`, `reason`),
/// `compared`, `fingerprints`, `notes`.
public enum JSONPlanRenderer {
    public static func render(_ plan: Plan, overrides: HazardOverrides = HazardOverrides()) throws -> String {
        String(decoding: try renderUTF8(plan, overrides: overrides), as: UTF8.self)
    }

    /// `render`, as the bytes written to a file.
    public static func renderUTF8(_ plan: Plan, overrides: HazardOverrides = HazardOverrides()) throws -> [UInt8] {
        var w = PlanJSONWriter(capacity: 1024 + plan.changes.count * 512)
        try write(plan, overrides: overrides, into: &w) { _ in }
        return w.out
    }

    /// `renderUTF8`'s bytes handed to `consume` in pieces of about `pieceBytes` (cut between changes),
    /// so that a plan of 100,000 changes is never one buffer: the audit log compresses it as it comes.
    public static func render(
        _ plan: Plan, overrides: HazardOverrides = HazardOverrides(), pieceBytes: Int, _ consume: ([UInt8]) throws -> Void
    ) throws {
        var w = PlanJSONWriter(capacity: pieceBytes + 64 * 1024)
        try write(plan, overrides: overrides, into: &w) { w in
            guard w.out.count >= pieceBytes else { return }
            try consume(w.out)
            w.clearOutput()
        }
        if !w.out.isEmpty { try consume(w.out) }
    }

    private static func write(
        _ plan: Plan, overrides: HazardOverrides, into w: inout PlanJSONWriter, mayFlush: (inout PlanJSONWriter) throws -> Void
    ) throws {
        try w.object { w in
            // Keys in sorted order, as the document has always had them.
            if let binding = plan.binding {
                w.key("binding")
                try w.encoded(binding)
            }
            w.key("blocked")
            w.bool(!plan.blockingHazards(overrides).isEmpty)
            w.key("changes")
            try w.array { w in
                for change in plan.changes {
                    w.element()
                    try write(change, to: &w)
                    try mayFlush(&w)
                }
            }
            w.key("compared")
            w.ints(plan.compared)
            w.key("created_at")
            w.string(plan.createdAt)
            w.key("environment")
            w.string(plan.environment)
            w.key("findings")
            try w.encoded(plan.findings)
            w.key("fingerprints")
            // There is one per change: room to flush between them, as between changes.
            try w.strings(plan.fingerprints, afterEach: mayFlush)
            w.key("format_version")
            w.string(plan.formatVersion)
            if let commit = plan.gitCommit {
                w.key("git_commit")
                w.string(commit)
            }
            w.key("notes")
            w.strings(plan.notes)
            w.key("plan_id")
            w.string(plan.id)
            if let signature = plan.signature {
                w.key("signature")
                w.string(signature)
            }
            w.key("summary")
            try w.encoded(plan.summary)
        }
        w.endLine()
    }

    private static func write(_ change: Change, to w: inout PlanJSONWriter) throws {
        try w.object { w in
            w.key("action")
            w.string(change.action.rawValue)
            w.key("address")
            w.string(change.address.description)
            if let after = change.after {
                w.key("after")
                w.attributes(after)
            }
            if let before = change.before {
                w.key("before")
                w.attributes(before)
            }
            w.key("details")
            w.strings(change.details)
            w.key("hazards")
            if change.hazards.isEmpty { w.array { _ in } } else { try w.encoded(change.hazards) }
            w.key("kind")
            w.string(change.kind)
            w.key("reason")
            w.string(change.reason)
            if let rollout = change.rollout {
                w.key("rollout")
                try w.encoded(rollout)
            }
        }
    }

    public static func decode(_ data: Data) throws -> Plan {
        try JSONDecoder().decode(Plan.self, from: data)
    }
}
