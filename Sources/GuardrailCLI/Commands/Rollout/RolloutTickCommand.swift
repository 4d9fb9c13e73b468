import ArgumentParser
import Foundation
import GuardrailCore
import GuardrailEngine

/// `guardrail rollout tick`: one evaluation step, the one the controller runs every interval.
struct RolloutTickCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tick",
        abstract: "Evaluate due guardrails and advance, hold or roll back every active rollout, once.",
        discussion: "Queries the environment's Prometheus, then records every evaluation and decision. Takes the apply lock."
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions

    @Option(name: .long, help: ArgumentHelp("How long to wait for an apply or another tick to finish.", valueName: "duration"))
    var lockTimeout: GuardrailDuration = .seconds(10)

    func run() async throws {
        let (results, resolved) = try await withSession(global, environment, purpose: "rollout tick") { session, _, declared in
            guard let prometheus = declared.prometheus else {
                throw DiagnosticError(
                    .error(
                        "environment \"\(declared.name)\" has no prometheus.url",
                        detail: "Rollouts read their guardrails from Prometheus; add `prometheus: {url: ...}` to environments/\(declared.name).yaml.",
                        at: declared.location))
            }
            let url: String
            switch prometheus.url.expand(Console.environment) {
            case .success(let text): url = text
            case .failure(let diagnostic): throw DiagnosticError(diagnostic)
            }
            try await session.acquireLock(
                timeout: lockTimeout, applicationName: "guardrail rollout tick (\(Console.osUser)@\(Console.hostName)) lock")
            return (try await session.tick(metrics: PrometheusClient(baseURL: url), actor: Console.osUser), session.environment)
        }
        guard !results.isEmpty else {
            Console.out("No rollouts are running.\n")
            return
        }
        for result in results {
            Console.out("flag.\(result.flag): \(result.status) at phase \(result.phase + 1) (\(result.phaseName))\n")
            for verdict in result.verdicts {
                let value = verdict.value.map(MetricNumber.text) ?? "-"
                Console.out("  \(verdict.guardrail): \(verdict.kind.rawValue) (value \(value), threshold \(verdict.threshold)) \(verdict.message)\n")
            }
            for decision in result.decisions where decision.kind != .evaluation {
                Console.out("  => \(decision.kind.rawValue): \(decision.message)\n")
            }
        }
        await announce(results.flatMap { result in result.decisions.map { (flag: result.flag, decision: $0) } }, in: resolved)
    }
}
