import Crypto
import Foundation

/// What `apply` will do: an ordered list of changes, with a fingerprint of the live state each one
/// touches so a saved plan can be refused when the world moved on.
///
/// A plan is a plain Codable value; the text, JSON and Markdown views render it without changing it.
public struct Plan: Hashable, Sendable, Codable {
    /// Bumped when the JSON shape changes incompatibly. CI parses this.
    public static let currentFormatVersion = "1.0"

    public var formatVersion: String
    public var id: String
    public var environment: String
    public var createdAt: String
    public var gitCommit: String?
    public var changes: [Change]
    /// How many objects of each kind were compared, desired and live together.
    public var compared: [String: Int]
    /// Live-state fingerprints of every address the plan touches; "absent" for objects that do not exist.
    public var fingerprints: [String: String]
    /// Notes that do not block, such as a schema that a first apply will create.
    public var notes: [String]
    /// Warnings about the desired state itself, such as a policy that binds nobody.
    public var findings: [Finding]
    /// Where and from what a saved plan was made; set by `plan --out`, required by `apply FILE`.
    public var binding: PlanBinding?
    /// `hmac-sha256:<hex>` over the rest of the plan, when a signing key was configured.
    public var signature: String?

    public init(
        id: String, environment: String, createdAt: String, gitCommit: String? = nil, changes: [Change],
        compared: [String: Int], fingerprints: [String: String], notes: [String] = [], findings: [Finding] = []
    ) {
        self.formatVersion = Self.currentFormatVersion
        self.id = id
        self.environment = environment
        self.createdAt = createdAt
        self.gitCommit = gitCommit
        self.changes = changes
        self.compared = compared
        self.fingerprints = fingerprints
        self.notes = notes
        self.findings = findings
    }

    public struct Summary: Hashable, Sendable, Codable {
        public var add = 0
        public var change = 0
        public var destroy = 0

        public init(add: Int = 0, change: Int = 0, destroy: Int = 0) {
            self.add = add
            self.change = change
            self.destroy = destroy
        }

        /// Counted the way Terraform counts: a replace is one add and one destroy.
        public init(counting changes: some Sequence<Change>) {
            for change in changes {
                switch change.action {
                case .create: add += 1
                case .update: self.change += 1
                case .delete: destroy += 1
                case .replace: add += 1; destroy += 1
                }
            }
        }
    }

    /// Counted the way Terraform counts: a replace is one add and one destroy.
    public var summary: Summary { Summary(counting: changes) }

    public var hasChanges: Bool { !changes.isEmpty }

    /// Every hazard that the given overrides do not let through, with the change it belongs to.
    public func blockingHazards(_ overrides: HazardOverrides) -> [(Change, Hazard)] {
        changes.flatMap { change in change.blockingHazards(overrides).map { (change, $0) } }
    }

    /// Keeps only the changes `--target` selects.
    public func targeting(_ patterns: [String]) -> Plan {
        guard !patterns.isEmpty else { return self }
        var copy = self
        copy.changes = changes.filter { change in patterns.contains { change.address.matches(target: $0) } }
        let kept = Set(copy.changes.map(\.address.description))
        copy.fingerprints = fingerprints.filter { kept.contains($0.key) }
        copy.findings = findings.filter { finding in patterns.contains { finding.address.matches(target: $0) } }
        return copy
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version"
        case id = "plan_id"
        case environment
        case createdAt = "created_at"
        case gitCommit = "git_commit"
        case changes, compared, fingerprints, notes, findings, binding, signature
    }

    /// Compact JSON with sorted keys: the bytes a signature covers.
    static var canonicalEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(formatVersion, forKey: .formatVersion)
        try c.encode(id, forKey: .id)
        try c.encode(environment, forKey: .environment)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encodeIfPresent(gitCommit, forKey: .gitCommit)
        try c.encode(changes, forKey: .changes)
        try c.encode(compared, forKey: .compared)
        try c.encode(fingerprints, forKey: .fingerprints)
        try c.encode(notes, forKey: .notes)
        try c.encode(findings, forKey: .findings)
        try c.encodeIfPresent(binding, forKey: .binding)
        try c.encodeIfPresent(signature, forKey: .signature)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        formatVersion = try c.decode(String.self, forKey: .formatVersion)
        id = try c.decode(String.self, forKey: .id)
        environment = try c.decode(String.self, forKey: .environment)
        createdAt = try c.decode(String.self, forKey: .createdAt)
        gitCommit = try c.decodeIfPresent(String.self, forKey: .gitCommit)
        changes = try c.decode([Change].self, forKey: .changes)
        compared = try c.decode([String: Int].self, forKey: .compared)
        fingerprints = try c.decode([String: String].self, forKey: .fingerprints)
        notes = try c.decodeIfPresent([String].self, forKey: .notes) ?? []
        // Plans saved before findings existed have none.
        findings = try c.decodeIfPresent([Finding].self, forKey: .findings) ?? []
        binding = try c.decodeIfPresent(PlanBinding.self, forKey: .binding)
        signature = try c.decodeIfPresent(String.self, forKey: .signature)
    }
}

/// A short hash of an object's live attributes, so a saved plan can tell whether it changed.
public enum Fingerprint {
    public static let absent = "absent"

    public static func of(_ attributes: Attributes?) -> String {
        guard let attributes else { return absent }
        return Hex.string(SHA256.hash(data: Array(AttributeValue.map(attributes).canonicalJSON.utf8)))
    }
}
