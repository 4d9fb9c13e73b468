import Foundation
import Testing

@testable import GuardrailCore

/// The compact forms a large plan is held in (a change's desired object and reason, shared label
/// sets, packed source locations) read exactly as the plain forms they replace.
@Suite("Compact plan")
struct CompactPlanTests {
    @Test("every object of the example configurations is rebuilt equal from its attributes, so a store may write the diff's object")
    func objectsRoundTripThroughAttributes() throws {
        var checked = 0
        for (sources, _) in try ManifestSchemaTests.examples() {
            let (configuration, diagnostics) = ConfigurationLoader.load(sources)
            #expect(!diagnostics.hasErrors)
            func check<K: KindDefinition>(_ kind: K.Type) throws {
                for object in configuration.objects[kind] {
                    guard let resource = object as? any Resource else { continue }
                    #expect(try Self.rebuilt(resource), "\(resource.address) differs once rebuilt from its attributes")
                    checked += 1
                }
            }
            for kind in configuration.registry.kinds { try check(kind) }
        }
        #expect(checked > 20)
    }

    static func rebuilt<R: Resource>(_ object: R) throws -> Bool {
        try R(name: object.name, attributes: object.attributes) == object
    }

    @Test("a change made from an object reads as one made from its attributes: after, reason, equality, hash, JSON")
    func objectChangeEqualsAttributeChange() throws {
        let acme = tenant("acme", id: acmeID, displayName: "Acme Realty", labels: ["cohort": "internal"])
        let old = tenant("old", id: globexID, displayName: "Old")
        let changes = Diff.changes(desired: [acme], observed: [old])
        let delete = try #require(changes.first { $0.action == .delete })
        let create = try #require(changes.first { $0.action == .create })
        let spelled = Change(
            address: acme.address, kind: Tenant.kind, action: .create, before: nil, after: acme.attributes,
            reason: "tenant.acme is in the configuration but does not exist live")
        #expect(create.after == acme.attributes)
        #expect(create.reason == spelled.reason)
        #expect(delete.reason == "tenant.old exists live but is not in the configuration")
        #expect(create == spelled)
        #expect(Set([create, spelled]).count == 1)
        #expect(create.desiredObject(as: Tenant.self) == acme)
        #expect(spelled.desiredObject(as: Tenant.self) == nil)
        #expect(create.desiredObject(as: Guardrail.self) == nil)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        #expect(try encoder.encode(create) == encoder.encode(spelled))
        // Written, the change keeps the written value, not its object's.
        var renamed = create
        renamed.after?["display_name"] = .string("Renamed")
        #expect(renamed.after?["display_name"] == .string("Renamed"))
        #expect(renamed.desiredObject(as: Tenant.self) == nil)
        #expect(create.after == acme.attributes)
    }

    @Test("equal label sets share one dictionary, unequal ones stay apart, and past the limit sets are returned as given")
    func labelSetsShare() {
        var sets = LabelSets()
        let first = sets.shared(["region": "eu", "tier": "gold"])
        let second = sets.shared(["tier": "gold", "region": "eu"])
        #expect(first == second)
        #expect(sets.shared(["region": "us"]) == ["region": "us"])
        #expect(sets.shared([:]).isEmpty)
        for i in 0..<(LabelSets.limit + 10) { #expect(sets.shared(["n": "\(i)"]) == ["n": "\(i)"]) }
    }

    @Test("packed source locations give back what was stored, forget on nil, and compare by content")
    func sourceLocations() {
        var a = SourceLocations()
        let acme = Address(prefix: "tenant", name: "acme"), flag = Address(prefix: "flag", name: "a.b")
        a[acme] = SourceLocation(file: "manifests/tenants.yaml", line: 4, column: 9)
        a[flag] = SourceLocation(file: "manifests/flags.yaml", line: 120_000, column: 3)
        #expect(a[acme]?.description == "manifests/tenants.yaml:4:9")
        #expect(a[flag]?.description == "manifests/flags.yaml:120000:3")
        #expect(a[Address(prefix: "tenant", name: "globex")] == nil)
        #expect(Set(a.keys) == [acme, flag])
        #expect(a.count == 2)
        // The same places, stored in the other order (so the files are numbered the other way round).
        var b = SourceLocations()
        b.reserveCapacity(10, prefix: "flag")
        b[flag] = a[flag]
        b[acme] = a[acme]
        #expect(a == b)
        b[acme] = SourceLocation(file: "manifests/tenants.yaml", line: 5, column: 9)
        #expect(a != b)
        b[acme] = nil
        #expect(b.count == 1 && b[acme] == nil)
    }

    @Test("the plan document handed over in pieces is, joined, the document rendered whole, whatever the piece size")
    func piecesJoinToTheWholeDocument() throws {
        var plan = RenderingTests.bigPlan(3000)
        plan.fingerprints = Dictionary(uniqueKeysWithValues: plan.changes.map { ($0.address.description, Fingerprint.absent) })
        let whole = try JSONPlanRenderer.renderUTF8(plan)
        for pieceBytes in [1, 4096, 256 * 1024, 1 << 30] {
            var joined: [UInt8] = []
            var pieces = 0
            try JSONPlanRenderer.render(plan, pieceBytes: pieceBytes) { piece in
                joined += piece
                pieces += 1
            }
            #expect(joined == whole, "pieces of \(pieceBytes) bytes")
            if pieceBytes == 4096 { #expect(pieces > whole.count / 8192) }
        }
    }
}
