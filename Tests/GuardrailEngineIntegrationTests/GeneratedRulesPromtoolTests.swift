import Foundation
import GuardrailCore
import GuardrailEngine
import GuardrailTestSupport
import Testing

/// The rules Guardrail generates for the example configuration (`GuardrailBackupStale`,
/// `GuardrailRolloutBreach`, and `GuardrailWALArchiveLag` once a pgBackRest schedule is added),
/// rendered as the rule file Guardrail writes and unit-tested with `promtool test rules`: each fires
/// past its threshold and stays quiet before it.
@Suite(
    "Generated rules under promtool's unit tests",
    .enabled(if: Promtool.path != nil || TestPostgres.required, "needs promtool (Debian's prometheus package, which scripts/test installs)"))
struct GeneratedRulesPromtoolTests {
    /// A temporary directory holding `guardrail.yaml` (the generated groups, as applied) and a test file.
    struct RuleDirectory {
        var directory: URL
        var groups: [RuleGroup]

        init(_ configuration: Configuration) throws {
            groups = GeneratedRules.groups(for: configuration)
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("guardrail-generated-rules-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(RuleGroup.ruleFile(groups).utf8).write(to: directory.appendingPathComponent("guardrail.yaml"))
        }

        func rule(_ group: String, _ label: String, _ value: String, named name: String? = nil) throws -> AlertRule {
            try #require(groups.first { $0.group == group }?.rules.first { $0.labels[label] == value && (name == nil || $0.name == name) })
        }

        /// Writes the tests (JSON, which promtool reads as YAML) and runs them as `guardrail validate` does.
        func run(_ tests: [[String: Any]]) async throws -> Promtool.Report {
            let document: [String: Any] = ["rule_files": ["guardrail.yaml"], "evaluation_interval": "30s", "tests": tests]
            let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: directory.appendingPathComponent("guardrail_test.yaml"))
            return await Promtool.testRules(["guardrail_test.yaml"], root: directory.path)
        }

        func remove() { try? FileManager.default.removeItem(at: directory) }
    }

    /// One test of promtool's format: series at a one-minute interval, and the `alertname` alerts
    /// expected at each evaluation time (none, or the rules' labels and annotations).
    static func test(_ name: String, alertname: String, series: [(String, String)], expect evaluations: [(String, [AlertRule])]) -> [String: Any] {
        [
            "name": name,
            "interval": "1m",
            "input_series": series.map { ["series": $0.0, "values": $0.1] },
            "alert_rule_test": evaluations.map { time, alerts -> [String: Any] in
                [
                    "eval_time": time,
                    "alertname": alertname,
                    "exp_alerts": alerts.map { ["exp_labels": $0.labels, "exp_annotations": $0.annotations] },
                ]
            },
        ]
    }

    static func check(_ report: Promtool.Report) {
        #expect(report.ran, "promtool did not run")
        #expect(report.diagnostics.isEmpty, "\(report.diagnostics.map(\.description).joined(separator: "\n"))")
    }

    static let backupSeries = #"guardrail_backup_last_success_timestamp_seconds{schedule="nightly"}"#

    @Test("GuardrailBackupStale for the example's nightly schedule: quiet within its 24h RPO, firing past it and with no backup at all")
    func backupStale() async throws {
        _ = try #require(Promtool.path, "scripts/test installs promtool")
        let workspace = try RuleDirectory(try Fixtures.exampleConfiguration())
        defer { workspace.remove() }
        let stale = try workspace.rule(GeneratedRules.backupGroup, "schedule", "nightly")
        #expect(stale.name == "GuardrailBackupStale")
        #expect(stale.labels["severity"] == "critical")
        let report = try await workspace.run([
            // Past 24h at 24h, and its `for: 5m` has run by 24h10m.
            Self.test(
                "the newest nightly backup was taken at time 0 and none since", alertname: stale.name,
                series: [(Self.backupSeries, "0x1600")], expect: [("23h50m", []), ("24h10m", [stale])]),
            Self.test(
                "a backup recorded every minute keeps the alert quiet", alertname: stale.name,
                series: [(Self.backupSeries, "0+60x1600")], expect: [("26h", [])]),
            Self.test(
                "no backup recorded at all", alertname: stale.name,
                series: [("up", "1x20")], expect: [("2m", []), ("10m", [stale])]),
        ])
        Self.check(report)
    }

