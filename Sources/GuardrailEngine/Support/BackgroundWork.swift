import Foundation
import NIOPosix

/// Work started now on NIO's thread pool, off Swift's cooperative pool, and awaited later.
///
/// Swift's cooperative pool has one thread per core. A task that renders a 10,000-change plan, hashes
/// a backup archive or waits for fsync holds one of them for its whole run; two such tasks on a
/// two-core machine stop every other task, including the one talking to Postgres, which then sits
/// idle while the server could be working. `NIOThreadPool.singleton` is the process's pool for such
/// work; the task that awaits the result is suspended meanwhile and holds no thread.
///
///     let audit = BackgroundWork { Result { try AuditLog.prepare(plan, overrides: overrides) } }
///     ...                                  // migrate, check and write meanwhile
///     try await record(try await audit.value.get())
public struct BackgroundWork<Value: Sendable>: Sendable {
    private let task: Task<Value, Never>

    public init(_ work: @escaping @Sendable () -> Value) {
        task = Task { await Self.run(work) }
    }

    /// The work's result, once it has finished.
    public var value: Value {
        get async { await task.value }
    }

    /// Runs `work` on the shared pool and returns its result; inline only if the pool is shut down,
    /// which the process-wide singleton never is.
    static func run(_ work: @escaping @Sendable () -> Value) async -> Value {
        (try? await NIOThreadPool.singleton.runIfActive(work)) ?? work()
    }
}

/// Blocking file work (hashing, fsync, reading an archive) on the shared pool, for a throwing body.
func offloaded<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await NIOThreadPool.singleton.runIfActive(body)
}
