import ArgumentParser

/// `guardrail flag`: the emergency switch and per-tenant answers.
struct FlagCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flag",
        abstract: "Kill or release a flag, or explain its answer for one tenant.",
        subcommands: [FlagKillCommand.self, FlagReleaseCommand.self, FlagEvalCommand.self]
    )
}
