import Foundation
import GuardrailCore

/// A Prometheus server whose `rule_files` include a directory Guardrail owns: one `<namespace>.yaml`
/// per namespace. Apply writes each file atomically, reloads Prometheus, and confirms through
/// `GET /api/v1/rules` that every group is loaded as written; otherwise it puts the previous files
/// back and reloads again.
public struct PrometheusRulesDirectory: RulesTarget {
    public var directory: String
    public var prometheus: PrometheusClient
    /// How long to wait for Prometheus to show the groups after a reload.
    public var confirmTimeout: TimeInterval

    public init(directory: String, prometheus: PrometheusClient, confirmTimeout: TimeInterval = 30) {
        self.directory = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        self.prometheus = prometheus
        self.confirmTimeout = confirmTimeout
    }

    public var description: String { "the rules directory \(directory) of Prometheus at \(HTTPExchange.redacted(prometheus.baseURL))" }

    func path(of namespace: String) -> String { directory + "/" + namespace + ".yaml" }

    /// What Prometheus has loaded from the directory, read through `GET /api/v1/rules`, so a plan
    /// is right from any machine that can reach Prometheus (a CI runner has no copy of the rules
    /// directory). The groups Guardrail owns are the ones whose file is `<directory>/<namespace>.yaml`.
    /// Only when the API cannot be reached is the directory itself read, where it exists; when
    /// neither can be read the plan fails rather than plan every group as new.
    public func observe(matching desired: [RuleGroup]) async throws -> [RuleGroup] {
        let loaded: [LoadedRuleGroup]
        do {
            loaded = try await prometheus.loadedRuleGroups()
        } catch let apiError {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue {
                return try readDirectory()
            }
            throw DiagnosticError(
                .error(
                    "cannot read the live alert rules: Prometheus at \(HTTPExchange.redacted(prometheus.baseURL)) did not list them, and \(directory) is not on this machine",
                    detail: "GET /api/v1/rules failed (\(apiError)). Without the live rules every group would look new, so nothing is planned; "
                        + "check that this machine can reach Prometheus."))
        }
        var groups: [RuleGroup] = []
        for group in loaded {
            guard let namespace = namespace(ofLoadedFile: group.file) else { continue }
            groups.append(
                RuleGroup(
                    namespace: namespace, group: group.name, interval: .init(milliseconds: Int64((group.interval * 1000).rounded())),
                    limit: group.limit,
                    rules: group.rules.map { rule in
                        AlertRule(
                            kind: rule.type == "recording" ? .record : .alert, name: rule.name, expr: rule.query,
                            forDuration: .init(milliseconds: Int64((rule.duration * 1000).rounded())),
                            keepFiringFor: .init(milliseconds: Int64((rule.keepFiringFor * 1000).rounded())),
                            labels: rule.labels, annotations: rule.annotations)
                    }))
        }
        return await LoadedRuleAlignment.align(
            groups, with: desired, globalInterval: await prometheus.globalEvaluationInterval(),
            format: { await prometheus.formatted($0) })
    }

    /// `launch` for `<directory>/launch.yaml`; nil for files Guardrail does not own.
    func namespace(ofLoadedFile file: String) -> String? {
        guard file.hasPrefix(directory + "/") else { return nil }
        let name = file.dropFirst(directory.count + 1)
        guard !name.contains("/"), !name.hasPrefix("."), name.hasSuffix(".yaml") || name.hasSuffix(".yml") else { return nil }
        let stem = String(name.hasSuffix(".yaml") ? name.dropLast(5) : name.dropLast(4))
        return RuleFile.namespaceProblem(stem) == nil ? stem : nil
    }