    @Test("GuardrailRolloutBreach for the example's channel flags: fires for the flag whose breach gauge is 1, and for no other")
    func rolloutBreach() async throws {
        _ = try #require(Promtool.path, "scripts/test installs promtool")
        let configuration = try Fixtures.exampleConfiguration()
        let workspace = try RuleDirectory(configuration)
        defer { workspace.remove() }
        let flags = configuration.flags.filter { $0.rollout != nil }.map(\.name).sorted()
        #expect(flags == ["channel.email", "channel.postal", "channel.sms"])
        let email = try workspace.rule(GeneratedRules.rolloutGroup, "flag", "channel.email")
        #expect(email.name == "GuardrailRolloutBreach")
        // Critical, so alerts/routing.yaml pages PagerDuty and posts to #incidents.
        #expect(email.labels["severity"] == "critical")
        let series = flags.map { flag in
            (#"guardrail_rollout_breached{flag="\#(flag)", instance="controller:8080"}"#, flag == "channel.email" ? "0 0 0 1 1 1" : "0x5")
        }
        let report = try await workspace.run([
            Self.test("channel.email breaches at 3m", alertname: email.name, series: series, expect: [("2m", []), ("4m", [email])])
        ])
        Self.check(report)
    }

    @Test("GuardrailWALArchiveLag for a pgBackRest schedule beside the example's: fires when archiving lags past the RPO or fails, quiet otherwise")
    func walArchiveLag() async throws {
        _ = try #require(Promtool.path, "scripts/test installs promtool")
        // The example has only a pg_dump schedule; a pgBackRest one with a 5m RPO generates the WAL alert.
        var configuration = try Fixtures.exampleConfiguration()
        configuration.backupSchedules += try Fixtures.configuration([
            "manifests/pitr.yaml": """
            apiVersion: guardrail/v1
            kind: BackupSchedule
            metadata: {name: pitr}
            spec: {schedule: "0 1 * * 0", timezone: UTC, method: pgbackrest, type: full, retention: {full: 2}, rpo: 5m}

            """
        ]).backupSchedules
        let workspace = try RuleDirectory(configuration)
        defer { workspace.remove() }
        let lag = try workspace.rule(GeneratedRules.backupGroup, "schedule", "pitr", named: "GuardrailWALArchiveLag")
        #expect(lag.labels["severity"] == "critical")
        let lagSeries = #"guardrail_backup_archive_lag_seconds{schedule="pitr"}"#
        let failingSeries = #"guardrail_backup_archive_failing{schedule="pitr"}"#
        let report = try await workspace.run([
            // 240 s of lag, then 600 s from 5m: past the 300 s RPO, and its `for: 2m` has run by 8m.
            Self.test(
                "archiving falls ten minutes behind", alertname: lag.name,
                series: [(lagSeries, "240 240 240 240 240 600 600 600 600 600 600"), (failingSeries, "0x10")],
                expect: [("4m", []), ("6m", []), ("8m", [lag])]),
            Self.test(
                "archive_command fails while the lag is still small", alertname: lag.name,
                series: [(lagSeries, "30x10"), (failingSeries, "0 0 1 1 1 1 1 1 1 1 1")],
                expect: [("1m", []), ("5m", [lag])]),
            Self.test(
                "archiving keeps up", alertname: lag.name,
                series: [(lagSeries, "60x10"), (failingSeries, "0x10")], expect: [("10m", [])]),
        ])
        Self.check(report)
    }

    @Test("a wrong expectation fails: the backup alert is not firing inside the RPO, and promtool says so at the test")
    func wrongExpectationFails() async throws {
        _ = try #require(Promtool.path, "scripts/test installs promtool")
        let workspace = try RuleDirectory(try Fixtures.exampleConfiguration())
        defer { workspace.remove() }
        let stale = try workspace.rule(GeneratedRules.backupGroup, "schedule", "nightly")
        let report = try await workspace.run([
            Self.test(
                "expects the alert an hour too early", alertname: stale.name,
                series: [(Self.backupSeries, "0x1600")], expect: [("23h", [stale])])
        ])
        #expect(report.ran)
        #expect(report.diagnostics.count == 1, "\(report.diagnostics)")
        #expect(report.diagnostics.first?.description.contains("GuardrailBackupStale") == true, "\(report.diagnostics)")
    }
}
