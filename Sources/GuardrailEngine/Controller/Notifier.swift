import Foundation
import GuardrailCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Delivers Guardrail's events to Alertmanager (`POST /api/v2/alerts`) without ever making the sender
/// wait: `send` only queues. The queue is bounded; when it is full the oldest event is dropped and
/// counted, so a dead or hanging receiver costs memory of a fixed size and never a tick or a rollback.
/// One task delivers, in order, in batches; a 5xx answer or no answer is retried with backoff, a
/// 4xx (a body Alertmanager refuses) is not.
public final class Notifier: Sendable {
    public struct Counts: Sendable, Equatable {
        public var delivered = 0
        public var dropped = 0
        public var failed = 0
        public var queued = 0

        public init() {}
    }

    /// Alertmanager's base URL.
    public let alertmanager: String
    private let capacity: Int
    private let attempts: Int
    private let firstBackoff: Duration
    private let requestTimeout: TimeAmount
    private let logger: Logger
    private let state: NIOLockedValueBox<Queue>
    private let task: NIOLockedValueBox<Task<Void, Never>?>

    /// Events numbered in the order they were sent, so a delivered batch is removed by number even
    /// if the oldest were dropped while it was in flight.
    private struct Queue {
        var events: [(number: UInt64, event: GuardrailEvent)] = []
        var next: UInt64 = 0
        var counts = Counts()
        var waiting: CheckedContinuation<Void, Never>?
        var statusURL: String?
    }

    /// `alertmanager` is its base URL; `statusURL` is what each alert links to (the controller's `/v1/status`).
    public init(alertmanager: String, statusURL: String?, capacity: Int = 1000, attempts: Int = 5, firstBackoff: Duration = .milliseconds(500),
                requestTimeout: TimeAmount = .seconds(5), logger: Logger) {
        self.alertmanager = alertmanager.hasSuffix("/") ? String(alertmanager.dropLast()) : alertmanager
        self.capacity = max(1, capacity)
        self.attempts = max(1, attempts)
        self.firstBackoff = firstBackoff
        self.requestTimeout = requestTimeout
        self.logger = logger
        state = NIOLockedValueBox(Queue(statusURL: statusURL))
        task = NIOLockedValueBox(nil)
    }

    /// Queues `events` and returns at once; the oldest queued events make room when the queue is full.
    public func send(_ events: [GuardrailEvent]) {
        guard !events.isEmpty else { return }
        let waiting = state.withLockedValue { s -> CheckedContinuation<Void, Never>? in
            for event in events {
                s.events.append((s.next, event))
                s.next += 1
            }
            let over = s.events.count - capacity
            if over > 0 {
                s.events.removeFirst(over)
                s.counts.dropped += over
            }
            s.counts.queued = s.events.count
            defer { s.waiting = nil }
            return s.waiting
        }
        waiting?.resume()
        startIfNeeded()
    }

    public var counts: Counts { state.withLockedValue { $0.counts } }

    /// What alerts link to from now on.
    public func setStatusURL(_ url: String?) {
        state.withLockedValue { $0.statusURL = url }
    }

    /// Stops delivering; what is still queued is dropped (the process is ending).
    public func shutdown() async {
        let running = task.withLockedValue { t -> Task<Void, Never>? in
            defer { t = nil }
            return t
        }
        running?.cancel()
        state.withLockedValue { s in
            s.waiting?.resume()
            s.waiting = nil
        }
        await running?.value
    }

    private func startIfNeeded() {
        task.withLockedValue { t in
            guard t == nil else { return }
            t = Task { [self] in await deliver() }
        }
    }

    private func deliver() async {
        while !Task.isCancelled {
            let batch = state.withLockedValue { s in Array(s.events.prefix(64)) }
            guard let last = batch.last?.number else {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLockedValue { s -> Bool in
                        if !s.events.isEmpty || Task.isCancelled { return true }
                        s.waiting = c
                        return false
                    }
                    if resumeNow { c.resume() }
                }
                continue
            }
            let delivered = await post(batch.map(\.event))
            state.withLockedValue { s in
                let done = s.events.prefix { $0.number <= last }.count
                s.events.removeFirst(done)
                if delivered { s.counts.delivered += batch.count } else { s.counts.failed += batch.count }
                s.counts.queued = s.events.count
            }
        }
    }

    /// One batch, retried with backoff on 5xx and on no answer; true once Alertmanager took it.
    private func post(_ batch: [GuardrailEvent]) async -> Bool {
        let body = GuardrailEvent.alertmanagerBody(batch, statusURL: state.withLockedValue { $0.statusURL })
        var backoff = firstBackoff
        for attempt in 1...attempts {
            do {
                let answer = try await HTTPExchange.send(.POST, alertmanager + "/api/v2/alerts", headers: [("Content-Type", "application/json")],
                                                         body: body, timeout: requestTimeout, limit: 1 << 20)
                if answer.succeeded { return true }
                if answer.status < 500 {
                    logger.error("Alertmanager refused Guardrail's alerts", metadata: ["status": "\(answer.status)", "events": "\(batch.count)"])
                    return false
                }
                logger.warning("Alertmanager answered an error; retrying", metadata: ["status": "\(answer.status)", "attempt": "\(attempt)"])
            } catch {
                logger.warning("Alertmanager did not take Guardrail's alerts; retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
            }
            if attempt == attempts || Task.isCancelled { break }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(30))
        }
        logger.error("gave up delivering Guardrail's alerts to Alertmanager", metadata: ["events": "\(batch.count)"])
        return false
    }

    /// One attempt, for a command that ends right after (an apply, a kill): nil when Alertmanager
    /// took the events, else why not. The command has done its work by then; this only decides
    /// whether it prints a warning.
    public static func deliverOnce(_ events: [GuardrailEvent], alertmanager: String, timeout: TimeAmount = .seconds(3)) async -> String? {
        guard !events.isEmpty else { return nil }
        let base = alertmanager.hasSuffix("/") ? String(alertmanager.dropLast()) : alertmanager
        do {
            let answer = try await HTTPExchange.send(.POST, base + "/api/v2/alerts", headers: [("Content-Type", "application/json")],
                                                     body: GuardrailEvent.alertmanagerBody(events, statusURL: nil), timeout: timeout, limit: 1 << 20)
            return answer.succeeded ? nil : "Alertmanager answered \(answer.status)"
        } catch {
            return "\(error)"
        }
    }
}
