import Crypto
import Foundation

/// What a saved plan was made for: the environment, the database (by its cluster's system
/// identifier, not its URL, which differs between a CI runner and a bastion), the alerts target, the
/// `--target` addresses and the configuration files. `apply FILE` refuses a plan whose binding does
/// not match where and from what it is run.
public struct PlanBinding: Hashable, Sendable, Codable {
    public var environment: String
    public var database: DatabaseTarget
    /// The alerts target, as `prometheus <url> rulesDir <dir>` or `mimir <url> tenant <t>`; nil when
    /// the environment manages no alert rules.
    public var alerts: String?
    /// The `--target` addresses the plan was narrowed to.
    public var targets: [String]
    public var configuration: ConfigurationDigest

    public init(environment: String, database: DatabaseTarget, alerts: String?, targets: [String], configuration: ConfigurationDigest) {
        self.environment = environment
        self.database = database
        self.alerts = alerts
        self.targets = targets
        self.configuration = configuration
    }

    /// "environment "staging" (database realestate, cluster 7312…, schema guardrail)".
    public var targetDescription: String {
        var text = "environment \"\(environment)\" (\(database))"
        if let alerts { text += ", alerting through \(alerts)" }
        return text
    }

    /// Why a plan bound to `self` cannot be applied where `current` describes, naming both; nil when it can.
    /// The configuration is compared apart (`ConfigurationDigest.difference`), so it can be named file by file.
    public func targetMismatch(_ current: PlanBinding) -> String? {
        guard environment != current.environment || database != current.database || alerts != current.alerts else { return nil }
        return "the saved plan was made for \(targetDescription), but this apply targets \(current.targetDescription)"
    }
}

/// A database as a saved plan names it.
public struct DatabaseTarget: Hashable, Sendable, Codable, CustomStringConvertible {
    /// `pg_control_system().system_identifier`: the same for a cluster and its physical replicas,
    /// different for every `initdb`.
    public var systemIdentifier: String
    public var name: String
    public var schema: String

    public init(systemIdentifier: String, name: String, schema: String) {
        self.systemIdentifier = systemIdentifier
        self.name = name
        self.schema = schema
    }

    public var description: String { "database \(name) of cluster \(systemIdentifier), schema \(schema)" }

    enum CodingKeys: String, CodingKey {
        case systemIdentifier = "system_identifier"
        case name, schema
    }
}

/// SHA-256 of every configuration file, so `apply FILE` can say which file changed since the plan.
public struct ConfigurationDigest: Hashable, Sendable, Codable {
    /// Over the sorted `path NUL sha256 NUL` of every file.
    public var sha256: String
    /// Each file's SHA-256, by path relative to the configuration root.
    public var files: [String: String]

    public init(sha256: String, files: [String: String]) {
        self.sha256 = sha256
        self.files = files
    }

    public init(_ sources: [ManifestSource]) {
        var files: [String: String] = [:]
        files.reserveCapacity(sources.count)
        for source in sources { files[source.path] = Hex.string(SHA256.hash(data: source.bytes)) }
        self.init(files: files)
    }

    public init(files: [String: String]) {
        var whole = SHA256()
        for path in files.keys.sorted() {
            whole.update(data: Array(path.utf8) + [0] + Array(files[path]!.utf8) + [0])
        }
        self.init(sha256: Hex.string(whole.finalize()), files: files)
    }

    /// The first file (by path) that differs between the plan's configuration (`self`) and `now`.
    public func difference(from now: ConfigurationDigest) -> String? {
        guard sha256 != now.sha256 || files != now.files else { return nil }
        for path in Set(files.keys).union(now.files.keys).sorted() {
            switch (files[path], now.files[path]) {
            case (nil, _?): return "\(path) was added"
            case (_?, nil): return "\(path) was removed"
            case (let a?, let b?) where a != b: return "\(path) changed"
            default: continue
            }
        }
        return "the configuration digest differs"
    }
}

