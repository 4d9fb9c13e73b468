import ArgumentParser

/// `guardrail verify`: checks that prove a property of the live system.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Prove properties of an environment, such as tenant isolation, or of the configuration, such as alert routing.",
        subcommands: [VerifyIsolationCommand.self, VerifyRoutingCommand.self]
    )
}
