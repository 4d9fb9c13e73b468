import Foundation

/// A scheduled backup of a Postgres database: when it runs, how long backups are kept, the recovery
/// point it promises, and an optional restore drill that proves the backups can be restored.
///
/// ```yaml
/// apiVersion: guardrail/v1
/// kind: BackupSchedule
/// metadata: {name: nightly}
/// spec:
///   schedule: "0 2 * * *"
///   timezone: UTC
///   method: pg_dump
///   retention: {keep: 14, maxAge: 30d}
///   rpo: 26h
///   restoreDrill:
///     schedule: "0 4 * * 0"
///     checks:
///       rowCounts: [{table: public.properties, min: 1}]
///       rlsPolicies: true
///       sql: [{name: tenants present, query: "SELECT count(*) > 0 FROM guardrail.tenants"}]
/// ```
///
/// With `method: pgbackrest` the environment's pgBackRest repository holds the backups, WAL is
/// archived continuously, and a drill restores to a point in time and measures the recovery time:
///
/// ```yaml
/// spec:
///   schedule: "0 1 * * 0"
///   timezone: UTC
///   method: pgbackrest
///   type: full
///   retention: {full: 4, diff: 7}
///   rpo: 5m
///   rto: 5m
///   restoreDrill: {schedule: "0 5 * * 0", target: newest, checks: {rlsPolicies: true}}
/// ```
public struct BackupSchedule: Resource, Hashable {
    public enum Method: String, Hashable, Sendable, Codable, CaseIterable {
        /// `pg_dump --format=custom`: one file, verified with `pg_restore --list`.
        case pgDump = "pg_dump"
        /// pgBackRest: physical backups and continuous WAL archiving into the environment's repository.
        case pgbackrest
    }

    /// pgBackRest's backup types: a full copy, the changes since the last full, or since the last backup of any type.
    public enum BackupType: String, Hashable, Sendable, Codable, CaseIterable {
        case full, diff, incr
    }

    /// Where a pgBackRest restore drill recovers to.
    public enum DrillTarget: String, Hashable, Sendable, Codable, CaseIterable {
        /// The end of the archived WAL: everything the repository holds.
        case newest
        /// A time drawn at random between the oldest backup and the newest archived WAL.
        case randomInWindow = "random-in-window"
    }

    public struct Retention: Hashable, Sendable {
        /// Keep at most this many successful backups.
        public var keep: Int?
        /// Delete successful backups older than this.
        public var maxAge: GuardrailDuration?
        /// pgBackRest: full backups to keep (`repo1-retention-full`); archived WAL older than the oldest kept full expires with it.
        public var full: Int?
        /// pgBackRest: differential backups to keep (`repo1-retention-diff`).
        public var diff: Int?

        public init(keep: Int? = nil, maxAge: GuardrailDuration? = nil, full: Int? = nil, diff: Int? = nil) {
            self.keep = keep
            self.maxAge = maxAge
            self.full = full
            self.diff = diff
        }
    }

    public struct RowCountCheck: Hashable, Sendable {
        /// `schema.table`, a valid `QualifiedName` as manifests write it (`public."Lease Terms"`).
        public var table: String
        /// The restored table must have at least this many rows.
        public var min: Int

        public init(table: String, min: Int) {
            self.table = table
            self.min = min
        }
    }

    public struct SQLCheck: Hashable, Sendable {
        public var name: String
        /// A query returning one boolean: true passes.
        public var query: String

        public init(name: String, query: String) {
            self.name = name
            self.query = query
        }
    }

    public struct RestoreDrill: Hashable, Sendable {
        public var schedule: CronSchedule
        public var rowCounts: [RowCountCheck]
        /// Check that every table with RLS policies in the source has the same policies restored.
        public var rlsPolicies: Bool
        public var sql: [SQLCheck]
        /// pgBackRest drills only: the point in time restored.
        public var target: DrillTarget

        public init(
            schedule: CronSchedule, rowCounts: [RowCountCheck] = [], rlsPolicies: Bool = true, sql: [SQLCheck] = [],
            target: DrillTarget = .newest
        ) {
            self.schedule = schedule
            self.rowCounts = rowCounts
            self.rlsPolicies = rlsPolicies
            self.sql = sql
            self.target = target
        }
    }

