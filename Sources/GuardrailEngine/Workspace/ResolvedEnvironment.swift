import Foundation
import GuardrailCore

/// An environment with its variables expanded: ready to connect to.
public struct ResolvedEnvironment: Sendable {
    public var name: String
    public var database: Database
    public var lockTimeout: GuardrailDuration
    public var statementTimeout: GuardrailDuration?
    /// Where backups are written, when the environment has backups.
    public var backupDirectory: String?
    /// Why the backup directory could not be resolved (a missing variable), reported when a backup needs it.
    public var backupDirectoryProblem: Diagnostic?

    public init(name: String, database: Database, lockTimeout: GuardrailDuration = .seconds(10), statementTimeout: GuardrailDuration? = nil,
                backupDirectory: String? = nil, backupDirectoryProblem: Diagnostic? = nil) {
        self.backupDirectory = backupDirectory
        self.backupDirectoryProblem = backupDirectoryProblem
        self.name = name
        self.database = database
        self.lockTimeout = lockTimeout
        self.statementTimeout = statementTimeout
    }

    /// Expands `${VAR}` references from `processEnvironment` and parses the database URL.
    public static func resolve(_ environment: Environment, processEnvironment: [String: String] = ProcessInfo.processInfo.environment) throws -> ResolvedEnvironment {
        let urlText: String
        switch environment.postgres.url.expand(processEnvironment) {
        case .success(let text): urlText = text
        case .failure(let diagnostic): throw DiagnosticError(diagnostic)
        }
        let url: DatabaseURL
        do {
            url = try DatabaseURL(parsing: urlText)
        } catch let error as DatabaseURL.ParseError {
            // The message never includes the URL itself: it may hold a password.
            throw DiagnosticError(.error("invalid postgres.url for environment \"\(environment.name)\"", detail: error.description + ".",
                                         at: environment.postgres.url.location))
        }
        // Only the backup commands need the directory, so a missing variable there does not stop plan or apply.
        var backupDirectory: String?
        var backupProblem: Diagnostic?
        if let directory = environment.backups?.directory {
            switch directory.expand(processEnvironment) {
            case .success(let text): backupDirectory = text
            case .failure(let diagnostic): backupProblem = diagnostic
            }
        }
        return ResolvedEnvironment(name: environment.name, database: Database(url: url, schema: environment.postgres.schema),
                                   lockTimeout: environment.postgres.lockTimeout, statementTimeout: environment.postgres.statementTimeout,
                                   backupDirectory: backupDirectory, backupDirectoryProblem: backupProblem)
    }
}
