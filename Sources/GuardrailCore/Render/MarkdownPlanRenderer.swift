/// Renders a plan as a pull-request comment: a summary table, the changes, and the full text plan
/// folded in `<details>`. The result always stays under `limit` characters (GitHub refuses comments
/// over 65,536); when it would not, the detail is cut and a note says so.
public struct MarkdownPlanRenderer: Sendable {
    public var overrides: HazardOverrides
    public var limit: Int

    public init(overrides: HazardOverrides = HazardOverrides(), limit: Int = 60_000) {
        self.overrides = overrides
        self.limit = limit
    }

    public func render(_ plan: Plan) -> String {
        var head = "### Guardrail plan for `\(Self.escapeCode(plan.environment))`\n\n"
        for note in plan.notes { head += "> " + Self.escapeText(note) + "\n" }
        if !plan.notes.isEmpty { head += "\n" }
        if !plan.findings.isEmpty {
            head += "**Warnings:**\n\n" + plan.findings.map { "- `\(Self.escapeCode($0.address.description))`: \(Self.escapeText($0.message))\n" }.joined() + "\n"
        }
        guard plan.hasChanges else {
            return head + "**No changes.** Live state matches the configuration. Compared \(TextPlanRenderer.describeCounts(plan.compared)).\n"
        }
        let s = plan.summary
        head += "**Plan:** \(s.add) to add, \(s.change) to change, \(s.destroy) to destroy.\n\n"
        let blocked = plan.blockingHazards(overrides)
        if !blocked.isEmpty {
            let flags = Set(blocked.compactMap { $0.1.kind.override }).sorted().map { "`\($0)`" }
            let objects = Set(blocked.map { $0.0.address }).count
            head += "**Blocked:** \(objects) change\(objects == 1 ? "" : "s") need\(objects == 1 ? "s" : "") \(flags.joined(separator: " and ")) to apply.\n\n"
        }

        // Summary by kind.
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
        head += "| Kind | Add | Change | Destroy |\n|---|--:|--:|--:|\n"
        for kind in byKind.keys.sorted() {
            let r = byKind[kind]!
            head += "| \(Self.escapeText(kind)) | \(r.add) | \(r.change) | \(r.destroy) |\n"
        }
        head += "\n"

        let truncationReserve = 400
        var body = "| | Address | Hazards |\n|---|---|---|\n"
        var shownRows = 0
        for change in plan.changes {
            let hazards = change.hazards.map { h -> String in
                let state = h.kind.override.map { overrides.permits(h) ? " (allowed)" : " (blocked: `\($0)`)" } ?? ""
                return "**\(h.kind.rawValue)**\(state): " + Self.escapeText(h.message)
            }.joined(separator: "<br>")
            let row = "| \(change.action.rawValue) | `\(Self.escapeCode(change.address.description))` | \(hazards) |\n"
            if head.count + body.count + row.count + truncationReserve > limit / 2 { break }
            body += row
            shownRows += 1
        }
        if shownRows < plan.changes.count {
            body += "\n_\(plan.changes.count - shownRows) more changes not listed here._\n"
        }

        let text = TextPlanRenderer(color: false, overrides: overrides).render(plan)
        let fence = String(repeating: "`", count: max(3, Self.longestBacktickRun(text) + 1))
        var details = "\n<details><summary>Full plan</summary>\n\n\(fence)diff\n"
        let closing = "\(fence)\n\n</details>\n"
        let budget = limit - head.count - body.count - details.count - closing.count - truncationReserve
        var truncated = false
        if text.count <= budget {
            details += text
        } else {
            var used = 0
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if used + line.count + 1 > budget { truncated = true; break }
                details += line + "\n"
                used += line.count + 1
            }
        }
        details += closing
        if truncated {
            details += "\n_The full plan is longer than a comment allows and was cut. Run `guardrail plan --env \(Self.escapeCode(plan.environment))` to see all of it._\n"
        }
        return head + body + details
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
