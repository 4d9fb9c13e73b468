import ArgumentParser
import GuardrailCore
import GuardrailEngine

/// `guardrail validate`: checks every manifest offline and reports every problem at once.
struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check the configuration offline; no database is needed.",
        discussion: """
            Reports every problem in one run as file:line:column: error: summary, and exits 1 if there is any error. \
            Rule files in alerts/ are also checked with `promtool check rules`, and rule unit tests (alerts/*_test.yaml) run with `promtool test rules`, when promtool is installed.
            """
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let configuration = try global.loadConfiguration()
        // The routing is a Guardrail document, not a rule file for promtool.
        let ruleFiles = configuration.files.filter {
            $0.hasPrefix("alerts/") && $0 != configuration.alertRouting?.location?.file && !configuration.ruleTestFiles.contains($0)
        }
        var promtoolLine = ""
        if !ruleFiles.isEmpty {
            let report = await Promtool.checkRules(ruleFiles, root: global.workspace.root.path, configuration: configuration)
            if !report.diagnostics.isEmpty {
                Console.diagnostics(report.diagnostics)
                Console.error("\(report.diagnostics.count) error\(report.diagnostics.count == 1 ? "" : "s") from promtool check rules.")
                throw ExitCode.failure
            }
            promtoolLine =
                report.ran
                ? "promtool check rules: \(ruleFiles.count) rule file\(ruleFiles.count == 1 ? "" : "s") OK.\n"
                : "promtool is not installed, so rule files were checked by Guardrail alone; plan checks every expression against Prometheus.\n"
        }
        let tests = configuration.ruleTestFiles
        if !tests.isEmpty {
            let report = await Promtool.testRules(tests, root: global.workspace.root.path)
            if !report.diagnostics.isEmpty {
                Console.diagnostics(report.diagnostics)
                Console.error("\(report.diagnostics.count) failure\(report.diagnostics.count == 1 ? "" : "s") from promtool test rules.")
                throw ExitCode.failure
            }
            promtoolLine +=
                report.ran
                ? "promtool test rules: \(tests.count) test file\(tests.count == 1 ? "" : "s") passed.\n"
                : "promtool is not installed, so the rule unit tests in \(tests.joined(separator: ", ")) did not run.\n"
        }
        let counts = configuration.objectCounts.filter { $0.count > 0 }
            .map { KindNames.count($0.count, of: $0.kind) }
        let files = configuration.files.count
        Console.out(
            "Configuration is valid: \(counts.isEmpty ? "no objects" : counts.joined(separator: ", ")) in \(files) file\(files == 1 ? "" : "s").\n"
                + promtoolLine)
    }
}
