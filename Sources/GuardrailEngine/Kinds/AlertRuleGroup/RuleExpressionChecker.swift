import Foundation
import GuardrailCore

/// Checks a plan's rules against the environment's Prometheus, concurrently with a bounded number
/// of queries in flight:
///
/// - every expression must parse: Prometheus's `bad_data` becomes an error at the rule's
///   `file:line:column`;
/// - every new or changed alerting rule is replayed over the last 24 hours (or all the history
///   Prometheus has, if less), so the plan says how long it would have been true.
public struct RuleExpressionChecker: Sendable {
    public var prometheus: PrometheusClient
    public var concurrency: Int

    public init(prometheus: PrometheusClient, concurrency: Int = 8) {
        self.prometheus = prometheus
        self.concurrency = concurrency
    }

    public struct Outcome: Sendable {
        /// Expressions Prometheus refused to parse.
        public var errors: [Diagnostic] = []
        /// Per change address: one line per checked alerting rule.
        public var details: [Address: [String]] = [:]
        /// Problems that do not block: Prometheus unreachable, a query that failed to run.
        public var notes: [String] = []
    }

    enum Job: Sendable {
        case parse(AlertRule)
        case noise(Address, AlertRule, index: Int, window: Int, step: Int)
    }

    /// `groups` are every desired group; `plan` says which rules are new or changed.
    public func check(_ groups: [RuleGroup], plan: Plan, now: Date = Date()) async -> Outcome {
        var outcome = Outcome()
        var jobs: [Job] = []
        for group in groups { for rule in group.rules { jobs.append(.parse(rule)) } }
        guard !jobs.isEmpty else { return outcome }

        // How much history there is to replay against: Prometheus's lowest stored timestamp.
        let lowest = await prometheus.serverMetric("prometheus_tsdb_lowest_timestamp_seconds")
        let history = lowest.map { now.timeIntervalSince1970 - $0 }
        let window = history.map { min(86_400, max(0, Int($0))) } ?? 86_400
        let step = max(1, window / 1440)
        var noiseRules: [(Address, AlertRule, Int)] = []
        for change in plan.changes where change.kind == RuleGroup.kind {
            guard let after = change.after, let group = try? RuleGroup(name: change.address.name, attributes: after) else { continue }
            let desired = groups.first { $0.name == group.name }
            for index in RuleGroup.changedRules(in: change) where group.rules[index].kind == .alert {
                // The desired rule carries the source location; the plan's copy does not.
                noiseRules.append((change.address, desired?.rules[safe: index] ?? group.rules[index], index))
            }
        }
        if history == nil {
            outcome.notes.append(
                "Prometheus at \(HTTPExchange.redacted(prometheus.baseURL)) did not report how much history it keeps; new alerting rules were replayed over 24h."
            )
        }
        if window >= step * 2 {
            for (address, rule, index) in noiseRules { jobs.append(.noise(address, rule, index: index, window: window, step: step)) }
        } else {
            for (address, rule, index) in noiseRules {
                outcome.details[address, default: []].append(
                    "\(RuleGroup.ruleKey(index)) \(rule.title): Prometheus has no history yet to replay it against.")
            }
        }

        let results = await withTaskGroup(of: (Int, Result).self) { taskGroup in
            var results = [Result?](repeating: nil, count: jobs.count)
            var next = 0
            func launch() {
                let index = next, job = jobs[index], client = prometheus
                next += 1
                taskGroup.addTask { (index, await Self.run(job, client)) }
            }
            while next < jobs.count, next < concurrency { launch() }
            while let (index, result) = await taskGroup.next() {
                results[index] = result
                if next < jobs.count { launch() }
            }
            return results.map { $0! }
        }
        var unreachable = 0
        var refusedRules: Set<String> = []
        for (job, result) in zip(jobs, results) {
            switch (job, result) {
            case (.parse(let rule), .refused(let type, let message)):
                if type == "bad_data" {
                    refusedRules.insert(rule.title + (rule.location?.description ?? ""))
                    outcome.errors.append(
                        .error(
                            "Prometheus cannot parse the expression of \(rule.title)", detail: "Prometheus says: \(message)", at: rule.exprLocation))
                } else {
                    outcome.notes.append("\(rule.title): Prometheus could not evaluate the expression (\(type)): \(message)")
                }
            case (.noise(let address, let rule, let index, let window, let step), .minutesTrue(let samples)):
                outcome.details[address, default: []].append(
                    RuleGroup.ruleKey(index) + " " + Self.describeNoise(rule, samples: samples, window: window, step: step, history: history))
            case (.noise(_, let rule, _, _, _), .refused(_, let message)):
                if !refusedRules.contains(rule.title + (rule.location?.description ?? "")) {
                    outcome.notes.append("\(rule.title): could not replay it over past data: \(message)")
                }
            case (_, .unreachable):
                unreachable += 1
            default:
                break
            }
        }
        if unreachable > 0 {
            outcome.notes.append(
                "Prometheus at \(HTTPExchange.redacted(prometheus.baseURL)) did not answer \(unreachable) of \(jobs.count) expression checks; those expressions were not checked."
            )
        }
        return outcome
    }

    enum Result: Sendable {
        case parsed
        case minutesTrue(Int)
        case refused(String, String)
        case unreachable(String)
    }

    static func run(_ job: Job, _ client: PrometheusClient) async -> Result {
        switch job {
        case .parse(let rule):
            switch await client.instantQuery(rule.expr) {
            case .success: return .parsed
            case .refused(let type, let message): return .refused(type, message)
            case .failed(let message): return .unreachable(message)
            }
        case .noise(_, let rule, _, let window, let step):
            // Steps at which at least one series of the expression was true, over the window.
            let query = "count_over_time((count(\n\(rule.expr)\n))[\(window)s:\(step)s])"
            switch await client.instantQuery(query) {
            case .success(let values):
                return .minutesTrue(Int(values.first ?? 0))
            case .refused(let type, let message): return .refused(type, message)
            case .failed(let message): return .unreachable(message)
            }
        }
    }

    static func describeNoise(_ rule: AlertRule, samples: Int, window: Int, step: Int, history: Double?) -> String {
        let trueFor = GuardrailDuration.seconds(Int64(samples * step))
        let span = GuardrailDuration.seconds(Int64(window))
        let scope = window < 86_400 && history != nil ? "the last \(span) (all the history Prometheus has)" : "the last \(span)"
        guard samples > 0 else { return "\(rule.title): its expression was never true over \(scope)." }
        let share = Double(samples) / Double(max(1, window / step))
        let percent = share >= 0.995 ? "always" : String(format: "%.0f%% of the time", share * 100)
        return
            "\(rule.title): its expression was true for \(trueFor) of \(scope) (\(percent), sampled every \(GuardrailDuration.seconds(Int64(step))))."
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
