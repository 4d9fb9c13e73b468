import Foundation

/// Renders a plan as JSON for machines. The same document is what `plan --out` saves and `apply FILE` reads.
///
/// Top-level keys: `format_version`, `plan_id`, `environment`, `created_at`, `git_commit`, `summary`,
/// `blocked`, `changes` (each with `address`, `kind`, `action`, `before`, `after`, `hazards`, `reason`),
/// `compared`, `fingerprints`, `notes`.
public enum JSONPlanRenderer {
    struct View: Encodable {
        var plan: Plan
        var overrides: HazardOverrides

        enum CodingKeys: String, CodingKey { case summary, blocked }

        func encode(to encoder: any Encoder) throws {
            try plan.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(plan.summary, forKey: .summary)
            try c.encode(!plan.blockingHazards(overrides).isEmpty, forKey: .blocked)
        }
    }

    public static func render(_ plan: Plan, overrides: HazardOverrides = HazardOverrides()) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(View(plan: plan, overrides: overrides))
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    public static func decode(_ data: Data) throws -> Plan {
        try JSONDecoder().decode(Plan.self, from: data)
    }
}
