import Foundation
import GuardrailCore
import GuardrailEngine
import NIOConcurrencyHelpers
import Prometheus

/// What the controller knows right now, shared by its services: the last tick's report, whether it
/// leads, the flag snapshot OFREP answers from, and its metrics.
public actor ControllerState {
    public let environment: String
    public let holder: String
    public let metrics: ControllerMetrics
    public private(set) var lastTick: Reconciler.TickReport?
    public private(set) var leader = false
    public private(set) var manifestsLoaded = false
    public private(set) var databaseReachable = false
    public private(set) var snapshot = FlagSnapshot()
    /// Bumped on every snapshot reload: the bulk evaluation ETag is derived from it.
    public private(set) var snapshotVersion: UInt64 = 0
    /// Recent guardrail values per flag and guardrail, fed by the ticks: the dashboard's charts.
    public private(set) var history = GuardrailHistory()
    /// The rollouts as last read from Postgres after a tick, and when.
    public private(set) var rollouts: [RolloutStatusReport]?
    public private(set) var rolloutsReadAt: Date?
    public private(set) var rolloutsProblem: String?
    /// Each backup schedule's status as last read after a leader's tick (nil on a standby), and when.
    public private(set) var backups: [BackupRunner.Status]?
    public private(set) var backupsReadAt: Date?
    public private(set) var backupsProblem: String?
    /// The latest errors the ticks reported, newest last, at most `recentErrorLimit`.
    public private(set) var recentErrors: [DashboardInputs.ErrorRecord] = []
    public static let recentErrorLimit = 30
    /// A copy of the snapshot readable without awaiting the actor, for the OFREP hot path.
    public nonisolated let snapshotBox = SnapshotBox()
    /// The environment as the reconcile loop last resolved it; admin actions connect with it.
    public private(set) var resolvedEnvironment: ResolvedEnvironment?
    /// How long the loop may go without finishing a tick before it counts as stuck (nil: never).
    public private(set) var stuckAfter: Double?
    /// Seconds on a monotonic clock (a wall clock step must not make the loop look stuck).
    private let uptime: @Sendable () -> Double
    /// When the loop last finished a tick, or when it was told its bound (before the first tick).
    private var lastProgress: Double

    public init(
        environment: String, holder: String, metrics: ControllerMetrics = ControllerMetrics(), stuckAfter: Double? = nil,
        uptime: @escaping @Sendable () -> Double = { ProcessInfo.processInfo.systemUptime }
    ) {
        self.environment = environment
        self.holder = holder
        self.metrics = metrics
        self.stuckAfter = stuckAfter
        self.uptime = uptime
        lastProgress = uptime()
    }

    public func record(_ report: Reconciler.TickReport, manifestsLoaded: Bool) {
        lastTick = report
        leader = report.leader
        self.manifestsLoaded = manifestsLoaded
        lastProgress = uptime()
        metrics.record(report)
        for result in report.rollouts {
            for verdict in result.verdicts { history.record(flag: result.flag, verdict, at: report.startedAt) }
        }
        recentErrors += report.errors.map { DashboardInputs.ErrorRecord(at: report.startedAt, message: $0) }
        if recentErrors.count > Self.recentErrorLimit { recentErrors.removeFirst(recentErrors.count - Self.recentErrorLimit) }
        if !report.leader {
            // A standby does not read the backup status: what it read while it led would grow stale.
            backups = nil
        }
    }

    /// After a leader's tick: the rollouts as read from Postgres, or why they could not be read.
    public func setRollouts(_ reports: [RolloutStatusReport]?, at: Date, problem: String? = nil) {
        if let reports { rollouts = reports }
        rolloutsReadAt = reports == nil ? rolloutsReadAt : at
        rolloutsProblem = problem
    }

    /// After a leader's tick: each backup schedule's status, or why it could not be read.
    public func setBackups(_ statuses: [BackupRunner.Status]?, at: Date, problem: String? = nil) {
        if let statuses { backups = statuses }
        backupsReadAt = statuses == nil ? backupsReadAt : at
        backupsProblem = problem
    }

    /// Everything the dashboard's documents are built from, copied out at once.
    public func dashboardInputs(now: Date = Date()) -> DashboardInputs {
        DashboardInputs(
            environment: environment, replica: holder, leader: leader, ready: ready, alive: alive,
            secondsSinceProgress: secondsSinceProgress, stuckAfter: stuckAfter, lastTick: lastTick,
            cohorts: snapshot.flags.mapValues { $0.killed ? 0 : $0.cohort.count },
            rollouts: rollouts, rolloutsReadAt: rolloutsReadAt, rolloutsProblem: rolloutsProblem, history: history,
            backups: backups, backupsReadAt: backupsReadAt, backupsProblem: backupsProblem,
            recentErrors: recentErrors, now: now)
    }

    /// After each tick: what admin actions need, and the bound for `/healthz` (it follows the
    /// environment's interval and timeouts when the manifests change).
    public func publish(environment: ResolvedEnvironment?) {
        resolvedEnvironment = environment
        if let environment { stuckAfter = environment.stuckAfter.seconds }
    }

    /// Seconds since the loop last finished a tick (or started waiting for its first).
    public var secondsSinceProgress: Double { uptime() - lastProgress }

    /// `/healthz`: false once the loop has gone `stuckAfter` seconds without finishing a tick.
    public var alive: Bool {
        guard let stuckAfter else { return true }
        return secondsSinceProgress <= stuckAfter
    }

    /// After a graceful shutdown: this replica no longer leads.
    public func steppedDown() {
        leader = false
        metrics.leader.set(to: 0)
    }

    /// Set by the flag snapshot listener, whose connection is the controller's view of Postgres.
    public func databaseReachable(_ reachable: Bool) { databaseReachable = reachable }

    public func setSnapshot(_ snapshot: FlagSnapshot) {
        self.snapshot = snapshot
        snapshotVersion &+= 1
        snapshotBox.set(snapshot, version: snapshotVersion)
        metrics.record(snapshot)
    }

    /// `/readyz`: connected, manifests loaded.
    public var ready: Bool { manifestsLoaded && databaseReachable }
}

