import Foundation

/// CPU-bound work started now on a thread of its own, and awaited later.
///
/// Swift's cooperative pool has one thread per core. A `Task` that renders a 10,000-change plan
/// holds one of them for its whole run; two such tasks on a two-core machine stop every other task,
/// including the one talking to Postgres, which then sits idle while the server could be working.
/// A thread of its own leaves the pool to the conversation with the database.
///
///     let audit = BackgroundWork { AuditLog.changesJSON(plan) }
///     ...                                  // migrate, check and write meanwhile
///     try await record(await audit.value)
///
/// `@unchecked Sendable` is safe: `result` and `waiting` are read and written only inside `lock`,
/// and each continuation is resumed exactly once, outside it (taken out of `waiting` under the lock).
public final class BackgroundWork<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Value?
    private var waiting: [CheckedContinuation<Value, Never>] = []

    public init(_ work: @escaping @Sendable () -> Value) {
        let thread = Thread { [self] in
            let value = work()
            let resume = lock.withLock {
                result = value
                defer { waiting = [] }
                return waiting
            }
            for continuation in resume { continuation.resume(returning: value) }
        }
        thread.start()
    }

    /// The work's result, once it has finished.
    public var value: Value {
        get async {
            if let done = lock.withLock({ result }) { return done }
            return await withCheckedContinuation { continuation in
                let done: Value? = lock.withLock {
                    if let result { return result }
                    waiting.append(continuation)
                    return nil
                }
                if let done { continuation.resume(returning: done) }
            }
        }
    }
}
