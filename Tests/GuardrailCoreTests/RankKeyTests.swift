import Crypto
import Foundation
@testable import GuardrailCore
import Testing

/// The cohort ranking's hash is a contract: a tenant's place in every rollout depends on it. The SHA
/// instruction path must give exactly swift-crypto's digests, and the linear sort exactly a
/// comparison sort's order.
@Suite struct RankKeyTests {
    /// Vectors computed apart (Python's hashlib), so a change of hash, salt framing or byte order
    /// that would move tenants between cohorts fails here.
    @Test(
        "rank keys are the first 8 bytes of SHA-256(salt:id), big-endian, pinned to independently computed values",
        arguments: [
            ("channel.email", "3f6c1d2e-8a4b-4c1e-9a57-0d2f5b8e7c11", UInt64(0x558607f8c8ebb7e6)),
            ("", "00000000-0000-4000-8000-000000000001", 0xffe4122fec286589),
            ("ünïcode", "a", 0xbaba186e5cfea449),
            (String(repeating: "long.salt.", count: 12), "b2c3", 0x754ec08df6636c51),
        ])
    func pinnedKeys(_ salt: String, _ id: String, _ key: UInt64) {
        let tenant = Tenant(name: "t", id: id, displayName: "T")
        #expect(CohortPlan.RankKey.keys([0], of: [tenant], salt: salt).map(\.key) == [key])
    }

    @Test("keys for 2,000 tenants match swift-crypto's one-shot digest of salt:id")
    func keysMatchOneShotDigests() {
        var rng = SplitMix64(seed: 7)
        let estate = tenants(2_000, rng: &rng)
        for salt in ["", "channel.email", String(repeating: "s", count: 27), "ünïcode"] {
            let keys = CohortPlan.RankKey.keys(Array(estate.indices), of: estate, salt: salt)
            for (i, tenant) in estate.enumerated() where i % 97 == 0 {
                let first = Array(SHA256.hash(data: Array((salt + ":" + tenant.id).utf8)).prefix(8))
                #expect(keys[i].key == first.reduce(0) { $0 << 8 | UInt64($1) }, "salt \(salt), tenant \(i)")
            }
        }
    }

    @Test("the bucket sort orders like a comparison sort, with ties by the tie-break, crowded buckets included")
    func bucketSortMatchesComparisonSort() {
        var rng = SplitMix64(seed: 3)
        for n in [0, 1, 2, 17, 1_000, 5_000] {
            // Uniform keys, a run of keys crowded into one bucket, and exact duplicates.
            var keyed = (0..<n).map { CohortPlan.Keyed(key: rng.next(), index: $0) }
            for i in stride(from: 0, to: n, by: 7) { keyed[i].key = 0xABCD_0000_0000_0000 | (rng.next() & 0xFFFF) }
            for i in stride(from: 0, to: n, by: 11) { keyed[i].key = 42 }
            keyed.shuffle(using: &rng)
            let tieBreak: (Int, Int) -> Bool = { $0 > $1 }
            let expected = keyed.sorted { $0.key != $1.key ? $0.key < $1.key : tieBreak($0.index, $1.index) }
            let got = CohortPlan.sortByKey(keyed, tieBreak: tieBreak)
            #expect(got.map(\.key) == expected.map(\.key), "n = \(n)")
            #expect(got.map(\.index) == expected.map(\.index), "n = \(n)")
        }
    }
}
