import Foundation
@testable import GuardrailCore
import Testing

@Suite("Cron schedules")
struct CronScheduleTests {
    static let utc = TimeZone(identifier: "UTC")!

    func date(_ text: String, _ tz: TimeZone = utc) -> Date {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = tz
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return f.date(from: text)!
    }

    func format(_ d: Date, _ tz: TimeZone = utc) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = tz
        f.dateFormat = "yyyy-MM-dd HH:mm EEE"
        return f.string(from: d)
    }

    @Test(
        "next runs follow the fields, strictly after the given time",
        arguments: [
            ("0 2 * * *", "2026-11-23 01:59", ["2026-11-23 02:00 Mon", "2026-11-24 02:00 Tue", "2026-11-25 02:00 Wed"]),
            ("0 2 * * *", "2026-11-23 02:00", ["2026-11-24 02:00 Tue", "2026-11-25 02:00 Wed", "2026-11-26 02:00 Thu"]),
            ("0 4 * * 0", "2026-11-23 00:00", ["2026-11-29 04:00 Sun", "2026-12-06 04:00 Sun", "2026-12-13 04:00 Sun"]),
            ("0 4 * * 7", "2026-11-23 00:00", ["2026-11-29 04:00 Sun", "2026-12-06 04:00 Sun", "2026-12-13 04:00 Sun"]),
            ("30 9 * * mon-fri", "2026-11-27 10:00", ["2026-11-30 09:30 Mon", "2026-12-01 09:30 Tue", "2026-12-02 09:30 Wed"]),
            ("0 0 29 2 mon", "2026-03-01 00:00", ["2027-02-01 00:00 Mon", "2027-02-08 00:00 Mon", "2027-02-15 00:00 Mon"]),
            ("0 12 1,15 * *", "2026-11-20 00:00", ["2026-12-01 12:00 Tue", "2026-12-15 12:00 Tue", "2027-01-01 12:00 Fri"]),
            // Both day fields restricted: either matches (Vixie cron).
            ("0 6 13 * fri", "2026-11-01 00:00", ["2026-11-06 06:00 Fri", "2026-11-13 06:00 Fri", "2026-11-20 06:00 Fri"]),
            ("0 */8 * jan,jul *", "2026-12-31 23:00", ["2027-01-01 00:00 Fri", "2027-01-01 08:00 Fri", "2027-01-01 16:00 Fri"]),
        ])
    func nextRuns(expression: String, after: String, expected: [String]) throws {
        let cron = try CronSchedule.parse(expression).get()
        #expect(cron.nextRuns(after: date(after), in: Self.utc, count: 3).map { format($0) } == expected)
    }

    @Test("runs are computed in the schedule's time zone, across a daylight-saving change")
    func timeZoneAndDST() throws {
        let berlin = TimeZone(identifier: "Europe/Berlin")!
        let cron = try CronSchedule.parse("30 2 * * *").get()
        // 2026-03-29: clocks jump from 02:00 to 03:00 in Berlin; 02:30 does not exist that day.
        let runs = cron.nextRuns(after: date("2026-03-27 12:00", berlin), in: berlin, count: 3).map { format($0, berlin) }
        #expect(runs == ["2026-03-28 02:30 Sat", "2026-03-29 03:30 Sun", "2026-03-30 02:30 Mon"])
        // The same wall time is a different instant in UTC before and after the change.
        let utcRuns = cron.nextRuns(after: date("2026-03-27 12:00", berlin), in: berlin, count: 3).map { format($0) }
        #expect(utcRuns == ["2026-03-28 01:30 Sat", "2026-03-29 01:30 Sun", "2026-03-30 00:30 Mon"])
        // 2026-10-25: 02:30 happens twice in Berlin; it runs once.
        let autumn = cron.nextRuns(after: date("2026-10-24 12:00", berlin), in: berlin, count: 2).map { format($0) }
        #expect(autumn == ["2026-10-25 00:30 Sun", "2026-10-26 01:30 Mon"])
    }

    @Test("a leap-day schedule finds the next leap years")
    func leapDay() throws {
        let cron = try CronSchedule.parse("0 0 29 2 *").get()
        #expect(
            cron.nextRuns(after: date("2026-01-01 00:00"), in: Self.utc, count: 2).map { format($0) } == [
                "2028-02-29 00:00 Tue", "2032-02-29 00:00 Sun",
            ])
    }

    @Test("the previous run is the latest cron time at or before now")
    func previousRun() throws {
        let cron = try CronSchedule.parse("0 2 * * *").get()
        #expect(cron.previousRun(atOrBefore: date("2026-11-23 01:59"), in: Self.utc).map { format($0) } == "2026-11-22 02:00 Sun")
        #expect(cron.previousRun(atOrBefore: date("2026-11-23 02:00"), in: Self.utc).map { format($0) } == "2026-11-23 02:00 Mon")
    }

    @Test(
        "malformed expressions are rejected with the field that is wrong",
        arguments: [
            ("0 2 * *", nil as Int?, "has 4"),
            ("0 0 2 * * *", nil, "Quartz"),
            ("@daily", nil, "macro"),
            ("60 2 * * *", 0, "outside 0-59"),
            ("0 24 * * *", 1, "outside 0-23"),
            ("0 2 0 * *", 2, "outside 1-31"),
            ("0 2 * 13 *", 3, "outside 1-12"),
            ("0 2 * * 8", 4, "outside 0-7"),
            ("0 2 * * funday", 4, "is not a number"),
            ("*/0 2 * * *", 0, "step"),
            ("5-1 2 * * *", 0, "backwards"),
            ("1,,2 2 * * *", 0, "empty list item"),
        ])
    func rejects(expression: String, field: Int?, message: String) {
        switch CronSchedule.parse(expression) {
        case .success: Issue.record("\(expression) should be rejected")
        case .failure(let problem):
            #expect(problem.field == field)
            #expect(problem.message.contains(message), "\(problem.message)")
        }
    }

    @Test("a schedule with several minute values fires more often than hourly; one minute value does not")
    func frequency() throws {
        #expect(try CronSchedule.parse("* 2 * * *").get().firesMoreOftenThanHourly)
        #expect(try CronSchedule.parse("*/15 * * * *").get().firesMoreOftenThanHourly)
        #expect(try !CronSchedule.parse("0 * * * *").get().firesMoreOftenThanHourly)
        #expect(try !CronSchedule.parse("0 2 * * *").get().firesMoreOftenThanHourly)
    }
}

