import Foundation
import GuardrailCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Delivers Guardrail's events to Alertmanager (`POST /api/v2/alerts`), or to a plain webhook (one
/// JSON document per event), without ever making the sender wait: `send` only queues. The queue is bounded; when it is full the oldest event is dropped and
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

    /// A plain webhook: its URL, the events it wants (all when empty) and a header that carries its secret.
    public struct Webhook: Sendable {
        public var url: String
        public var events: Set<String>
        public var header: (name: String, value: Secret)?

        public init(url: String, events: Set<String>, header: (name: String, value: Secret)?) {
            self.url = url
            self.events = events
            self.header = header
        }

        public func wants(_ event: GuardrailEvent) -> Bool { events.isEmpty || events.contains(event.kind.rawValue) }
    }

    public enum Destination: Sendable {
        case alertmanager(String)
        case webhook(Webhook)

        /// For logs: the URL without credentials. The secret header is never shown.
        public var description: String {
            switch self {
            case .alertmanager(let url): "Alertmanager at \(HTTPExchange.redacted(url))"
            case .webhook(let w): "webhook \(HTTPExchange.redacted(w.url))"
            }
        }
    }

    /// Alertmanager's base URL, when that is the destination.
    public var alertmanager: String? { if case .alertmanager(let url) = destination { url } else { nil } }
    public let destination: Destination
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
    public convenience init(
        alertmanager: String, statusURL: String?, capacity: Int = 1000, attempts: Int = 5, firstBackoff: Duration = .milliseconds(500),
        requestTimeout: TimeAmount = .seconds(5), logger: Logger
    ) {
        self.init(
            .alertmanager(alertmanager.hasSuffix("/") ? String(alertmanager.dropLast()) : alertmanager), statusURL: statusURL, capacity: capacity,
            attempts: attempts, firstBackoff: firstBackoff, requestTimeout: requestTimeout, logger: logger)
    }

    public init(
        _ destination: Destination, statusURL: String?, capacity: Int = 1000, attempts: Int = 5, firstBackoff: Duration = .milliseconds(500),
        requestTimeout: TimeAmount = .seconds(5), logger: Logger
    ) {
        self.destination = destination
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
        var events = events
        if case .webhook(let webhook) = destination { events = events.filter(webhook.wants) }
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

    /// The requests that deliver `events` to `destination`: one for Alertmanager, one per wanted event for a webhook.
    static func requests(
        _ events: [GuardrailEvent], to destination: Destination, statusURL: String?
    )
        -> [(url: String, body: String, headers: [(String, String)], events: Int)]
    {
        var headers = [("Content-Type", "application/json")]
        switch destination {
        case .alertmanager(let url):
            return events.isEmpty
                ? [] : [(url + "/api/v2/alerts", GuardrailEvent.alertmanagerBody(events, statusURL: statusURL), headers, events.count)]
        case .webhook(let webhook):
            if let header = webhook.header { headers.append((header.name, header.value.value)) }
            return events.filter(webhook.wants).map { (webhook.url, $0.webhookBody, headers, 1) }
        }
    }

    /// One batch, retried with backoff on 5xx and on no answer; true once the destination took all of it.
    private func post(_ batch: [GuardrailEvent]) async -> Bool {
        var all = true
        for request in Self.requests(batch, to: destination, statusURL: state.withLockedValue { $0.statusURL })
        where !(await post(request.url, body: request.body, headers: request.headers, events: request.events)) {
            all = false
        }
        return all
    }

    private func post(_ url: String, body: String, headers: [(String, String)], events: Int) async -> Bool {
        var backoff = firstBackoff
        let target = destination.description
        for attempt in 1...attempts {
            do {
                let answer = try await HTTPExchange.send(.POST, url, headers: headers, body: body, timeout: requestTimeout, limit: 1 << 20)
                if answer.succeeded { return true }
                if answer.status < 500 {
                    logger.error(
                        "the receiver refused Guardrail's events", metadata: ["to": "\(target)", "status": "\(answer.status)", "events": "\(events)"])
                    return false
                }
                logger.warning(
                    "the receiver answered an error; retrying", metadata: ["to": "\(target)", "status": "\(answer.status)", "attempt": "\(attempt)"])
            } catch {
                logger.warning(
                    "the receiver did not take Guardrail's events; retrying",
                    metadata: ["to": "\(target)", "error": "\(error)", "attempt": "\(attempt)"])
            }
            if attempt == attempts || Task.isCancelled { break }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(30))
        }
        logger.error("gave up delivering Guardrail's events", metadata: ["to": "\(target)", "events": "\(events)"])
        return false
    }

    /// One attempt to each destination, for a command that ends right after (an apply, a kill): the
    /// problems, empty when every destination took its events. The command has done its work by
    /// then; this only decides whether it prints a warning.
    public static func deliverOnce(_ events: [GuardrailEvent], to destinations: [Destination], timeout: TimeAmount = .seconds(3)) async -> [String] {
        var problems: [String] = []
        for destination in destinations {
            for request in requests(events, to: destination, statusURL: nil) {
                do {
                    let answer = try await HTTPExchange.send(
                        .POST, request.url, headers: request.headers, body: request.body, timeout: timeout, limit: 1 << 20)
                    if !answer.succeeded { problems.append("\(destination.description) answered \(answer.status)") }
                } catch {
                    problems.append("\(error)")
                }
            }
        }
        return problems
    }
}

extension ResolvedEnvironment {
    /// Where this environment's events go: its Alertmanager, then its webhooks.
    public var notificationDestinations: [Notifier.Destination] {
        (alertmanager.map { [.alertmanager($0.baseURL)] } ?? []) + webhooks.map { .webhook($0) }
    }
}
