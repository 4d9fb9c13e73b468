import ArgumentParser
import GuardrailCore
import GuardrailEngine

/// `guardrail rollout retry FLAG`: start a rolled-back rollout again from its first phase.
struct RolloutRetryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "retry", abstract: "Start a rolled-back rollout again from its first phase.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions
    @OptionGroup var flag: FlagArgument
    @OptionGroup var why: ReasonOption

    func run() async throws {
        try await runRolloutCommand(global, environment, flag: flag.name, verb: "rollout retry", reason: why.reason) { .retry(by: $0) }
    }
}
