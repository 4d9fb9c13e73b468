import ArgumentParser
import Foundation
import GuardrailCore
import GuardrailEngine

/// `guardrail`: reconciles a platform's operational state with the YAML in Git.
public struct GuardrailCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "guardrail",
        abstract: "Plan and apply a platform's operational state from YAML manifests.",
        discussion: """
            Reads manifests/, policies/, alerts/ and environments/ from the current directory (or --dir), \
            compares them with the live state of an environment, and plans and applies the difference.
            """,
        version: GuardrailCommand.version,
        subcommands: [
            ValidateCommand.self, PlanCommand.self, ApplyCommand.self, ShowCommand.self, HistoryCommand.self, ImportCommand.self, VerifyCommand.self,
            ControllerCommand.self,
            RolloutCommand.self, FlagCommand.self, BackupCommand.self, SchemaCommand.self,
        ]
    )

    public init() {}

    /// This release of Guardrail. The saved-plan format has its own version (`Plan.currentFormatVersion`).
    public static let release = "0.9.0"

    /// `guardrail --version`: the release and the Git commit the binary was built from
    /// (`-modified` when tracked files differed from it).
    public static let version = "guardrail \(release) (commit \(BuildInfo.commit))"

    /// Runs the command line and exits. Every error exits 1, as the plan contract promises CI;
    /// `--detailed-exitcode` adds 2 (changes) and 3 (changes blocked by hazards).
    public static func run(_ arguments: [String]) async -> Never {
        Foundation.exit(await execute(arguments))
    }

    /// Runs the command line with `io` (the process's own by default) and returns its exit status.
    public static func execute(_ arguments: [String], io: CommandIO = .process) async -> Int32 {
        await CommandIO.$current.withValue(io) {
            do {
                var command = try parseAsRoot(arguments)
                if var async = command as? any AsyncParsableCommand {
                    try await async.run()
                } else {
                    try command.run()
                }
                return 0
            } catch let code as ExitCode {
                return code.rawValue
            } catch {
                if exitCode(for: error) == .success {
                    Console.out(fullMessage(for: error) + "\n")
                    return 0
                }
                Console.error(fullMessage(for: error))
                return 1
            }
        }
    }
}
