import Foundation
import GuardrailCore

/// The dashboard's pages, rendered from the same documents its `/v1/...` twins serve. Pure: no I/O,
/// no clock (times are relative to the document's `generatedAt`). Every string from a manifest, the
/// database or an error goes through `HTML`'s escaping interpolation, SVG included.
enum DashboardHTML {
    // MARK: - Pages

    static func overview(_ doc: StatusDocument) -> String {
        let now = date(doc.generatedAt)
        var body: HTML = ""
        let tick = doc.lastTick
        var facts: [HTML] = []
        facts.append(
            fact(
                "Role", doc.leader ? badge("Leader", .ok) : badge("Standby", .idle),
                doc.leader ? "epoch \(tick?.epoch.map { String($0) } ?? "?")" : "another replica leads"))
        facts.append(
            fact(
                "Loop", doc.alive ? badge("Healthy", .ok) : badge("Stuck", .bad),
                (doc.lastTick == nil
                    ? "waiting for the first tick for \(span(doc.secondsSinceTick))"
                    : doc.secondsSinceTick < 1 ? "last tick finished just now" : "last tick finished \(span(doc.secondsSinceTick)) ago")
                    + (doc.healthBoundSeconds.map { " (bound \(span($0)))" } ?? "")))
        facts.append(
            fact(
                "Ready", doc.ready ? badge("Ready", .ok) : badge("Not ready", .warn),
                doc.ready ? "connected, manifests loaded" : "waiting for Postgres or the manifests"))
        if let tick {
            let errors = tick.errors.count
            facts.append(
                fact(
                    "Last tick", errors == 0 ? badge("No errors", .ok) : badge("\(errors) error\(errors == 1 ? "" : "s")", .bad),
                    "started \(ago(tick.startedAt, now)), took \(span(tick.durationSeconds))"))
        } else {
            facts.append(fact("Last tick", badge("None yet", .idle), "the first tick has not finished"))
        }
        body += "<section class=\"facts\" aria-label=\"Controller\">\(facts)</section>"

        // Rollouts and backups side by side with drift; the step timings and errors below.
        var rolloutRows: [HTML] = []
        for r in doc.rollouts.sorted(by: { $0.flag < $1.flag }) {
            let phase: HTML = "\(r.phase)\(r.phases.map { " of \($0)" } ?? "") <span class=\"muted\">\(r.phaseName)</span>"
            let cohort: HTML =
                r.cohortSize.map { size -> HTML in
                    let eligible = r.eligibleTenants ?? 0
                    return "\(meter(Double(size), of: Double(eligible)))<span class=\"num\">\(size) of \(eligible)</span>"
                } ?? "<span class=\"muted\">\(doc.flags[r.flag].map { "\($0) tenants" } ?? "?")</span>"
            rolloutRows.append(
                """
                <tr><td><a href="/rollouts#\(anchor(r.flag))"><code>\(r.flag)</code></a></td><td>\(statusBadge(r.status))</td>\
                <td>\(phase)</td><td class="cohort">\(cohort)</td></tr>
                """)
        }
        let standby: HTML = "<p class=\"empty\">The leading replica runs this; this one is on standby.</p>"
        let rollouts: HTML =
            rolloutRows.isEmpty
            ? "<p class=\"empty\">No rollout is running.</p>"
            : table(["Flag", "Status", "Phase", "Cohort / eligible"], rolloutRows)
        body += card("Rollouts", link: DashboardPage.rollouts, rollouts)

        var driftBody: HTML
        if !doc.leader {
            driftBody = standby
        } else if let tick {
            let total = tick.driftByKind.values.reduce(0, +)
            if total == 0 {
                driftBody = "<p>\(badge("In sync", .ok)) The last plan found no drift.</p>"
            } else {
                let waiting = tick.reported.count, unsettled = tick.unsettled.count
                var rows: [HTML] = []
                for kind in tick.driftByKind.keys.sorted() {
                    rows.append("<tr><td>\(kind)</td><td class=\"num\">\(tick.driftByKind[kind] ?? 0)</td></tr>")
                }
                driftBody = """
                    <p>\(badge("\(tick.applied.count) corrected", tick.applied.isEmpty ? .idle : .info)) \
                    \(badge("\(waiting) wait\(waiting == 1 ? "s" : "") for a human", waiting == 0 ? .idle : .warn)) \
                    \(badge("\(unsettled) came back", unsettled == 0 ? .idle : .warn))</p>
                    <table><thead><tr><th>Kind</th><th class="num">Changes</th></tr></thead><tbody>\(rows)</tbody></table>
                    """
            }
        } else {
            driftBody = "<p class=\"empty\">No tick yet.</p>"
        }
        var backupBody: HTML
        if let backups = doc.backups {
            if backups.isEmpty {
                backupBody = "<p class=\"empty\">No backup schedule is applied in this environment.</p>"
            } else {
                var rows: [HTML] = []
                for b in backups {
                    rows.append(
                        """
                        <tr><td><a href="/backups#\(anchor(b.schedule))">\(b.schedule)</a></td>\
                        <td>\(b.rpoMet ? badge("RPO met", .ok) : badge("RPO missed", .bad))</td>\
                        <td>\(b.lastRunStatus.map { statusBadge($0) } ?? badge("no run yet", .idle))</td>\
                        <td>\(b.lastDrillStatus.map { statusBadge($0) } ?? badge("no drill yet", .idle))</td></tr>
                        """)
                }
                backupBody = table(["Schedule", "RPO", "Last run", "Last drill"], rows)
            }
        } else {
            backupBody = "<p class=\"empty\">Backups run on the leading replica; this one is on standby.</p>"
        }
        body += "<div class=\"two\">\(card("Drift", link: .drift, driftBody))\(card("Backups", link: .backups, backupBody))</div>"

        if let tick, !tick.stepSeconds.isEmpty {
            let longest = max(tick.stepSeconds.values.max() ?? 0, 0.000_001)
            var rows: [HTML] = []
            for step in tick.stepSeconds.keys.sorted(by: stepOrder) {
                let seconds = tick.stepSeconds[step] ?? 0
                let sub = step.contains(".")
                rows.append(
                    """
                    <tr\(HTML(raw: sub ? " class=\"sub\"" : ""))><th scope="row">\(step)</th>\
                    <td class="bar"><span style="width:\(coordinate: max(0.5, 100 * seconds / longest))%"></span></td>\
                    <td class="num">\(span(seconds))</td></tr>
                    """)
            }
            body += card("Last tick's steps", "<table class=\"steps\"><tbody>\(rows)</tbody></table>")
        }
        var errorItems: [HTML] = []
        for e in doc.recentErrors.prefix(15) {
            errorItems.append("<li><time datetime=\"\(e.at)\" title=\"\(e.at)\">\(ago(e.at, now))</time><pre>\(e.message)</pre></li>")
        }
        body += card(
            "Recent errors",
            errorItems.isEmpty
                ? "<p>\(badge("None", .ok)) No tick has reported an error since this replica started.</p>"
                : "<ul class=\"errors\">\(errorItems)</ul>")
        return page(.overview, environment: doc.environment, replica: doc.replica, leader: doc.leader, generatedAt: doc.generatedAt, body)
    }

