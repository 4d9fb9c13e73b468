import ArgumentParser

/// `guardrail rollout`: watch and steer phased flag rollouts.
struct RolloutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout",
        abstract: "Run, inspect and steer phased flag rollouts.",
        discussion: """
            The manifest declares a flag's target and rollout policy; the rollout's current phase is live \
            state that `rollout tick` (or the controller) advances and these commands steer.
            """,
        subcommands: [
            RolloutTickCommand.self, RolloutStatusCommand.self, RolloutPromoteCommand.self, RolloutPauseCommand.self,
            RolloutResumeCommand.self, RolloutAbortCommand.self, RolloutRetryCommand.self,
        ]
    )
}
