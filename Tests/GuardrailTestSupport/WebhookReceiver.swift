import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An HTTP endpoint of a test's own that records every POST body: Alertmanager's webhook receiver,
/// or, pointed at directly, a stand-in for Alertmanager's `POST /api/v2/alerts` whose answers a test
/// scripts (`answer`) or holds (`hold`) to play a failing or hanging receiver.
public final class WebhookReceiver: @unchecked Sendable {
    private let lock = NSLock()
    private var bodies: [String] = []
    private var secrets: [String] = []
    private var attempts = 0
    private var scripted: [Int] = []
    private var holding = false
    private var held: [CheckedContinuation<Void, Never>] = []
    private var task: Task<Void, any Error>?
    public private(set) var url = ""

    public init() {}

    public func start() async throws {
        let router = Router()
        router.post(RouterPath("/**")) { request, _ in
            let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
            if let secret = request.headers[HTTPField.Name("X-Guardrail-Secret")!] { self.lock.withLock { self.secrets.append(secret) } }
            let (status, hold) = self.lock.withLock { () -> (Int, Bool) in
                self.attempts += 1
                return (self.scripted.isEmpty ? 200 : self.scripted.removeFirst(), self.holding)
            }
            if hold {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    self.lock.withLock { self.held.append(c) }
                }
            }
            if (200..<300).contains(status) { self.lock.withLock { self.bodies.append(body) } }
            return Response(status: .init(code: status))
        }
        let ready = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in ready.continuation.yield(channel.localAddress?.port ?? 0) }, logger: TestDatabase.logger)
        task = Task { try await app.run() }
        var iterator = ready.stream.makeAsyncIterator()
        url = "http://127.0.0.1:\(await iterator.next() ?? 0)"
    }

    public func stop() {
        release()
        task?.cancel()
        task = nil
    }

    /// The next requests answer these statuses, in order; then 200.
    public func answer(_ statuses: [Int]) { lock.withLock { scripted += statuses } }

    /// Requests from now on wait, unanswered, until `release()`.
    public func hold() { lock.withLock { holding = true } }

    public func release() {
        let waiting = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            holding = false
            defer { held = [] }
            return held
        }
        for c in waiting { c.resume() }
    }

    /// Bodies of the requests answered with a 2xx.
    public var received: [String] { lock.withLock { bodies } }
    /// The `X-Guardrail-Secret` header of every request that had one.
    public var secretHeaders: [String] { lock.withLock { secrets } }
    /// Every request, answered or not.
    public var requestCount: Int { lock.withLock { attempts } }
    /// Requests being held now.
    public var heldCount: Int { lock.withLock { held.count } }

    /// Polls `condition` for up to `seconds` (a generous bound for a loaded machine, not a measurement).
    public static func eventually(_ seconds: Double = 60, _ condition: () -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        return condition()
    }
}
