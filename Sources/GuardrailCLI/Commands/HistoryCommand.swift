import ArgumentParser
import Foundation
import GuardrailCore
import GuardrailEngine

/// `guardrail history`: the audit log of applies.
struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "List recent applies from the audit log.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions

    @Option(name: .long, help: "How many applies to list.")
    var limit: Int = 20

    func run() async throws {
        let configuration = try global.loadConfiguration(environmentsOnly: true)
        let resolved = try environment.resolve(in: configuration)
        let entries = try await withDiagnostics {
            let session = try await Session.open(resolved, applicationName: "guardrail history")
            do {
                let entries = try await session.history(limit: limit)
                await session.close()
                return entries
            } catch {
                await session.close()
                throw error
            }
        }
        guard !entries.isEmpty else {
            Console.out("No applies recorded in environment \"\(resolved.name)\".\n")
            return
        }
        let formatter = ISO8601DateFormatter()
        var rows = [["APPLIED AT", "PLAN", "USER", "COMMIT", "ADDED", "CHANGED", "DESTROYED"]]
        for e in entries {
            rows.append([formatter.string(from: e.appliedAt), e.planID, e.osUser, e.gitCommit.map { String($0.prefix(12)) } ?? "-",
                         String(e.added), String(e.changed), String(e.destroyed)])
        }
        let widths = rows[0].indices.map { i in rows.map { $0[i].count }.max()! }
        for row in rows {
            Console.out(row.enumerated().map { $0.element.padded(to: widths[$0.offset]) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n")
        }
    }
}
