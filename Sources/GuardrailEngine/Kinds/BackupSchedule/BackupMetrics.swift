import Foundation
import GuardrailCore

/// Backup status in the Prometheus text exposition format, for the controller's `/metrics` and for
/// `guardrail backup list --format prometheus` (a node_exporter textfile collector can serve that).
///
/// The freshness alert each schedule implies is
/// `time() - guardrail_backup_last_success_timestamp_seconds > guardrail_backup_rpo_seconds`.
public enum BackupMetrics {
    /// One gauge family: its name, help text and a value per schedule (schedules without one are left out).
    public struct Family: Sendable {
        public var name: String
        public var help: String
        public var samples: [(schedule: String, value: Double)]

        public init(name: String, help: String, samples: [(schedule: String, value: Double)]) {
            self.name = name
            self.help = help
            self.samples = samples
        }
    }

    /// The text exposition of `families`, for `backup list --format prometheus`. The controller sets
    /// the same families as gauges in its registry instead.
    public static func render(_ statuses: [BackupRunner.Status]) -> String {
        var out = ""
        for family in families(statuses) {
            out += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) gauge\n"
            for (schedule, value) in family.samples {
                out += "\(family.name){schedule=\"\(escape(schedule))\"} \(format(value))\n"
            }
        }
        return out
    }

    /// Every backup gauge for `statuses`, schedules in name order.
    public static func families(_ statuses: [BackupRunner.Status]) -> [Family] {
        var out: [Family] = []
        let sorted = statuses.sorted(by: { $0.schedule.name < $1.schedule.name })
        func family(_ name: String, _ help: String, _ value: (BackupRunner.Status) -> Double?) {
            out.append(Family(name: name, help: help, samples: sorted.compactMap { s in value(s).map { (s.schedule.name, $0) } }))
        }
        family("guardrail_backup_last_success_timestamp_seconds", "When the newest successful backup finished (Unix time).") {
            $0.lastSuccess?.finishedAt?.timeIntervalSince1970
        }
        family("guardrail_backup_last_duration_seconds", "How long the newest successful backup took.") { s in
            guard let run = s.lastSuccess, let end = run.finishedAt else { return nil }
            return end.timeIntervalSince(run.startedAt)
        }
        family("guardrail_backup_last_size_bytes", "Size of the newest successful backup.") { $0.lastSuccess?.sizeBytes.map(Double.init) }
        family("guardrail_backup_rpo_seconds", "The schedule's recovery point objective.") { Double($0.schedule.rpo.milliseconds) / 1000 }
        family("guardrail_backup_rpo_met", "1 when the newest successful backup is within the RPO, else 0.") { $0.meetsRPO ? 1 : 0 }
        family("guardrail_backup_last_run_failed", "1 when the most recent backup run failed.") { s in
            s.lastRun.map { $0.status == .failed ? 1 : 0 }
        }
        family("guardrail_backup_drill_last_success", "1 when the most recent restore drill passed, 0 when it failed.") { s in
            guard let drill = s.lastDrill, drill.status != "running" else { return nil }
            return drill.status == "succeeded" ? 1 : 0
        }
        family(
            "guardrail_backup_archive_lag_seconds",
            "pgBackRest schedules: seconds since the primary last archived a WAL segment, the real recovery point."
        ) {
            $0.schedule.method == .pgbackrest ? $0.archiver?.lagSeconds : nil
        }
        family("guardrail_backup_archive_failing", "pgBackRest schedules: 1 when archiving is off or failing, else 0.") {
            $0.schedule.method == .pgbackrest ? ($0.archiveProblem == nil ? 0 : 1) : nil
        }
        family("guardrail_backup_drill_last_rto_seconds", "pgBackRest schedules: the recovery time the most recent restore drill measured.") {
            $0.lastDrill?.rtoSeconds
        }
        family("guardrail_backup_drill_last_timestamp_seconds", "When the most recent restore drill finished (Unix time).") {
            $0.lastDrill?.finishedAt?.timeIntervalSince1970
        }
        return out
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }
}
