import ArgumentParser
import GuardrailCore
import GuardrailEngine

/// `guardrail rollout pause FLAG`: hold the rollout at its current phase; guardrails keep watching it.
struct RolloutPauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Hold the rollout at its current phase; guardrails keep watching it.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions
    @OptionGroup var flag: FlagArgument

    @OptionGroup var why: ReasonOption

    func run() async throws {
        try await runRolloutCommand(global, environment, flag: flag.name, verb: "rollout pause", reason: why.reason) { [reason = why.reason] in
            .pause(by: $0, reason: reason)
        }
    }
}