    public var name: String
    /// The database to back up; nil means the environment's own database.
    public var database: String?
    public var schedule: CronSchedule
    /// An IANA time zone identifier such as `UTC` or `Europe/Berlin`.
    public var timezone: String
    public var method: Method
    public var retention: Retention
    /// The recovery point objective: the newest good backup must be younger than this.
    public var rpo: GuardrailDuration
    public var allowFrequent: Bool
    public var restoreDrill: RestoreDrill?
    /// pgBackRest only: full, diff or incr.
    public var backupType: BackupType?
    /// pgBackRest only: the stanza, when it is not the environment's.
    public var stanza: String?
    /// The recovery time objective: a restore drill that takes longer fails.
    public var rto: GuardrailDuration?

    public init(
        name: String, database: String? = nil, schedule: CronSchedule, timezone: String = "UTC", method: Method = .pgDump,
        retention: Retention, rpo: GuardrailDuration, allowFrequent: Bool = false, restoreDrill: RestoreDrill? = nil,
        backupType: BackupType? = nil, stanza: String? = nil, rto: GuardrailDuration? = nil
    ) {
        self.name = name
        self.database = database
        self.schedule = schedule
        self.timezone = timezone
        self.method = method
        self.retention = retention
        self.rpo = rpo
        self.allowFrequent = allowFrequent
        self.restoreDrill = restoreDrill
        self.backupType = backupType
        self.stanza = stanza
        self.rto = rto
    }

    public static let kind = "BackupSchedule"
    public static let addressPrefix = "backup"
    public static let destroyHazard = "deleting a backup schedule stops its backups and drills; existing backup files are kept"
    static let specKeys = specShape.keys

    public var timeZone: TimeZone { TimeZone(identifier: timezone) ?? TimeZone(identifier: "UTC")! }

    /// The next run times, for the plan.
    public func nextRuns(after date: Date, count: Int = 3) -> [Date] {
        schedule.nextRuns(after: date, in: timeZone, count: count)
    }

    public var attributes: Attributes {
        var a: Attributes = [
            "schedule": .string(schedule.source),
            "timezone": .string(timezone),
            "method": .string(method.rawValue),
            "rpo": .string(rpo.description),
            "allow_frequent": .bool(allowFrequent),
            "database": database.map { .string($0) } ?? .null,
        ]
        var retention: Attributes = [:]
        if let keep = self.retention.keep { retention["keep"] = .int(keep) }
        if let maxAge = self.retention.maxAge { retention["max_age"] = .string(maxAge.description) }
        if let full = self.retention.full { retention["full"] = .int(full) }
        if let diff = self.retention.diff { retention["diff"] = .int(diff) }
        a["retention"] = .map(retention)
        // Only set for pgBackRest schedules, so pg_dump schedules keep the attributes they always had.
        if let backupType { a["type"] = .string(backupType.rawValue) }
        if let stanza { a["stanza"] = .string(stanza) }
        if let rto { a["rto"] = .string(rto.description) }
        if let drill = restoreDrill {
            var d: Attributes = [
                "schedule": .string(drill.schedule.source),
                "row_counts": .list(drill.rowCounts.map { .map(["table": .string($0.table), "min": .int($0.min)]) }),
                "rls_policies": .bool(drill.rlsPolicies),
                "sql": .list(drill.sql.map { .map(["name": .string($0.name), "query": .string($0.query)]) }),
            ]
            if method == .pgbackrest { d["target"] = .string(drill.target.rawValue) }
            a["restore_drill"] = .map(d)
        } else {
            a["restore_drill"] = .null
        }
        return a
    }

