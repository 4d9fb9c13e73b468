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
    /// The pgBackRest repository `method: pgbackrest` schedules use, when the environment has one.
    public var pgbackrest: PgBackRest?
    /// Why `backups.pgbackrest` could not be resolved (a missing secret variable), reported when a pgBackRest command needs it.
    public var pgbackrestProblem: Diagnostic?
    /// Whether the environment has backups of either kind, so the backup step and metrics run.
    public var hasBackups: Bool { backupDirectory != nil || backupDirectoryProblem != nil || pgbackrest != nil || pgbackrestProblem != nil }
    /// The Prometheus guardrails and rule checks query, when the environment names one.
    public var prometheusURL: String?
    /// Where alert rules are applied; nil when the environment manages none.
    public var rulesTarget: (any RulesTarget)?
    /// Caps on rollout bakes and guardrail intervals.
    public var rolloutTiming = RolloutTiming()
    /// Why an environment with an `alerts` block manages no rules in this run (an empty rulesDir).
    public var alertsNote: String?
    /// The key saved plans are signed with: `plan.signingKey`, or else `GUARDRAIL_PLAN_KEY`. Never printed.
    public var planSigningKey: Secret?
    /// Why `plan.signingKey` could not be resolved; saving or applying a plan file then fails with it.
    public var planSigningKeyProblem: Diagnostic?
    /// The controller section, with its defaults when the file has none.
    public var controller = Environment.Controller()

    /// The longest one step of a controller tick may take: `controller.stepTimeout`, or else the
    /// longest of the lock and statement timeouts (every query of a step is bounded by them).
    public var stepTimeout: GuardrailDuration {
        controller.stepTimeout ?? max(lockTimeout, statementTimeout ?? lockTimeout)
    }

    /// How long the reconcile loop may go without finishing a tick before it counts as stuck:
    /// three intervals (a slow tick, then a backoff) plus the longest step's timeout. `/healthz`
    /// fails and the watchdog exits past it.
    public var stuckAfter: GuardrailDuration {
        GuardrailDuration(milliseconds: 3 * controller.interval.milliseconds + stepTimeout.milliseconds)
    }
    /// Where alerts/routing.yaml is applied; nil when the environment names no Alertmanager.
    public var alertmanager: AlertmanagerTarget?
    /// Why an environment with an `alertmanager` block manages no routing in this run (an empty url).
    public var alertmanagerNote: String?
    /// Mutating commands and admin actions must give a reason here.
    public var requireReason = false
    /// Plain webhooks that get each event as one JSON document.
    public var webhooks: [Notifier.Webhook] = []

    /// The refusal of a mutating command without a reason where one is required; nil when it may go on.
    public func missingReason(_ reason: String?, command: String) -> String? {
        guard requireReason, (reason ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return nil }
        return
            "environment \"\(name)\" requires a reason for \(command) (requireReason: true); say why with --reason \"...\" (or \"reason\" in an admin request's body). Nothing was changed."
    }

    public init(
        name: String, database: Database, lockTimeout: GuardrailDuration = .seconds(10), statementTimeout: GuardrailDuration? = nil,
        backupDirectory: String? = nil, backupDirectoryProblem: Diagnostic? = nil
    ) {
        self.backupDirectory = backupDirectory
        self.backupDirectoryProblem = backupDirectoryProblem
        self.name = name
        self.database = database
        self.lockTimeout = lockTimeout
        self.statementTimeout = statementTimeout
    }

    /// Expands `${VAR}` references from `processEnvironment` and parses the database URL.
    public static func resolve(
        _ environment: Environment, processEnvironment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> ResolvedEnvironment {
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
            throw DiagnosticError(
                .error(
                    "invalid postgres.url for environment \"\(environment.name)\"", detail: error.description + ".",
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
        let queryTimeout = Database.queryTimeout(
            lockTimeout: environment.postgres.lockTimeout, statementTimeout: environment.postgres.statementTimeout)
        var resolved = ResolvedEnvironment(
            name: environment.name, database: Database(url: url, schema: environment.postgres.schema, queryTimeout: queryTimeout),
            lockTimeout: environment.postgres.lockTimeout, statementTimeout: environment.postgres.statementTimeout,
            backupDirectory: backupDirectory, backupDirectoryProblem: backupProblem)
        func expand(_ value: TemplatedString) throws -> String {
            switch value.expand(processEnvironment) {
            case .success(let text): return text
            case .failure(let diagnostic): throw DiagnosticError(diagnostic)
            }
        }
        resolved.rolloutTiming = environment.rollouts
        // As with the directory, only the backup commands need pgBackRest: a missing secret fails them alone.
        if let config = environment.backups?.pgbackrest {
            do {
                resolved.pgbackrest = try PgBackRest(config, database: url, processEnvironment: processEnvironment)
            } catch let error as DiagnosticError {
                resolved.pgbackrestProblem = error.diagnostics.first
            }
        }
        if let key = environment.planSigningKey {
            switch key.expand(processEnvironment) {
            case .success(let text) where !text.isEmpty: resolved.planSigningKey = Secret(text)
            case .success:
                resolved.planSigningKeyProblem = .error(
                    "plan.signingKey of environment \"\(environment.name)\" is empty",
                    detail: "Set \(key.variableNames.joined(separator: ", ")) to the key CI signs plans with.",
                    at: key.location)
            case .failure(let diagnostic): resolved.planSigningKeyProblem = diagnostic
            }
        } else if let key = processEnvironment["GUARDRAIL_PLAN_KEY"], !key.isEmpty {
            resolved.planSigningKey = Secret(key)
        }
        if let controller = environment.controller { resolved.controller = controller }
        // Only rule checks and the prometheus alerts target need the URL, so a missing variable fails only them.
        if let prometheus = environment.prometheus { resolved.prometheusURL = try? expand(prometheus.url) }
        if let alerts = environment.alerts {
            switch alerts.target {
            case .prometheus:
                let directory = try alerts.rulesDirectory.map(expand) ?? ""
                if directory.isEmpty {
                    resolved.alertsNote =
                        "alerts.rulesDir of environment \"\(environment.name)\" is empty, so alert rules are not managed in this run."
                } else {
                    if let prometheus = environment.prometheus, resolved.prometheusURL == nil { _ = try expand(prometheus.url) }
                    guard let url = resolved.prometheusURL else {
                        throw DiagnosticError(
                            .error(
                                "the prometheus alerts target of environment \"\(environment.name)\" needs spec.prometheus.url",
                                detail: "Guardrail reloads that Prometheus after writing rule files and confirms the load through its API.",
                                at: environment.location))
                    }
                    resolved.rulesTarget = PrometheusRulesDirectory(directory: directory, prometheus: PrometheusClient(baseURL: url))
                }
            case .mimir:
                let url = try alerts.url.map(expand) ?? ""
                let tenant = try alerts.tenant.map(expand)
                resolved.rulesTarget = MimirRuler(
                    baseURL: url, tenant: tenant.flatMap { $0.isEmpty ? nil : $0 }, namespacePrefix: alerts.namespacePrefix ?? "")
            }
        }
        if let alertmanager = environment.alertmanager {
            let url = try expand(alertmanager.url)
            let file = try alertmanager.configFile.map(expand)
            if url.isEmpty {
                resolved.alertmanagerNote =
                    "alertmanager.url of environment \"\(environment.name)\" is empty, so alerts/routing.yaml is not managed in this run."
            } else {
                resolved.alertmanager = AlertmanagerTarget(
                    baseURL: url, configFile: file.flatMap { $0.isEmpty ? nil : $0 }, variables: processEnvironment)
            }
        }
        resolved.requireReason = environment.requireReason
        for webhook in environment.notifications {
            let url = try expand(webhook.url)
            guard !url.isEmpty else { continue }
            resolved.webhooks.append(
                Notifier.Webhook(
                    url: url, events: Set(webhook.events),
                    header: try webhook.secretHeader.map { ($0.name, Secret(try expand($0.value))) }))
        }
        return resolved
    }
}
