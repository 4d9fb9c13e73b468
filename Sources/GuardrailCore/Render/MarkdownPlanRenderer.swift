/// Renders a plan as a pull-request comment. A reviewer reads it top down, so it is laid out by
/// what must never be missed:
///
/// 1. the outcome line (the heading): counts, and whether hazards block the plan;
/// 2. every change that carries a hazard, and every blocked change, in full;
/// 3. warnings and notes, then a summary table per kind;
/// 4. the other changes, as many as the remaining budget holds;
/// 5. the full text plan folded in `<details>`, cut to what is left.
///
/// The result never exceeds `limit` UTF-8 bytes (GitHub refuses comments over 65,536 characters;
/// bytes are never fewer than characters). When even the hazards do not fit, the comment says so
/// right under the heading and `hazardsTruncated` is set, so `plan --detailed-exitcode` exits 3.
public struct MarkdownPlanRenderer: Sendable {
    public var overrides: HazardOverrides
    public var limit: Int

    public init(overrides: HazardOverrides = HazardOverrides(), limit: Int = 60_000) {
        self.overrides = overrides
        self.limit = limit
    }

    public struct Rendering: Sendable {
        public var text: String
        /// Some changes with hazards are missing from the comment: it cannot be the whole review.
        public var hazardsTruncated: Bool
    }

    public func render(_ plan: Plan) -> String { rendering(plan).text }