/// HMAC-SHA256 over a saved plan, with the key from `GUARDRAIL_PLAN_KEY` or the environment's
/// `plan.signingKey`: `apply` then refuses plans that were not made by a holder of the key.
public enum PlanSignature {
    public static let scheme = "hmac-sha256:"

    /// The bytes that are signed: the plan without its signature, as compact JSON with sorted keys.
    /// Decoding and encoding again gives the same bytes, so a reader can recompute them.
    static func signedBytes(_ plan: Plan) throws -> [UInt8] {
        var unsigned = plan
        unsigned.signature = nil
        return Array(try Plan.canonicalEncoder.encode(unsigned))
    }

    public static func sign(_ plan: Plan, key: String) throws -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: try signedBytes(plan), using: SymmetricKey(data: Array(key.utf8)))
        return scheme + Hex.string(mac)
    }

    public enum Verdict: Equatable, Sendable {
        case valid, unsigned, invalid
    }

    /// Checked in constant time.
    public static func verify(_ plan: Plan, key: String) throws -> Verdict {
        guard let signature = plan.signature else { return .unsigned }
        guard signature.hasPrefix(scheme), let mac = Hex.bytes(signature.dropFirst(scheme.count)), mac.count == SHA256.byteCount else {
            return .invalid
        }
        let valid = HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: try signedBytes(plan), using: SymmetricKey(data: Array(key.utf8)))
        return valid ? .valid : .invalid
    }
}

/// Lower-case hexadecimal.
public enum Hex {
    public static func string(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func bytes(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}

/// How a saved plan differs from a fresh plan of the same configuration against live state now.
public struct PlanDifference: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Cause: String, Sendable {
        /// An object the plan touches is not as it was when the plan was made.
        case staleLiveState = "live state changed since the plan was made"
        /// The configuration gives something other than what the file says: the file was edited.
        case modifiedFile = "the plan file was modified"
    }

    public var cause: Cause
    public var detail: String

    public var description: String { "\(cause.rawValue): \(detail)" }

    /// The first difference, change by change in plan order, then the fingerprints; nil when the
    /// plans would do exactly the same. Nothing about safety is taken from `saved`: the caller applies
    /// `fresh`, whose hazards were just computed.
    public static func first(saved: Plan, fresh: Plan) -> PlanDifference? {
        var savedByAddress: [Address: Change] = [:]
        savedByAddress.reserveCapacity(saved.changes.count)
        for change in saved.changes {
            if savedByAddress.updateValue(change, forKey: change.address) != nil {
                return PlanDifference(cause: .modifiedFile, detail: "\(change.address) appears twice in the saved plan")
            }
        }
        var freshAddresses: Set<Address> = []
        freshAddresses.reserveCapacity(fresh.changes.count)
        for change in fresh.changes {
            freshAddresses.insert(change.address)
            guard let old = savedByAddress[change.address] else {
                // Either live state moved (the usual case) or a change was cut out of the file; the
                // fingerprints tell: an untouched file has one for every address it changes.
                let cause: Cause = saved.fingerprints[change.address.description] != nil ? .modifiedFile : .staleLiveState
                return PlanDifference(
                    cause: cause, detail: "a fresh plan would \(change.action.rawValue) \(change.address), which the saved plan does not")
            }
            if let field = differingField(old, change) {
                let cause: Cause = field == "before" || field == "rollout" ? .staleLiveState : .modifiedFile
                return PlanDifference(cause: cause, detail: "\(change.address): the saved plan's \(field) is not what a fresh plan gives")
            }
        }
        for change in saved.changes where !freshAddresses.contains(change.address) {
            let cause: Cause = saved.fingerprints[change.address.description] == nil ? .modifiedFile : .staleLiveState
            return PlanDifference(
                cause: cause, detail: "the saved plan would \(change.action.rawValue) \(change.address), which a fresh plan does not")
        }
        if saved.changes.map(\.address) != fresh.changes.map(\.address) {
            return PlanDifference(cause: .modifiedFile, detail: "the saved plan lists its changes in another order")
        }
        for (address, fingerprint) in fresh.fingerprints.sorted(by: { $0.key < $1.key }) where saved.fingerprints[address] != fingerprint {
            let cause: Cause = saved.fingerprints[address] == nil ? .modifiedFile : .staleLiveState
            return PlanDifference(cause: cause, detail: "the live fingerprint of \(address) differs")
        }
        if let extra = saved.fingerprints.keys.sorted().first(where: { fresh.fingerprints[$0] == nil }) {
            return PlanDifference(cause: .modifiedFile, detail: "the saved plan has a fingerprint for \(extra), which it does not change")
        }
        return nil
    }

    /// The first field of a change that differs, comparing numbers by value (JSON has one number type).
    static func differingField(_ a: Change, _ b: Change) -> String? {
        if a.kind != b.kind { return "kind" }
        if a.action != b.action { return "action" }
        if !AttributeValue.sameAttributes(a.before, b.before) { return "before" }
        if !AttributeValue.sameAttributes(a.after, b.after) { return "after" }
        if a.hazards != b.hazards { return "hazards" }
        if a.rollout != b.rollout { return "rollout" }
        return nil
    }
}

extension AttributeValue {
    /// Equality as JSON sees it: `2` and `2.0` are the same number, as a saved plan decodes them.
    public func isSameValue(_ other: AttributeValue) -> Bool {
        switch (self, other) {
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)): return Double(a) == b
        case (.list(let a), .list(let b)): return a.count == b.count && zip(a, b).allSatisfy { $0.isSameValue($1) }
        case (.map(let a), .map(let b)): return AttributeValue.sameAttributes(a, b)
        default: return self == other
        }
    }

    static func sameAttributes(_ a: Attributes?, _ b: Attributes?) -> Bool {
        switch (a, b) {
        case (nil, nil): return true
        case (let a?, let b?):
            guard a.count == b.count else { return false }
            for (key, value) in a {
                guard let other = b[key], value.isSameValue(other) else { return false }
            }
            return true
        default: return false
        }
    }
}

