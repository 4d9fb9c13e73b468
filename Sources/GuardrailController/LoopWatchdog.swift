import Foundation
import GuardrailCore
import GuardrailEngine
import Logging
import ServiceLifecycle
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Ends the process when the reconcile loop is stuck: no tick finished for the environment's
/// `stuckAfter` (three intervals plus the longest step's timeout). A frozen loop serves stale
/// answers while looking alive; exiting non-zero lets systemd (`Restart=on-failure`) or Kubernetes
/// start a fresh process, and a standby takes over leadership when the lease runs out.
///
/// It also speaks systemd's notify protocol when `NOTIFY_SOCKET` is set: `READY=1` once, then
/// `WATCHDOG=1` at every check that finds the loop healthy, so `WatchdogSec` catches a process too
/// frozen to run this check at all.
///
/// List it first in the service group: services stop in reverse order, so it keeps watching while
/// the loop finishes its last tick on SIGTERM.
public struct LoopWatchdog: Service {
    public let state: ControllerState
    /// How often to check; a fraction of the bound, so an exit comes soon after it is crossed.
    public let checkEvery: Double
    public let logger: Logger
    /// What ending the process means; tests pass one that records the call.
    public let exit: @Sendable (Int32) -> Void

    /// EX_SOFTWARE: an internal error, which a supervisor restarts.
    public static let exitStatus: Int32 = 70

    public init(state: ControllerState, checkEvery: Double, logger: Logger, exit: @escaping @Sendable (Int32) -> Void = { Foundation.exit($0) }) {
        self.state = state
        self.checkEvery = checkEvery
        self.logger = logger
        self.exit = exit
    }

    public func run() async throws {
        let notifier = SystemdNotifier(environment: ProcessInfo.processInfo.environment)
        notifier?.send("READY=1")
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(nanoseconds: UInt64(checkEvery * 1e9)) }
            guard !Task.isShuttingDownGracefully, !Task.isCancelled else { break }
            let since = await state.secondsSinceProgress
            if let bound = await state.stuckAfter, since > bound {
                logger.critical(
                    "the reconcile loop is stuck: no tick finished in \(Int(since.rounded(.up)))s (the bound is \(Int(bound))s); exiting so a supervisor restarts the controller",
                    metadata: ["address": "controller", "stuck_seconds": "\(Int(since))", "bound_seconds": "\(Int(bound))"])
                exit(Self.exitStatus)
                return
            }
            notifier?.send("WATCHDOG=1")
        }
        notifier?.send("STOPPING=1")
    }
}

/// systemd's `sd_notify` datagrams, without libsystemd: one message per send to `NOTIFY_SOCKET`.
struct SystemdNotifier: Sendable {
    let path: String

    init?(environment: [String: String]) {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty else { return nil }
        self.path = path
    }

    /// Best effort: a supervisor that is gone cannot be told anything, and the watchdog must not fail on it.
    func send(_ message: String) {
        #if os(Linux)
            let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
            let fd = socket(AF_UNIX, SOCK_DGRAM, 0)
        #endif
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        // A leading "@" names a socket in the abstract namespace, which starts with a NUL byte.
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let payload = Array(message.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                payload.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sockaddrPointer, length) }
            }
        }
    }
}
