import ArgumentParser
import Foundation
import GuardrailCore
import GuardrailEngine

/// Opens a session on the chosen environment for a command, and always closes it.
func withSession<T>(
    _ global: GlobalOptions, _ environment: EnvironmentOptions, purpose: String,
    _ body: (Session, Configuration, Environment) async throws -> T
) async throws -> T {
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
func runRolloutCommand(
    _ global: GlobalOptions, _ environment: EnvironmentOptions, flag: String, verb: String, reason: String?,
    _ event: (String) -> RolloutEvent
) async throws {
    let actor = Console.osUser
    let (decisions, resolved) = try await withSession(global, environment, purpose: "\(verb) \(flag)") { session, _, _ in
        if let refusal = session.environment.missingReason(reason, command: "`guardrail \(verb)`") { throw RolloutCommandError(description: refusal) }
        return (try await session.command(flag, event(actor), actor: actor, reason: reason), session.environment)
    }
    for decision in decisions { Console.out("flag.\(flag): \(decision.message)\n") }
    await announce(decisions.map { (flag, $0) }, in: resolved)
}

/// Tells the environment's Alertmanager what an operator command decided, once; a failure is a
/// warning, as the decision is already committed.
func announce(_ decisions: [(flag: String, decision: RolloutDecision)], in environment: ResolvedEnvironment) async {
    let events = decisions.compactMap { GuardrailEvent.of($0.decision, flag: $0.flag, environment: environment.name, at: Date()) }
    await announce(events, in: environment)
}

func announce(_ events: [GuardrailEvent], in environment: ResolvedEnvironment) async {
    let destinations = environment.notificationDestinations
    guard !destinations.isEmpty, !events.isEmpty else { return }
    for problem in await Notifier.deliverOnce(events, to: destinations) {
        Console.error("warning: not delivered (\(problem)); the change itself is done.\n")
    }
}

/// `--reason` on every command that changes something: stored with what it did, shown by `history`,
/// and required where the environment sets `requireReason: true`.
struct ReasonOption: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Why, for the audit trail (`guardrail history`); required where the environment sets requireReason.",
            valueName: "text"))
    var reason: String?
}

/// The `FLAG` argument of rollout and flag commands.
struct FlagArgument: ParsableArguments {
    @Argument(help: ArgumentHelp("The flag's name, such as channel.email.", valueName: "flag"), completion: Completions.flags)
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

/// Flags named as arguments and/or selected by their manifests' labels, for `flag kill|release`.
struct FlagSelection: ParsableArguments {
    @Argument(help: ArgumentHelp("Flag names, such as channel.email channel.sms.", valueName: "flag"), completion: Completions.flags)
    var flags: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Select flags whose metadata.labels include key=value (repeatable, or comma-separated).",
            valueName: "key=value"))
    var selector: [String] = []

    var names: [String] { flags.map { $0.hasPrefix("flag.") ? String($0.dropFirst(5)) : $0 } }

    /// `group=channels,tier=1` and repeated options, as one map.
    var labels: [String: String] {
        var out: [String: String] = [:]
        for part in selector.flatMap({ $0.split(separator: ",") }) {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { out[String(pair[0])] = String(pair[1]) }
        }
        return out
    }

    func validate() throws {
        guard !flags.isEmpty || !selector.isEmpty else {
            throw ValidationError("name at least one flag, or select flags with --selector key=value")
        }
        for name in names {
            if let problem = NameRules.dottedName(name) { throw ValidationError("\"\(name)\" is not a flag name: \(problem)") }
        }
        for part in selector.flatMap({ $0.split(separator: ",") }) where part.split(separator: "=", maxSplits: 1).count != 2 {
            throw ValidationError("--selector takes key=value pairs, such as group=channels; got \"\(part)\"")
        }
    }

    /// The named flags plus those the selector picks from the configuration; fails when the selector picks none.
    func resolve(in configuration: Configuration) throws -> [String] {
        var picked = names
        if !selector.isEmpty {
            let selected = configuration.flags(selectedBy: labels)
            guard !selected.isEmpty else {
                Console.error(
                    "error: no flag in the configuration has the labels \(labels.keys.sorted().map { "\($0)=\(labels[$0]!)" }.joined(separator: ","))\n"
                        + "  Labels are the flags' metadata.labels in manifests/.")
                throw ExitCode.failure
            }
            picked += selected
        }
        return Array(Set(picked)).sorted()
    }
}

/// Runs one operator command on several flags in one transaction and prints what it did to each.
func runFlagsCommand(
    _ global: GlobalOptions, _ environment: EnvironmentOptions, _ selection: FlagSelection, verb: String, reason: String?,
    _ event: (String) -> RolloutEvent
) async throws {
    let actor = Console.osUser
    let (results, resolved) = try await withSession(global, environment, purpose: verb) { session, configuration, _ in
        if let refusal = session.environment.missingReason(reason, command: "`guardrail \(verb)`") { throw RolloutCommandError(description: refusal) }
        return (try await session.command(try selection.resolve(in: configuration), event(actor), actor: actor, reason: reason), session.environment)
    }
    for (flag, decision) in results { Console.out("flag.\(flag): \(decision.message)\n") }
    await announce(results.map { (flag: $0.0, decision: $0.1) }, in: resolved)
}
