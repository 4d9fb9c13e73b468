/// The rules Guardrail writes for itself, in the namespace `guardrail`: a freshness alert per backup
/// schedule, from its RPO, and a breach alert per flag with a rollout. Pure: derived from the
/// configuration only, so they change when the configuration does, never with live state.
///
/// They alert on the metrics the controller serves: `guardrail_backup_last_success_timestamp_seconds`
/// and `guardrail_rollout_breached`.
public enum GeneratedRules {
    public static let backupGroup = "backup-freshness"
    public static let rolloutGroup = "rollout-breaches"

    public static func groups(for configuration: Configuration) -> [RuleGroup] {
        var groups: [RuleGroup] = []
        let schedules = configuration.backupSchedules.sorted { $0.name < $1.name }
        if !schedules.isEmpty {
            let rules = schedules.flatMap { schedule -> [AlertRule] in
                let selector = "guardrail_backup_last_success_timestamp_seconds{schedule=\(promQLString(schedule.name))}"
                let rpo = schedule.rpo.milliseconds / 1000
                if schedule.method == .pgbackrest { return pgBackRestRules(schedule, rpo: rpo, location: configuration.locations[schedule.address]) }
                return [
                    AlertRule(
                        kind: .alert, name: "GuardrailBackupStale",
                        expr: "time() - max(\(selector)) > \(rpo) or absent(\(selector))",
                        forDuration: .seconds(300),
                        labels: ["severity": "critical", "schedule": schedule.name, "source": "guardrail"],
                        annotations: [
                            "summary": "No successful backup of schedule \(schedule.name) within its RPO of \(schedule.rpo)",
                            "description":
                                "The newest successful \(schedule.name) backup is older than \(schedule.rpo), or no backup has been recorded. Run `guardrail backup list` and `guardrail backup run \(schedule.name)`.",
                        ],
                        location: configuration.locations[schedule.address])
                ]
            }
            groups.append(RuleGroup(namespace: RuleFile.generatedNamespace, group: backupGroup, interval: .seconds(60), rules: rules))
        }
        let flags = configuration.flags.filter { $0.rollout != nil }.sorted { $0.name < $1.name }
        if !flags.isEmpty {
            let rules = flags.map { flag -> AlertRule in
                AlertRule(
                    kind: .alert, name: "GuardrailRolloutBreach",
                    expr: "max(guardrail_rollout_breached{flag=\(promQLString(flag.name))}) > 0",
                    // critical, as the backup alert: alerts/routing.yaml pages PagerDuty and #incidents on it.
                    labels: ["severity": "critical", "flag": flag.name, "source": "guardrail"],
                    annotations: [
                        "summary": "A guardrail breached during the rollout of \(flag.name)",
                        "description":
                            "Guardrail acted on the breach (onBreach: \(flag.rollout!.onBreach.rawValue)). See `guardrail rollout status \(flag.name)`.",
                    ],
                    location: configuration.locations[flag.address])
            }
            groups.append(RuleGroup(namespace: RuleFile.generatedNamespace, group: rolloutGroup, interval: .seconds(30), rules: rules))
        }
        return groups
    }

    /// A pgBackRest schedule's recovery point is the archive: stale when the schedule misses its RPO
    /// (no backup in the repository, or WAL archived too long ago), and a WAL alert of its own when
    /// archiving lags or fails.
    static func pgBackRestRules(_ schedule: BackupSchedule, rpo: Int64, location: SourceLocation?) -> [AlertRule] {
        let name = promQLString(schedule.name)
        return [
            AlertRule(
                kind: .alert, name: "GuardrailBackupStale",
                expr: "max(guardrail_backup_rpo_met{schedule=\(name)}) < 1 or absent(guardrail_backup_rpo_met{schedule=\(name)})",
                forDuration: .seconds(300),
                labels: ["severity": "critical", "schedule": schedule.name, "source": "guardrail"],
                annotations: [
                    "summary": "Schedule \(schedule.name) does not meet its RPO of \(schedule.rpo)",
                    "description":
                        "There is no backup in the pgBackRest repository, or the newest archived WAL is older than \(schedule.rpo). Run `guardrail backup list`.",
                ],
                location: location),
            AlertRule(
                kind: .alert, name: "GuardrailWALArchiveLag",
                expr:
                    "max(guardrail_backup_archive_lag_seconds{schedule=\(name)}) > \(rpo) or max(guardrail_backup_archive_failing{schedule=\(name)}) > 0",
                forDuration: .seconds(120),
                labels: ["severity": "critical", "schedule": schedule.name, "source": "guardrail"],
                annotations: [
                    "summary": "WAL archiving for \(schedule.name) lags beyond \(schedule.rpo) or fails",
                    "description":
                        "The primary last archived a WAL segment more than \(schedule.rpo) ago, or archive_command is failing: a restore would lose that much. Check pg_stat_archiver and `guardrail backup list`; set archive_timeout below the RPO on a quiet database.",
                ],
                location: location),
        ]
    }

    /// A PromQL double-quoted string literal.
    static func promQLString(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
