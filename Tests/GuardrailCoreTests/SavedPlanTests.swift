import Foundation
import Testing
@testable import GuardrailCore

/// The saved-plan contract, pure: signatures, bindings, configuration digests and the comparison of
/// a saved plan with a fresh one. Each tampering is tried and must be caught.
@Suite("Saved plans")
struct SavedPlanTests {
    static let digest = ConfigurationDigest(files: [
        "manifests/tenants.yaml": String(repeating: "a", count: 64),
        "environments/local.yaml": String(repeating: "b", count: 64),
    ])
    static let database = DatabaseTarget(systemIdentifier: "7312345678901234567", name: "realestate", schema: "guardrail")

    static var bound: Plan {
        var plan = RenderingTests.goldenPlan
        plan.binding = PlanBinding(environment: "staging", database: database, alerts: nil, targets: [], configuration: digest)
        return plan
    }

    /// Through the bytes, as `apply FILE` reads it.
    static func roundTrip(_ plan: Plan) throws -> Plan {
        try JSONPlanRenderer.decode(Data(try JSONPlanRenderer.render(plan).utf8))
    }

    /// Edits the saved JSON as an attacker with the file would.
    static func tamper(_ plan: Plan, _ edit: (inout [String: Any]) -> Void) throws -> Plan {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(try JSONPlanRenderer.render(plan).utf8)) as? [String: Any])
        edit(&object)
        return try JSONPlanRenderer.decode(try JSONSerialization.data(withJSONObject: object))
    }

    // MARK: Signatures

    @Test func aSignedPlanVerifiesAfterARoundTripThroughTheFile() throws {
        var plan = Self.bound
        plan.signature = try PlanSignature.sign(plan, key: "k3y")
        let read = try Self.roundTrip(plan)
        #expect(try PlanSignature.verify(read, key: "k3y") == .valid)
        #expect(try PlanSignature.verify(read, key: "other") == .invalid)
        #expect(throws: Never.self) { try SavedPlanRefusal.checkSignature(of: read, key: "k3y") }
    }

    @Test func anyEditOfASignedPlanBreaksItsSignature() throws {
        var plan = Self.bound
        plan.signature = try PlanSignature.sign(plan, key: "k3y")
        let edits: [(String, (inout [String: Any]) -> Void)] = [
            (
                "after value",
                { o in
                    var changes = o["changes"] as! [[String: Any]]
                    var after = changes[2]["after"] as! [String: Any]
                    after["display_name"] = "Evil"
                    changes[2]["after"] = after
                    o["changes"] = changes
                }
            ),
            (
                "hazards stripped",
                { o in
                    var changes = o["changes"] as! [[String: Any]]
                    changes[0]["hazards"] = []
                    o["changes"] = changes
                }
            ),
            ("fingerprints emptied", { o in o["fingerprints"] = [String: Any]() }),
            (
                "environment",
                { o in
                    var binding = o["binding"] as! [String: Any]
                    binding["environment"] = "production"
                    o["binding"] = binding
                }
            ),
        ]
        for (name, edit) in edits {
            let edited = try Self.tamper(plan, edit)
            #expect(try PlanSignature.verify(edited, key: "k3y") == .invalid, "\(name)")
            #expect(throws: SavedPlanRefusal.badSignature, "\(name)") { try SavedPlanRefusal.checkSignature(of: edited, key: "k3y") }
        }
    }

    @Test func aKeyRequiresASignatureAndASignatureRequiresAKey() throws {
        #expect(throws: SavedPlanRefusal.unsigned) { try SavedPlanRefusal.checkSignature(of: Self.bound, key: "k3y") }
        var signed = Self.bound
        signed.signature = try PlanSignature.sign(signed, key: "k3y")
        #expect(throws: SavedPlanRefusal.noKeyToVerify) { try SavedPlanRefusal.checkSignature(of: signed, key: nil) }
        var forged = Self.bound
        forged.signature = "hmac-sha256:" + String(repeating: "0", count: 64)
        #expect(throws: SavedPlanRefusal.badSignature) { try SavedPlanRefusal.checkSignature(of: forged, key: "k3y") }
        forged.signature = "sha1:abc"
        #expect(throws: SavedPlanRefusal.badSignature) { try SavedPlanRefusal.checkSignature(of: forged, key: "k3y") }
    }

    // MARK: Binding

    @Test func anotherDatabaseOrEnvironmentIsRefusedNamingBoth() throws {
        let saved = try #require(Self.bound.binding)
        var other = saved
        other.database.name = "realestate2"
        let error = try #require(throws: SavedPlanRefusal.self) { try SavedPlanRefusal.checkBinding(saved, against: other) }
        #expect(error.description.contains("database realestate of cluster 7312345678901234567"))
        #expect(error.description.contains("database realestate2 of cluster 7312345678901234567"))
        other = saved
        other.environment = "production"
        #expect(throws: SavedPlanRefusal.self) { try SavedPlanRefusal.checkBinding(saved, against: other) }
        other = saved
        other.database.systemIdentifier = "1"
        #expect(throws: SavedPlanRefusal.self) { try SavedPlanRefusal.checkBinding(saved, against: other) }
        other = saved
        other.alerts = "the ruler at http://mimir"
        #expect(throws: SavedPlanRefusal.self) { try SavedPlanRefusal.checkBinding(saved, against: other) }
        #expect(throws: Never.self) { try SavedPlanRefusal.checkBinding(saved, against: saved) }
    }

    @Test func aChangedConfigurationNamesTheFile() throws {
        var files = Self.digest.files
        files["manifests/tenants.yaml"] = String(repeating: "c", count: 64)
        #expect(Self.digest.difference(from: ConfigurationDigest(files: files)) == "manifests/tenants.yaml changed")
        files = Self.digest.files
        files["policies/new.yaml"] = "d"
        #expect(Self.digest.difference(from: ConfigurationDigest(files: files)) == "policies/new.yaml was added")
        files = Self.digest.files
        files["environments/local.yaml"] = nil
        #expect(Self.digest.difference(from: ConfigurationDigest(files: files)) == "environments/local.yaml was removed")
        #expect(Self.digest.difference(from: Self.digest) == nil)
        // The loader records the digest of exactly the bytes it read.
        let (configuration, _) = ConfigurationLoader.load([ManifestSource(path: "manifests/a.yaml", bytes: Array("x: 1\n".utf8))])
        #expect(configuration.digest?.files == ["manifests/a.yaml": "d09edadd173a8bbc233d47dcafc30cc876af2fb569812f2bbe0e92a1905bbce8"])
    }

    // MARK: Saved against fresh

    @Test func anUntouchedPlanMatchesAFreshOneAfterTheFileRoundTrip() throws {
        #expect(PlanDifference.first(saved: try Self.roundTrip(Self.bound), fresh: Self.bound) == nil)
    }

    @Test func numbersCompareByValueAsJSONHasOneNumberType() {
        #expect(AttributeValue.int(2).isSameValue(.double(2)))
        #expect(!AttributeValue.int(2).isSameValue(.double(2.5)))
        #expect(AttributeValue.list([.int(1)]).isSameValue(.list([.double(1)])))
        #expect(!AttributeValue.string("2").isSameValue(.int(2)))
    }

    @Test func everyEditOfAnUnsignedPlanIsFoundAndNamed() throws {
        let fresh = Self.bound
        let cases: [(String, PlanDifference.Cause, String, (inout [String: Any]) -> Void)] = [
            (
                "after rewritten", .modifiedFile, "tenant.acme: the saved plan's after",
                { o in
                    var changes = o["changes"] as! [[String: Any]]
                    var after = changes[2]["after"] as! [String: Any]
                    after["display_name"] = "Evil"
                    changes[2]["after"] = after
                    o["changes"] = changes
                }
            ),
            (
                "update turned into a delete", .modifiedFile, "tenant.acme: the saved plan's action",
                { o in
                    var changes = o["changes"] as! [[String: Any]]
                    changes[2]["action"] = "delete"
                    changes[2]["after"] = nil
                    o["changes"] = changes
                }
            ),
            (
                "hazards stripped", .modifiedFile, "tenant.old-brokerage: the saved plan's hazards",
                { o in
                    var changes = o["changes"] as! [[String: Any]]
                    changes[0]["hazards"] = []
                    o["changes"] = changes
                }
            ),
            (
                "change appended", .modifiedFile, "tenant.evil",
                { o in
                    var changes = o["changes"] as! [[String: Any]]
                    var extra = changes[3]
                    extra["address"] = "tenant.evil"
                    changes.append(extra)
                    o["changes"] = changes
                }
            ),
            (
                "change removed", .modifiedFile, "tenant.initech",
                { o in
                    var changes = o["changes"] as! [[String: Any]]
                    changes.removeLast()
                    o["changes"] = changes
                }
            ),
            ("fingerprints emptied", .modifiedFile, "fingerprint", { o in o["fingerprints"] = [String: Any]() }),
            (
                "fingerprint changed", .staleLiveState, "fingerprint of tenant.acme",
                { o in
                    var f = o["fingerprints"] as! [String: Any]
                    f["tenant.acme"] = "0"
                    o["fingerprints"] = f
                }
            ),
            (
                "changes reordered", .modifiedFile, "another order",
                { o in
                    var changes = o["changes"] as! [[String: Any]]
                    changes.swapAt(0, 1)
                    o["changes"] = changes
                }
            ),
        ]
        for (name, cause, detail, edit) in cases {
            let saved = try Self.tamper(fresh, edit)
            let difference = try #require(PlanDifference.first(saved: saved, fresh: fresh), "\(name) was not noticed")
            #expect(difference.cause == cause, "\(name): \(difference)")
            #expect(difference.detail.contains(detail), "\(name): \(difference)")
        }
    }

    @Test func liveStateThatMovedOnIsStaleNotModified() throws {
        // Planned when acme was as in the golden plan; live acme has since been edited by hand.
        let saved = try Self.roundTrip(Self.bound)
        var fresh = Self.bound
        fresh.changes[2].before?["display_name"] = .string("Edited by hand")
        let difference = try #require(PlanDifference.first(saved: saved, fresh: fresh))
        #expect(difference.cause == .staleLiveState)
        // An empty saved plan against live state that drifted since: a fresh plan has a change.
        var empty = Self.bound
        empty.changes = []
        empty.fingerprints = [:]
        let drift = try #require(PlanDifference.first(saved: empty, fresh: Self.bound))
        #expect(drift.cause == .staleLiveState)
        #expect(drift.detail.contains("a fresh plan would delete tenant.old-brokerage"))
    }

    // MARK: --target

    @Test func targetsThatNameNothingAreReportedWithTheClosestAddress() {
        let known = [
            Address(prefix: "flag", name: "channel.email"), Address(prefix: "tenant", name: "acme-realty"),
            Address(prefix: "rls", name: "public.properties"),
        ]
        let unmatched = TargetPatterns.unmatched(
            [
                "channel.email", "tenant.acme-realt", "tenant", "flag.channel.email",
                "rls.public.properties.policy.tenant_isolation", "nothing.at.all",
            ], known: known)
        #expect(unmatched.map(\.pattern) == ["channel.email", "tenant.acme-realt", "nothing.at.all"])
        #expect(unmatched.map(\.suggestion) == ["flag.channel.email", "tenant.acme-realty", nil])
    }
}