    static func rollouts(_ doc: RolloutsDocument) -> String {
        let now = date(doc.generatedAt)
        var body: HTML = notices(doc.notice, doc.problem.map { "The rollouts could not be read: \($0)" })
        if doc.flags.isEmpty, doc.notice == nil {
            body += card("Rollouts", "<p class=\"empty\">No flag has a rollout in this environment.</p>")
        }
        var chartNumber = 0
        for flag in doc.flags {
            var inner: HTML = ""
            if !flag.description.isEmpty { inner += "<p class=\"description\">\(flag.description)</p>" }
            if !flag.reason.isEmpty { inner += "<p class=\"reason\"><span class=\"label\">Why</span> \(flag.reason)</p>" }
            let percent = flag.eligibleTenants > 0 ? Double(flag.cohortSize) * 100 / Double(flag.eligibleTenants) : 0
            inner += """
                <div class="cohort-line"><span class="label">Cohort</span>\
                \(meter(Double(flag.cohortSize), of: Double(flag.eligibleTenants)))\
                <span><strong>\(flag.cohortSize)</strong> of \(flag.eligibleTenants) eligible tenant\(flag.eligibleTenants == 1 ? "" : "s") \
                (\(HTML(raw: String(format: "%.0f", percent)))%)</span>\
                <span class="muted">on breach: \(flag.onBreach)</span></div>
                """
            inner += phaseStrip(flag)
            if !flag.guardrails.isEmpty {
                var charts: [HTML] = []
                for series in flag.guardrails {
                    chartNumber += 1
                    charts.append(guardrailPanel(series, id: "chart-\(chartNumber)", now: now, decisions: flag.decisions))
                }
                inner += "<h3>Guardrails</h3><div class=\"charts\">\(charts)</div>"
            }
            inner += "<h3>Decisions</h3>" + decisionLog(flag.decisions, now: now)
            body += """
                <article class="card flag" id="\(anchor(flag.flag))">\
                <header><h2><code>\(flag.flag)</code></h2>\(statusBadge(flag.status))\
                \(flag.currentPhase.map { p in HTML(raw: "<span class=\"muted\">phase \(p) of \(flag.phases.count)</span>") } ?? "")</header>\
                \(inner)</article>
                """
        }
        return page(
            .rollouts, environment: doc.environment, replica: doc.replica, leader: doc.leader, generatedAt: doc.generatedAt,
            body, readAt: doc.readAt)
    }

