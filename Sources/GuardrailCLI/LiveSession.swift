import ArgumentParser
import Foundation
import GuardrailCore
import GuardrailEngine

/// Opens a session on the chosen environment for a command, and always closes it.
func withSession<T>(_ global: GlobalOptions, _ environment: EnvironmentOptions, purpose: String,
                    _ body: (Session, Configuration, Environment) async throws -> T) async throws -> T {
    let configuration = try global.loadConfiguration()
    let resolved = try environment.resolve(in: configuration)
    let declared = configuration.environments[resolved.name]!
    return try await withDiagnostics {
        let session = try await Session.open(resolved, applicationName: "guardrail \(purpose) (\(Console.osUser)@\(Console.hostName))")
        do {
            let result = try await body(session, configuration, declared)
            await session.close()
            return result
        } catch {
            await session.close()
            throw error
        }
    }
}

/// Runs one operator command on a flag's rollout and prints what it decided.
func runRolloutCommand(_ global: GlobalOptions, _ environment: EnvironmentOptions, flag: String, verb: String,
                       _ event: (String) -> RolloutEvent) async throws {
    let actor = Console.osUser
    let decisions = try await withSession(global, environment, purpose: "\(verb) \(flag)") { session, _, _ in
        try await session.command(flag, event(actor), actor: actor)
    }
    for decision in decisions { Console.out("flag.\(flag): \(decision.message)\n") }
}

/// The `FLAG` argument of rollout and flag commands.
struct FlagArgument: ParsableArguments {
    @Argument(help: ArgumentHelp("The flag's name, such as channel.email.", valueName: "flag"))
    var flag: String

    func validate() throws {
        let name = flag.hasPrefix("flag.") ? String(flag.dropFirst(5)) : flag
        if let problem = NameRules.dottedName(name) {
            throw ValidationError("\"\(flag)\" is not a flag name: \(problem)")
        }
    }

    /// The name without a `flag.` address prefix, so both `channel.email` and `flag.channel.email` work.
    var name: String { flag.hasPrefix("flag.") ? String(flag.dropFirst(5)) : flag }
}
