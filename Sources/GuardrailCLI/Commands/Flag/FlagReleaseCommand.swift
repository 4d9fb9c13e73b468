import ArgumentParser
import GuardrailCore
import GuardrailEngine

/// `guardrail flag release FLAG`: undoes a kill; the flag returns to its ledger and its rollout.
struct FlagReleaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "release", abstract: "Undo a kill; the flag returns to its ledger and rollout.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions
    @OptionGroup var flag: FlagArgument

    func run() async throws {
        try await runRolloutCommand(global, environment, flag: flag.name, verb: "flag release") { .release(by: $0) }
    }
}
