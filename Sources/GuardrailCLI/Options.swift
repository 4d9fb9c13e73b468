import ArgumentParser
import Foundation
import GuardrailCore
import GuardrailEngine

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The configuration directory.", valueName: "dir"))
    var dir: String = "."

    @Flag(name: .long, help: "Never colour the output.")
    var noColor = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Refuse manifest files larger than this: bytes, or a number with KiB, MiB or GiB.",
            valueName: "size"))
    var maxFileSize = ByteSize(bytes: Workspace.defaultMaxFileSize)

    var workspace: Workspace { Workspace(root: Console.path(dir), maxFileSize: maxFileSize.bytes) }

    /// Loads the configuration; prints every diagnostic and fails if any is an error.
    /// With `environmentsOnly`, reads just `environments/`, for commands that need no manifests.
    /// With `environments`, takes `environments/` from those sources instead of reading it again.
    func loadConfiguration(environmentsOnly: Bool = false, environments: [ManifestSource]? = nil) throws -> Configuration {
        guard workspace.hasConfiguration else {
            Console.error(
                "error: no Guardrail configuration in \(workspace.root.path)\n  It has none of \(Workspace.folders.map { $0 + "/" }.joined(separator: ", ")). "
                    + "Run Guardrail from the configuration's directory, or point at it with --dir DIR.")
            throw ExitCode.failure
        }
        let (configuration, diagnostics) = try withDiagnostics {
            if environmentsOnly { return try workspace.loadEnvironments() }
            if let environments { return try workspace.load(environments: environments) }
            return try workspace.load()
        }
        Console.diagnostics(diagnostics.sorted)
        if diagnostics.hasErrors {
            let n = diagnostics.errors.count
            Console.error("\(n) error\(n == 1 ? "" : "s") in the configuration; nothing was planned.")
            throw ExitCode.failure
        }
        return configuration
    }
}

/// `--env`, shared by the commands that talk to an environment.
struct EnvironmentOptions: ParsableArguments {
    @Option(
        name: .long, help: ArgumentHelp("The environment, from environments/<env>.yaml. Defaults to $GUARDRAIL_ENV or local.", valueName: "env"),
        completion: Completions.environments)
    var env: String?

    var name: String { env ?? Console.environment["GUARDRAIL_ENV"] ?? "local" }

    func resolve(in configuration: Configuration) throws -> ResolvedEnvironment {
        guard let environment = configuration.environments[name] else {
            let known = configuration.environments.keys.sorted()
            Console.error(
                "error: unknown environment \"\(name)\"\n  "
                    + (known.isEmpty
                        ? "There are no environments here; add environments/\(name).yaml, or point --dir at the configuration directory."
                        : "Known environments: \(known.joined(separator: ", ")) (from environments/)."))
            throw ExitCode.failure
        }
        return try withDiagnostics { try ResolvedEnvironment.resolve(environment, processEnvironment: Console.environment) }
    }
}

/// Fails, naming the closest address, when a `--target` selects nothing in the configuration or the plan.
func checkTargets(_ patterns: [String], configuration: Configuration, plan: Plan) throws {
    // Without --target there is nothing to check, and no list of every address to build.
    guard !patterns.isEmpty else { return }
    var known = Array(configuration.locations.keys)
    known += GeneratedRules.groups(for: configuration).map(\.address)
    known += plan.changes.map(\.address)
    let unmatched = TargetPatterns.unmatched(patterns, known: known)
    guard !unmatched.isEmpty else { return }
    for (pattern, suggestion) in unmatched {
        Console.error(
            "error: --target \(pattern) names no object in the configuration or the live state\n  "
                + (suggestion.map { "Did you mean \($0)? " } ?? "")
                + "Addresses start with their kind: \(ConfigurationLoader.addressPrefixes.joined(separator: ", ")) (as in flag.channel.email).")
    }
    throw ExitCode.failure
}

/// `--allow-destroy` and `--allow-mass-delete`.
struct HazardOptions: ParsableArguments {
    @Flag(name: .long, help: "Allow changes that destroy objects (deleting a tenant, dropping a policy).")
    var allowDestroy = false

    @Flag(name: .long, help: "Allow deleting all of a kind's managed objects, or more than half of them.")
    var allowMassDelete = false

    var overrides: HazardOverrides { HazardOverrides(allowDestroy: allowDestroy, allowMassDelete: allowMassDelete) }
}

/// A size in bytes on the command line: `1048576`, `512KiB`, `16MiB`, `1GiB`.
struct ByteSize: ExpressibleByArgument, Sendable {
    var bytes: Int

    init(bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1)]
        var text = Substring(argument)
        var scale = 1
        if let (suffix, size) = units.first(where: { argument.hasSuffix($0.0) }) {
            text = text.dropLast(suffix.count)
            scale = size
        }
        guard let n = Int(text), n > 0, n <= Int.max / scale / 2 else { return nil }
        bytes = n * scale
    }

    var defaultValueDescription: String { Workspace.describe(bytes: bytes).replacingOccurrences(of: " ", with: "") }
}

extension GuardrailDuration: ExpressibleByArgument {
    public init?(argument: String) {
        guard case .success(let d) = GuardrailDuration.parse(argument) else { return nil }
        self = d
    }
}

/// Prints diagnostics and Postgres errors readably, and turns them into exit code 1. `during` names
/// the command ("plan", "apply") in the message a lost connection gets.
func withDiagnostics<T>(during command: String? = nil, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch {
        try report(error, during: command)
    }
}

func withDiagnostics<T>(during command: String? = nil, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        try report(error, during: command)
    }
}

private func report(_ error: any Error, during command: String?) throws -> Never {
    switch error {
    case let e as ExitCode: throw e
    case let e as DiagnosticError: Console.diagnostics(e.diagnostics)
    case let e as Diagnostic: Console.diagnostics([e])
    case let e as CleanExit: throw e
    case let e as DatabaseError where e.isConnectionLoss:
        Console.error(connectionLostMessage(e, during: command))
    default: Console.error("error: \(error)")
    }
    throw ExitCode.failure
}

/// "lost the connection to Postgres during plan; nothing was changed", and what happened, in one
/// place. Says the outcome is unknown when the connection went during a COMMIT.
func connectionLostMessage(_ error: DatabaseError, during command: String?) -> String {
    guard case .connectionLost(let context, let reason, let outcomeUnknown) = error else { return "error: \(error)" }
    let what = command.map { " during \($0)" } ?? ""
    var text = "error: lost the connection to Postgres\(what); "
    text +=
        outcomeUnknown
        ? "the COMMIT had been sent, so the changes may or may not have been applied. Run `guardrail plan` to see where the environment stands."
        : "nothing was changed."
    text += "\n  " + (context.map { "While \($0): " } ?? "") + reason
    return text
}