    public func rendering(_ plan: Plan) -> Rendering {
        let environment = Self.escapeCode(plan.environment)
        var notes = ""
        for note in plan.notes { notes += "> " + Self.escapeText(note) + "\n" }
        if !plan.notes.isEmpty { notes += "\n" }
        var warnings = ""
        if !plan.findings.isEmpty {
            warnings =
                "**Warnings:**\n\n"
                + plan.findings.map { "- `\(Self.escapeCode($0.address.description))`: \(Self.escapeText($0.message))\n" }.joined() + "\n"
        }
        guard plan.hasChanges else {
            let text =
                "### Guardrail plan for `\(environment)`: no changes\n\n" + notes + warnings
                + "**No changes.** Live state matches the configuration. Compared \(TextPlanRenderer.describeCounts(plan.compared)).\n"
            return Rendering(text: Self.fit(text, limit: limit), hazardsTruncated: false)
        }
        let s = plan.summary
        let blocked = plan.blockingHazards(overrides)
        let hazardous = plan.changes.filter { !$0.hazards.isEmpty }
        var outcome = "### Guardrail plan for `\(environment)`: \(s.add) to add, \(s.change) to change, \(s.destroy) to destroy"
        outcome += blocked.isEmpty ? "\n\n" : ", blocked\n\n"
        var blockedLine = ""
        if !blocked.isEmpty {
            let flags = Set(blocked.compactMap { $0.1.kind.override }).sorted().map { "`\($0)`" }
            let objects = Set(blocked.map { $0.0.address }).count
            blockedLine =
                "**Blocked:** \(objects) change\(objects == 1 ? "" : "s") need\(objects == 1 ? "s" : "") \(flags.joined(separator: " and ")) to apply.\n\n"
        }

        // The summary by kind, which is small and always shown.
        var byKind: [String: (add: Int, change: Int, destroy: Int)] = [:]
        for change in plan.changes {
            var row = byKind[change.kind] ?? (0, 0, 0)
            switch change.action {
            case .create: row.add += 1
            case .update: row.change += 1
            case .delete: row.destroy += 1
            case .replace: row.add += 1; row.destroy += 1
            }
            byKind[change.kind] = row
        }
        var table = "| Kind | Add | Change | Destroy |\n|---|--:|--:|--:|\n"
        for kind in byKind.keys.sorted() {
            let r = byKind[kind]!
            table += "| \(Self.escapeText(kind)) | \(r.add) | \(r.change) | \(r.destroy) |\n"
        }
        table += "\n"

        // What is left for the lists once the fixed parts and the closing notes are counted.
        let reserve = 600
        var budget = limit - reserve - [outcome, blockedLine, notes, warnings, table].reduce(0) { $0 + $1.utf8.count }

        var hazards = ""
        var hazardsTruncated = false
        if !hazardous.isEmpty {
            hazards = "#### Hazards: \(KindNames.count(hazardous.count, of: "change"))\n\n| | Address | Hazards |\n|---|---|---|\n"
            budget -= hazards.utf8.count
            var shown = 0
            for change in hazardous {
                let row = hazardRow(change)
                if row.utf8.count > budget { break }
                hazards += row
                budget -= row.utf8.count
                shown += 1
            }
            hazards += "\n"
            if shown < hazardous.count {
                hazardsTruncated = true
                outcome +=
                    "> [!CAUTION]\n> **\(hazardous.count) changes carry hazards, more than one comment can hold: only \(shown) are listed here.** "
                    + "Review all of them with `guardrail plan --env \(environment)`, or `guardrail show` of the saved plan, before you approve.\n\n"
            }
        }

        var others = ""
        let quiet = plan.changes.count - hazardous.count
        if quiet > 0 {
            let header = "#### Other changes: \(quiet)\n\n| | Address |\n|---|---|\n"
            // Half of what is left, at most, so the full plan below shows something too.
            var listBudget = budget / 2 - header.utf8.count
            if listBudget > 0 {
                others = header
                var shown = 0
                for change in plan.changes where change.hazards.isEmpty {
                    let row = "| \(change.action.rawValue) | `\(Self.escapeCode(change.address.description))` |\n"
                    if row.utf8.count > listBudget { break }
                    others += row
                    listBudget -= row.utf8.count
                    shown += 1
                }
                if shown < quiet { others += "\n_\(quiet - shown) more changes not listed here._\n" }
                others += "\n"
                budget -= others.utf8.count
            }
        }

        let text = TextPlanRenderer(color: false, overrides: overrides).render(plan)
        let fence = String(repeating: "`", count: max(3, Self.longestBacktickRun(text) + 1))
        var details = "<details><summary>Full plan</summary>\n\n\(fence)diff\n"
        let closing = "\(fence)\n\n</details>\n"
        let detailBudget = budget - details.utf8.count - closing.utf8.count
        var truncated = false
        if text.utf8.count <= detailBudget {
            details += text
        } else {
            var used = 0
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if used + line.utf8.count + 1 > detailBudget { truncated = true; break }
                details += line + "\n"
                used += line.utf8.count + 1
            }
        }
        details += closing
        if truncated {
            details += "\n_The full plan is longer than a comment allows and was cut. Run `guardrail plan --env \(environment)` to see all of it._\n"
        }
        let whole = outcome + blockedLine + notes + hazards + warnings + table + others + details
        return Rendering(text: Self.fit(whole, limit: limit), hazardsTruncated: hazardsTruncated)
    }

    private func hazardRow(_ change: Change) -> String {
        let hazards = change.hazards.map { h -> String in
            let state = h.kind.override.map { overrides.permits(h) ? " (allowed)" : " (blocked: `\($0)`)" } ?? ""
            return "**\(h.kind.rawValue)**\(state): " + Self.escapeText(h.message)
        }.joined(separator: "<br>")
        return "| \(change.action.rawValue) | `\(Self.escapeCode(change.address.description))` | \(hazards) |\n"
    }

    /// A last guard for the limit, should the notes alone be huge: cut at a line and say so.
    static func fit(_ text: String, limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        let note = "\n_This comment was cut to fit GitHub's size limit._\n"
        var out = ""
        var used = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if used + line.utf8.count + 1 + note.utf8.count > limit { break }
            out += line + "\n"
            used += line.utf8.count + 1
        }
        return out + note
    }

    /// Escapes text for a table cell or a paragraph: no HTML, no table breaks, no stray emphasis.
    static func escapeText(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "|": out += "\\|"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "`", "*", "_", "[", "]", "\\": out += "\\\(ch)"
            case "\n", "\r", "\r\n": out += " "
            default: out += AttributeValue.escapingControlCharacters(String(ch))
            }
        }
        return out
    }

    /// Text inside single backticks cannot contain a backtick or a pipe (in a table).
    static func escapeCode(_ s: String) -> String {
        AttributeValue.escapingControlCharacters(s).replacingOccurrences(of: "`", with: "'").replacingOccurrences(of: "|", with: "¦")
    }

    static func longestBacktickRun(_ s: String) -> Int {
        var longest = 0, current = 0
        for ch in s.utf8 {
            if ch == UInt8(ascii: "`") { current += 1; longest = max(longest, current) } else { current = 0 }
        }
        return longest
    }
}
