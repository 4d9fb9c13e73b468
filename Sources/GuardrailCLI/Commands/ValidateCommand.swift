import ArgumentParser
import GuardrailCore

/// `guardrail validate`: checks every manifest offline and reports every problem at once.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check the configuration offline; no database is needed.",
        discussion: "Reports every problem in one run as file:line:column: error: summary, and exits 1 if there is any error."
    )

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let configuration = try global.loadConfiguration()
        let counts = configuration.objectCounts.filter { $0.count > 0 }
            .map { KindNames.count($0.count, of: $0.kind) }
        let files = configuration.files.count
        Console.out("Configuration is valid: \(counts.isEmpty ? "no objects" : counts.joined(separator: ", ")) in \(files) file\(files == 1 ? "" : "s").\n")
    }
}
