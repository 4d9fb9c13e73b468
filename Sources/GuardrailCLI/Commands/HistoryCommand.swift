import ArgumentParser
import Foundation
import GuardrailCore
import GuardrailEngine

/// `guardrail history`: who changed what, when: applies, the controller's drift corrections, and
/// every decision on a flag or its rollout; `history show ID` prints one in full.
struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history", abstract: "List what changed the environment: applies, drift corrections, flag and rollout decisions.",
        subcommands: [HistoryListCommand.self, HistoryShowCommand.self], defaultSubcommand: HistoryListCommand.self)
}

/// Opens a read-only session for `history` and its subcommands.
private func withHistorySession<T>(
    _ global: GlobalOptions, _ environment: EnvironmentOptions, _ body: (Session, ResolvedEnvironment) async throws -> T
) async throws -> T {
    let configuration = try global.loadConfiguration(environmentsOnly: true)
    let resolved = try environment.resolve(in: configuration)
    return try await withDiagnostics {
        let session = try await Session.open(resolved, applicationName: "guardrail history")
        do {
            let result = try await body(session, resolved)
            await session.close()
            return result
        } catch {
            await session.close()
            throw error
        }
    }
}

struct HistoryListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List recent actions, newest first (the default).")

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions

    @Option(name: .long, help: "How many actions to list.")
    var limit: Int = 20

    @Option(name: .long, help: ArgumentHelp("Only actions of this kind: apply, drift, flag or rollout (repeatable).", valueName: "kind"))
    var kind: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp("Only actions on this address, or anything below it, such as flag.channel.email or tenant.", valueName: "address"),
        completion: Completions.addresses)
    var object: String?

    @Option(name: .long, help: ArgumentHelp("Only actions in this last span, such as 24h or 7d.", valueName: "duration"))
    var since: GuardrailDuration?

    @Option(name: .long, help: "Output format: text or json.")
    var format: Format = .text

    func validate() throws {
        for k in kind where !AuditTrail.kinds.contains(k) {
            throw ValidationError("--kind takes \(AuditTrail.kinds.joined(separator: ", ")); got \"\(k)\"")
        }
        guard limit > 0 else { throw ValidationError("--limit must be at least 1") }
    }

    func run() async throws {
        let since = self.since.map { Date().addingTimeInterval(-Double($0.milliseconds) / 1000) }
        let (actions, name) = try await withHistorySession(global, environment) { session, resolved in
            (try await session.actions(limit: limit, since: since, kinds: kind, object: object), resolved.name)
        }
        if format == .json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            Console.out(String(decoding: try encoder.encode(actions), as: UTF8.self) + "\n")
            return
        }
        guard !actions.isEmpty else {
            Console.out(
                "No actions recorded in environment \"\(name)\"" + (kind.isEmpty && object == nil && since == nil ? "" : " that match") + ".\n")
            return
        }
        let formatter = ISO8601DateFormatter()
        var rows = [["AT", "KIND", "BY", "OBJECT", "COMMIT", "ID", "SUMMARY"]]
        for a in actions {
            rows.append([
                formatter.string(from: a.at), a.kind, a.actor, a.object, a.gitCommit.map { String($0.prefix(12)) } ?? "-", a.id,
                AttributeValue.escapingControlCharacters(a.summary),
            ])
        }
        let widths = rows[0].indices.map { i in rows.map { $0[i].count }.max()! }
        for row in rows {
            Console.out(
                row.enumerated().map { $0.offset == row.count - 1 ? $0.element : $0.element.padded(to: widths[$0.offset]) }
                    .joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n")
        }
        Console.out("\n`guardrail history show ID` prints one in full.\n")
    }
}

struct HistoryShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Print one action in full: an apply's plan, changes and reason, a decision's guardrail reading.")

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions

    @Argument(help: ArgumentHelp("The action's ID from `guardrail history`: a plan id, or event-N.", valueName: "id"))
    var id: String

    @Option(name: .long, help: "Output format: text, or json for the whole record with the apply's plan document.")
    var format: Format = .text

    @Flag(name: .long, help: "Print every change of a large plan in full, as `plan --full` does.")
    var full = false

    func run() async throws {
        let record = try await withHistorySession(global, environment) { session, _ in try await session.action(id) }
        guard let record else {
            Console.error(
                "error: no action has the ID \(id)\n  `guardrail history` lists the IDs: plan ids for applies, event-N for flag and rollout decisions."
            )
            throw ExitCode.failure
        }
        if format == .json {
            var object: [String: JSONValue] = [:]
            for field in record.fields {
                object[field.label] =
                    field.label == "changes" || field.label == "by kind"
                    ? .array(field.value.split(separator: "\n").map { .string(String($0)) }) : .string(field.value)
            }
            if let document = record.planDocument {
                object["plan_document"] = try JSONDecoder().decode(JSONValue.self, from: Data(document))
                object["overrides"] = .object([
                    "allow_destroy": .bool(record.overrides.allowDestroy),
                    "allow_mass_delete": .bool(record.overrides.allowMassDelete),
                ])
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let data = try encoder.encode(object)
            Console.out(String(decoding: data, as: UTF8.self) + "\n")
            return
        }
        let width = record.fields.map(\.label.count).max() ?? 0
        for field in record.fields {
            let lines = field.value.split(separator: "\n", omittingEmptySubsequences: false)
                .map { AttributeValue.escapingControlCharacters(String($0)) }
            if lines.count > 1 {
                Console.out("\(field.label):\n" + lines.map { "  " + $0 }.joined(separator: "\n") + "\n")
            } else {
                Console.out("\((field.label + ":").padded(to: width + 1)) \(lines.first ?? "")\n")
            }
        }
        // The plan as `guardrail plan` printed it, from the document the apply recorded.
        if let plan = try record.plan() {
            let renderer = TextPlanRenderer(
                color: Console.useColor(disabled: global.noColor), overrides: record.overrides,
                shortenAbove: full ? nil : TextPlanRenderer.defaultShortenAbove)
            Console.out("\nplan:\n" + renderer.render(plan))
        }
    }
}