    /// The rule files in the directory, as written; a missing directory holds none. Apply rebuilds
    /// each namespace's file from these.
    func readDirectory() throws -> [RuleGroup] {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else {
            throw DiagnosticError(
                .error("alerts.rulesDir \(directory) is not a directory", detail: "Point it at the directory Prometheus loads rule files from."))
        }
        let names: [String]
        do {
            names = try fm.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix(".") && ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) }
                .sorted()
        } catch {
            throw DiagnosticError(.error("cannot read the rules directory \(directory)", detail: error.localizedDescription))
        }
        let diagnostics = Diagnostics()
        var groups: [RuleGroup] = []
        for name in names {
            let path = directory + "/" + name
            guard let data = fm.contents(atPath: path) else {
                throw DiagnosticError(.error("cannot read the live rule file \(path)", detail: "Check that Guardrail may read the rules directory."))
            }
            guard let namespace = RuleFile.namespace(ofFile: path, diagnostics: diagnostics, allowGenerated: true) else { continue }
            groups += RuleFile.decode([UInt8](data), path: path, namespace: namespace, diagnostics: diagnostics)
        }
        if diagnostics.hasErrors {
            var errors = diagnostics.errors
            errors.insert(
                .error(
                    "a live rule file in \(directory) is not one Guardrail can read",
                    detail: "Guardrail owns this directory; fix or remove the file so the next apply can rewrite it."), at: 0)
            throw DiagnosticError(errors)
        }
        return groups
    }

    public func apply(_ changes: [Change], live: [RuleGroup]) async throws -> RulesApplyReport {
        // The files are rebuilt from what they hold now, not from Prometheus's printed form of them.
        let (after, touched) = try RuleNamespaces.after(changes, live: try readDirectory())
        guard !touched.isEmpty else { return RulesApplyReport(steps: []) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // What each touched file held before, to put back if Prometheus does not take the new rules.
        var previous: [String: Data?] = [:]
        for namespace in touched { previous[namespace] = FileManager.default.contents(atPath: path(of: namespace)) }

        var steps: [String] = []
        do {
            for namespace in touched {
                if let groups = after[namespace], !groups.isEmpty {
                    try Self.writeAtomically(Data(RuleGroup.ruleFile(groups).utf8), to: path(of: namespace))
                    steps.append("wrote \(path(of: namespace)) (\(KindNames.count(groups.count, of: "group")))")
                } else {
                    try? FileManager.default.removeItem(atPath: path(of: namespace))
                    steps.append("removed \(path(of: namespace))")
                }
            }
        } catch {
            let restored = await restore(previous)
            throw RulesApplyError(reason: "cannot write the rule files: \(error.localizedDescription)", restored: restored)
        }
        do {
            try await prometheus.reload()
            steps.append("Prometheus reloaded")
            let expected = touched.flatMap { after[$0] ?? [] }
            let confirmed = try await confirm(expected: expected, removedFrom: touched)
            steps.append(confirmed)
        } catch {
            var reason = "\(error)"
            if let detail = await promtoolExplanation(touched) { reason += "\n  promtool check rules says: " + detail }
            let restored = await restore(previous)
            throw RulesApplyError(reason: reason, restored: restored)
        }
        return RulesApplyReport(steps: steps)
    }

    /// Polls `GET /api/v1/rules` until the touched files hold exactly the expected groups, loaded as written.
    func confirm(expected: [RuleGroup], removedFrom touched: [String]) async throws -> String {
        let deadline = Date().addingTimeInterval(confirmTimeout)
        let files = Set(touched.map(path(of:)))
        var lastProblem = "no answer yet"
        var formatted: [String: String] = [:]
        while true {
            do {
                let loaded = try await prometheus.loadedRuleGroups().filter { files.contains($0.file) }
                if let problem = await RuleLoadConfirmation.problem(
                    expected: expected, loaded: loaded, path: path(of:), formatted: &formatted,
                    format: { await prometheus.formatted($0) })
                {
                    lastProblem = problem
                } else {
                    if await prometheus.serverMetric("prometheus_config_last_reload_successful") == 0 {
                        lastProblem = "prometheus_config_last_reload_successful is 0"
                    } else {
                        return "Prometheus loaded \(KindNames.count(expected.count, of: "group")) from \(KindNames.count(touched.count, of: "file"))"
                    }
                }
            } catch {
                lastProblem = "\(error)"
            }
            if Date() >= deadline {
                throw PrometheusAdminError(
                    "Prometheus did not load the rules as written within \(Int(confirmTimeout))s: \(lastProblem). Check that its rule_files include \(directory)/*.yaml"
                )
            }
            try await Task.sleep(nanoseconds: 250_000_000)
        }
    }

    /// Puts the previous files back and reloads; says what happened, for the error message.
    func restore(_ previous: [String: Data?]) async -> String {
        var failures: [String] = []
        for (namespace, data) in previous.sorted(by: { $0.key < $1.key }) {
            do {
                if let data {
                    try Self.writeAtomically(data, to: path(of: namespace))
                } else if FileManager.default.fileExists(atPath: path(of: namespace)) {
                    try FileManager.default.removeItem(atPath: path(of: namespace))
                }
            } catch {
                failures.append("\(path(of: namespace)): \(error.localizedDescription)")
            }
        }
        guard failures.isEmpty else {
            return "Restoring the previous rule files failed for " + failures.joined(separator: "; ") + "; fix them by hand."
        }
        do {
            try await prometheus.reload()
            return "The previous rule files were restored and Prometheus reloaded them."
        } catch {
            return "The previous rule files were restored, but reloading Prometheus failed again: \(error)"
        }
    }

    /// promtool's reason, when it is installed: Prometheus's reload answer does not say which rule failed.
    func promtoolExplanation(_ namespaces: [String]) async -> String? {
        guard let promtool = Promtool.path else { return nil }
        let files = namespaces.map(path(of:)).filter { FileManager.default.fileExists(atPath: $0) }
        guard !files.isEmpty, let result = try? await ExternalCommand(executable: promtool, arguments: ["check", "rules"] + files).run(),
            result.status != 0
        else { return nil }
        let text = (result.stderr + result.stdout).split(separator: "\n").filter { !$0.hasPrefix("Checking ") && !$0.contains("SUCCESS") }
        return text.prefix(5).joined(separator: " ")
    }

    /// Write to a temporary file in the same directory, then rename over the target: Prometheus
    /// never reads half a file.
    static func writeAtomically(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).guardrail-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: temporary.path, contents: data, attributes: [.posixPermissions: 0o644]) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: temporary.path])
        }
        guard rename(temporary.path, path) == 0 else {
            let code = errno
            try? FileManager.default.removeItem(at: temporary)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
        }
    }
}

