/// Renders a plan for people, in the style of `terraform plan`: `+ ~ - -/+`, one block per object,
/// attribute-level `before -> after` for updates, and a closing `Plan:` line.
public struct TextPlanRenderer: Sendable {
    public var color: Bool
    public var overrides: HazardOverrides

    public init(color: Bool, overrides: HazardOverrides = HazardOverrides()) {
        self.color = color
        self.overrides = overrides
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
        for change in plan.changes {
            out += renderChange(change)
            out += "\n"
        }
        let s = plan.summary
        out += paint("Plan:", .bold) + " \(s.add) to add, \(s.change) to change, \(s.destroy) to destroy.\n"
        let blocked = plan.blockingHazards(overrides)
        if !blocked.isEmpty {
            let flags = Set(blocked.compactMap { $0.1.kind.override }).sorted()
            let objects = Set(blocked.map { $0.0.address }).count
            out += "\n" + paint("Blocked:", .red) + " \(objects) change\(objects == 1 ? "" : "s") need\(objects == 1 ? "s" : "") \(flags.joined(separator: " and ")) to apply.\n"
        }
        return out + renderFindings(plan.findings)
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
        // Addresses, reasons and messages can carry live names; escaped, they cannot forge a line.
        let bare = AttributeValue.escapingControlCharacters
        var out = "  " + paint("# \(bare(change.address.description))", .bold) + " \(verb(change.action))\n"
        if change.action != .create { out += paint("  # (\(bare(change.reason)))", .dim) + "\n" }
        for detail in change.details { out += paint("  # \(bare(detail))", .dim) + "\n" }
        for hazard in change.hazards {
            var line = "  ! \(hazard.kind.rawValue): \(bare(hazard.message))"
            if let flag = hazard.kind.override {
                line += overrides.permits(hazard) ? " (allowed by \(flag))" : " (blocked: needs \(flag))"
            }
            out += paint(line, overrides.permits(hazard) ? .yellow : .red) + "\n"
        }
        let prefix = change.address.prefix
        let name = AttributeValue.quote(change.address.name)
        let pad = padding(for: change)
        out += "  \(symbol(change.action)) \(prefix) \(name) {\n"
        var hidden = 0
        for key in Set((change.before ?? [:]).keys).union((change.after ?? [:]).keys).sorted(by: AttributeOrder.precedes) {
            let before = change.before?[key], after = change.after?[key]
            switch change.action {
            case .create:
                out += attribute(key, pad: pad, sign: "+", value: after ?? .null, indent: 6)
            case .delete:
                out += attribute(key, pad: pad, sign: "-", value: before ?? .null, indent: 6, toNull: true)
            case .update, .replace:
                if before == after { hidden += 1; continue }
                out += changedAttribute(key, pad: pad, before: before, after: after, indent: 6,
                                        forcesReplacement: change.action == .replace && change.hazards.contains { $0.message.hasPrefix(key) })
            }
        }
        if hidden > 0 { out += paint("        # (\(hidden) unchanged attribute\(hidden == 1 ? "" : "s") hidden)", .dim) + "\n" }
        out += "    }\n"
        if let rollout = change.rollout {
            out += rollout.lines(indent: 4).map { paint($0, .cyan) + "\n" }.joined()
        }
        return out
    }

    private func padding(for change: Change) -> Int {
        let keys = Set((change.before ?? [:]).keys).union((change.after ?? [:]).keys)
        return keys.map(\.count).max() ?? 0
    }

    private func signPaint(_ sign: String) -> String {
        switch sign {
        case "+": paint("+", .green)
        case "-": paint("-", .red)
        case "~": paint("~", .yellow)
        default: sign
        }
    }

    private func attribute(_ key: String, pad: Int, sign: String, value: AttributeValue, indent: Int, toNull: Bool = false) -> String {
        let lead = String(repeating: " ", count: indent) + signPaint(sign) + " " + key.padded(to: pad) + " = "
        if case .map(let m) = value, !m.isEmpty {
            var out = lead + "{\n"
            let innerPad = m.keys.map { AttributeValue.quote($0).count }.max() ?? 0
            for k in m.keys.sorted() {
                out += String(repeating: " ", count: indent + 4) + signPaint(sign) + " "
                    + AttributeValue.quote(k).padded(to: innerPad) + " = " + m[k]!.description
                    + (toNull ? " -> null" : "") + "\n"
            }
            return out + String(repeating: " ", count: indent + 2) + "}\n"
        }
        return lead + value.description + (toNull ? " -> null" : "") + "\n"
    }

    private func changedAttribute(_ key: String, pad: Int, before: AttributeValue?, after: AttributeValue?, indent: Int,
                                  forcesReplacement: Bool) -> String {
        let suffix = forcesReplacement ? paint(" # forces replacement", .red) : ""
        guard let before else { return attribute(key, pad: pad, sign: "+", value: after ?? .null, indent: indent) }
        guard let after else { return attribute(key, pad: pad, sign: "-", value: before, indent: indent, toNull: true) }
        if case .map(let b) = before, case .map(let a) = after {
            var out = String(repeating: " ", count: indent) + signPaint("~") + " " + key.padded(to: pad) + " = {\n"
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
                out += paint(String(repeating: " ", count: indent + 6) + "# (\(unchanged) unchanged element\(unchanged == 1 ? "" : "s") hidden)", .dim) + "\n"
            }
            return out + String(repeating: " ", count: indent + 2) + "}" + suffix + "\n"
        }
        return String(repeating: " ", count: indent) + signPaint("~") + " " + key.padded(to: pad)
            + " = \(before) -> \(after)" + suffix + "\n"
    }
}
