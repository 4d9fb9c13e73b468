import ArgumentParser
import Foundation
import GuardrailCore
import GuardrailEngine

/// `guardrail apply`: makes the environment match the configuration, or applies a saved plan.
struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Apply the configuration to an environment, or apply a saved plan.",
        discussion: """
            Without a plan file, apply plans, shows the plan and asks for confirmation (or needs \
            --auto-approve when not on a terminal). With a plan file, it takes the lock, plans again from \
            the configuration and live state, and applies only when the fresh plan is identical to the saved one, \
            made for this environment and database from the same configuration files (and signed, when a signing \
            key is set); otherwise it refuses and names the first difference. All Postgres changes happen in one \
            transaction under the environment's apply lock.
            """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions
    @OptionGroup var hazards: HazardOptions
    @OptionGroup var why: ReasonOption

    @Argument(help: ArgumentHelp("A plan saved by `guardrail plan --out`.", valueName: "plan-file"))
    var planFile: String?

    @Flag(name: .long, help: "Apply without asking for confirmation.")
    var autoApprove = false

    @Option(name: .long, help: ArgumentHelp("How long to wait for another apply to finish (e.g. 30s).", valueName: "duration"))
    var lockTimeout: GuardrailDuration = .seconds(10)

    @Flag(name: .long, help: "Print every change of a plan of more than 1,000 (by default the first 200, every hazard and a count per kind).")
    var full = false

    @Option(
        name: .long, help: ArgumentHelp("Apply only this address, or everything below it (repeatable).", valueName: "address"),
        completion: Completions.addresses)
    var target: [String] = []

    /// A session being opened, and the apply lock taken, from environments/ alone.
    private struct EarlySession {
        /// environments/ as read, reused by the full load; and the environment resolved from it.
        var sources: [ManifestSource]
        var resolved: ResolvedEnvironment
        var task: Task<Session, any Error>

        /// Closes the session when it was opened and the full configuration did not load.
        func discard() async {
            if let session = try? await task.value { await session.close() }
        }
    }

    /// nil when the environment does not load cleanly from environments/ by itself.
    private func earlySession(applicationName: String) -> EarlySession? {
        guard let (sources, refusals) = try? global.workspace.sources(folders: ["environments"]), refusals.isEmpty else { return nil }
        let (environments, diagnostics) = ConfigurationLoader.load(sources)
        guard !diagnostics.hasErrors, let declared = environments.environments[environment.name],
            let resolved = try? ResolvedEnvironment.resolve(declared, processEnvironment: Console.environment)
        else { return nil }
        let timeout = lockTimeout
        return EarlySession(
            sources: sources, resolved: resolved,
            task: Task {
                try await Self.openLocked(resolved, applicationName: applicationName, timeout: timeout)
            })
    }

    /// A session on the environment holding the apply lock; nothing is left open when either fails.
    private static func openLocked(_ resolved: ResolvedEnvironment, applicationName: String, timeout: GuardrailDuration) async throws -> Session {
        let session = try await Session.open(resolved, applicationName: applicationName)
        do {
            try await session.acquireLock(timeout: timeout, applicationName: applicationName + " lock") { holder in
                Console.error("waiting for the apply lock held by \(holder.map { "\($0)" } ?? "another Guardrail process") ...")
            }
        } catch {
            await session.close()
            throw error
        }
        return session
    }

    func validate() throws {
        if planFile != nil, !target.isEmpty {
            throw ValidationError("--target cannot be combined with a saved plan; target when you run `guardrail plan --out`.")
        }
    }

    func run() async throws {
        let user = Console.osUser
        let applicationName = "guardrail apply (\(user)@\(Console.hostName))"
        // Connect and take the apply lock while the manifests decode: the environment needs only
        // environments/. Anything odd there, and the session is opened after the full load instead.
        let early = earlySession(applicationName: applicationName)
        // A saved plan's header decodes on another core while the manifests do.
        let reading = planFile.map { Console.path($0) }.map { path in
            Task.detached(priority: .userInitiated) { Result { try PlanFile.readForApply(path) } }
        }
        let configuration: Configuration
        let resolved: ResolvedEnvironment
        let savedPlan: SavedPlanFile?
        do {
            // environments/ is read once: the full load reuses what the early session read, and the
            // environment it resolved is the one used.
            configuration = try global.loadConfiguration(environments: early?.sources)
            resolved = try early?.resolved ?? environment.resolve(in: configuration)
            if let refusal = resolved.missingReason(why.reason, command: "`guardrail apply`") {
                Console.error("error: " + refusal)
                throw ExitCode.failure
            }
            if let reading {
                let read = await reading.value
                savedPlan = try withDiagnostics { try read.get() }
            } else {
                savedPlan = nil
            }
        } catch {
            await early?.discard()
            throw error
        }
        let color = Console.useColor(disabled: global.noColor)
        let overrides = hazards.overrides

        let session: Session
        if let early {
            session = try await withDiagnostics(during: "apply") { try await early.task.value }
        } else {
            session = try await withDiagnostics(during: "apply") {
                try await Self.openLocked(resolved, applicationName: applicationName, timeout: lockTimeout)
            }
        }
        do {
            let plan: Plan
            if let savedPlan {
                // Re-planned under the lock and compared with the file; what is applied is the
                // fresh plan, so nothing that decides safety comes from the file.
                plan = try await withDiagnostics {
                    try await session.replan(file: savedPlan, configuration: configuration, gitCommit: global.workspace.gitCommit())
                }
            } else {
                plan = try await withDiagnostics(during: "apply") {
                    try await session.plan(configuration, targets: target, gitCommit: global.workspace.gitCommit())
                }
                try checkTargets(target, configuration: configuration, plan: plan)
            }
            // The plan text is rendered on another core while Postgres applies, when nobody has to
            // read it first; it is printed before the outcome either way.
            let renderer = TextPlanRenderer(color: color, overrides: overrides, shortenAbove: full ? nil : TextPlanRenderer.defaultShortenAbove)
            let needsConfirmation = savedPlan == nil && !autoApprove
            let blocked = plan.blockingHazards(overrides)
            if !plan.hasChanges || !blocked.isEmpty || needsConfirmation {
                Console.out(renderer.render(plan))
            }
            guard plan.hasChanges else {
                await session.close()
                return
            }
            if !blocked.isEmpty {
                Console.error("error: " + Session.ApplyRefusal.blocked(by: blocked).description)
                throw ExitCode.failure
            }
            if needsConfirmation {
                guard Console.stdinIsTerminal else {
                    Console.error(
                        "error: apply needs confirmation, and standard input is not a terminal\n  Pass --auto-approve to apply without asking, or save a plan with `guardrail plan --out FILE` and apply that."
                    )
                    throw ExitCode.failure
                }
                Console.out(
                    "\nDo you want to perform these actions in environment \"\(plan.environment)\"?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
                )
                guard Console.readLine()?.trimmingCharacters(in: .whitespaces) == "yes" else {
                    Console.error("Apply cancelled.")
                    throw ExitCode.failure
                }
            }
            let text =
                needsConfirmation
                ? nil
                : BackgroundWork { [planFile, saved = savedPlan != nil] in
                    saved ? renderer.renderSavedApply(plan, file: planFile ?? "") : renderer.render(plan)
                }
            let outcome: Result<Session.ApplyReport, any Error>
            do {
                outcome = .success(try await session.apply(plan, overrides: overrides, osUser: user, reason: why.reason))
            } catch {
                outcome = .failure(error)
            }
            // The plan text comes before the outcome, errors included.
            if let text { Console.out(await text.value) }
            let report = try withDiagnostics(during: "apply") { try outcome.get() }
            for step in report.alertSteps { Console.out("alerts: \(step)\n") }
            let s = report.summary
            Console.out("\nApply complete! Resources: \(s.add) added, \(s.change) changed, \(s.destroy) destroyed.\n")
            await session.close()
            await announce(
                [
                    GuardrailEvent(
                        .applyDone, environment: resolved.name, address: "plan.\(plan.id)",
                        summary: "\(user) applied plan \(plan.id): \(s.add) added, \(s.change) changed, \(s.destroy) destroyed",
                        at: Date())
                ], in: resolved)
        } catch {
            await session.close()
            throw error
        }
    }
}
