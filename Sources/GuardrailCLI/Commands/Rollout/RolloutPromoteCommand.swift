import ArgumentParser
import GuardrailCore
import GuardrailEngine

/// `guardrail rollout promote FLAG`: advance to the next phase now, without waiting for the bake time.
struct RolloutPromoteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote", abstract: "Advance to the next phase now, without waiting for the bake time.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions
    @OptionGroup var flag: FlagArgument
    @OptionGroup var why: ReasonOption

    func run() async throws {
        try await runRolloutCommand(global, environment, flag: flag.name, verb: "rollout promote", reason: why.reason) { .promote(by: $0) }
    }
}
