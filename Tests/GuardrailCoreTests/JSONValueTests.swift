import Foundation
import GuardrailCore
import Testing

@Suite("JSON values")
struct JSONValueTests {
    static let document = #"""
        {"plan_id":"p/1","n":[1,-3,2.5,1e3,0.1,12345678901234,true,false,null],"nested":{"b":{"c":[[],{}]},"a":"é\u0007\"\\"},
         "empty":"","big":1.7976931348623157e308}
        """#

    @Test("a document read into JSONValue and written again is what JSONSerialization writes, byte for byte")
    func roundTrip() throws {
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(Self.document.utf8))
        guard case .object(let object) = value else { Issue.record("not an object: \(value)"); return }
        #expect(
            object["n"]
                == .array([
                    .int(1), .int(-3), .double(2.5), object["n"].flatMap { if case .array(let a) = $0 { a[3] } else { nil } }!,
                    .double(0.1), .int(12_345_678_901_234), .bool(true), .bool(false), .null,
                ]))
        for options in [JSONSerialization.WritingOptions.sortedKeys, [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]] {
            let encoder = JSONEncoder()
            encoder.outputFormatting = options.contains(.prettyPrinted) ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys]
            let typed = String(decoding: try encoder.encode(value), as: UTF8.self)
            let parsed = try JSONSerialization.jsonObject(with: Data(Self.document.utf8))
            let untyped = String(decoding: try JSONSerialization.data(withJSONObject: parsed, options: options), as: UTF8.self)
            #expect(typed == untyped)
        }
    }

    @Test("what is not JSON is refused")
    func refused() {
        for text in ["{", "[1 2]", "{\"a\" 1}", "nul", "[1,,2]"] {
            #expect(throws: (any Error).self, "\(text)") { try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) }
        }
    }
}