/// Why `apply FILE` will not apply a saved plan. Each case says what to do instead.
public enum SavedPlanRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file has no binding: it was not made by `plan --out`, or the binding was cut out.
    case unbound
    case unsigned
    case badSignature
    /// The file is signed but this apply has no key to check it with.
    case noKeyToVerify
    case wrongTarget(String)
    case configurationChanged(String)
    case differs(PlanDifference)

    public var description: String {
        let again = "Run `guardrail plan --out FILE` again and review the new plan."
        switch self {
        case .unbound:
            return
                "the saved plan does not say where and from what it was made (no binding); it was not written by `guardrail plan --out`, or was edited. \(again)"
        case .unsigned:
            return
                "the saved plan is not signed, and this environment requires signed plans (a signing key is set). Make the plan where the key is set."
        case .badSignature:
            return
                "the saved plan's signature does not match its content: the file was modified after it was signed, or signed with another key. \(again)"
        case .noKeyToVerify:
            return
                "the saved plan is signed, but no signing key is set here to check it; set GUARDRAIL_PLAN_KEY (or plan.signingKey) as the plan's maker did."
        case .wrongTarget(let mismatch):
            return "\(mismatch). Apply it where it was planned, or plan again for this target."
        case .configurationChanged(let file):
            return "the configuration changed since this plan was made (\(file)). \(again)"
        case .differs(let difference) where difference.cause == .staleLiveState:
            return "saved plan is stale: the plan file can no longer be applied because \(difference). \(again)"
        case .differs(let difference):
            return "the saved plan does not match a fresh plan of the same configuration: \(difference). \(again)"
        }
    }

    /// With a key, only a plan signed with it passes; without one, a signed plan cannot be checked.
    public static func checkSignature(of plan: Plan, key: String?) throws {
        guard let key else {
            if plan.signature != nil { throw SavedPlanRefusal.noKeyToVerify }
            return
        }
        switch try PlanSignature.verify(plan, key: key) {
        case .valid: return
        case .unsigned: throw SavedPlanRefusal.unsigned
        case .invalid: throw SavedPlanRefusal.badSignature
        }
    }

    /// The target first, then the configuration, file by file.
    public static func checkBinding(_ saved: PlanBinding, against current: PlanBinding) throws {
        if let mismatch = saved.targetMismatch(current) { throw SavedPlanRefusal.wrongTarget(mismatch) }
        if let file = saved.configuration.difference(from: current.configuration) { throw SavedPlanRefusal.configurationChanged(file) }
    }
}