@Suite("BackupSchedule manifests")
struct BackupScheduleManifestTests {
    func load(_ spec: String) -> (Configuration, [Diagnostic]) {
        let text = "apiVersion: guardrail/v1\nkind: BackupSchedule\nmetadata: {name: nightly}\nspec:\n" + spec
        let (c, d) = ConfigurationLoader.load([ManifestSource(path: "manifests/backups.yaml", bytes: Array(text.utf8))])
        return (c, d.sorted)
    }

    @Test("the example schedule decodes with its retention, RPO and drill checks")
    func decodesExample() throws {
        let (c, d) = load(
            """
              schedule: "0 2 * * *"
              timezone: UTC
              retention: {keep: 14, maxAge: 30d}
              rpo: 26h
              restoreDrill:
                schedule: "0 4 * * 0"
                checks:
                  rowCounts: [{table: public.properties, min: 5}]
                  sql: [{name: ok, query: "SELECT true"}]

            """)
        #expect(d.isEmpty, "\(d)")
        let s = try #require(c.backupSchedules.first)
        #expect(s.retention == .init(keep: 14, maxAge: .init(milliseconds: 30 * 86_400_000)))
        #expect(s.rpo == .seconds(26 * 3600))
        #expect(s.restoreDrill?.rowCounts == [.init(table: "public.properties", min: 5)])
        #expect(s.restoreDrill?.rlsPolicies == true)
        #expect(try BackupSchedule(name: s.name, attributes: s.attributes) == s)
    }

    @Test("a bad cron field is reported at its own column")
    func badCronColumn() {
        let (_, d) = load("  schedule: \"0 25 * * *\"\n  timezone: UTC\n  retention: {keep: 1}\n  rpo: 1d\n")
        // Line 5 is `  schedule: "0 25 * * *"`; the value's quote is column 13, the hour field column 16.
        #expect(d.map(\.location?.description) == ["manifests/backups.yaml:5:16"])
        #expect(d.first?.summary == "invalid cron schedule \"0 25 * * *\"")
    }

    @Test("a schedule that can never run (February 30th) is rejected")
    func neverRuns() {
        let (_, d) = load("  schedule: \"0 2 30 2 *\"\n  timezone: UTC\n  retention: {keep: 1}\n  rpo: 1d\n")
        #expect(d.map(\.location?.description) == ["manifests/backups.yaml:5:13"])
        #expect(d.first?.summary == "schedule \"0 2 30 2 *\" never runs")
    }