    public init(name: String, attributes a: Attributes) throws {
        func cron(_ value: AttributeValue?, _ key: String) throws -> CronSchedule {
            guard let text = value?.stringValue, case .success(let c) = CronSchedule.parse(text) else {
                throw AttributeError.missing(key, in: Self.kind)
            }
            return c
        }
        func duration(_ value: AttributeValue?, _ key: String) throws -> GuardrailDuration {
            guard let text = value?.stringValue, case .success(let d) = GuardrailDuration.parse(text) else {
                throw AttributeError.missing(key, in: Self.kind)
            }
            return d
        }
        guard let method = a["method"]?.stringValue.flatMap(Method.init(rawValue:)) else { throw AttributeError.missing("method", in: Self.kind) }
        guard let timezone = a["timezone"]?.stringValue else { throw AttributeError.missing("timezone", in: Self.kind) }
        guard let r = a["retention"]?.mapValue else { throw AttributeError.missing("retention", in: Self.kind) }
        let retention = Retention(
            keep: r["keep"]?.intValue, maxAge: try r["max_age"].map { try duration($0, "retention.max_age") },
            full: r["full"]?.intValue, diff: r["diff"]?.intValue)
        var drill: RestoreDrill?
        if let d = a["restore_drill"]?.mapValue {
            drill = RestoreDrill(
                schedule: try cron(d["schedule"], "restore_drill.schedule"),
                rowCounts: (d["row_counts"]?.listValue ?? []).compactMap { v in
                    guard let m = v.mapValue, let t = m["table"]?.stringValue, let n = m["min"]?.intValue else { return nil }
                    return RowCountCheck(table: t, min: n)
                },
                rlsPolicies: d["rls_policies"]?.boolValue ?? true,
                sql: (d["sql"]?.listValue ?? []).compactMap { v in
                    guard let m = v.mapValue, let n = m["name"]?.stringValue, let q = m["query"]?.stringValue else { return nil }
                    return SQLCheck(name: n, query: q)
                },
                target: d["target"]?.stringValue.flatMap(DrillTarget.init(rawValue:)) ?? .newest)
        }
        self.init(
            name: name, database: a["database"]?.stringValue, schedule: try cron(a["schedule"], "schedule"), timezone: timezone,
            method: method, retention: retention, rpo: try duration(a["rpo"], "rpo"),
            allowFrequent: a["allow_frequent"]?.boolValue ?? false, restoreDrill: drill,
            backupType: a["type"]?.stringValue.flatMap(BackupType.init(rawValue:)), stanza: a["stanza"]?.stringValue,
            rto: try a["rto"].map { try duration($0, "rto") })
    }
}

