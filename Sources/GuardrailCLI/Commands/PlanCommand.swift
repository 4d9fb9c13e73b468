import ArgumentParser
import Foundation
import GuardrailCore
import GuardrailEngine

/// `guardrail plan`: shows what apply would change. Read-only: takes no lock and writes nothing.
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show the changes that apply would make to an environment.",
        discussion: """
            With --detailed-exitcode the exit code is 0 for no changes, 1 for an error, 2 for changes \
            and 3 for changes that hazards block (see --allow-destroy and --allow-mass-delete).
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, markdown }

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions
    @OptionGroup var hazards: HazardOptions

    @Option(name: .long, help: ArgumentHelp("Save the plan to this file, for `guardrail apply FILE`.", valueName: "file"))
    var out: String?

    @Option(name: .long, help: "Output format: text, json or markdown.")
    var format: Format = .text

    @Flag(name: .long, help: "Exit 2 when there are changes and 3 when hazards block them.")
    var detailedExitcode = false

    @Option(name: .long, help: ArgumentHelp("Plan only this address, or everything below it (repeatable).", valueName: "address"))
    var target: [String] = []

    func run() async throws {
        let configuration = try global.loadConfiguration()
        let resolved = try environment.resolve(in: configuration)
        let plan = try await withDiagnostics {
            let session = try await Session.open(resolved, applicationName: "guardrail plan (\(Console.osUser)@\(Console.hostName))")
            // Closed in this task on both paths, before the plan is printed.
            do {
                let plan = try await session.plan(configuration, targets: target, gitCommit: global.workspace.gitCommit())
                await session.close()
                return plan
            } catch {
                await session.close()
                throw error
            }
        }
        if let out {
            try withDiagnostics { try PlanFile.write(plan, to: out) }
        }
        let overrides = hazards.overrides
        switch format {
        case .text: Console.out(TextPlanRenderer(color: Console.useColor(disabled: global.noColor), overrides: overrides).render(plan))
        case .json: Console.out(try JSONPlanRenderer.render(plan, overrides: overrides))
        case .markdown: Console.out(MarkdownPlanRenderer(overrides: overrides).render(plan))
        }
        if let out, format == .text { Console.out("\nSaved the plan to \(out). Apply it with: guardrail apply --env \(plan.environment) \(out)\n") }
        if detailedExitcode {
            if !plan.hasChanges { throw ExitCode(0) }
            throw ExitCode(plan.blockingHazards(overrides).isEmpty ? 2 : 3)
        }
    }
}

/// Saved plans: the JSON document, written so a reader never sees half a file.
enum PlanFile {
    static func write(_ plan: Plan, to path: String) throws {
        let text = try JSONPlanRenderer.render(plan)
        let url = URL(fileURLWithPath: path)
        do {
            try Data(text.utf8).write(to: url, options: .atomic)
        } catch {
            throw DiagnosticError(.error("cannot write the plan to \(path)", detail: "\(error.localizedDescription)"))
        }
    }

    static func read(_ path: String) throws -> Plan {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DiagnosticError(.error("cannot read the plan file \(path)", detail: "Check the path; make one with `guardrail plan --out \(path)`."))
        }
        do {
            return try JSONPlanRenderer.decode(data)
        } catch {
            throw DiagnosticError(.error("\(path) is not a Guardrail plan file", detail: "It could not be read as a saved plan (\(error)). Make one with `guardrail plan --out FILE`."))
        }
    }
}