    @Test("a schedule firing more often than hourly needs allowFrequent: true")
    func frequentNeedsOptIn() {
        let (_, d) = load("  schedule: \"* 2 * * *\"\n  timezone: UTC\n  retention: {keep: 1}\n  rpo: 1d\n")
        #expect(d.map(\.location?.description) == ["manifests/backups.yaml:5:13"])
        #expect(d.first?.summary.contains("runs more than once an hour") == true)
        let (c, ok) = load("  schedule: \"*/10 * * * *\"\n  allowFrequent: true\n  timezone: UTC\n  retention: {keep: 1}\n  rpo: 1h\n")
        #expect(ok.isEmpty && c.backupSchedules.count == 1)
    }

    @Test("unknown time zone, missing retention limits, bad rpo and bad check tables are each reported")
    func otherErrors() {
        let (_, d) = load(
            """
              schedule: "0 2 * * *"
              timezone: Europe/Berlinn
              retention: {}
              rpo: soon
              restoreDrill:
                schedule: "0 4 * * 0"
                checks: {rowCounts: [{table: properties}]}

            """)
        let summaries = d.map { "\($0.location!.line):\($0.location!.column) \($0.summary)" }
        #expect(summaries.contains("6:13 unknown time zone \"Europe/Berlinn\""))
        #expect(d.first { $0.summary.contains("time zone") }?.detail.contains("Did you mean \"Europe/Berlin\"?") == true)
        #expect(summaries.contains("7:14 retention needs keep or maxAge"))
        #expect(summaries.contains { $0.hasPrefix("8:8 ") && $0.contains("not a valid duration") })
        #expect(summaries.contains("11:34 invalid row count check table \"properties\""))
    }

    @Test(
        "a row count check table is validated as a qualified identifier at validate time, not at drill time",
        arguments: ["public.x; DROP TABLE y", "Public.Properties", "public.", "a.b.c", "public.\"unclosed"])
    func rowCountTableIsAQualifiedName(_ table: String) {
        let (c, d) = load(
            """
              schedule: "0 2 * * *"
              timezone: UTC
              retention: {keep: 3}
              rpo: 26h
              restoreDrill:
                schedule: "0 4 * * 0"
                checks: {rowCounts: [{table: '\(table)'}]}

            """)
        #expect(d.map { "\($0.location!.line):\($0.location!.column) \($0.summary)" } == ["11:34 invalid row count check table \"\(table)\""])
        #expect(c.backupSchedules.isEmpty)
    }

    @Test("a quoted table name with a dot in it is a valid row count check")
    func quotedRowCountTable() {
        let (c, d) = load(
            """
              schedule: "0 2 * * *"
              timezone: UTC
              retention: {keep: 3}
              rpo: 26h
              restoreDrill:
                schedule: "0 4 * * 0"
                checks: {rowCounts: [{table: 'public."Lease.Terms"'}]}

            """)
        #expect(d.isEmpty, "\(d)")
        #expect(c.backupSchedules.first?.restoreDrill?.rowCounts == [.init(table: "public.\"Lease.Terms\"", min: 1)])
    }
}

@Suite("Backup retention")
struct BackupRetentionTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    func backups(_ ages: [Double]) -> [BackupRetention.Backup] {
        ages.enumerated().map { .init(id: $0.offset + 1, finishedAt: now.addingTimeInterval(-$0.element * 86_400)) }
    }

    @Test("keep N prunes everything beyond the newest N")
    func keepCount() {
        #expect(BackupRetention.prunable(backups([0, 1, 2, 3, 4]), retention: .init(keep: 3), now: now) == [4, 5])
    }

    @Test("maxAge prunes older backups")
    func maxAge() {
        #expect(BackupRetention.prunable(backups([0, 1, 10, 40]), retention: .init(maxAge: .seconds(7 * 86_400)), now: now) == [3, 4])
    }

    @Test("the newest good backup is never pruned, even when it is older than maxAge")
    func newestIsKept() {
        #expect(BackupRetention.prunable(backups([90, 100]), retention: .init(keep: 1, maxAge: .seconds(86_400)), now: now) == [2])
        #expect(BackupRetention.prunable(backups([90]), retention: .init(keep: 1, maxAge: .seconds(1)), now: now) == [])
        #expect(BackupRetention.prunable([], retention: .init(keep: 1), now: now) == [])
    }
}