extension BackupSchedule {
    /// Decodes a BackupSchedule's spec; problems go to the reader's diagnostics and yield nil.
    static func decode(metadata: ObjectMetadata, spec: FieldReader) -> BackupSchedule? {
        let reader = spec.reader
        var ok = true
        if let problem = NameRules.dnsLabel(metadata.name) {
            reader.error("invalid BackupSchedule name \"\(metadata.name)\"", detail: problem, at: metadata.nameMark)
            ok = false
        }
        func cron(_ fields: FieldReader, _ key: String) -> CronSchedule? {
            guard let node = fields.required(key), let text = reader.string(node, "\(fields.context).\(key)") else { return nil }
            switch CronSchedule.parse(text) {
            case .success(let c): return c
            case .failure(let problem):
                // Point at the field inside the string when we know which one, so the column is exact.
                var mark = node.mark
                if let field = problem.field, case .scalar(let s) = node {
                    mark.column += Self.columnOffset(ofField: field, in: text, quoted: !s.isPlain)
                }
                reader.error("invalid cron schedule \"\(text)\"", detail: problem.message, at: mark)
                return nil
            }
        }
        let schedule = cron(spec, "schedule")
        let timezone = spec.string("timezone", required: true)
        if let tz = timezone, TimeZone(identifier: tz) == nil {
            var detail = "Use an IANA time zone name such as UTC, America/New_York or Europe/Berlin."
            if let s = Suggestion.closest(to: tz, among: TimeZone.knownTimeZoneIdentifiers + ["UTC"]) { detail = "Did you mean \"\(s)\"? " + detail }
            reader.error("unknown time zone \"\(tz)\"", detail: detail, at: spec.node("timezone")!.mark)
            ok = false
        }
        let method = spec.has("method") ? spec.oneOf("method", as: Method.self) : .pgDump
        let database = spec.string("database")
        let rpo = spec.duration("rpo", required: true)
        if let rpo, rpo.milliseconds <= 0 {
            reader.error(
                "rpo must be positive", detail: "The recovery point objective is how old the newest good backup may be, such as 26h.",
                at: spec.node("rpo")!.mark)
            ok = false
        }
        let allowFrequent = spec.has("allowFrequent") ? spec.bool("allowFrequent") : false
        let pgbackrest = method == .pgbackrest
        var backupType: BackupType?
        var stanza: String?
        var rto: GuardrailDuration?
        if pgbackrest {
            backupType = spec.oneOf("type", as: BackupType.self, required: true)
            if backupType == nil { ok = false }
            if let node = spec.node("stanza") {
                stanza = reader.string(node, "\(spec.context).stanza")
                if let s = stanza, let problem = Self.stanzaProblem(s) {
                    reader.error("invalid stanza \"\(s)\"", detail: problem, at: node.mark)
                    ok = false
                }
            }
            if let node = spec.node("database") {
                reader.error(
                    "a pgbackrest schedule backs up the whole cluster, not one database",
                    detail: "Remove database:, or use method: pg_dump to back up one database.", at: node.mark)
                ok = false
            }
        } else {
            // A pg_dump schedule with pgBackRest's fields is a mistake worth stopping: it would not do what it says.
            for key in ["type", "stanza"] {
                guard let mark = spec.keyMark(key) else { continue }
                reader.error(
                    "\(key) applies only to method: pgbackrest",
                    detail: "A pg_dump schedule writes one archive per run; add method: pgbackrest for physical backups.", at: mark)
                ok = false
            }
        }
        if spec.has("rto") {
            rto = spec.duration("rto")
            if let r = rto, r.milliseconds <= 0 {
                reader.error(
                    "rto must be positive", detail: "The recovery time objective is how long a restore may take, such as 5m.",
                    at: spec.node("rto")!.mark)
                ok = false
            } else if rto == nil {
                ok = false
            } else if !pgbackrest {
                reader.error(
                    "rto applies only to method: pgbackrest", detail: "Only pgBackRest drills measure the time to a running cluster.",
                    at: spec.keyMark("rto")!)
                ok = false
            }
        }

        var retention: Retention?
        if pgbackrest, let r = spec.fields("retention", allowed: retentionShape.keys(leading: ["full", "diff"]), required: true) {
            let full = r.int("full", range: 1...9_999_999)
            let diff = r.int("diff", range: 1...9_999_999)
            for key in ["keep", "maxAge"] {
                guard let mark = r.keyMark(key) else { continue }
                reader.error(
                    "retention.\(key) does not apply to method: pgbackrest",
                    detail:
                        "pgBackRest keeps backups by count: full: 4 keeps four full backups (and the WAL and backups that depend on them); diff: 7 keeps seven differentials.",
                    at: mark)
                ok = false
            }
            if !r.has("full") {
                reader.error(
                    "retention needs full for method: pgbackrest",
                    detail: "Say how many full backups to keep, such as full: 4; archived WAL older than the oldest kept full expires with it.",
                    at: r.mark)
                ok = false
            }
            if (r.has("full") && full == nil) || (r.has("diff") && diff == nil) { ok = false }
            retention = Retention(full: full, diff: diff)
        } else if !pgbackrest, let r = spec.fields("retention", allowed: retentionShape.keys, required: true) {
            let keep = r.int("keep", range: 1...100_000)
            let maxAge = r.duration("maxAge")
            for key in ["full", "diff"] {
                guard let mark = r.keyMark(key) else { continue }
                reader.error(
                    "retention.\(key) applies only to method: pgbackrest",
                    detail: "A pg_dump schedule keeps archives by count (keep: 14) or age (maxAge: 30d).", at: mark)
                ok = false
            }
            if !r.has("keep"), !r.has("maxAge") {
                reader.error(
                    "retention needs keep or maxAge", detail: "Say how many backups to keep (keep: 14), how old they may get (maxAge: 30d), or both.",
                    at: r.mark)
                ok = false
            }
            if (r.has("keep") && keep == nil) || (r.has("maxAge") && maxAge == nil) { ok = false }
            retention = Retention(keep: keep, maxAge: maxAge)
        }

        var drill: RestoreDrill?
        var drillOK = true
        if let d = spec.fields("restoreDrill", allowed: restoreDrillShape.keys) {
            let drillSchedule = cron(d, "schedule")
            var target = DrillTarget.newest
            if d.has("target") {
                if !pgbackrest {
                    reader.error(
                        "restoreDrill.target applies only to method: pgbackrest",
                        detail: "A pg_dump drill restores the newest archive; there is no point in time to choose.", at: d.keyMark("target")!)
                    drillOK = false
                } else if let t = d.oneOf("target", as: DrillTarget.self) {
                    target = t
                } else {
                    drillOK = false
                }
            }
            var rowCounts: [RowCountCheck] = [], rls = true, sql: [SQLCheck] = []
            if let checks = d.fields("checks", allowed: checksShape.keys) {
                if let node = checks.node("rowCounts") {
                    if case .sequence(let seq) = node {
                        for item in seq.items {
                            guard let f = reader.fields(item, "a row count check", allowed: rowCountShape.keys) else { drillOK = false; continue }
                            guard let table = f.string("table", required: true) else { drillOK = false; continue }
                            // Parsed now, as RowLevelSecurity names are, so a bad name fails validate rather than the drill.
                            let name: QualifiedName
                            switch QualifiedName.parse(table) {
                            case .success(let parsed): name = parsed
                            case .failure(let problem):
                                reader.error("invalid row count check table \"\(table)\"", detail: problem.description, at: f.node("table")!.mark)
                                drillOK = false
                                continue
                            }
                            rowCounts.append(RowCountCheck(table: name.description, min: f.has("min") ? (f.int("min", range: 0...Int.max) ?? 0) : 1))
                        }
                    } else {
                        reader.error(
                            "restoreDrill.checks.rowCounts must be a list", detail: "Write it as - {table: public.properties, min: 1} items.",
                            at: node.mark)
                        drillOK = false
                    }
                }
                if checks.has("rlsPolicies") { rls = checks.bool("rlsPolicies") ?? true }
                if let node = checks.node("sql") {
                    if case .sequence(let seq) = node {
                        for item in seq.items {
                            guard let f = reader.fields(item, "a SQL check", allowed: sqlCheckShape.keys),
                                let name = f.string("name", required: true), let query = f.string("query", required: true)
                            else { drillOK = false; continue }
                            sql.append(SQLCheck(name: name, query: query))
                        }
                    } else {
                        reader.error("restoreDrill.checks.sql must be a list", detail: "Write it as - {name: ..., query: ...} items.", at: node.mark)
                        drillOK = false
                    }
                }
            }
            if let drillSchedule {
                drill = RestoreDrill(schedule: drillSchedule, rowCounts: rowCounts, rlsPolicies: rls, sql: sql, target: target)
            } else {
                drillOK = false
            }
        } else if spec.has("restoreDrill") {
            drillOK = false
        }

        if let schedule, schedule.nextRuns(after: Date(timeIntervalSince1970: 946_684_800), in: TimeZone(identifier: "UTC")!, count: 1).isEmpty {
            reader.error(
                "schedule \"\(schedule.source)\" never runs",
                detail: "No date matches its day-of-month and month fields together (such as February 30th).",
                at: spec.node("schedule")!.mark)
            ok = false
        } else if let schedule, schedule.firesMoreOftenThanHourly, allowFrequent != true {
            reader.error(
                "schedule \"\(schedule.source)\" runs more than once an hour",
                detail:
                    "Its minute field has \(schedule.minutes.count) values, so backups would run every few minutes. That is usually a seconds field or a * in the wrong place; if you mean it, add allowFrequent: true.",
                at: spec.node("schedule")!.mark)
            ok = false
        }
        guard ok, drillOK, let schedule, let timezone, let method, let rpo, let retention, let allowFrequent else { return nil }
        return BackupSchedule(
            name: metadata.name, database: pgbackrest ? nil : database, schedule: schedule, timezone: timezone, method: method,
            retention: retention, rpo: rpo, allowFrequent: allowFrequent, restoreDrill: drill,
            backupType: backupType, stanza: stanza, rto: rto)
    }

