import Foundation
import GuardrailCore

/// Recent guardrail evaluations per flag and guardrail, fed by the reconcile ticks: what the
/// dashboard charts against each threshold. Bounded twice: `capacity` points per series (oldest
/// dropped first) and `maxSeries` series (the least recently evaluated dropped first), so a
/// controller that runs for months holds a fixed amount however many flags come and go.
public struct GuardrailHistory: Sendable {
    public struct Point: Sendable, Hashable {
        public var at: Date
        public var value: Double?
        public var verdict: GuardrailVerdict.Kind
        public var message: String

        public init(at: Date, value: Double?, verdict: GuardrailVerdict.Kind, message: String) {
            self.at = at
            self.value = value
            self.verdict = verdict
            self.message = message
        }
    }

    struct Key: Hashable, Sendable {
        var flag: String
        var guardrail: String
    }

    public let capacity: Int
    public let maxSeries: Int
    private var series: [Key: [Point]] = [:]
    private var lastUpdate: [Key: Date] = [:]

    public init(capacity: Int = 60, maxSeries: Int = 2_000) {
        self.capacity = max(1, capacity)
        self.maxSeries = max(1, maxSeries)
    }

    /// Adds one evaluation.
    public mutating func record(flag: String, _ verdict: GuardrailVerdict, at: Date) {
        let key = Key(flag: flag, guardrail: verdict.guardrail)
        var points = series[key] ?? []
        points.append(Point(at: at, value: verdict.value.flatMap { $0.isFinite ? $0 : nil }, verdict: verdict.kind, message: verdict.message))
        if points.count > capacity { points.removeFirst(points.count - capacity) }
        series[key] = points
        lastUpdate[key] = at
        if series.count > maxSeries, let oldest = lastUpdate.min(by: { $0.value < $1.value })?.key {
            series[oldest] = nil
            lastUpdate[oldest] = nil
        }
    }

    /// The points of one series, oldest first.
    public func points(flag: String, guardrail: String) -> [Point] {
        series[Key(flag: flag, guardrail: guardrail)] ?? []
    }

    public var seriesCount: Int { series.count }
}