/// Whether Prometheus shows the groups as Guardrail wrote them. Pure, apart from asking the server
/// to print an expression the way it prints loaded ones.
enum RuleLoadConfirmation {
    static func problem(
        expected: [RuleGroup], loaded: [LoadedRuleGroup], path: (String) -> String, formatted: inout [String: String],
        format: (String) async -> String?
    ) async -> String? {
        var byKey: [String: LoadedRuleGroup] = [:]
        for group in loaded { byKey[group.file + "\u{0}" + group.name] = group }
        for group in expected {
            guard let live = byKey.removeValue(forKey: path(group.namespace) + "\u{0}" + group.group) else {
                return "group \(group.group) of \(path(group.namespace)) is not loaded"
            }
            guard live.rules.count == group.rules.count else {
                return "group \(group.group) has \(live.rules.count) rules loaded, not \(group.rules.count)"
            }
            if let interval = group.interval, abs(live.interval - interval.seconds) > 0.001 {
                return "group \(group.group) is loaded with interval \(live.interval)s, not \(interval)"
            }
            for (rule, loadedRule) in zip(group.rules, live.rules) {
                let type = rule.kind == .alert ? "alerting" : "recording"
                guard loadedRule.name == rule.name, loadedRule.type == type else {
                    return "group \(group.group) has \(loadedRule.type) rule \(loadedRule.name) where \(rule.title) was written"
                }
                if let error = loadedRule.lastError, loadedRule.health == "err" {
                    return "\(rule.title) in group \(group.group) is unhealthy: \(error)"
                }
                if rule.kind == .alert {
                    guard abs(loadedRule.duration - (rule.forDuration?.seconds ?? 0)) < 0.001,
                        abs(loadedRule.keepFiringFor - (rule.keepFiringFor?.seconds ?? 0)) < 0.001,
                        loadedRule.annotations == rule.annotations
                    else {
                        return "\(rule.title) in group \(group.group) is loaded with other settings than written"
                    }
                }
                guard loadedRule.labels == rule.labels else {
                    return "\(rule.title) in group \(group.group) is loaded with other labels than written"
                }
                let loadedKey = PromQLText.comparisonKey(loadedRule.query)
                if loadedKey != PromQLText.comparisonKey(rule.expr) {
                    // Prometheus prints loaded expressions in its own form; compare with that form of ours.
                    if formatted[rule.expr] == nil, let text = await format(rule.expr) { formatted[rule.expr] = text }
                    if let text = formatted[rule.expr], PromQLText.comparisonKey(text) != loadedKey {
                        return "\(rule.title) in group \(group.group) is loaded with the expression \(loadedRule.query)"
                    }
                }
            }
        }
        if let stray = byKey.values.sorted(by: { $0.name < $1.name }).first {
            return "group \(stray.name) is still loaded from \(stray.file)"
        }
        return nil
    }
}

/// Prometheus's `promtool`, when it is installed.
public enum Promtool {
    public static var path: String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") + ["/usr/bin"] {
            let candidate = "\(dir)/promtool"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

extension Promtool {
    /// What `promtool check rules` said about the configuration's rule files.
    public struct Report: Sendable {
        /// False when promtool is not installed.
        public var ran: Bool
        public var diagnostics: [Diagnostic]
    }