    static func drift(_ doc: DriftDocument) -> String {
        var body: HTML = notices(doc.notice, nil)
        if !doc.leader {
            // A standby plans nothing: an empty list would read as "in sync".
        } else if doc.tickAt == nil {
            body += card("Drift", "<p class=\"empty\">No tick has finished yet.</p>")
        } else if doc.kinds.isEmpty {
            body += card("Drift", "<p>\(badge("In sync", .ok)) The last plan found no difference between the manifests and the live state.</p>")
        } else {
            var summary: [HTML] = []
            for kind in doc.kinds {
                let state: HTML
                if kind.waitingForHuman > 0 {
                    state = badge("waits for a human", .warn)
                } else if kind.cameBack > 0 {
                    state = badge("came back", .warn)
                } else if kind.corrected == kind.changes {
                    state = badge("being corrected", .info)
                } else {
                    state = badge("not corrected", .idle)
                }
                summary.append(
                    """
                    <tr><td><a href="#\(anchor("kind-" + kind.kind))">\(kind.kind)</a></td><td class="num">\(kind.changes)</td>\
                    <td class="num">\(kind.corrected)</td><td class="num">\(kind.waitingForHuman)</td><td class="num">\(kind.cameBack)</td>\
                    <td>\(state)</td></tr>
                    """)
            }
            body += card("Per kind", table(["Kind", "#Changes", "#Corrected", "#Waiting", "#Came back", "State"], summary))
            for kind in doc.kinds {
                var rows: [HTML] = []
                for item in kind.items {
                    let tone: Tone =
                        switch item.status {
                        case "corrected", "restored": .info
                        case "waits-for-human", "came-back": .warn
                        default: .idle
                        }
                    let label = item.status == "waits-for-human" ? "waits for a human" : item.status.replacingOccurrences(of: "-", with: " ")
                    rows.append(
                        """
                        <tr><td><code>\(item.address)</code></td><td>\(item.action)</td><td>\(badge(label, tone))</td>\
                        <td>\(item.reason)\(item.waitReason.map { w in "<div class=\"why\">\(w)</div>" as HTML } ?? "")</td></tr>
                        """)
                }
                if kind.notListed > 0 { rows.append("<tr><td colspan=\"4\" class=\"muted\">and \(kind.notListed) more</td></tr>") }
                body += """
                    <section class="card" id="\(anchor("kind-" + kind.kind))"><h2>\(kind.kind)</h2>\
                    \(table(["Address", "Action", "Status", "What differs"], rows))</section>
                    """
            }
        }
        let planLine: HTML =
            doc.plan.map { p in
                "<p class=\"muted\">Last plan: \(p["add"] ?? 0) to add, \(p["change"] ?? 0) to change, \(p["destroy"] ?? 0) to destroy.</p>"
            } ?? ""
        return page(
            .drift, environment: doc.environment, replica: doc.replica, leader: doc.leader, generatedAt: doc.generatedAt,
            planLine + body, readAt: doc.tickAt, readWhat: "planned")
    }

