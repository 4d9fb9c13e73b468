/// Renders a plan for people, in the style of `terraform plan`: `+ ~ - -/+`, one block per object,
/// attribute-level `before -> after` for updates, and a closing `Plan:` line.
public struct TextPlanRenderer: Sendable {
    public var color: Bool
    public var overrides: HazardOverrides
    /// Plans of more changes than this are shortened (nil: never): the first `shownChanges` in full,
    /// then every other change that carries a hazard, a summary per kind, and how to see the rest.
    public var shortenAbove: Int?

    /// Changes a plan over `shortenAbove` prints in full, before its hazardous ones.
    public static let shownChanges = 200
    /// The default for `plan` and `apply`: a terminal or a CI log cannot be read past this anyway.
    public static let defaultShortenAbove = 1000

    public init(color: Bool, overrides: HazardOverrides = HazardOverrides(), shortenAbove: Int? = nil) {
        self.color = color
        self.overrides = overrides
        self.shortenAbove = shortenAbove
    }

    private enum Style: String {
        case green = "32", yellow = "33", red = "31", bold = "1", dim = "2", cyan = "36"
    }

    private func paint(_ text: String, _ style: Style) -> String {
        color ? "\u{1B}[\(style.rawValue)m\(text)\u{1B}[0m" : text
    }

    public func render(_ plan: Plan) -> String {
        var out = ""
        for note in plan.notes { out += paint("Note: ", .bold) + note + "\n" }
        if !plan.notes.isEmpty { out += "\n" }
        guard plan.hasChanges else {
            out += paint("No changes.", .bold) + " Live state matches the configuration.\n\n"
            out += "Compared \(Self.describeCounts(plan.compared)) in environment \"\(plan.environment)\".\n"
            return out + renderFindings(plan.findings)
        }
        out += "Guardrail will perform the following actions in environment \"\(plan.environment)\":\n\n"
        if let limit = shortenAbove, plan.changes.count > limit {
            renderShortened(plan, into: &out)
        } else {
            out.reserveCapacity(plan.changes.count * 320)
            for change in plan.changes {
                renderChange(change, into: &out)
                out += "\n"
            }
        }
        let s = plan.summary
        out += paint("Plan:", .bold) + " \(s.add) to add, \(s.change) to change, \(s.destroy) to destroy.\n"
        let blocked = plan.blockingHazards(overrides)
        if !blocked.isEmpty {
            let flags = Set(blocked.compactMap { $0.1.kind.override }).sorted()
            let objects = Set(blocked.map { $0.0.address }).count
            out +=
                "\n" + paint("Blocked:", .red)
                + " \(objects) change\(objects == 1 ? "" : "s") need\(objects == 1 ? "s" : "") \(flags.joined(separator: " and ")) to apply.\n"
        }
        return out + renderFindings(plan.findings)
    }

    /// What `apply FILE` prints before it applies a saved plan: the plan was reviewed when it was made
    /// (and `guardrail show FILE` renders it again), so only that it matched, every hazard it
    /// carries, and the summary; not ten thousand changes a second time.
    public func renderSavedApply(_ plan: Plan, file: String) -> String {
        var out =
            "Applying the saved plan \(plan.id) in environment \"\(plan.environment)\": a fresh plan of the same configuration "
            + "and live state matches it change for change (`guardrail show \(file)` renders it).\n"
        let hazardous = plan.changes.filter { !$0.hazards.isEmpty }
        if !hazardous.isEmpty {
            out += "\n" + paint("Hazards:", .bold) + "\n"
            for change in hazardous {
                for hazard in change.hazards {
                    let allowed = overrides.permits(hazard) ? hazard.kind.override.map { " (allowed by \($0))" } ?? "" : ""
                    out += "  \(change.action.rawValue) \(change.address): \(hazard.kind.rawValue): \(hazard.message)\(allowed)\n"
                }
            }
        }
        let s = plan.summary
        return out + "\n" + paint("Plan:", .bold) + " \(s.add) to add, \(s.change) to change, \(s.destroy) to destroy.\n"
    }

