import Foundation

/// The Prometheus that `scripts/test` starts on loopback, and the endpoint it scrapes every second.
///
/// Each test writes its own file of samples into `GUARDRAIL_TEST_METRICS_DIR`; the endpoint serves all
/// of them, so tests run in parallel as long as their series differ (they use their own tenant ids).
public enum TestPrometheus {
    public static var url: String? {
        ProcessInfo.processInfo.environment["GUARDRAIL_TEST_PROMETHEUS_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    static var metricsDirectory: String? {
        ProcessInfo.processInfo.environment["GUARDRAIL_TEST_METRICS_DIR"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public static var isAvailable: Bool { (url != nil && TestPostgres.adminURL != nil) || TestPostgres.required }

    public struct Missing: Error, CustomStringConvertible {
        public init() {}
        public var description: String { "GUARDRAIL_TEST_PROMETHEUS_URL is not set; run the tests through ./scripts/test, which starts Prometheus" }
    }

    /// A file of samples the scraped endpoint serves, replaced atomically on every write.
    public struct MetricsFile: Sendable {
        public let path: String

        public init(name: String) throws {
            guard let dir = TestPrometheus.metricsDirectory else { throw Missing() }
            path = dir + "/" + name + ".prom"
        }

        /// Replaces the file with these lines of the text exposition format.
        public func write(_ lines: [String]) throws {
            let temporary = path + ".tmp-\(UUID().uuidString)"
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, path) == 0 else { throw CocoaError(.fileWriteUnknown) }
        }

        public func remove() {
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}
