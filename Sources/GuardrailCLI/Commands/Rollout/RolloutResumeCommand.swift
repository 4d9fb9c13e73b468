import ArgumentParser
import GuardrailCore
import GuardrailEngine

/// `guardrail rollout resume FLAG`: let a paused rollout advance again.
struct RolloutResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Let a paused rollout advance again.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions
    @OptionGroup var flag: FlagArgument
    @OptionGroup var why: ReasonOption

    func run() async throws {
        try await runRolloutCommand(global, environment, flag: flag.name, verb: "rollout resume", reason: why.reason) { .resume(by: $0) }
    }
}
