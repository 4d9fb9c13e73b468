import ArgumentParser
import GuardrailCore
import GuardrailEngine

/// `guardrail verify routing`: which receivers an alert with the given labels reaches, from
/// alerts/routing.yaml alone (the `amtool config routes test` habit, without Alertmanager).
struct VerifyRoutingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routing",
        abstract: "Show which receivers an alert with the given labels reaches.",
        discussion: """
            Walks the route tree of alerts/routing.yaml as Alertmanager does: child routes are tried in order and \
            the first that matches takes the alert unless it sets continue; regular expressions are anchored. \
            Prints one receiver per line. Needs no Alertmanager and no environment.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("The alert's labels, such as severity=critical,team=ops.", valueName: "labels"))
    var labels: String

    func validate() throws {
        if case .failure(let problem) = AlertRouting.parseLabels(labels) { throw ValidationError("--labels: \(problem.message)") }
    }

    func run() async throws {
        let configuration = try global.loadConfiguration()
        guard let routing = configuration.alertRouting else {
            Console.error("error: the configuration has no AlertRouting\n  Declare receivers and routes in alerts/routing.yaml first.")
            throw ExitCode.failure
        }
        guard case .success(let parsed) = AlertRouting.parseLabels(labels) else { throw ExitCode.validationFailure }
        Console.out(routing.receivers(for: parsed).joined(separator: "\n") + "\n")
    }
}
