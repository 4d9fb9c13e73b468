import Foundation
import GuardrailTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// The controller's HTTP server under slow clients on loopback: each sends part of a request head
/// and then a byte now and then, as a slowloris attack does. The server must cut them at the
/// header-read timeout, never hold more connections than its cap, and keep answering `/healthz`
/// while its reconcile loop keeps ticking.
@Suite("controller under slow clients", .serialized, .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct ControllerHostileClientsTests {
    static let slowClients = 200
    static let cap = 30

    static func loopback(_ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// A TCP connection to 127.0.0.1:`port`; non-blocking ones return at once, connected or not.
    static func connectSocket(_ port: Int, nonBlocking: Bool, timeoutSeconds: Int = 20) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if nonBlocking {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        } else {
            var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        var address = loopback(port)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return fd
    }

    /// `GET path` on a fresh connection: the status code and body, or nil if it did not answer in time.
    static func get(_ port: Int, _ path: String, timeoutSeconds: Int = 20) -> (status: Int, body: String)? {
        let fd = connectSocket(port, nonBlocking: false, timeoutSeconds: timeoutSeconds)
        defer { close(fd) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8)
        guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return nil }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 "), let status = Int(text.dropFirst(9).prefix(3)) else { return nil }
        let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        return (status, body)
    }

    static func metric(_ port: Int, _ name: String) -> Double? {
        guard let metrics = get(port, "/metrics") else { return nil }
        for line in metrics.body.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    static func openDescriptors(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// Whether the server closed `fd`: end of stream or a reset, read without blocking.
    static func closedByServer(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
        if n == 0 { return true }
        return n < 0 && (errno == ECONNRESET || errno == EPIPE)
    }

    @Test("200 slowloris clients: connections stay under the cap, each is cut after the header timeout, /healthz answers and ticks go on")
    func slowClientsCannotWedgeTheServer() async throws {
        let db = try await TestPostgres.createDatabase()
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 3),
            "environments/local.yaml": ControllerProcessTests.environmentYAML(
                db,
                """
                  controller: {interval: 1s, headerReadTimeout: 1s, idleTimeout: 3s, maxConnections: \(Self.cap), drift: {tenant: enforce}}
                """),
        ])
        let controller = try ControllerProcess(replica: "slow", directory: dir)
        let port = try await controller.port()
        try await ControllerProcessTests.waitFor("/healthz", timeout: 30) { Self.get(port, "/healthz", timeoutSeconds: 5)?.status == 200 }
        let ticksBefore = try #require(Self.metric(port, "guardrail_controller_ticks_total"))
        let errorsBefore = Self.metric(port, "guardrail_controller_errors_total") ?? 0
        let baseline = Self.openDescriptors(controller.pid)

        let started = Date()
        var clients = (0..<Self.slowClients).map { _ in Self.connectSocket(port, nonBlocking: true) }
        defer { for fd in clients where fd >= 0 { close(fd) } }
        let head = Array("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ".utf8)
        var sentHead = Set<Int32>()
        // Probes run beside the load; each is a fresh connection that has to wait its turn for a slot.
        // Blocking socket calls, so off the cooperative pool.
        let probes = Task {
            await withCheckedContinuation { (continuation: CheckedContinuation<[Int?], Never>) in
                DispatchQueue.global().async {
                    var statuses: [Int?] = []
                    for _ in 0..<6 {
                        statuses.append(Self.get(port, "/healthz", timeoutSeconds: 30)?.status)
                        usleep(1_000_000)
                    }
                    continuation.resume(returning: statuses)
                }
            }
        }
        var mostDescriptors = baseline
        var closed = Set<Int32>()
        // Eight seconds of trickling, a byte per client every quarter second, and up to 30 s more for
        // every client to be cut (the queue drains `cap` connections per header timeout).
        while Date().timeIntervalSince(started) < 38, closed.count < clients.count {
            for fd in clients where !closed.contains(fd) {
                if Self.closedByServer(fd) {
                    closed.insert(fd)
                    continue
                }
                guard Date().timeIntervalSince(started) < 8 else { continue }
                if !sentHead.contains(fd) {
                    if send(fd, head, head.count, Int32(MSG_NOSIGNAL)) == head.count { sentHead.insert(fd) }
                } else {
                    _ = send(fd, "a", 1, Int32(MSG_NOSIGNAL))
                }
            }
            mostDescriptors = max(mostDescriptors, Self.openDescriptors(controller.pid))
            try await Task.sleep(nanoseconds: 250_000_000)
        }
        let statuses = await probes.value
        let ticksAfter = try #require(Self.metric(port, "guardrail_controller_ticks_total"))
        let errorsAfter = Self.metric(port, "guardrail_controller_errors_total") ?? 0
        let elapsed = Date().timeIntervalSince(started)

        #expect(statuses == Array(repeating: 200, count: 6), "every /healthz probe answered during the load: \(statuses)")
        #expect(closed.count == clients.count, "the server cut \(closed.count) of \(clients.count) slow clients in \(Int(elapsed))s")
        // The cap, plus a few descriptors the loop may have open at the moment of a sample.
        #expect(mostDescriptors <= baseline + Self.cap + 8, "descriptors: \(baseline) before, at most \(mostDescriptors) under load")
        #expect(ticksAfter - ticksBefore >= elapsed / 4, "ticks went on: \(ticksAfter - ticksBefore) in \(Int(elapsed))s")
        #expect(errorsAfter == errorsBefore, "no tick failed under the load")
        #expect(controller.isRunning)
        for fd in clients { close(fd) }
        clients = []
        _ = await controller.terminate(timeout: 20)
        await db.drop()
    }
}