    static func backups(_ doc: BackupsDocument) -> String {
        let now = date(doc.generatedAt)
        var body: HTML = notices(doc.notice, doc.problem.map { "The backup status could not be read: \($0)" })
        if doc.schedules.isEmpty, doc.notice == nil, doc.problem == nil {
            body += card("Backups", "<p class=\"empty\">No backup schedule is applied in this environment.</p>")
        }
        for s in doc.schedules {
            var facts: [HTML] = []
            let rpoDetail =
                s.archiveLagSeconds.map { "archive lag \(span($0)), RPO \(s.rpo)" }
                ?? s.ageSeconds.map { "newest good backup \(span($0)) old, RPO \(s.rpo)" } ?? "no good backup yet, RPO \(s.rpo)"
            facts.append(fact("Recovery point", s.rpoMet ? badge("RPO met", .ok) : badge("RPO missed", .bad), rpoDetail))
            if let run = s.lastRun {
                var detail = "started \(ago(run.startedAt, now))"
                if let d = run.durationSeconds { detail += ", took \(span(d))" }
                if let size = run.sizeBytes { detail += ", \(bytes(size))" }
                facts.append(fact("Last run", statusBadge(run.status), detail))
            } else {
                facts.append(fact("Last run", badge("None yet", .idle), "next \(s.nextRunAt.map { ago($0, now) } ?? "not scheduled")"))
            }
            if let drill = s.lastDrill {
                var detail = "started \(ago(drill.startedAt, now))"
                if let rto = drill.rtoSeconds { detail += ", RTO \(span(rto))" + (s.rto.map { " (objective \($0))" } ?? "") }
                facts.append(fact("Last drill", statusBadge(drill.status), detail))
            } else {
                facts.append(
                    fact(
                        "Last drill", badge(s.drillSchedule == nil ? "No drill" : "None yet", .idle),
                        s.drillSchedule.map { "scheduled \($0)" } ?? "the schedule declares no restore drill"))
            }
            facts.append(
                fact(
                    "Schedule", HTML(raw: "<code>") + "\(s.schedule)" + HTML(raw: "</code>"),
                    "\(s.timezone), \(s.method)" + (s.nextRunAt.map { "; next \(ago($0, now))" } ?? "")))
            var inner: HTML = "<div class=\"facts small\">\(facts)</div>"
            if let problem = s.archiveProblem { inner += "<p class=\"problem\">\(badge("Archiving", .bad)) \(problem)</p>" }
            if let error = s.lastRun?.error { inner += "<p class=\"problem\">\(badge("Run failed", .bad))</p><pre>\(error)</pre>" }
            if let drill = s.lastDrill {
                if let error = drill.error { inner += "<p class=\"problem\">\(badge("Drill failed", .bad))</p><pre>\(error)</pre>" }
                if !drill.checks.isEmpty {
                    var rows: [HTML] = []
                    for check in drill.checks {
                        let verdict = check.passed ? badge("pass", .ok) : badge("fail", .bad)
                        rows.append("<tr><td>\(verdict)</td><td>\(check.name)</td><td>\(check.detail)</td></tr>")
                    }
                    inner += "<h3>Drill checks</h3><table><tbody>\(rows)</tbody></table>"
                }
            }
            body += "<section class=\"card\" id=\"\(anchor(s.name))\"><header><h2>\(s.name)</h2></header>\(inner)</section>"
        }
        return page(
            .backups, environment: doc.environment, replica: doc.replica, leader: doc.leader, generatedAt: doc.generatedAt,
            body, readAt: doc.readAt)
    }

    // MARK: - Rollout parts

    static func phaseStrip(_ flag: RolloutsDocument.Flag) -> HTML {
        guard !flag.phases.isEmpty else { return "" }
        var items: [HTML] = []
        for phase in flag.phases {
            let (label, tone, mark): (String, Tone, String) =
                switch phase.state {
                case "done": ("done", .ok, "✓")
                case "current": ("current", .info, "▶")
                case "paused": ("paused", .warn, "‖")
                case "rolled-back": ("rolled back", .bad, "✗")
                case "not-reached": ("not reached", .idle, "–")
                default: ("next", .idle, "·")
                }
            var bake: HTML = "<div class=\"bake\">bake \(phase.bake)</div>"
            if let remaining = phase.bakeRemainingSeconds, let started = phase.startedAt, let ends = phase.bakeEndsAt {
                let total = max(0.001, date(ends).timeIntervalSince(date(started)))
                bake = """
                    <div class="bake">\(remaining > 0 ? "bake \(span(remaining)) left of \(phase.bake)" : "bake of \(phase.bake) done")</div>\
                    \(meter(total - remaining, of: total))
                    """
            }
            items.append(
                """
                <li class="phase \(HTML(raw: tone.rawValue))" data-state="\(phase.state)"><div class="phase-head">\
                <span class="mark" aria-hidden="true">\(mark)</span><span class="phase-name">\(phase.number). \(phase.name)</span>\
                <span class="state">\(label)</span></div>\
                <div class="audience">\(phase.audience.isEmpty ? "no tenants" : phase.audience)</div>\(bake)</li>
                """)
        }
        return "<ol class=\"phases\" aria-label=\"Phases\">\(items)</ol>"
    }

