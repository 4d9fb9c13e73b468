import Foundation

/// A five-field cron expression (`minute hour day-of-month month day-of-week`), evaluated in a time zone.
///
/// The dialect is Vixie cron's, which most people write: `*`, lists (`1,15`), ranges (`1-5`), steps
/// (`*/15`, `0-30/10`), month and weekday names (`jan`, `mon-fri`), and 0 or 7 for Sunday. When both
/// day fields are restricted, a day matches if either does. Seconds fields and `@daily`-style macros are
/// rejected so a six-field Quartz expression cannot be misread as a five-field one.
///
/// ```swift
/// let nightly = try CronSchedule.parse("0 2 * * *").get()
/// nightly.nextRuns(after: now, in: TimeZone(identifier: "Europe/Berlin")!, count: 3)
/// ```
public struct CronSchedule: Hashable, Sendable, CustomStringConvertible {
    public var minutes: Set<Int>
    public var hours: Set<Int>
    public var daysOfMonth: Set<Int>
    public var months: Set<Int>
    /// 0 = Sunday ... 6 = Saturday.
    public var daysOfWeek: Set<Int>
    /// Whether the day-of-month and day-of-week fields were `*` (unrestricted), which decides how they combine.
    public var dayOfMonthIsWildcard: Bool
    public var dayOfWeekIsWildcard: Bool
    /// The expression as written.
    public var source: String

    public var description: String { source }

    public struct Problem: Error, Equatable, Sendable, CustomStringConvertible {
        public var message: String
        /// The 0-based field the problem is in, when it is in one.
        public var field: Int?
        public var description: String { message }
    }