/// A saved plan as `apply FILE` reads it: the file's bytes, and everything in it but the changes and
/// fingerprints. The usual saved plan is untouched and still true, and then a fresh plan, given the
/// file's own id, time, binding and descriptive fields, renders to the same bytes: one comparison of
/// the whole document instead of decoding ten thousand changes. Anything else is decoded in full
/// (`plan()`) and compared change by change, which names the difference.
public struct SavedPlanFile: Sendable {
    public let bytes: [UInt8]
    public let header: Header

    /// The fields a fresh plan takes from the file before the comparison. None decides what is
    /// applied: the binding is checked against the target first, and the rest only describes.
    public struct Header: Decodable, Sendable {
        public var formatVersion: String
        public var id: String
        public var environment: String
        public var createdAt: String
        public var gitCommit: String?
        public var compared: [String: Int]
        public var notes: [String]?
        public var findings: [Finding]?
        public var binding: PlanBinding?
        public var signature: String?

        /// Read by the plan's own keys, so the two cannot drift apart.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Plan.CodingKeys.self)
            formatVersion = try c.decode(String.self, forKey: .formatVersion)
            id = try c.decode(String.self, forKey: .id)
            environment = try c.decode(String.self, forKey: .environment)
            createdAt = try c.decode(String.self, forKey: .createdAt)
            gitCommit = try c.decodeIfPresent(String.self, forKey: .gitCommit)
            compared = try c.decode([String: Int].self, forKey: .compared)
            notes = try c.decodeIfPresent([String].self, forKey: .notes)
            findings = try c.decodeIfPresent([Finding].self, forKey: .findings)
            binding = try c.decodeIfPresent(PlanBinding.self, forKey: .binding)
            signature = try c.decodeIfPresent(String.self, forKey: .signature)
        }
    }

    public init(bytes: [UInt8]) throws {
        self.bytes = bytes
        header = try bytes.withUnsafeBytes { try JSONDecoder().decode(Header.self, from: Data($0)) }
    }

    /// The whole plan, decoded.
    public func plan() throws -> Plan {
        try JSONPlanRenderer.decode(Data(bytes))
    }

    /// `fresh` in the file's id, time, commit, binding, signature and descriptive fields: the plan
    /// that, rendered as `plan --out` writes it, is this file byte for byte when nothing differs.
    public func candidate(from fresh: Plan) -> Plan {
        var candidate = fresh
        candidate.id = header.id
        candidate.environment = header.environment
        candidate.createdAt = header.createdAt
        candidate.gitCommit = header.gitCommit
        candidate.compared = header.compared
        candidate.notes = header.notes ?? []
        candidate.findings = header.findings ?? []
        candidate.binding = header.binding
        candidate.signature = header.signature
        return candidate
    }

    /// True when `plan` renders, as `plan --out` writes it, to exactly this file.
    public func isRendering(of plan: Plan) throws -> Bool {
        try JSONPlanRenderer.renderUTF8(plan) == bytes
    }
}