    static func guardrailPanel(
        _ series: RolloutsDocument.GuardrailSeries, id: String, now: Date,
        decisions: [RolloutsDocument.Decision] = []
    ) -> HTML {
        let last = series.points.last
        let verdict = last?.verdict ?? series.lastVerdict
        var head: HTML = "<div class=\"g-head\"><strong>\(series.name)</strong> <span class=\"muted\">\(series.threshold)</span> "
        head += verdict.map { verdictBadge($0) } ?? badge("not evaluated yet", .idle)
        if series.consecutiveFailures > 0 {
            head += " " + badge("failing \(series.consecutiveFailures) of \(series.failuresToBreach)", .bad)
        }
        head += "</div>"
        if !series.description.isEmpty { head += "<div class=\"description\">\(series.description)</div>" }
        var lastLine: HTML = ""
        if let last {
            let value = last.value.map(MetricNumber.text) ?? "no value"
            lastLine = "<div class=\"g-last\">Last: <strong>\(value)</strong> \(ago(last.at, now)) · \(last.message)</div>"
        }
        return "<figure class=\"guardrail\">\(head)\(chart(series, id: id, decisions: decisions))\(lastLine)</figure>"
    }

    /// Recent values against the threshold: a line of the values, the threshold dashed with its side
    /// shaded, and a mark per evaluation whose shape says its verdict (dot: pass, cross: fail,
    /// ring on the axis: no data, triangle: query error), each with a tooltip.
    static func chart(_ series: RolloutsDocument.GuardrailSeries, id: String, decisions: [RolloutsDocument.Decision] = []) -> HTML {
        let width = 1000.0, height = 210.0, left = 64.0, right = 16.0, top = 24.0, bottom = 32.0
        let plotW = width - left - right, plotH = height - top - bottom
        let points = series.points
        let values = points.compactMap(\.value)
        let line = (series.condition == "max" || series.condition == "min") ? series.limit : nil
        let summary =
            "\(series.name): \(points.count) recent evaluation\(points.count == 1 ? "" : "s")"
            + (points.last.map { ", the last \($0.value.map(MetricNumber.text) ?? "without a value") (\($0.verdict))" } ?? "")
            + ", threshold \(series.threshold)"
        var svg: HTML = """
            <svg class="chart" viewBox="0 0 \(Int(width)) \(Int(height))" role="img" aria-labelledby="\(id)-t" preserveAspectRatio="xMidYMid meet">\
            <title id="\(id)-t">\(summary)</title>
            """
        guard !points.isEmpty else {
            svg += """
                <rect x="\(coordinate: left)" y="\(coordinate: top)" width="\(coordinate: plotW)" height="\(coordinate: plotH)" class="plot"/>\
                <text x="\(coordinate: left + plotW / 2)" y="\(coordinate: top + plotH / 2)" class="none" text-anchor="middle">\
                No evaluations on this replica yet</text></svg>
                """
            return svg
        }
        var low = min(0, values.min() ?? 0, line ?? 0), high = max(values.max() ?? 1, line ?? 0)
        if high - low < 1e-12 { high = low + 1 }
        high += (high - low) * 0.12
        if low < 0 { low -= (high - low) * 0.05 }
        func y(_ v: Double) -> Double { top + plotH - (v - low) / (high - low) * plotH }
        let times = points.map { date($0.at).timeIntervalSince1970 }
        let t0 = times.first ?? 0, t1 = times.last ?? 0
        func x(_ i: Int) -> Double {
            t1 - t0 < 0.001 ? left + plotW / 2 : left + (times[i] - t0) / (t1 - t0) * plotW
        }
        svg += """
            <rect x="\(coordinate: left)" y="\(coordinate: top)" width="\(coordinate: plotW)" height="\(coordinate: plotH)" class="plot"/>
            """
        // Grid and axis labels: the bottom, the middle and the top of the scale.
        for fraction in [0.0, 0.5, 1.0] {
            let v = low + (high - low) * fraction
            svg += """
                <line x1="\(coordinate: left)" x2="\(coordinate: left + plotW)" y1="\(coordinate: y(v))" y2="\(coordinate: y(v))" class="grid"/>\
                <text x="\(coordinate: left - 6)" y="\(coordinate: y(v) + 4)" class="axis" text-anchor="end">\(MetricNumber.text(rounded(v)))</text>
                """
        }
        if let limit = line {
            let ly = y(limit)
            // The failing side of the threshold, shaded.
            let (zoneY, zoneH) = series.condition == "max" ? (top, max(0, ly - top)) : (ly, max(0, top + plotH - ly))
            svg += """
                <rect x="\(coordinate: left)" y="\(coordinate: zoneY)" width="\(coordinate: plotW)" height="\(coordinate: zoneH)" class="zone"/>\
                <line x1="\(coordinate: left)" x2="\(coordinate: left + plotW)" y1="\(coordinate: ly)" y2="\(coordinate: ly)" class="threshold"/>\
                <text x="\(coordinate: left + plotW - 4)" y="\(coordinate: series.condition == "max" ? ly - 5 : ly + 13)" class="threshold-label" \
                text-anchor="end">\(series.condition) \(MetricNumber.text(limit))</text>
                """
        }
        // Decisions that changed the exposure, as vertical lines where they fall in the window; those
        // at one moment (a breach and its rollback) share a line and a label.
        var groups: [(x: Double, kinds: [String], bad: Bool)] = []
        for d in decisions.reversed() where ["advance", "breach", "rollback", "step-back", "kill", "release", "retry"].contains(d.kind) {
            let at = date(d.at).timeIntervalSince1970
            guard t1 - t0 >= 0.001, at >= t0 - 0.5, at <= t1 + 0.5 else { continue }
            let ex = left + min(1, max(0, (at - t0) / (t1 - t0))) * plotW
            let bad = ["breach", "rollback", "step-back", "kill"].contains(d.kind)
            let kind = d.kind == "advance" ? "phase \(d.phase)" : d.kind
            if let last = groups.last, abs(last.x - ex) < 4 {
                groups[groups.count - 1].kinds.append(kind)
                groups[groups.count - 1].bad = last.bad || bad
            } else {
                groups.append((ex, [kind], bad))
            }
        }
        var lastLabelX = -Double.infinity
        for group in groups {
            let cls: HTML = group.bad ? "event bad" : "event"
            let labelClass: HTML = group.bad ? "event-label bad" : "event-label"
            svg += """
                <line x1="\(coordinate: group.x)" x2="\(coordinate: group.x)" y1="\(coordinate: top)" y2="\(coordinate: top + plotH)" class="\(cls)"/>
                """
            if group.x - lastLabelX > 90 {
                let anchorEnd = group.x > left + plotW - 120
                svg += """
                    <text x="\(coordinate: anchorEnd ? group.x - 3 : group.x + 3)" y="\(coordinate: top - 7)" class="\(labelClass)" \
                    text-anchor="\(anchorEnd ? "end" : "start")">\(group.kinds.joined(separator: " → "))</text>
                    """
                lastLabelX = group.x
            }
        }
        // The values, as a line broken where an evaluation had none.
        var runs: [[(Double, Double)]] = [[]]
        for (i, p) in points.enumerated() {
            if let v = p.value, p.verdict == "pass" || p.verdict == "fail" || p.verdict == "insufficient-samples" {
                runs[runs.count - 1].append((x(i), y(v)))
            } else if !runs[runs.count - 1].isEmpty {
                runs.append([])
            }
        }
        for run in runs where run.count > 1 {
            let path = run.map { "\(HTML.coordinate($0.0)),\(HTML.coordinate($0.1))" }.joined(separator: " ")
            svg += "<polyline points=\"\(path)\" class=\"values\"/>"
        }
        for (i, p) in points.enumerated() {
            let px = x(i)
            let tip = "\(p.at) · \(p.verdict)" + (p.value.map { " · \(MetricNumber.text($0))" } ?? "") + " · \(p.message)"
            var mark: HTML
            switch p.verdict {
            case "pass":
                mark = "<circle cx=\"\(coordinate: px)\" cy=\"\(coordinate: y(p.value ?? low))\" r=\"4\" class=\"m-pass\"/>"
            case "fail":
                let py = y(p.value ?? high)
                mark = """
                    <path d="M\(coordinate: px - 5) \(coordinate: py - 5)L\(coordinate: px + 5) \(coordinate: py + 5)\
                    M\(coordinate: px - 5) \(coordinate: py + 5)L\(coordinate: px + 5) \(coordinate: py - 5)" class="m-fail"/>
                    """
            case "error":
                let py = top + plotH - 7
                mark = """
                    <path d="M\(coordinate: px) \(coordinate: py - 6)L\(coordinate: px + 6) \(coordinate: py + 5)\
                    L\(coordinate: px - 6) \(coordinate: py + 5)Z" class="m-error"/>
                    """
            default:
                // No data, or too few samples to judge: a ring (at the value when there is one).
                mark = "<circle cx=\"\(coordinate: px)\" cy=\"\(coordinate: p.value.map(y) ?? top + plotH - 6)\" r=\"4.5\" class=\"m-nodata\"/>"
            }
            svg += "<g class=\"mark\" data-verdict=\"\(p.verdict)\"><title>\(tip)</title>\(mark)</g>"
        }
        svg += """
            <text x="\(coordinate: left)" y="\(coordinate: height - 10)" class="axis">\(clock(points.first!.at))</text>\
            <text x="\(coordinate: left + plotW)" y="\(coordinate: height - 10)" class="axis" text-anchor="end">\
            \(clock(points.last!.at)) UTC</text></svg>
            """
        let counts = Dictionary(grouping: points, by: \.verdict).mapValues(\.count)
        var legend: [HTML] = []
        for (key, label, symbol) in [
            ("pass", "pass", "●"), ("fail", "fail", "✕"), ("no-data", "no data", "○"),
            ("insufficient-samples", "too few samples", "○"), ("error", "query error", "▲"),
        ] {
            if let n = counts[key] { legend.append("<span class=\"lg lg-\(key)\"><span aria-hidden=\"true\">\(symbol)</span> \(label) \(n)</span>") }
        }
        return svg + "<div class=\"legend\">\(legend)</div>"
    }

