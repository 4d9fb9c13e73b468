import ArgumentParser
import GuardrailCore
import GuardrailEngine

/// `guardrail flag eval FLAG --tenant T`: the answer applications get, and why.
struct FlagEvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Show whether a flag is on for a tenant, and why.",
        discussion: "The answer comes from guardrail.flag_enabled, the function applications call, so it is exactly what they see."
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions
    @OptionGroup var flag: FlagArgument

    @Option(name: .long, help: ArgumentHelp("The tenant's name or id.", valueName: "tenant"))
    var tenant: String

    func run() async throws {
        let explanation = try await withSession(global, environment, purpose: "flag eval") { session, _, _ in
            try await session.explain(flag.name, tenant: tenant)
        }
        Console.out(explanation.render())
    }
}