    /// A large plan: the first changes, every later change with a hazard, and the count per kind.
    /// Nothing that needs a person's attention is left out; only quiet changes are counted instead
    /// of printed.
    private func renderShortened(_ plan: Plan, into out: inout String) {
        let shown = plan.changes.prefix(Self.shownChanges)
        out.reserveCapacity(shown.count * 320)
        for change in shown {
            renderChange(change, into: &out)
            out += "\n"
        }
        let rest = plan.changes.dropFirst(Self.shownChanges)
        let hazardous = rest.filter { !$0.hazards.isEmpty }
        let quiet = rest.count - hazardous.count
        if !hazardous.isEmpty {
            out += paint("\(hazardous.count) more change\(hazardous.count == 1 ? "" : "s") with hazards:", .bold) + "\n\n"
            for change in hazardous {
                renderChange(change, into: &out)
                out += "\n"
            }
        }
        out +=
            paint("\(quiet) more change\(quiet == 1 ? "" : "s") without hazards not shown", .bold)
            + " (`--full` prints every change, as `guardrail show` does for a saved plan).\n\n"
        let byKind = Dictionary(grouping: plan.changes, by: \.kind).mapValues { Plan.Summary(counting: $0) }
        let width = byKind.keys.map(\.count).max() ?? 0
        out += "By kind:\n"
        for kind in byKind.keys.sorted() {
            let k = byKind[kind]!
            out +=
                "  " + kind + String(repeating: " ", count: width - kind.count)
                + "  \(k.add) to add, \(k.change) to change, \(k.destroy) to destroy\n"
        }
        out += "\n"
    }

    /// Warnings about the configuration itself, after the summary as Terraform prints its warnings.
    func renderFindings(_ findings: [Finding]) -> String {
        guard !findings.isEmpty else { return "" }
        var out = "\n" + paint("Warnings:", .yellow) + "\n"
        for finding in findings { out += paint("  ! \(finding.address): \(finding.message)", .yellow) + "\n" }
        return out
    }

    static func describeCounts(_ compared: [String: Int]) -> String {
        let parts = compared.keys.sorted().map { kind -> String in
            KindNames.count(compared[kind]!, of: kind)
        }
        return parts.isEmpty ? "nothing" : parts.joined(separator: ", ")
    }

    private func symbol(_ action: Change.Action) -> String {
        switch action {
        case .create: paint("+", .green)
        case .update: paint("~", .yellow)
        case .delete: paint("-", .red)
        case .replace: paint("-", .red) + "/" + paint("+", .green)
        }
    }

    private func verb(_ action: Change.Action) -> String {
        switch action {
        case .create: "will be created"
        case .update: "will be updated in place"
        case .delete: paint("will be destroyed", .red)
        case .replace: paint("must be replaced", .red)
        }
    }

    func renderChange(_ change: Change) -> String {
        var out = ""
        renderChange(change, into: &out)
        return out
    }

    /// Appends one change's block to `out`; a plan of 10,000 changes is written into one string.
    func renderChange(_ change: Change, into out: inout String) {
        // Addresses, reasons and messages can carry live names; escaped, they cannot forge a line.
        let bare = AttributeValue.escapingControlCharacters
        out += "  "
        out += paint("# \(bare(change.address.description))", .bold)
        out += " "
        out += verb(change.action)
        out += "\n"
        if change.action != .create { out += paint("  # (\(bare(change.reason)))", .dim) + "\n" }
        for detail in change.details { out += paint("  # \(bare(detail))", .dim) + "\n" }
        for hazard in change.hazards {
            var line = "  ! \(hazard.kind.rawValue): \(bare(hazard.message))"
            if let flag = hazard.kind.override {
                line += overrides.permits(hazard) ? " (allowed by \(flag))" : " (blocked: needs \(flag))"
            }
            out += paint(line, overrides.permits(hazard) ? .yellow : .red) + "\n"
        }
        let before = change.before ?? [:], after = change.after ?? [:]
        var keys = Array(after.keys)
        for key in before.keys where after[key] == nil { keys.append(key) }
        keys.sort(by: AttributeOrder.precedes)
        let pad = keys.map(\.count).max() ?? 0
        out += "  "
        out += symbol(change.action)
        out += " "
        out += change.address.prefix
        out += " "
        TextEscaping.append(change.address.name, .display, quoted: true, to: &out)
        out += " {\n"
        var hidden = 0
        for key in keys {
            let old = before[key], new = after[key]
            switch change.action {
            case .create:
                attribute(key, pad: pad, sign: "+", value: new ?? .null, indent: 6, into: &out)
            case .delete:
                attribute(key, pad: pad, sign: "-", value: old ?? .null, indent: 6, toNull: true, into: &out)
            case .update, .replace:
                if old == new { hidden += 1; continue }
                changedAttribute(
                    key, pad: pad, before: old, after: new, indent: 6,
                    forcesReplacement: change.action == .replace && change.hazards.contains { $0.message.hasPrefix(key) }, into: &out)
            }
        }
        if hidden > 0 { out += paint("        # (\(hidden) unchanged attribute\(hidden == 1 ? "" : "s") hidden)", .dim) + "\n" }
        out += "    }\n"
        if let rollout = change.rollout {
            for line in rollout.lines(indent: 4) { out += paint(line, .cyan) + "\n" }
        }
    }

