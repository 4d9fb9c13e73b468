import GuardrailCLI

await GuardrailCommand.run(CommandLine.arguments.dropFirst().map { $0 })