/// The current flag snapshot behind a lock: OFREP reads it on every request without a hop to the actor.
public struct SnapshotBox: Sendable {
    private let box = NIOLockedValueBox((FlagSnapshot(), UInt64(0)))

    public func set(_ snapshot: FlagSnapshot, version: UInt64) {
        box.withLockedValue { $0 = (snapshot, version) }
    }

    public func get() -> (FlagSnapshot, UInt64) { box.withLockedValue { $0 } }
}

/// The controller's Prometheus metrics (swift-prometheus), updated from tick reports and snapshots.
public final class ControllerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let tickDuration: DurationHistogram
    let ticks: Counter
    let tickErrors: Counter
    let applies: Counter
    let leader: Gauge
    let notificationsDelivered: Counter
    let notificationsDropped: Counter
    let notificationsFailed: Counter
    let notificationsQueued: Gauge
    private let notificationTotals = NIOLockedValueBox(Notifier.Counts())
    /// The kinds and flags seen so far: their gauges are set (to 0 when gone) on every update.
    private let kindsSeen = NIOLockedValueBox(Set<String>())
    private let flagsSeen = NIOLockedValueBox(Set<String>())
    /// The backup gauges set now, by family name and schedule.
    private let backupGauges = NIOLockedValueBox([String: Gauge]())

    public init() {
        tickDuration = registry.makeDurationHistogram(
            descriptor: .guardrail("guardrail_controller_tick_duration_seconds", "How long one reconcile tick took."),
            buckets: [
                .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(150),
                .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5), .seconds(30),
            ])
        ticks = registry.makeCounter(descriptor: .guardrail("guardrail_controller_ticks_total", "Reconcile ticks run."))
        tickErrors = registry.makeCounter(descriptor: .guardrail("guardrail_controller_errors_total", "Errors reported by ticks."))
        applies = registry.makeCounter(
            descriptor: .guardrail("guardrail_controller_corrections_total", "Changes the controller applied to correct drift."))
        leader = registry.makeGauge(descriptor: .guardrail("guardrail_controller_leader", "1 while this replica leads."))
        notificationsDelivered = registry.makeCounter(
            descriptor: .guardrail("guardrail_notifications_delivered_total", "Events Alertmanager accepted."))
        notificationsDropped = registry.makeCounter(
            descriptor: .guardrail(
                "guardrail_notifications_dropped_total",
                "Events dropped, oldest first, because the delivery queue was full."))
        notificationsFailed = registry.makeCounter(
            descriptor: .guardrail(
                "guardrail_notifications_failed_total",
                "Events given up on after every retry, or refused by Alertmanager."))
        notificationsQueued = registry.makeGauge(descriptor: .guardrail("guardrail_notifications_queued", "Events waiting for delivery."))
    }

    func record(_ report: Reconciler.TickReport) {
        tickDuration.record(.nanoseconds(Int64(report.duration * 1e9)))
        ticks.increment()
        if !report.errors.isEmpty { tickErrors.increment(by: Int64(report.errors.count)) }
        if !report.applied.isEmpty { applies.increment(by: Int64(report.applied.count)) }
        leader.set(to: report.leader ? 1 : 0)
        if let counts = report.notifications {
            notificationTotals.withLockedValue { last in
                // A new notifier (the Alertmanager URL changed) counts from zero again.
                func delta(_ now: Int, _ before: Int) -> Int64 { Int64(now >= before ? now - before : now) }
                notificationsDelivered.increment(by: delta(counts.delivered, last.delivered))
                notificationsDropped.increment(by: delta(counts.dropped, last.dropped))
                notificationsFailed.increment(by: delta(counts.failed, last.failed))
                notificationsQueued.set(to: Double(counts.queued))
                last = counts
            }
        }
        kindsSeen.withLockedValue { kindsSeen in
            kindsSeen.formUnion(report.driftByKind.keys)
            for kind in kindsSeen {
                registry.makeGauge(
                    descriptor: .guardrail("guardrail_drift_changes", "Changes the last plan listed, per kind."), labels: [("kind", kind)]
                )
                .set(to: Double(report.driftByKind[kind] ?? 0))
            }
            registry.makeGauge(descriptor: .guardrail("guardrail_drift_unsettled", "Changes that came back after being corrected.")).set(
                to: Double(report.unsettled.count))
            for result in report.rollouts {
                registry.makeGauge(
                    descriptor: .guardrail("guardrail_rollout_phase", "The current phase of each rollout, from 1."), labels: [("flag", result.flag)]
                )
                .set(to: Double(result.phase + 1))
                let breached = result.decisions.contains { $0.kind == .breach } || result.status == "rolled-back"
                registry.makeGauge(
                    descriptor: .guardrail(
                        "guardrail_rollout_breached", "1 when a guardrail breach acted on the rollout (rolled back, stepped back or paused it)."),
                    labels: [("flag", result.flag)]
                )
                .set(to: breached ? 1 : 0)
                for verdict in result.verdicts {
                    let labels = [("flag", result.flag), ("guardrail", verdict.guardrail)]
                    if let value = verdict.value {
                        registry.makeGauge(
                            descriptor: .guardrail("guardrail_guardrail_value", "The last value of each guardrail of each rollout."), labels: labels
                        ).set(to: value)
                    }
                    registry.makeGauge(
                        descriptor: .guardrail("guardrail_guardrail_passing", "1 when the last verdict passed, 0 otherwise."), labels: labels
                    )
                    .set(to: verdict.kind == .pass ? 1 : 0)
                }
            }
        }
    }

    func record(_ snapshot: FlagSnapshot) {
        flagsSeen.withLockedValue { flagsSeen in
            flagsSeen.formUnion(snapshot.flags.keys)
            for flag in flagsSeen {
                registry.makeGauge(
                    descriptor: .guardrail("guardrail_flag_cohort_size", "Tenants a flag is on for (0 when killed)."), labels: [("flag", flag)]
                )
                .set(to: Double(snapshot.flags[flag].map { $0.killed ? 0 : $0.cohort.count } ?? 0))
            }
        }
    }

    /// The backup gauges of the last backup status read; the ones of schedules (or values) that are
    /// gone are removed from the registry.
    public func record(backups families: [BackupMetrics.Family]) {
        backupGauges.withLockedValue { gauges in
            var now: [String: Gauge] = [:]
            for family in families {
                for (schedule, value) in family.samples {
                    let gauge = registry.makeGauge(descriptor: .guardrail(family.name, family.help), labels: [("schedule", schedule)])
                    gauge.set(to: value)
                    now[family.name + "\u{0}" + schedule] = gauge
                }
            }
            for (key, gauge) in gauges where now[key] == nil { registry.unregisterGauge(gauge) }
            gauges = now
        }
    }

    /// The exposition text.
    public func render() -> String {
        registry.emitToString()
    }
}

extension MetricNameDescriptor {
    /// A metric named in full (`guardrail_controller_ticks_total`), with its help text: the names are
    /// part of the controller's interface, so they are spelled out rather than assembled from parts.
    static func guardrail(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