    private func signPaint(_ sign: String) -> String {
        switch sign {
        case "+": paint("+", .green)
        case "-": paint("-", .red)
        case "~": paint("~", .yellow)
        default: sign
        }
    }

    /// Runs of spaces by length, so indenting appends one string instead of one space at a time.
    private static let blanks: [String] = (0...64).map { String(repeating: " ", count: $0) }

    private static func spaces(_ n: Int, into out: inout String) {
        guard n > 0 else { return }
        out += n < blanks.count ? blanks[n] : String(repeating: " ", count: n)
    }

    /// `key` followed by spaces up to `width` characters.
    private static func padded(_ key: String, to width: Int, into out: inout String) {
        out += key
        spaces(width - key.count, into: &out)
    }

    private func attribute(
        _ key: String, pad: Int, sign: String, value: AttributeValue, indent: Int, toNull: Bool = false,
        into out: inout String
    ) {
        Self.spaces(indent, into: &out)
        out += signPaint(sign)
        out += " "
        Self.padded(key, to: pad, into: &out)
        out += " = "
        if case .map(let m) = value, !m.isEmpty {
            out += "{\n"
            let quoted = m.keys.sorted().map { ($0, AttributeValue.quote($0)) }
            let innerPad = quoted.map(\.1.count).max() ?? 0
            for (k, qk) in quoted {
                Self.spaces(indent + 4, into: &out)
                out += signPaint(sign)
                out += " "
                Self.padded(qk, to: innerPad, into: &out)
                out += " = "
                m[k]!.appendDescription(to: &out)
                if toNull { out += " -> null" }
                out += "\n"
            }
            Self.spaces(indent + 2, into: &out)
            out += "}\n"
            return
        }
        value.appendDescription(to: &out)
        if toNull { out += " -> null" }
        out += "\n"
    }

    private func changedAttribute(
        _ key: String, pad: Int, before: AttributeValue?, after: AttributeValue?, indent: Int,
        forcesReplacement: Bool, into out: inout String
    ) {
        let suffix = forcesReplacement ? paint(" # forces replacement", .red) : ""
        guard let before else { return attribute(key, pad: pad, sign: "+", value: after ?? .null, indent: indent, into: &out) }
        guard let after else { return attribute(key, pad: pad, sign: "-", value: before, indent: indent, toNull: true, into: &out) }
        Self.spaces(indent, into: &out)
        out += signPaint("~")
        out += " "
        Self.padded(key, to: pad, into: &out)
        if case .map(let b) = before, case .map(let a) = after {
            out += " = {\n"
            let keys = Set(b.keys).union(a.keys).sorted()
            let innerPad = keys.map { AttributeValue.quote($0).count }.max() ?? 0
            var unchanged = 0
            for k in keys {
                let qk = AttributeValue.quote(k).padded(to: innerPad)
                let lead = String(repeating: " ", count: indent + 4)
                switch (b[k], a[k]) {
                case let (x?, y?) where x == y: unchanged += 1
                case let (x?, y?): out += lead + signPaint("~") + " \(qk) = \(x) -> \(y)\n"
                case let (nil, y?): out += lead + signPaint("+") + " \(qk) = \(y)\n"
                case let (x?, nil): out += lead + signPaint("-") + " \(qk) = \(x) -> null\n"
                case (nil, nil): break
                }
            }
            if unchanged > 0 {
                out +=
                    paint(String(repeating: " ", count: indent + 6) + "# (\(unchanged) unchanged element\(unchanged == 1 ? "" : "s") hidden)", .dim)
                    + "\n"
            }
            Self.spaces(indent + 2, into: &out)
            out += "}" + suffix + "\n"
            return
        }
        out += " = \(before) -> \(after)" + suffix + "\n"
    }
}
