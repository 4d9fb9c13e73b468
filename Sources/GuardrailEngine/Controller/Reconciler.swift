import Foundation
import GuardrailCore
import Logging

/// One controller replica's work, tick by tick: lead or stand by; when leading, reload the
/// manifests if they changed, plan, correct the drift its policy allows, run the rollout and backup
/// steps. Every decision is logged with the object's address and the reason.
///
/// A tick never throws: errors are reported in its `TickReport`, counted, and backed off, and one
/// kind's failure does not stop the others (each kind's corrections apply in a transaction of their own).
///
/// An actor: the reconcile loop runs `tick`, the lease renewal runs `renewLease` beside it, and
/// everyone else reads what they need from the `Snapshot` the loop publishes after each tick.
public actor Reconciler {
    public let workspace: Workspace
    public let environmentName: String
    public let holder: String
    public let logger: Logger
    /// The tick's clock: the system's, or a test's.
    let now: @Sendable () -> Date

    private var environment: ResolvedEnvironment?
    private var configuration: Configuration?
    private var stamp: String?
    private var session: Session?
    private var leadership: Leadership?
    private var settle = SettleTracker()
    /// The other environment last logged as leading this database and schema.
    private var reportedLeaderElsewhere: String?
    /// Canonical policy texts, reused across ticks until the manifests or the tables change.
    private let canonicalCache = PolicyCanonicalizer.Cache(maxAge: PolicyCanonicalizer.cacheMaxAge)
    /// The tenants as last read, reused while their rows are unchanged.
    private let tenantCache = ObservationCache<[Tenant]>()
    public private(set) var backoff = Backoff(base: 1, cap: 300)
    /// Deliver events to the environment's Alertmanager and webhooks, one queue each; replaced when
    /// the destinations change.
    public private(set) var notifiers: [Notifier] = []
    private var notifiersFor: [String] = []
    /// Where each alert links to: the controller's status page, once it listens.
    public var statusURL: String?
    /// Drift left for a human, as of the last tick: each is announced once, when it first appears.
    private var announcedHeld: Set<String> = []

    /// `loaded` is the configuration the command already read, the environment it resolved from it,
    /// and the workspace's change stamp taken before the read: the first tick uses them instead of
    /// reading and resolving again, and a later edit is still seen.
    public init(
        workspace: Workspace, environment: String, holder: String, logger: Logger,
        loaded: (configuration: Configuration, environment: ResolvedEnvironment, stamp: String)? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.workspace = workspace
        self.environmentName = environment
        self.holder = holder
        self.logger = logger
        self.now = now
        if let loaded {
            configuration = loaded.configuration
            self.environment = loaded.environment
            stamp = loaded.stamp
        }
    }

    /// What the rest of the controller may know about the reconciler, copied out after each tick.
    public struct Snapshot: Sendable {
        public var configurationLoaded: Bool
        public var environment: ResolvedEnvironment?
        /// Seconds to wait before the next tick: the interval, or longer after errors.
        public var backoffFailures: Int
        public var backoffDelay: Double
    }

    public var snapshot: Snapshot {
        Snapshot(configurationLoaded: configuration != nil, environment: environment, backoffFailures: backoff.failures, backoffDelay: backoff.delay)
    }

    /// The configuration in use, once loaded.
    public var loadedConfiguration: Configuration? { configuration }
    public var resolvedEnvironment: ResolvedEnvironment? { environment }
    public var isLeader: Bool { get async { await leadership?.fence != nil } }
    /// Lock releases refused because the step asking did not hold the lock (a bug if ever non-zero).
    public var refusedLockReleases: Int { session?.refusedReleases ?? 0 }

    /// Renews the leader's lease between ticks (a long step, such as a backup, must not let it
    /// expire); does nothing on a standby.
    public func renewLease() async {
        guard let leadership, await leadership.fence != nil else { return }
        await leadership.renew()
    }

    /// What one tick saw and did; the controller's status endpoint and metrics read it.
    public struct TickReport: Sendable {
        public var startedAt: Date
        public var duration: Double = 0
        public var leader = false
        public var epoch: Int64?
        public var manifestsReloaded = false
        public var plan: Plan.Summary?
        /// Planned changes per kind, corrected or not.
        public var driftByKind: [String: Int] = [:]
        /// The planned changes themselves (kind, address, action, why), for the dashboard's drift page.
        public var drift: [DriftEntry] = []
        public var applied: [String] = []
        /// Of `applied`, the restorations of the last applied configuration after a change by hand.
        public var restored: [String] = []
        public var reported: [(address: String, reason: String)] = []
        public var unsettled: [String] = []
        public var rollouts: [RolloutTickResult] = []
        public var backups: BackupRunner.TickReport?
        public var errors: [String] = []
        /// The notifier's totals after this tick, when the environment has an Alertmanager.
        public var notifications: Notifier.Counts?
        /// Seconds spent in each step: plan, corrections, rollouts, backups.
        public var steps: [String: Double] = [:]

        public init(startedAt: Date) { self.startedAt = startedAt }
    }

    /// One change the tick's plan listed.
    public struct DriftEntry: Sendable, Hashable {
        public var kind: String
        public var address: String
        public var action: String
        public var reason: String

        public init(kind: String, address: String, action: String, reason: String) {
            self.kind = kind
            self.address = address
            self.action = action
            self.reason = reason
        }
    }

    /// Stops leading and closes connections: the end of a graceful shutdown.
    public func shutdown() async {
        for notifier in notifiers { await notifier.shutdown() }
        notifiers = []
        await leadership?.stepDown()
        await session?.close()
        session = nil
    }

    public func tick() async -> TickReport {
        let started = Date()
        var report = TickReport(startedAt: now())
        do {
            try await reloadIfChanged(&report)
        } catch {
            report.errors.append("\(error)")
            log(.error, "manifests", "the configuration did not load; keeping the last good one", ["error": "\(error)"])
        }
        guard let configuration, let environment else {
            backoff.failed()
            report.duration = Date().timeIntervalSince(started)
            return report
        }
        // Leadership first: a standby does nothing else.
        do {
            let leadership =
                self.leadership
                ?? Leadership(
                    database: environment.database, environment: environment.name, holder: holder,
                    lockTimeout: environment.lockTimeout, leaseDuration: environment.controller.effectiveLeaseDuration,
                    logger: logger)
            self.leadership = leadership
            await leadership.update(leaseDuration: environment.controller.effectiveLeaseDuration)
            let wasLeader = await leadership.fence != nil
            let fence = try await leadership.tryLead()
            report.leader = fence != nil
            report.epoch = fence?.epoch
            if let fence, !wasLeader { log(.notice, "leader", "took leadership", ["epoch": "\(fence.epoch)"]) }
            if fence == nil, wasLeader { log(.warning, "leader", "lost leadership") }
            // Said once per leading environment, not every tick.
            let elsewhere = fence == nil ? await leadership.leaderElsewhere?.environment.flatMap { $0 == environment.name ? nil : $0 } : nil
            if let other = elsewhere, other != reportedLeaderElsewhere {
                log(
                    .warning, "leader", "standing by: environment \"\(other)\" uses the same database and schema, and its controller leads",
                    ["environment": other])
            }
            reportedLeaderElsewhere = elsewhere
            guard let fence else { return finish(report, started: started) }

            let session = try await openSession(environment, fence: fence)
            await correctDrift(session, configuration: configuration, environment: environment, report: &report)
            var mark = Date()
            await runRollouts(session, environment: environment, report: &report)
            report.steps["rollouts"] = Date().timeIntervalSince(mark)
            mark = Date()
            await runBackups(environment, fence: fence, report: &report)
            report.steps["backups"] = Date().timeIntervalSince(mark)
            // A tick that ends renews too: a standby judges the lease from the last renewal, and
            // a tick longer than the lease (a slow plan on a loaded server) must not look like a stall.
            await leadership.renew()
        } catch let lost as LeaderFence.Lost {
            report.errors.append("\(lost)")
            log(.warning, "leader", "stepping down", ["reason": "\(lost)"])
            await leadership?.stepDown()
            report.leader = false
        } catch {
            report.errors.append("\(error)")
            log(.error, "controller", "tick failed", ["error": "\(error)"])
            // The connection may be gone (Postgres restarted): open a new one next tick.
            await session?.close()
            session = nil
        }
        return finish(report, started: started)
    }

    /// Closes the report: its duration (by the wall clock, whatever `now` says), and the backoff.
    private func finish(_ report: TickReport, started: Date) -> TickReport {
        var report = report
        if !notifiers.isEmpty {
            report.notifications = notifiers.reduce(into: Notifier.Counts()) { total, n in
                let c = n.counts
                total.delivered += c.delivered; total.dropped += c.dropped; total.failed += c.failed; total.queued += c.queued
            }
        }
        report.duration = Date().timeIntervalSince(started)
        if report.errors.isEmpty { backoff.succeeded() } else { backoff.failed() }
        return report
    }

    private func reloadIfChanged(_ report: inout TickReport) async throws {
        let stamp = try workspace.changeStamp()
        guard stamp != self.stamp else {
            // The configuration the command loaded, in use from the first tick.
            if !started, let configuration, let environment { await start(configuration, environment, &report) }
            return
        }
        let (configuration, diagnostics) = try workspace.load()
        if diagnostics.hasErrors { throw DiagnosticError(diagnostics.errors) }
        guard let declared = configuration.environments[environmentName] else {
            throw DiagnosticError(.error("unknown environment \"\(environmentName)\"", detail: "Add environments/\(environmentName).yaml."))
        }
        let resolved = try ResolvedEnvironment.resolve(declared)
        if environment == nil || environment!.database.url.description != resolved.database.url.description {
            // A new database: new leadership and session, the old ones ended before anything else runs.
            let (oldLeadership, oldSession) = (leadership, session)
            leadership = nil
            session = nil
            await oldLeadership?.stepDown()
            await oldSession?.close()
        }
        self.configuration = configuration
        self.environment = resolved
        self.stamp = stamp
        canonicalCache.clear()
        await start(configuration, resolved, &report)
    }

    /// Whether the configuration in use has been started on (its notifiers made, its load logged).
    private var started = false

    private func start(_ configuration: Configuration, _ environment: ResolvedEnvironment, _ report: inout TickReport) async {
        started = true
        await replaceNotifier(for: environment)
        report.manifestsReloaded = true
        log(.info, "manifests", "loaded the configuration", ["files": "\(configuration.files.count)", "commit": workspace.gitCommit() ?? "none"])
    }

    public func setStatusURL(_ url: String?) {
        statusURL = url
        for notifier in notifiers { notifier.setStatusURL(url) }
    }

    /// Notifiers for the environment's destinations, unless the running ones already send there
    /// (compared by URL, events and header name: a changed secret takes a restart).
    private func replaceNotifier(for environment: ResolvedEnvironment) async {
        let destinations = environment.notificationDestinations
        let key = destinations.map { d -> String in
            switch d {
            case .alertmanager(let url): "am \(url)"
            case .webhook(let w): "hook \(w.url) \(w.events.sorted()) \(w.header?.name ?? "")"
            }
        }
        guard key != notifiersFor else { return }
        for notifier in notifiers { await notifier.shutdown() }
        notifiers = destinations.map { Notifier($0, statusURL: statusURL, logger: logger) }
        notifiersFor = key
    }

    /// Queues events for delivery; never waits for it.
    private func announce(_ events: [GuardrailEvent]) {
        for notifier in notifiers { notifier.send(events) }
    }

    private func openSession(_ environment: ResolvedEnvironment, fence: LeaderFence) async throws -> Session {
        // A connection the server cut (a restart, a terminated backend) is closed here; a query on
        // it would never answer, so it is replaced rather than used.
        if let session, !session.connection.isClosed {
            session.fence = fence
            return session
        }
        if let stale = session {
            self.session = nil
            await stale.close()
        }
        let session = try await Session.open(environment, applicationName: "guardrail controller \(holder)")
        session.fence = fence
        session.canonicalCache = canonicalCache
        session.tenantCache = tenantCache
        self.session = session
        return session
    }

    /// Plans, then applies the corrections the drift policy allows, one kind group per transaction.
    private func correctDrift(_ session: Session, configuration: Configuration, environment: ResolvedEnvironment, report: inout TickReport) async {
        let plan: Plan
        let planStarted = Date()
        defer { report.steps["plan"] = report.steps["plan"] ?? Date().timeIntervalSince(planStarted) }
        do {
            plan = try await session.plan(configuration, gitCommit: workspace.gitCommit(), now: now(), checkRules: report.manifestsReloaded)
            report.steps["plan"] = Date().timeIntervalSince(planStarted)
            for (step, seconds) in session.lastPlanSteps { report.steps["plan." + step] = seconds }
        } catch let lost as LeaderFence.Lost {
            report.errors.append("\(lost)")
            return
        } catch {
            report.errors.append("planning: \(error)")
            log(.error, "plan", "planning failed; rollouts and backups still run", ["error": "\(error)"])
            return
        }
        report.plan = plan.summary
        for change in plan.changes {
            report.driftByKind[change.kind, default: 0] += 1
            report.drift.append(
                DriftEntry(
                    kind: change.kind, address: change.address.description, action: change.action.rawValue,
                    reason: change.reason))
        }
        let policy = DriftPolicy(
            modes: Dictionary(uniqueKeysWithValues: configuration.environments[environment.name]?.controller?.drift.map { ($0.key, $0.value) } ?? []))
        // Only changes a hazard would hold back need the record of what was applied.
        let held = plan.changes.filter { change in
            policy.mode(of: change) == .enforce && change.hazards.contains { DriftPolicy.manualOnly.contains($0.kind) }
        }
        var restorations: Set<String> = []
        if !held.isEmpty {
            do {
                restorations = try await AppliedConfiguration.restorations(among: held, session: session)
            } catch {
                report.errors.append("reading the applied configuration: \(error)")
                log(.error, "controller", "could not read what was last applied; hazardous drift waits for a human", ["error": "\(error)"])
            }
        }
        let decision = policy.decide(plan, restorations: restorations)
        var waiting: [GuardrailEvent] = []
        for (change, reason) in decision.reported {
            report.reported.append((change.address.description, reason))
            log(.warning, change.address.description, "drift left for a human apply", ["action": change.action.rawValue, "reason": reason])
            if !announcedHeld.contains(change.address.description) {
                waiting.append(
                    GuardrailEvent(
                        .driftHeld, environment: environment.name, address: change.address.description,
                        summary: "drift on \(change.address) needs a human `guardrail apply`: \(reason)", at: now()))
            }
        }
        announcedHeld = Set(decision.reported.map { $0.0.address.description })
        announce(waiting)
        let (apply, unsettled) = settle.admit(decision.enforce)
        for (change, repeats) in unsettled {
            report.unsettled.append(change.address.description)
            log(
                .warning, change.address.description, "drift came back after it was corrected; backing off",
                ["action": change.action.rawValue, "repeats": "\(repeats)", "reason": change.reason])
        }
        guard !apply.isEmpty else { return }
        let correctionsStarted = Date()
        defer { report.steps["corrections"] = Date().timeIntervalSince(correctionsStarted) }
        let hold: Session.LockHold
        do {
            hold = try await session.acquireLock(timeout: .seconds(2), applicationName: "guardrail controller \(holder) apply lock")
        } catch {
            report.errors.append("drift correction waits: \(error)")
            log(.warning, "controller", "the apply lock is taken; drift correction waits for the next tick", ["error": "\(error)"])
            return
        }
        // Released below, in this task, after the last group: every path from here reaches it (the
        // loop catches each group's errors). A deferred release in another task could run after the
        // rollout step took the lock and release it under that step.
        var applied: [Change] = []
        // Each restoration applies alone, so it is an audit record of its own (its before side is
        // what was changed by hand); other corrections apply by group.
        let restoring = apply.filter { decision.restorations.contains($0.address.description) }
        let correcting = apply.filter { !decision.restorations.contains($0.address.description) }
        for group in Self.applyGroups(correcting, registry: session.registry) + restoring.map({ [$0] }) {
            var sub = plan
            sub.id = UUID().uuidString.lowercased()
            sub.changes = group
            let addresses = Set(group.map(\.address.description))
            sub.fingerprints = plan.fingerprints.filter { addresses.contains($0.key) }
            let isRestoration = group.count == 1 && decision.restorations.contains(group[0].address.description)
            do {
                // The hazards of a restoration were reviewed when a human applied this configuration.
                let overrides = isRestoration ? HazardOverrides(allowDestroy: true) : HazardOverrides()
                _ = try await session.apply(sub, overrides: overrides, osUser: "controller \(holder)" + (isRestoration ? " (drift restoration)" : ""))
                applied += group
                announce(
                    group.map { change in
                        GuardrailEvent(
                            .driftCorrected, environment: environment.name, address: change.address.description,
                            summary: isRestoration
                                ? "restored \(change.address) to the last applied configuration after a change by hand"
                                : "corrected drift on \(change.address) (\(change.action.rawValue)): \(change.reason)", at: now())
                    })
                for change in group {
                    report.applied.append(change.address.description)
                    if isRestoration {
                        report.restored.append(change.address.description)
                        log(
                            .notice, change.address.description, "restored the last applied configuration after a change by hand",
                            [
                                "action": change.action.rawValue, "plan": sub.id,
                                "changed_by_hand": Self.describe(change.before, keys: change.changedAttributes),
                                "restored_to": Self.describe(change.after, keys: change.changedAttributes),
                                "hazards": change.hazards.map(\.kind.rawValue).joined(separator: ","),
                            ])
                    } else {
                        log(
                            .notice, change.address.description, "corrected drift",
                            ["action": change.action.rawValue, "reason": change.reason, "plan": sub.id])
                    }
                }
            } catch let lost as LeaderFence.Lost {
                report.errors.append("\(lost)")
                break
            } catch {
                report.errors.append("applying \(group.first!.kind): \(error)")
                log(.error, group.first!.address.description, "drift correction failed; other kinds go on", ["error": "\(error)"])
            }
        }
        await session.releaseLock(hold)
        settle.applied(applied)
    }

    /// The attributes that differ, as `key=value` pairs, or "absent" for a side that does not exist.
    static func describe(_ attributes: Attributes?, keys: [String]) -> String {
        guard let attributes else { return "absent" }
        return keys.map { "\($0)=\(attributes[$0].map { "\($0)" } ?? "absent")" }.joined(separator: " ")
    }

    /// Changes grouped by what must commit together, as each kind's `applyGroup` says: roles, grants
    /// and row-level security; flags with the guardrails they name; each other kind alone.
    static func applyGroups(_ changes: [Change], registry: KindRegistry = .builtIn) -> [[Change]] {
        var order: [String] = [], groups: [String: [Change]] = [:]
        for change in changes {
            let key = registry.applyGroup(ofChange: change.kind)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(change)
        }
        return order.map { groups[$0]! }
    }

    private func runRollouts(_ session: Session, environment: ResolvedEnvironment, report: inout TickReport) async {
        guard let url = environment.prometheusURL else { return }
        let hold: Session.LockHold
        do {
            hold = try await session.acquireLock(timeout: .seconds(2), applicationName: "guardrail controller \(holder) rollout lock")
        } catch {
            report.errors.append("rollouts: \(error)")
            log(.warning, "rollouts", "the apply lock is taken; the rollout step waits for the next tick", ["error": "\(error)"])
            return
        }
        do {
            let results = try await session.tick(metrics: PrometheusClient(baseURL: url), now: now(), actor: "controller \(holder)")
            await session.releaseLock(hold)
            report.rollouts = results
            announce(
                results.flatMap { result in
                    result.decisions.compactMap { GuardrailEvent.of($0, flag: result.flag, environment: environment.name, at: now()) }
                })
            for result in results {
                for decision in result.decisions where decision.kind != .evaluation {
                    log(.notice, "flag.\(result.flag)", decision.message, ["decision": decision.kind.rawValue, "phase": "\(decision.phase + 1)"])
                }
            }
        } catch {
            await session.releaseLock(hold)
            report.errors.append("rollouts: \(error)")
            log(.error, "rollouts", "the rollout step failed", ["error": "\(error)"])
        }
    }

    private func runBackups(_ environment: ResolvedEnvironment, fence: LeaderFence, report: inout TickReport) async {
        guard environment.hasBackups else { return }
        do {
            var runner = try BackupRunner(environment: environment)
            runner.fence = fence
            let result = try await runner.tick(now: now())
            report.backups = result
            for run in result.backups { log(.notice, "backup.\(run.schedule)", "backup \(run.status.rawValue)", ["run": "\(run.id)"]) }
            for error in result.errors { report.errors.append("backups: \(error)") }
            // A failed backup or drill is news for whoever holds the pager; a successful one is not.
            var events = result.backups.filter { $0.status == .failed }.map { run in
                GuardrailEvent(
                    .backupFailed, environment: environment.name, address: "backup.\(run.schedule)",
                    summary: "backup \(run.schedule) failed: \(run.error ?? "no reason recorded")", at: now())
            }
            events += result.errors.map { GuardrailEvent(.backupFailed, environment: environment.name, address: "backups", summary: $0, at: now()) }
            events += result.drills.filter { $0.status == "failed" }.map { drill in
                GuardrailEvent(
                    .drillFailed, environment: environment.name, address: "backup.\(drill.schedule)",
                    summary: "restore drill of \(drill.schedule) failed: \(drill.error ?? "a check failed")", at: now())
            }
            announce(events)
        } catch {
            report.errors.append("backups: \(error)")
            log(.error, "backups", "the backup step failed", ["error": "\(error)"])
            announce([
                GuardrailEvent(
                    .backupFailed, environment: environment.name, address: "backups", summary: "the backup step failed: \(error)", at: now())
            ])
        }
    }

    /// One structured line: the object's address, what happened, and the details.
    func log(_ level: Logger.Level, _ address: String, _ message: String, _ metadata: [String: String] = [:]) {
        var meta: Logger.Metadata = ["address": .string(address)]
        for (k, v) in metadata { meta[k] = .string(v) }
        logger.log(level: level, "\(message)", metadata: meta)
    }
}