    static let fieldNames = ["minute", "hour", "day-of-month", "month", "day-of-week"]
    static let ranges: [ClosedRange<Int>] = [0...59, 0...23, 1...31, 1...12, 0...7]
    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    public static func parse(_ text: String) -> Result<CronSchedule, Problem> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("@") {
            return .failure(Problem(message: "\"\(trimmed)\" is a macro; write the five fields instead (for @daily, \"0 0 * * *\")."))
        }
        let fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            let hint =
                fields.count == 6
                ? " Six fields look like a Quartz expression with seconds first; drop the seconds field."
                : " The fields are minute, hour, day-of-month, month and day-of-week."
            return .failure(Problem(message: "a cron schedule has 5 fields; \"\(trimmed)\" has \(fields.count).\(hint)"))
        }
        var sets: [Set<Int>] = []
        for (index, field) in fields.enumerated() {
            switch parseField(field, index: index) {
            case .success(let values): sets.append(values)
            case .failure(let problem): return .failure(problem)
            }
        }
        var dow = sets[4]
        if dow.contains(7) { dow.remove(7); dow.insert(0) }
        return .success(
            CronSchedule(
                minutes: sets[0], hours: sets[1], daysOfMonth: sets[2], months: sets[3], daysOfWeek: dow,
                dayOfMonthIsWildcard: fields[2] == "*" || fields[2] == "?",
                dayOfWeekIsWildcard: fields[4] == "*" || fields[4] == "?", source: trimmed))
    }

    private static func parseField(_ field: String, index: Int) -> Result<Set<Int>, Problem> {
        let range = ranges[index]
        let name = fieldNames[index]
        func fail(_ message: String) -> Result<Set<Int>, Problem> {
            .failure(Problem(message: "the \(name) field \"\(field)\" \(message)", field: index))
        }
        func value(_ text: Substring) -> Int? {
            if let n = Int(text) { return n }
            let lower = text.lowercased()
            if index == 3, let i = monthNames.firstIndex(of: lower) { return i + 1 }
            if index == 4, let i = dayNames.firstIndex(of: lower) { return i }
            return nil
        }
        var result: Set<Int> = []
        for part in field.split(separator: ",", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { return fail("has an empty list item.") }
            var base = part, step = 1
            if let slash = part.firstIndex(of: "/") {
                base = part[..<slash]
                guard let s = Int(part[part.index(after: slash)...]), s > 0 else { return fail("has a step that is not a positive number.") }
                step = s
            }
            var low: Int, high: Int
            if base == "*" || (base == "?" && (index == 2 || index == 4)) {
                low = range.lowerBound
                high = index == 4 ? 6 : range.upperBound
            } else if let dash = base.firstIndex(of: "-") {
                guard let a = value(base[..<dash]), let b = value(base[base.index(after: dash)...]) else {
                    return fail("has a range that is not two values (\(range.lowerBound)-\(range.upperBound)).")
                }
                guard a <= b else { return fail("has a range that runs backwards (\(a)-\(b)).") }
                low = a
                high = b
            } else {
                guard let v = value(base) else {
                    return fail("is not a number, a name, *, a range or a step.")
                }
                low = v
                // `5/15` means "from 5, every 15", as in Vixie cron.
                high = part.contains("/") ? range.upperBound : v
            }
            guard range.contains(low), range.contains(high) else {
                return fail("is outside \(range.lowerBound)-\(range.upperBound).")
            }
            var v = low
            while v <= high { result.insert(v); v += step }
        }
        return .success(result)
    }

    /// Whether more than one run can fall in the same hour: the minute field has several values.
    /// This is what a seconds field shifted into the minute slot, or `*` in the wrong place, looks like.
    public var firesMoreOftenThanHourly: Bool { minutes.count > 1 }

    func matchesDay(month: Int, day: Int, weekday: Int) -> Bool {
        guard months.contains(month) else { return false }
        let domOK = daysOfMonth.contains(day), dowOK = daysOfWeek.contains(weekday)
        switch (dayOfMonthIsWildcard, dayOfWeekIsWildcard) {
        case (true, true): return true
        case (false, true): return domOK
        case (true, false): return dowOK
        case (false, false): return domOK || dowOK
        }
    }

    /// The run times of each matching day, walking from `date`'s day forwards (or backwards), in
    /// `timeZone`'s wall clock, until `visit` returns false or eight years have passed (which covers
    /// every leap-day and weekday combination a valid expression can need).
    ///
    /// A wall time inside a daylight-saving gap resolves to just after the gap, and a wall time that
    /// occurs twice resolves to its first occurrence.
    private func walk(from date: Date, in timeZone: TimeZone, backwards: Bool, _ visit: (Date) -> Bool) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let hourOrder = backwards ? hours.sorted(by: >) : hours.sorted()
        let minuteOrder = backwards ? minutes.sorted(by: >) : minutes.sorted()
        var day = calendar.startOfDay(for: date)
        for _ in 0..<(366 * 8) {
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
            if let year = parts.year, let month = parts.month, let dom = parts.day, let weekday = parts.weekday,
                matchesDay(month: month, day: dom, weekday: weekday - 1)
            {
                for hour in hourOrder {
                    for minute in minuteOrder {
                        let wanted = DateComponents(year: year, month: month, day: dom, hour: hour, minute: minute)
                        guard let candidate = calendar.date(from: wanted), calendar.component(.day, from: candidate) == dom else { continue }
                        if !visit(candidate) { return }
                    }
                }
            }
            guard let next = calendar.date(byAdding: .day, value: backwards ? -1 : 1, to: day) else { return }
            day = next
        }
    }

    /// The next `count` run times strictly after `date`, in `timeZone`'s wall clock. A gap-shifted time
    /// that lands on another run is kept once.
    public func nextRuns(after date: Date, in timeZone: TimeZone, count: Int) -> [Date] {
        var runs: [Date] = []
        guard count > 0 else { return runs }
        walk(from: date, in: timeZone, backwards: false) { candidate in
            if candidate > date, runs.last.map({ $0 < candidate }) ?? true { runs.append(candidate) }
            return runs.count < count
        }
        return runs
    }

    /// The latest run time at or before `date` (within the past eight years), for catching up missed runs.
    public func previousRun(atOrBefore date: Date, in timeZone: TimeZone) -> Date? {
        var found: Date?
        walk(from: date, in: timeZone, backwards: true) { candidate in
            if candidate <= date { found = candidate }
            return found == nil
        }
        return found
    }
}