    /// Why `name` cannot be a pgBackRest stanza (it names a section of its configuration and folders in the repository).
    public static func stanzaProblem(_ name: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        guard !name.isEmpty, name.count <= 64, name.allSatisfy({ allowed.contains($0) }), name.first != ".", name.first != "-" else {
            return "A stanza is 1 to 64 letters, digits, '-', '_' or '.', not starting with '.' or '-'."
        }
        return nil
    }

    /// How many columns into a scalar the 0-based cron field starts (after the opening quote, if any).
    static func columnOffset(ofField field: Int, in text: String, quoted: Bool) -> Int {
        var index = 0, column = quoted ? 1 : 0, inField = false
        for ch in text {
            let space = ch == " " || ch == "\t"
            if !space, !inField {
                if index == field { return column }
                inField = true
            } else if space, inField {
                inField = false
                index += 1
            }
            column += 1
        }
        return quoted ? 1 : 0
    }
}

extension BackupSchedule {
    /// Adds each created or changed schedule's next three run times, in its own time zone, to its change.
    static func describe(_ changes: [Change], desired: [BackupSchedule], now: Date) -> [Change] {
        let byName = Dictionary(desired.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        return changes.map { change in
            guard change.action != .delete, let schedule = byName[change.address.name] else { return change }
            var copy = change
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = schedule.timeZone
            formatter.dateFormat = "yyyy-MM-dd HH:mm zzz"
            let runs = schedule.nextRuns(after: now).map { formatter.string(from: $0) }
            copy.details.append("next runs (\(schedule.timezone)): " + runs.joined(separator: ", "))
            if let drill = schedule.restoreDrill {
                let drills = drill.schedule.nextRuns(after: now, in: schedule.timeZone, count: 1).map { formatter.string(from: $0) }
                copy.details.append("next restore drill: " + (drills.first ?? "never"))
            }
            return copy
        }
    }
}
