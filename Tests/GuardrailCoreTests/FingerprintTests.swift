import Testing
@testable import GuardrailCore

@Suite("Fingerprint")
struct FingerprintTests {
    static let pairs: [(String, AttributeValue)] = [
        ("id", .string(acmeID)), ("display_name", .string("Acme Realty")), ("status", .string("active")),
        ("labels", .map(["cohort": .string("internal"), "tier": .string("gold"), "region": .string("eu")])),
        ("count", .int(3)), ("ratio", .double(0.25)), ("on", .bool(true)), ("none", .null),
        ("list", .list([.string("b"), .string("a")])),
    ]

    @Test func insertionOrderAndCapacityDoNotChangeTheFingerprint() {
        var forward: Attributes = [:]
        for (k, v) in Self.pairs { forward[k] = v }
        // A different insertion order into a much larger table iterates in a different order.
        var backward = Attributes(minimumCapacity: 4096)
        for (k, v) in Self.pairs.reversed() { backward[k] = v }
        var nestedBackward = Attributes(minimumCapacity: 1024)
        for (k, v) in ["tier": "gold", "region": "eu", "cohort": "internal"] { nestedBackward[k] = .string(v) }
        backward["labels"] = .map(nestedBackward)

        #expect(forward == backward)
        #expect(Fingerprint.of(forward) == Fingerprint.of(backward))
        #expect(AttributeValue.map(forward).canonicalJSON == AttributeValue.map(backward).canonicalJSON)
    }

    @Test func canonicalJSONSortsKeysAndHasNoWhitespace() {
        let value = AttributeValue.map(["b": .list([.int(1), .null, .bool(false)]), "a": .map(["z": .string("x\"y"), "m": .double(1.5)])])
        #expect(value.canonicalJSON == #"{"a":{"m":1.5,"z":"x\"y"},"b":[1,null,false]}"#)
    }

    @Test("plan text and canonical JSON of nested lists and maps: keys sorted, quotes, backslashes and control characters escaped, map keys included")
    func nestedValuesRenderExactly() {
        let value = AttributeValue.map([
            "b": .list([.int(1), .string("x\"y\\z\n"), .map([:]), .list([])]),
            "a": .map(["k\t": .null, "j": .bool(true), "i": .double(2.5)]),
        ])
        var text = ""
        value.appendDescription(to: &text)
        #expect(text == value.description)
        #expect(text == #"{a = {i = 2.5, j = true, k\t = null}, b = [1, "x\"y\\z\n", {}, []]}"#)
        #expect(value.canonicalJSON == #"{"a":{"i":2.5,"j":true,"k\t":null},"b":[1,"x\"y\\z\n",{},[]]}"#)
    }

    @Test func fingerprintIsALowercaseSHA256Hex() {
        let fp = Fingerprint.of(["id": .string(acmeID)])
        #expect(fp.count == 64)
        #expect(fp.allSatisfy { "0123456789abcdef".contains($0) })
        // SHA-256 of the canonical JSON text {} .
        #expect(Fingerprint.of([:]) == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
    }

    @Test func absentObjectsFingerprintAsAbsent() {
        #expect(Fingerprint.of(nil) == "absent")
        #expect(Fingerprint.of(nil) == Fingerprint.absent)
        #expect(Fingerprint.of([:]) != Fingerprint.absent)
    }

    static let base: Attributes = Dictionary(uniqueKeysWithValues: pairs)

    /// One edit to `base`: each (key, value) sets the key, or removes it when the value is nil.
    struct Mutation: Sendable, CustomTestStringConvertible {
        var name: String
        var edits: [(String, AttributeValue?)]
        var testDescription: String { name }
        init(_ name: String, _ edits: (String, AttributeValue?)...) {
            self.name = name
            self.edits = edits
        }
    }

    static let labels: [String: AttributeValue] = ["cohort": .string("internal"), "tier": .string("gold"), "region": .string("eu")]

    @Test(arguments: [
        Mutation("display name changed", ("display_name", .string("Acme Realty Group"))),
        Mutation("status changed", ("status", .string("suspended"))),
        Mutation("label value changed", ("labels", .map(labels.merging(["cohort": .string("beta")]) { $1 }))),
        Mutation("label added", ("labels", .map(labels.merging(["x": .string("")]) { $1 }))),
        Mutation("label removed", ("labels", .map(labels.filter { $0.key != "tier" }))),
        Mutation("attribute removed", ("status", nil)),
        Mutation("attribute added", ("extra", .string(""))),
        Mutation("null replaced by absent", ("none", nil)),
        Mutation("null replaced by empty string", ("none", .string(""))),
        Mutation("int became string", ("count", .string("3"))),
        Mutation("int changed", ("count", .int(4))),
        Mutation("double changed", ("ratio", .double(0.26))),
        Mutation("bool flipped", ("on", .bool(false))),
        Mutation("list reordered", ("list", .list([.string("a"), .string("b")]))),
        Mutation("case of a value", ("id", .string(acmeID.uppercased()))),
        Mutation("key renamed", ("display_name", nil), ("displayName", .string("Acme Realty"))),
        Mutation("string with a quote", ("display_name", .string("Acme\" Realty"))),
    ])
    func anyAttributeChangeChangesTheFingerprint(_ mutation: Mutation) {
        var changed = Self.base
        for (key, value) in mutation.edits { changed[key] = value }
        #expect(changed != Self.base, "the mutation did nothing")
        #expect(Fingerprint.of(changed) != Fingerprint.of(Self.base))
    }

    @Test func stringsThatWouldCollideWithoutEscapingDoNotCollide() {
        // Without escaping, both would serialise as {"a":"x","b":"y"}.
        let one: Attributes = ["a": .string("x\",\"b\":\"y")]
        let two: Attributes = ["a": .string("x"), "b": .string("y")]
        #expect(Fingerprint.of(one) != Fingerprint.of(two))
    }
}
