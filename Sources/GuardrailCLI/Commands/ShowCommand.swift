import ArgumentParser
import Foundation
import GuardrailCore

/// `guardrail show plan.json`: renders a saved plan. Reads the file only: no configuration, no
/// database, no network.
struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show a saved plan without touching anything.",
        discussion: """
            Renders a plan saved by `guardrail plan --out` as text, JSON or Markdown, with where and from \
            what it was made. With GUARDRAIL_PLAN_KEY set, it also says whether the signature is valid.
            """
    )

    @Flag(name: .long, help: "Never colour the output.")
    var noColor = false

    @Option(name: .long, help: "Output format: text, json or markdown.")
    var format: PlanCommand.Format = .text

    @Argument(help: ArgumentHelp("A plan saved by `guardrail plan --out`.", valueName: "plan-file"))
    var planFile: String

    func run() throws {
        let plan = try withDiagnostics { try PlanFile.read(Console.path(planFile)) }
        switch format {
        case .json: Console.out(try JSONPlanRenderer.render(plan))
        case .markdown: Console.out(MarkdownPlanRenderer().render(plan))
        case .text:
            Console.out(TextPlanRenderer(color: Console.useColor(disabled: noColor)).render(plan))
            Console.out("\n" + Self.provenance(of: plan, key: Console.environment["GUARDRAIL_PLAN_KEY"]))
        }
    }

    /// Where the plan was made, from which configuration, and its signature's state.
    static func provenance(of plan: Plan, key: String?) -> String {
        var lines = ["Plan \(plan.id), made \(plan.createdAt)" + (plan.gitCommit.map { " at commit \($0)" } ?? "") + "."]
        if let binding = plan.binding {
            lines.append("For \(binding.targetDescription).")
            lines.append(
                "From configuration \(binding.configuration.sha256.prefix(16)) (\(KindNames.count(binding.configuration.files.count, of: "file")))"
                    + (binding.targets.isEmpty ? "." : ", narrowed to \(binding.targets.joined(separator: ", "))."))
        } else {
            lines.append("Not bound to a target: `guardrail apply` refuses it.")
        }
        switch (plan.signature, key.flatMap { $0.isEmpty ? nil : $0 }) {
        case (nil, _): lines.append("Not signed.")
        case (_?, nil): lines.append("Signed; set GUARDRAIL_PLAN_KEY to check the signature.")
        case (_?, let key?):
            let verdict = (try? PlanSignature.verify(plan, key: key)) ?? .invalid
            lines.append(
                verdict == .valid
                    ? "Signed, and the signature is valid."
                    : "Signed, but the signature does NOT match: the file was modified or signed with another key.")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
