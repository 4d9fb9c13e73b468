import ArgumentParser
import GuardrailCore
import GuardrailEngine

/// `guardrail rollout abort FLAG`: stop the rollout and return to the pre-rollout cohort.
struct RolloutAbortCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "abort", abstract: "Stop the rollout and return to the pre-rollout cohort.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions
    @OptionGroup var flag: FlagArgument
    @OptionGroup var why: ReasonOption

    func run() async throws {
        try await runRolloutCommand(global, environment, flag: flag.name, verb: "rollout abort", reason: why.reason) { .abort(by: $0) }
    }
}
