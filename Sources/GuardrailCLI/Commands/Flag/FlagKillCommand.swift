import ArgumentParser
import GuardrailCore
import GuardrailEngine

/// `guardrail flag kill FLAG...`: turn flags off for every tenant at once, until they are released.
struct FlagKillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill",
        abstract: "Turn flags off for every tenant at once, until they are released.",
        discussion: """
            Name the flags (`guardrail flag kill channel.email channel.sms`), or select them by their \
            manifests' labels (`--selector group=channels`), or both. Several flags are killed in one \
            transaction: all of them or, when one is unknown, none. A flag already killed is left as it is.
            """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions
    @OptionGroup var selection: FlagSelection
    @OptionGroup var why: ReasonOption

    func run() async throws {
        try await runFlagsCommand(global, environment, selection, verb: "flag kill", reason: why.reason) { .kill(by: $0) }
    }
}
