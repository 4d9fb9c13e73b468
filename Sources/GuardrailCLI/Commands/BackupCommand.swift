import ArgumentParser
import Foundation
import GuardrailCore
import GuardrailEngine

/// `guardrail backup`: run, list and drill the backups the applied schedules describe.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Run backups and restore drills, and list them.",
        subcommands: [BackupRunCommand.self, BackupListCommand.self, BackupDrillCommand.self, BackupRestoreCommand.self, BackupTickCommand.self]
    )
}

/// The options and set-up every backup subcommand shares.
struct BackupOptions: ParsableArguments {
    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions

    func runner() throws -> BackupRunner {
        let configuration = try global.loadConfiguration(environmentsOnly: true)
        let resolved = try environment.resolve(in: configuration)
        return try withDiagnostics { try BackupRunner(environment: resolved) }
    }
}

enum BackupFormat {
    static func size(_ bytes: Int?) -> String {
        guard let bytes else { return "-" }
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes), unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }

    static func age(_ seconds: TimeInterval?) -> String {
        guard let seconds else { return "never" }
        let s = Int(seconds.rounded())
        if s < 120 { return "\(s)s ago" }
        if s < 7200 { return "\(s / 60)m ago" }
        if s < 172_800 { return "\(s / 3600)h\(s % 3600 / 60)m ago" }
        return "\(s / 86400)d ago"
    }

    static func table(_ rows: [[String]]) -> String {
        let widths = rows[0].indices.map { i in rows.map { $0[i].count }.max()! }
        return rows.map { row in
            row.enumerated().map { $0.element.padded(to: widths[$0.offset]) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n") + "\n"
    }
}
