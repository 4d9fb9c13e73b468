import ArgumentParser
import GuardrailCore
import GuardrailEngine

/// `guardrail flag release FLAG`: Undo a kill
struct FlagReleaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "release", abstract: "Undo a kill")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions
    @OptionGroup var flag: FlagArgument

    func run() async throws {
        try await runRolloutCommand(global, environment, flag: flag.name, verb: "flag release") {  the flag returns to its ledger and rollout.:.release(by: $0) }
    }
}
