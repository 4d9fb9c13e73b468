import Foundation
import GuardrailCore

/// Sends every guardrail query to the environment's Prometheus at plan time, as alert expressions
/// are sent: one Prometheus cannot parse fails the plan at the query's `file:line:column` with
/// Prometheus's own message. `{{cohort}}` and `{{control}}` are replaced by a regex that matches no
/// tenant, so the check reads no tenant's data and the answer's values are ignored. Only guardrails
/// the plan creates or changes are sent: the others passed this check when they were applied.
public struct GuardrailQueryChecker: Sendable {
    public var prometheus: PrometheusClient

    public init(prometheus: PrometheusClient) {
        self.prometheus = prometheus
    }

    public struct Outcome: Sendable {
        public var errors: [Diagnostic] = []
        /// Queries that could not be checked (Prometheus unreachable, or a refusal other than a parse error).
        public var notes: [String] = []
    }

    public func check(_ configuration: Configuration, plan: Plan) async -> Outcome {
        var queries: [(what: String, query: String, location: SourceLocation?)] = []
        let changed = Set(
            plan.changes.filter { $0.kind == Guardrail.kind && ($0.action == .create || $0.action == .update || $0.action == .replace) }.map(
                \.address))
        for guardrail in configuration.guardrails where changed.contains(guardrail.address) {
            let locations = configuration.guardrailQueryLocations[guardrail.name]
            queries.append(
                ("the query of guardrail \(guardrail.name)", guardrail.query, locations?.query ?? configuration.locations[guardrail.address]))
            if let minSamples = guardrail.minSamples {
                queries.append(
                    (
                        "the minSamples query of guardrail \(guardrail.name)", minSamples.query,
                        locations?.minSamplesQuery ?? configuration.locations[guardrail.address]
                    ))
            }
        }
        guard !queries.isEmpty else { return Outcome() }
        let client = prometheus
        let answers = await withTaskGroup(of: (Int, QueryAnswer).self) { group in
            for (index, item) in queries.enumerated() {
                group.addTask { (index, await client.instantQuery(PromQLSyntax.withSampleTemplates(item.query))) }
            }
            var answers = [QueryAnswer?](repeating: nil, count: queries.count)
            for await (index, answer) in group { answers[index] = answer }
            return answers
        }
        var outcome = Outcome()
        var unreachable = 0
        for (item, answer) in zip(queries, answers) {
            switch answer {
            case .refused(let type, let message) where type == "bad_data":
                outcome.errors.append(.error("Prometheus cannot parse \(item.what)", detail: "Prometheus says: \(message)", at: item.location))
            case .refused(let type, let message):
                outcome.notes.append("\(item.what): Prometheus could not evaluate it (\(type)): \(message)")
            case .failed:
                unreachable += 1
            case .success, nil:
                break
            }
        }
        if unreachable > 0 {
            outcome.notes.append(
                "Prometheus at \(HTTPExchange.redacted(prometheus.baseURL)) did not answer \(unreachable) of \(queries.count) guardrail query checks; those queries were not checked."
            )
        }
        return outcome
    }
}