    static func decisionLog(_ decisions: [RolloutsDocument.Decision], now: Date) -> HTML {
        guard !decisions.isEmpty else { return "<p class=\"empty\">No decision recorded yet.</p>" }
        var rows: [HTML] = []
        for d in decisions {
            let tone: Tone =
                switch d.kind {
                case "breach", "rollback", "kill", "abort": .bad
                case "pause", "hold", "step-back": .warn
                case "advance", "complete", "promote": .ok
                case "start", "resume", "retry", "release": .info
                default: .idle
                }
            rows.append(
                """
                <tr data-kind="\(d.kind)"><td class="when"><time datetime="\(d.at)" title="\(d.at)">\(ago(d.at, now))</time></td>\
                <td>\(badge(d.kind, tone))</td><td class="num">\(d.phase)</td><td>\(d.message)\
                \(d.reason.map { r in "<div class=\"why\"><span class=\"label\">Reason</span> \(r)</div>" as HTML } ?? "")</td>\
                <td class="muted">\(d.actor ?? "")</td></tr>
                """)
        }
        return table(["When", "Decision", "#Phase", "What happened", "By"], rows, class: "decisions")
    }

    // MARK: - Building blocks

    enum Tone: String { case ok, bad, warn, info, idle }

    static func badge(_ text: String, _ tone: Tone) -> HTML {
        let icon =
            switch tone {
            case .ok: "✓"
            case .bad: "✗"
            case .warn: "!"
            case .info: "▶"
            case .idle: "·"
            }
        return "<span class=\"badge \(HTML(raw: tone.rawValue))\"><span aria-hidden=\"true\">\(icon)</span> \(text)</span>"
    }

