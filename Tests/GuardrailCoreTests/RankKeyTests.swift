import CGuardrailDigest
import Crypto
import Foundation
@testable import GuardrailCore
import Testing

/// The cohort ranking's hash is a contract: a tenant's place in every rollout depends on it. The SHA
/// instruction path must give exactly swift-crypto's digests, and the linear sort exactly a
/// comparison sort's order.
@Suite struct RankKeyTests {
    @Test("SHA instructions give swift-crypto's digest for every length from 0 to 300 bytes, around each padding boundary",
          .enabled(if: CohortPlan.RankKey.hardware, "this CPU has no SHA instructions; ranking uses swift-crypto alone"))
    func hardwareDigestMatchesSwiftCrypto() {
        var rng = SplitMix64(seed: 42)
        for length in 0...300 {
            for _ in 0..<4 {
                let message = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
                var digest = [UInt8](repeating: 0, count: 32)
                message.withUnsafeBufferPointer { m in
                    digest.withUnsafeMutableBufferPointer { d in guardrail_sha256(m.baseAddress, m.count, d.baseAddress) }
                }
                #expect(digest == Array(SHA256.hash(data: message)), "length \(length)")
            }
        }
        // A published vector, so both sides cannot be wrong together.
        var digest = [UInt8](repeating: 0, count: 32)
        let abc = Array("abc".utf8)
        abc.withUnsafeBufferPointer { m in digest.withUnsafeMutableBufferPointer { d in guardrail_sha256(m.baseAddress, m.count, d.baseAddress) } }
        #expect(digest.map { String(format: "%02x", $0) }.joined() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("both key paths give the first 8 digest bytes of salt:id, big-endian, for 2,000 tenants and salts of many lengths",
          .enabled(if: CohortPlan.RankKey.hardware, "this CPU has no SHA instructions; ranking uses swift-crypto alone"))
    func keyPathsAgree() {
        var rng = SplitMix64(seed: 7)
        let estate = tenants(2_000, rng: &rng)
        for salt in ["", "channel.email", String(repeating: "s", count: 27), String(repeating: "long.salt.", count: 12), "ünïcode"] {
            let fast = CohortPlan.RankKey.accelerated(Array(estate.indices), of: estate, salt: salt)
            let portable = CohortPlan.RankKey.portable(Array(estate.indices), of: estate, salt: salt)
            #expect(fast.map(\.key) == portable.map(\.key), "salt \(salt)")
            let first = Array(SHA256.hash(data: Array((salt + ":" + estate[0].id).utf8)).prefix(8))
            #expect(portable[0].key == first.reduce(0) { $0 << 8 | UInt64($1) })
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
