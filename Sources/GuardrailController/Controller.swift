import Foundation
import GuardrailCore
import GuardrailEngine
import Hummingbird
import HummingbirdCore
import Logging
import ServiceLifecycle

/// `guardrail controller`, assembled: a ServiceGroup of the reconcile loop, the flag snapshot
/// listener and the HTTP server. SIGTERM and SIGINT shut it down gracefully: the HTTP server stops
/// taking requests, the loop finishes its tick and steps down as leader.
public struct Controller: Sendable {
    public let state: ControllerState
    public let reconciler: Reconciler
    public let environment: ResolvedEnvironment
    public let listen: (host: String, port: Int)
    public let interval: GuardrailDuration
    public let adminToken: String?
    /// Timeouts and the connection cap of the HTTP server, the cap fitted under the descriptor limit.
    public let clientLimits: HTTPClientLimits
    public let logger: Logger
    /// The pool of the read paths, following the environment the reconciler publishes.
    public let reads: ReadPool

    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs `environment`, resolved once by the caller from `configuration`; the reconciler owns both
    /// from then on, and reloads them when the files change. `stamp` is the workspace's change stamp
    /// taken before `configuration` was read. `listen` overrides `controller.listen`.
    /// `descriptorLimit` stands in for the process's RLIMIT_NOFILE, for tests.
    public init(
        workspace: Workspace, configuration: Configuration, environment: ResolvedEnvironment, stamp: String, holder: String,
        listen override: String? = nil, logger: Logger, processEnvironment: [String: String] = ProcessInfo.processInfo.environment,
        descriptorLimit: Int? = nil
    ) throws {
        let name = environment.name
        guard let declared = configuration.environments[name] else { throw Problem(description: "unknown environment \"\(name)\"") }
        self.environment = environment
        let address = override ?? declared.controller?.listen ?? "127.0.0.1:8080"
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw Problem(description: "controller.listen \"\(address)\" is not host:port")
        }
        listen = (String(address[..<colon]), port)
        interval = declared.controller?.interval ?? .seconds(30)
        var token: String?
        if let template = declared.controller?.adminToken {
            switch template.expand(processEnvironment) {
            case .success(let text): token = text.isEmpty ? nil : text
            case .failure(let diagnostic):
                logger.warning(
                    "admin actions are disabled: the admin token did not resolve",
                    metadata: ["address": "controller", "reason": "\(diagnostic.summary)"])
            }
        }
        adminToken = token
        var limits = HTTPClientLimits()
        if let c = declared.controller {
            limits = HTTPClientLimits(headerReadTimeout: c.headerReadTimeout, idleTimeout: c.idleTimeout, maxConnections: c.maxConnections)
        }
        clientLimits = limits.fitted(toDescriptorLimit: descriptorLimit ?? HTTPClientLimits.descriptorLimit())
        self.logger = logger
        let state = ControllerState(environment: name, holder: holder, stuckAfter: environment.stuckAfter.seconds)
        self.state = state
        let initial = environment.database
        reads = ReadPool(database: { await state.resolvedEnvironment?.database ?? initial }, logger: logger)
        reconciler = Reconciler(
            workspace: workspace, environment: name, holder: holder, logger: logger,
            loaded: (configuration, environment, stamp))
    }

    /// The HTTP application; `onRunning` gets the bound port (listen on port 0 in tests).
    public func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let state = self.state
        let reconciler = self.reconciler
        let host = listen.host
        let router = ControllerRouter.build(
            state: state, adminToken: adminToken,
            actions: SessionAdminActions(
                environment: { await state.resolvedEnvironment },
                configuration: { await reconciler.loadedConfiguration }))
        return Application(
            router: router, server: .http1(limits: clientLimits),
            configuration: .init(
                address: .hostname(listen.host, port: listen.port), serverName: "guardrail-controller",
                availableConnectionsDelegate: MaximumAvailableConnections(clientLimits.maxConnections, logger: logger)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                await reconciler.setStatusURL("http://\(host.contains(":") ? "[\(host)]" : host):\(port)/v1/status")
                await onRunning(port)
            }, logger: logger)
    }

    /// Runs until SIGTERM or SIGINT (or until the task is cancelled).
    public func run(
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in },
        afterTick: @escaping @Sendable (Reconciler.TickReport) async -> Void = { _ in }
    ) async throws {
        // The environment the command resolved is the one in use until a tick reloads it: the admin
        // endpoints, the listener and the read pool have it before the first tick ends.
        await state.publish(environment: environment)
        var loop = ReconcileLoop(reconciler: reconciler, state: state, interval: interval, reads: reads)
        loop.afterTick = afterTick
        let listener = FlagSnapshotListener(initial: environment.database, state: state, refreshEvery: interval, logger: logger)
        let watchdog = LoopWatchdog(state: state, checkEvery: min(interval.seconds, 1), logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    // First, so it stops last: it watches the loop finish its last tick on SIGTERM.
                    .init(service: watchdog),
                    .init(service: application(onRunning: onRunning)),
                    .init(service: listener),
                    .init(service: reads),
                    // The loop ending (after a graceful shutdown) ends the group.
                    .init(service: loop, successTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}