    /// The colour and icon a status word gets; the word itself is always shown.
    static func statusBadge(_ status: String) -> HTML {
        let tone: Tone =
            switch status {
            case "completed", "succeeded", "done", "pass", "on": .ok
            case "rolled-back", "killed", "failed", "fail", "error": .bad
            case "paused", "running", "no-data", "insufficient-samples": .warn
            case "progressing": .info
            default: .idle
            }
        return badge(status.replacingOccurrences(of: "-", with: " "), tone)
    }

    static func verdictBadge(_ verdict: String) -> HTML {
        switch verdict {
        case "no-data": badge("no data", .warn)
        case "insufficient-samples": badge("too few samples", .warn)
        case "error": badge("query error", .bad)
        default: statusBadge(verdict)
        }
    }

    /// A table with a header row; a heading written `#Name` is a numeric column (right-aligned).
    static func table(_ headings: [String], _ rows: [HTML], class name: String? = nil) -> HTML {
        var head: [HTML] = []
        for heading in headings {
            head.append(heading.hasPrefix("#") ? "<th class=\"num\">\(String(heading.dropFirst()))</th>" : "<th>\(heading)</th>")
        }
        let open: HTML = name.map { "<table class=\"\($0)\">" } ?? "<table>"
        return "\(open)<thead><tr>\(head)</tr></thead><tbody>\(rows)</tbody></table>"
    }

