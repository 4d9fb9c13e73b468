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

    @Flag(name: .long, help: "Print every change of a plan of more than 1,000 (by default the first 200, every hazard and a count per kind).")
    var full = false

    @Flag(name: .long, help: "Exit 2 when there are changes and 3 when hazards block them.")
    var detailedExitcode = false

    @Option(
        name: .long, help: ArgumentHelp("Plan only this address, or everything below it (repeatable).", valueName: "address"),
        completion: Completions.addresses)
    var target: [String] = []

    func run() async throws {
        let configuration = try global.loadConfiguration()
        let resolved = try environment.resolve(in: configuration)
        if out != nil, let problem = resolved.planSigningKeyProblem { try withDiagnostics { throw DiagnosticError(problem) } }
        var plan = try await withDiagnostics(during: "plan") {
            let session = try await Session.open(resolved, applicationName: "guardrail plan (\(Console.osUser)@\(Console.hostName))")
            do {
                var plan = try await session.plan(configuration, targets: target, gitCommit: global.workspace.gitCommit())
                if out != nil, let digest = configuration.digest {
                    plan.binding = try await session.binding(targets: target, configuration: digest)
                }
                await session.close()
                return plan
            } catch {
                await session.close()
                throw error
            }
        }
        try checkTargets(target, configuration: configuration, plan: plan)
        if let out {
            if let key = resolved.planSigningKey { plan.signature = try PlanSignature.sign(plan, key: key.value) }
            try withDiagnostics { try PlanFile.write(plan, to: Console.path(out)) }
        }
        let overrides = hazards.overrides
        var hazardsTruncated = false
        switch format {
        case .text:
            Console.out(
                TextPlanRenderer(
                    color: Console.useColor(disabled: global.noColor), overrides: overrides,
                    shortenAbove: full ? nil : TextPlanRenderer.defaultShortenAbove
                ).render(plan))
        case .json: Console.out(try JSONPlanRenderer.render(plan, overrides: overrides))
        case .markdown:
            let rendering = MarkdownPlanRenderer(overrides: overrides).rendering(plan)
            hazardsTruncated = rendering.hazardsTruncated
            Console.out(rendering.text)
        }
        if let out, format == .text {
            Console.out(
                "\nSaved the plan to \(out)\(plan.signature == nil ? "" : " (signed)"). Apply it with: guardrail apply --env \(plan.environment) \(out)\n"
            )
        }
        if detailedExitcode {
            if !plan.hasChanges { throw ExitCode(0) }
            // A comment that could not list every hazard is not a complete review.
            throw ExitCode(plan.blockingHazards(overrides).isEmpty && !hazardsTruncated ? 2 : 3)
        }
    }
}

/// Saved plans: the JSON document, readable by its owner only (it holds live values), written so a
/// reader never sees half a file.
enum PlanFile {
    static func write(_ plan: Plan, to path: String) throws {
        let bytes = try JSONPlanRenderer.renderUTF8(plan)
        do {
            try PrivateFile.writeAtomically(bytes, to: path)
        } catch {
            throw DiagnosticError(.error("cannot write the plan to \(path)", detail: "\(error)"))
        }
    }

    static func read(_ path: String) throws -> Plan {
        let data = try contents(path)
        do {
            return try JSONPlanRenderer.decode(data)
        } catch {
            throw notAPlan(path, error)
        }
    }

    /// What `apply FILE` reads first: the bytes and everything but the changes, which are decoded
    /// only when the file turns out not to be what a fresh plan renders to.
    static func readForApply(_ path: String) throws -> SavedPlanFile {
        let data = try contents(path)
        do {
            return try SavedPlanFile(bytes: Array(data))
        } catch {
            throw notAPlan(path, error)
        }
    }

    private static func contents(_ path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DiagnosticError(
                .error("cannot read the plan file \(path)", detail: "Check the path; make one with `guardrail plan --out \(path)`."))
        }
        return data
    }

    private static func notAPlan(_ path: String, _ error: any Error) -> DiagnosticError {
        DiagnosticError(
            .error(
                "\(path) is not a Guardrail plan file",
                detail: "It could not be read as a saved plan (\(error)). Make one with `guardrail plan --out FILE`."))
    }
}
