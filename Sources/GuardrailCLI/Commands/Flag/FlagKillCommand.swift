import ArgumentParser
import GuardrailCore
import GuardrailEngine

/// `guardrail flag kill FLAG`: turn the flag off for every tenant at once, until it is released.
struct FlagKillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kill", abstract: "Turn the flag off for every tenant at once, until it is released.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions
    @OptionGroup var flag: FlagArgument

    func run() async throws {
        try await runRolloutCommand(global, environment, flag: flag.name, verb: "flag kill") { .kill(by: $0) }
    }
}
