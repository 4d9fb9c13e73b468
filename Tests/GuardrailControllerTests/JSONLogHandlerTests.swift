import Foundation
@testable import GuardrailController
import Logging
import NIOConcurrencyHelpers
import Testing

@Suite("JSON log lines")
struct JSONLogHandlerTests {
    @Test("one JSON object per line: time, level, logger, message and the metadata, nested values kept, keys sorted")
    func oneObjectPerLine() throws {
        let lines = NIOLockedValueBox<[String]>([])
        var handler = JSONLogHandler(label: "guardrail.controller") { line in lines.withLockedValue { $0.append(line) } }
        handler.metadata["replica"] = "a"
        var logger = Logger(label: "guardrail.controller") { _ in handler }
        logger.logLevel = .info
        logger.debug("not written")
        logger.warning(
            "rolled back \"flag.channel.email\"\nbecause of bounces",
            metadata: [
                "address": "flag.channel.email", "reason": .stringConvertible(42),
                "verdicts": ["a/b", .dictionary(["value": "0.06", "list": ["x"]])],
            ])
        let written = lines.withLockedValue { $0 }
        #expect(written.count == 1)
        let line = try #require(written.first)
        #expect(!line.contains("\n"))
        #expect(
            line.hasPrefix(
                #"{"address":"flag.channel.email","level":"warning","logger":"guardrail.controller","#
                    + #""message":"rolled back \"flag.channel.email\"\nbecause of bounces","reason":"42","replica":"a","time":""#))
        #expect(line.hasSuffix(#"","verdicts":["a\/b",{"list":["x"],"value":"0.06"}]}"#))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["address", "level", "logger", "message", "reason", "replica", "time", "verdicts"])
        let time = try #require(object["time"] as? String)
        #expect(ISO8601DateFormatter.withFractions.date(from: time) != nil, "\(time)")
    }
}
