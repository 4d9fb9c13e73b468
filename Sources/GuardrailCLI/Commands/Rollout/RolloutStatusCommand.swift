import ArgumentParser
import GuardrailCore
import GuardrailEngine

/// `guardrail rollout status FLAG`: the phase timeline, guardrail values and verdicts, recent decisions.
struct RolloutStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show a flag's rollout: phases, guardrail history and decisions.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions
    @OptionGroup var flag: FlagArgument

    func run() async throws {
        let report = try await withSession(global, environment, purpose: "rollout status") { session, _, _ in
            try await session.rolloutStatus(flag.name)
        }
        Console.out(report.render())
    }
}
