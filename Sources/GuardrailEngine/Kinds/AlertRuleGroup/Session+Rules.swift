import Foundation
import GuardrailCore

extension Session {
    /// Asks the environment's Prometheus about every rule of the plan: a refused expression fails the
    /// plan at its `file:line:column`; new and changed alerting rules get how often they would have fired.
    /// The queries of new and changed guardrails are sent too, whenever the environment names a Prometheus.
    func checkRules(_ plan: Plan, configuration: Configuration, now: Date) async throws -> Plan {
        var plan = plan
        if let url = environment.prometheusURL, !configuration.guardrails.isEmpty {
            let outcome = await GuardrailQueryChecker(prometheus: PrometheusClient(baseURL: url)).check(configuration, plan: plan)
            if !outcome.errors.isEmpty { throw DiagnosticError(outcome.errors) }
            plan.notes += outcome.notes
        }
        guard environment.rulesTarget != nil else { return plan }
        guard let url = environment.prometheusURL else {
            plan.notes.append("Environment \"\(environment.name)\" has no prometheus.url, so rule expressions were not checked.")
            return plan
        }
        let groups = configuration.ruleGroups + GeneratedRules.groups(for: configuration)
        let outcome = await RuleExpressionChecker(prometheus: PrometheusClient(baseURL: url)).check(groups, plan: plan, now: now)
        if !outcome.errors.isEmpty { throw DiagnosticError(outcome.errors) }
        for index in plan.changes.indices {
            if let details = outcome.details[plan.changes[index].address] { plan.changes[index].details += details }
        }
        plan.notes += outcome.notes
        return plan
    }
}