    static func fact(_ label: String, _ value: HTML, _ detail: String) -> HTML {
        "<div class=\"fact\"><div class=\"label\">\(label)</div><div class=\"value\">\(value)</div><div class=\"detail\">\(detail)</div></div>"
    }

    static func card(_ title: String, link: DashboardPage? = nil, _ body: HTML) -> HTML {
        let more: HTML = link.map { "<a class=\"more\" href=\"\($0.path)\">\($0.title) →</a>" } ?? ""
        return "<section class=\"card\"><header><h2>\(title)</h2>\(more)</header>\(body)</section>"
    }

    static func notices(_ notice: String?, _ problem: String?) -> HTML {
        var out: HTML = ""
        if let notice { out += "<div class=\"notice\">\(badge("Standby", .idle)) \(notice)</div>" }
        if let problem { out += "<div class=\"notice bad\">\(badge("Error", .bad)) \(problem)</div>" }
        return out
    }

    static func meter(_ value: Double, of total: Double) -> HTML {
        let fraction = total > 0 ? min(1, max(0, value / total)) : 0
        return "<span class=\"meter\" aria-hidden=\"true\"><span style=\"width:\(coordinate: fraction * 100)%\"></span></span>"
    }

    /// An id for a fragment link: the name's letters, digits, dots and dashes (names are dotted already).
    static func anchor(_ name: String) -> String {
        String(name.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) || $0 == "." || $0 == "-" ? Character($0) : "_" })
    }

    /// Plan first (its parts after it), then corrections, rollouts, backups, then anything else.
    static func stepOrder(_ a: String, _ b: String) -> Bool {
        func rank(_ s: String) -> Int {
            switch s.split(separator: ".").first.map(String.init) ?? s {
            case "plan": 0
            case "corrections": 1
            case "rollouts": 2
            case "backups": 3
            default: 4
            }
        }
        return (rank(a), a) < (rank(b), b)
    }

    static func rounded(_ v: Double) -> Double {
        guard v != 0, v.isFinite else { return v }
        let magnitude = pow(10, floor(log10(abs(v))) - 1)
        return (v / magnitude).rounded() * magnitude
    }

    // MARK: - Time and sizes

    static func date(_ iso: String) -> Date { ISOTime.date(iso) ?? Date(timeIntervalSince1970: 0) }

    static func clock(_ iso: String) -> String {
        let parts = iso.split(separator: "T")
        return parts.count == 2 ? String(parts[1].prefix(8)) : iso
    }

    /// "12s ago", "in 3m 20s".
    static func ago(_ iso: String, _ now: Date) -> String {
        let seconds = now.timeIntervalSince(date(iso))
        if abs(seconds) < 1 { return "just now" }
        return seconds > 0 ? "\(span(seconds)) ago" : "in \(span(-seconds))"
    }

    static func span(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = max(0, seconds)
        if s < 1 { return s < 0.001 ? "0 ms" : "\(Int((s * 1000).rounded())) ms" }
        if s < 10 { return String(format: "%.1fs", s) }
        let whole = Int(s.rounded())
        if whole < 60 { return "\(whole)s" }
        if whole < 3600 { return "\(whole / 60)m \(String(format: "%02d", whole % 60))s" }
        if whole < 86400 { return "\(whole / 3600)h \(String(format: "%02d", whole % 3600 / 60))m" }
        return "\(whole / 86400)d \(whole % 86400 / 3600)h"
    }

    static func bytes(_ n: Int) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var v = Double(n), i = 0
        while v >= 1024, i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : String(format: "%.1f", v) + " " + units[i]
    }
}