    /// Runs `promtool check rules` on the configuration's rule files (paths relative to `root`) and
    /// turns its failures into diagnostics at the rule's `file:line:column` where promtool gives one,
    /// or where the named group's rule is declared.
    public static func checkRules(_ files: [String], root: String, configuration: Configuration) async -> Report {
        guard !files.isEmpty else { return Report(ran: true, diagnostics: []) }
        guard let promtool = path else { return Report(ran: false, diagnostics: []) }
        let command = ExternalCommand(executable: promtool, arguments: ["check", "rules"] + files.map { root + "/" + $0 })
        guard let result = try? await command.run() else { return Report(ran: false, diagnostics: []) }
        guard result.status != 0 else { return Report(ran: true, diagnostics: []) }
        var diagnostics: [Diagnostic] = []
        for line in (result.stderr + "\n" + result.stdout).split(separator: "\n") {
            guard let file = files.first(where: { line.hasPrefix(root + "/" + $0 + ": ") }) else { continue }
            var message = String(line.dropFirst(root.count + file.count + 3))
            var location = SourceLocation.file(file)
            // `5:15: group "api", rule 1, "A": ...`: promtool's own position.
            let parts = message.split(separator: ":", maxSplits: 2)
            if parts.count == 3, let l = Int(parts[0]), let c = Int(parts[1].trimmingCharacters(in: .whitespaces)) {
                location = SourceLocation(file: file, line: l, column: c)
                message = parts[2].trimmingCharacters(in: .whitespaces)
            } else if let rule = ruleNamed(in: message, file: file, configuration: configuration) {
                location = rule
            }
            diagnostics.append(
                .error(
                    "promtool check rules: \(message)", detail: "promtool refuses this rule file, and Prometheus would refuse to load it.",
                    at: location))
        }
        if diagnostics.isEmpty {
            diagnostics.append(
                .error("promtool check rules failed", detail: (result.stderr + result.stdout).trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        return Report(ran: true, diagnostics: diagnostics)
    }

    /// The location of `group "api", rule 2` in a file, from the decoded configuration.
    static func ruleNamed(in message: String, file: String, configuration: Configuration) -> SourceLocation? {
        guard let groupStart = message.range(of: "group \""), let groupEnd = message[groupStart.upperBound...].range(of: "\", rule "),
            let number = Int(message[groupEnd.upperBound...].prefix(while: \.isNumber))
        else { return nil }
        let name = String(message[groupStart.upperBound..<groupEnd.lowerBound])
        let group = configuration.ruleGroups.first { $0.group == name && $0.location?.file == file }
        return group?.rules[safe: number - 1]?.location
    }
}

/// Prometheus's account of a loaded group, told apart from the desired group in Prometheus's own
/// terms: an expression it prints differently but parses to the same thing is the desired text, and
/// an interval equal to the global evaluation interval is whatever the configuration wrote (the API
/// reports the effective interval, so an unset one and the global one read the same).
enum LoadedRuleAlignment {
    static func align(
        _ live: [RuleGroup], with desired: [RuleGroup], globalInterval: GuardrailDuration?,
        format: @escaping @Sendable (String) async -> String?
    ) async -> [RuleGroup] {
        let desiredByName = Dictionary(desired.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var aligned = live
        // Expressions to ask Prometheus to print: only those whose normalized text differs.
        var pending: [(group: Int, rule: Int, desired: String)] = []
        for (g, group) in live.enumerated() {
            guard let wanted = desiredByName[group.name] else { continue }
            if let global = globalInterval, group.interval == global || group.interval == nil,
                wanted.interval == nil || wanted.interval == global
            {
                aligned[g].interval = wanted.interval
            }
            for (r, rule) in group.rules.enumerated() where r < wanted.rules.count {
                let want = wanted.rules[r].expr
                if rule.expr != want, PromQLText.comparisonKey(rule.expr) != PromQLText.comparisonKey(want) {
                    pending.append((g, r, want))
                }
            }
        }
        guard !pending.isEmpty else { return aligned }
        let texts = Array(Set(pending.map(\.desired)))
        let printed = await withTaskGroup(of: (String, String?).self) { tasks in
            var results: [String: String] = [:]
            var next = 0
            // A bounded number in flight, as the plan's expression checks do.
            while next < texts.count, next < 8 {
                let text = texts[next]
                tasks.addTask { (text, await format(text)) }
                next += 1
            }
            while let (text, formatted) = await tasks.next() {
                if let formatted { results[text] = formatted }
                if next < texts.count {
                    let text = texts[next]
                    tasks.addTask { (text, await format(text)) }
                    next += 1
                }
            }
            return results
        }
        for (g, r, want) in pending {
            if let formatted = printed[want], PromQLText.comparisonKey(formatted) == PromQLText.comparisonKey(aligned[g].rules[r].expr) {
                aligned[g].rules[r].expr = want
            }
        }
        return aligned
    }
}
