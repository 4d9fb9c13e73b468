import Foundation
import GuardrailCore
import GuardrailEngine
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
    public private(set) var backupStatus: String = ""
    /// A copy of the snapshot readable without awaiting the actor, for the OFREP hot path.
    public nonisolated let snapshotBox = SnapshotBox()

    public init(environment: String, holder: String, metrics: ControllerMetrics = ControllerMetrics()) {
        self.environment = environment
        self.holder = holder
        self.metrics = metrics
    }

    public func record(_ report: Reconciler.TickReport, manifestsLoaded: Bool) {
        lastTick = report
        leader = report.leader
        self.manifestsLoaded = manifestsLoaded
        metrics.record(report)
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

    public func setBackupStatus(_ text: String) { backupStatus = text }

    /// `/readyz`: connected, manifests loaded.
    public var ready: Bool { manifestsLoaded && databaseReachable }
}

/// The current flag snapshot behind a lock: OFREP reads it on every request without a hop to the actor.
public final class SnapshotBox: @unchecked Sendable {
    private let lock = NSLock()
    private var snapshot = FlagSnapshot()
    private var version: UInt64 = 0

    public func set(_ snapshot: FlagSnapshot, version: UInt64) {
        lock.withLock {
            self.snapshot = snapshot
            self.version = version
        }
    }

    public func get() -> (FlagSnapshot, UInt64) { lock.withLock { (snapshot, version) } }
}

/// The controller's Prometheus metrics (swift-prometheus), updated from tick reports and snapshots.
public final class ControllerMetrics: @unchecked Sendable {
    public let registry = PrometheusCollectorRegistry()
    let tickDuration: DurationHistogram
    let ticks: Counter
    let tickErrors: Counter
    let applies: Counter
    let leader: Gauge
    private let lock = NSLock()
    private var kindsSeen: Set<String> = []
    private var flagsSeen: Set<String> = []

    public init() {
        tickDuration = registry.makeDurationHistogram(name: "guardrail_controller_tick_duration_seconds",
                                                      buckets: [.milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(150),
                                                                .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5), .seconds(30)],
                                                      help: "How long one reconcile tick took.")
        ticks = registry.makeCounter(name: "guardrail_controller_ticks_total", help: "Reconcile ticks run.")
        tickErrors = registry.makeCounter(name: "guardrail_controller_errors_total", help: "Errors reported by ticks.")
        applies = registry.makeCounter(name: "guardrail_controller_corrections_total", help: "Changes the controller applied to correct drift.")
        leader = registry.makeGauge(name: "guardrail_controller_leader", help: "1 while this replica leads.")
    }

    func record(_ report: Reconciler.TickReport) {
        tickDuration.record(.nanoseconds(Int64(report.duration * 1e9)))
        ticks.increment()
        if !report.errors.isEmpty { tickErrors.increment(by: Int64(report.errors.count)) }
        if !report.applied.isEmpty { applies.increment(by: Int64(report.applied.count)) }
        leader.set(to: report.leader ? 1 : 0)
        lock.withLock {
            kindsSeen.formUnion(report.driftByKind.keys)
            for kind in kindsSeen {
                registry.makeGauge(name: "guardrail_drift_changes", labels: [("kind", kind)], help: "Changes the last plan listed, per kind.")
                    .set(to: Double(report.driftByKind[kind] ?? 0))
            }
            registry.makeGauge(name: "guardrail_drift_unsettled", help: "Changes that came back after being corrected.").set(to: Double(report.unsettled.count))
            for result in report.rollouts {
                registry.makeGauge(name: "guardrail_rollout_phase", labels: [("flag", result.flag)], help: "The current phase of each rollout, from 1.")
                    .set(to: Double(result.phase + 1))
                let breached = result.decisions.contains { $0.kind == .breach } || result.status == "rolled-back"
                registry.makeGauge(name: "guardrail_rollout_breached", labels: [("flag", result.flag)],
                                   help: "1 when a guardrail breach acted on the rollout (rolled back, stepped back or paused it).")
                    .set(to: breached ? 1 : 0)
                for verdict in result.verdicts {
                    let labels = [("flag", result.flag), ("guardrail", verdict.guardrail)]
                    if let value = verdict.value {
                        registry.makeGauge(name: "guardrail_guardrail_value", labels: labels, help: "The last value of each guardrail of each rollout.").set(to: value)
                    }
                    registry.makeGauge(name: "guardrail_guardrail_passing", labels: labels, help: "1 when the last verdict passed, 0 otherwise.")
                        .set(to: verdict.kind == .pass ? 1 : 0)
                }
            }
        }
    }

    func record(_ snapshot: FlagSnapshot) {
        lock.withLock {
            flagsSeen.formUnion(snapshot.flags.keys)
            for flag in flagsSeen {
                registry.makeGauge(name: "guardrail_flag_cohort_size", labels: [("flag", flag)], help: "Tenants a flag is on for (0 when killed).")
                    .set(to: Double(snapshot.flags[flag].map { $0.killed ? 0 : $0.cohort.count } ?? 0))
            }
        }
    }

    /// The exposition text, with the backup metrics (from the last backup status) appended.
    public func render(extra: String) -> String {
        registry.emitToString() + extra
    }
}
