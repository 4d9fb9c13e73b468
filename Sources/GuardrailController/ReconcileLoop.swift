import Foundation
import GuardrailCore
import GuardrailEngine
import Logging
import ServiceLifecycle

/// The reconcile loop as a service: a tick every interval (with up to 10% jitter, so replicas do not
/// tick in step), longer after errors (exponential backoff, capped). Beside it, the leader's lease
/// is renewed every interval, so a long step (a backup) does not let it expire; and the dashboard's
/// rollouts are read after each tick, beside the loop, which never waits for them (a database that
/// stopped answering holds that read, not the ticks). On graceful shutdown it finishes the tick it
/// is in, steps down as leader and returns.
public struct ReconcileLoop: Service {
    public let reconciler: Reconciler
    public let state: ControllerState
    public let interval: GuardrailDuration
    /// Called after each tick; tests wait on it.
    public var afterTick: @Sendable (Reconciler.TickReport) async -> Void = { _ in }
    /// The pool the backup status and the dashboard's rollouts are read through; without one, each
    /// read opens a connection of its own.
    public let reads: ReadPool?

    public init(reconciler: Reconciler, state: ControllerState, interval: GuardrailDuration, reads: ReadPool? = nil) {
        self.reconciler = reconciler
        self.state = state
        self.interval = interval
        self.reads = reads
    }

    public func run() async throws {
        // Each tick asks for a read of the rollouts; only the newest request waits while one runs.
        let (requests, readRequests) = AsyncStream.makeStream(of: ResolvedEnvironment.self, bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                for await environment in requests { await readRollouts(environment) }
            }
            group.addTask { [reconciler, interval] in
                // Ends when the group is cancelled below, after the last tick.
                while !Task.isCancelled {
                    try? await Task.sleep(nanoseconds: UInt64(interval.seconds * 1e9))
                    if Task.isCancelled { break }
                    await reconciler.renewLease()
                }
            }
            await ticks(readRequests)
            readRequests.finish()
            group.cancelAll()
        }
        await reconciler.shutdown()
        await state.steppedDown()
    }

    private func ticks(_ readRequests: AsyncStream<ResolvedEnvironment>.Continuation) async {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            // A tick is not cancelled by a graceful shutdown: it finishes, then the loop ends.
            let report = await reconciler.tick()
            let snapshot = await reconciler.snapshot
            await state.publish(environment: snapshot.environment)
            await state.record(report, manifestsLoaded: snapshot.configurationLoaded)
            if let environment = snapshot.environment {
                if report.leader { await readBackupStatus(environment) }
                readRequests.yield(environment)
            }
            await afterTick(report)
            let base = snapshot.backoffFailures == 0 ? interval.seconds : max(interval.seconds, snapshot.backoffDelay)
            let delay = base * (1 + Double.random(in: 0..<0.1))
            // Sleeps end early on shutdown; the next loop condition then ends the loop.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(nanoseconds: UInt64(delay * 1_000_000_000)) }
        }
    }

    /// After a leader's tick: the backup status, for `/metrics` (the same gauge families as `backup
    /// list --format prometheus`) and for the dashboard.
    private func readBackupStatus(_ environment: ResolvedEnvironment) async {
        guard environment.hasBackups else {
            state.metrics.record(backups: [])
            await state.setBackups([], at: Date())
            return
        }
        do {
            let runner = try BackupRunner(environment: environment)
            let statuses = if let reads { try await reads.withConnection { try await runner.status(on: $0) } } else { try await runner.status() }
            state.metrics.record(backups: BackupMetrics.families(statuses))
            await state.setBackups(statuses, at: Date())
        } catch {
            state.metrics.record(backups: [])
            await state.setBackups(nil, at: Date(), problem: "\(error)")
        }
    }

    /// The rollouts as the dashboard shows them, on a standby too (they are in Postgres).
    private func readRollouts(_ environment: ResolvedEnvironment) async {
        let database = environment.database, timing = environment.rolloutTiming
        let read: @Sendable (DatabaseConnection) async throws -> [RolloutStatusReport] = { c in
            // The cohort sizes come from the flag snapshot, which Postgres keeps current.
            try await RolloutOverview.read(
                c, schema: database.schema, timing: timing, logger: database.logger,
                countCohorts: false)
        }
        do {
            let reports: [RolloutStatusReport]
            if let reads {
                reports = try await reads.withConnection(read)
            } else {
                reports = try await database.withConnection(applicationName: "guardrail controller reads", read)
            }
            await state.setRollouts(reports, at: Date())
        } catch {
            await state.setRollouts(nil, at: Date(), problem: "\(error)")
        }
    }
}
