import ArgumentParser
import GuardrailCore
import GuardrailEngine

/// `guardrail flag release FLAG...`: undo `flag kill`; rollouts continue where they were.
struct FlagReleaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Undo `flag kill`: the flags answer as their rollouts say again.",
        discussion: """
            Takes the same forms as `flag kill`: flag names, `--selector key=value`, or both, in one \
            transaction, all or none. A flag that is not killed is left as it is.
            """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions
    @OptionGroup var selection: FlagSelection
    @OptionGroup var why: ReasonOption

    func run() async throws {
        try await runFlagsCommand(global, environment, selection, verb: "flag release", reason: why.reason) { .release(by: $0) }
    }
}
