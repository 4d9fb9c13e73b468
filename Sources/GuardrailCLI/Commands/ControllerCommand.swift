import ArgumentParser
import Foundation
import GuardrailController
import GuardrailCore
import GuardrailEngine
import Logging

/// `guardrail controller`: enforces the configuration continuously, with leader election among replicas.
struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Keep an environment matching the configuration: correct drift, drive rollouts, run backups.",
        discussion: """
            Run two or more replicas: one leads (it corrects drift the environment's drift modes allow, \
            advances rollouts and runs due backups), the others serve the read endpoints and take over \
            when the leader dies. Changes that destroy, delete in bulk or widen access are only reported. \
            Logs are JSON lines on standard error. SIGTERM finishes the current step, steps down and exits.
            """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions

    @Option(name: .long, help: ArgumentHelp("Listen on host:port instead of the environment's controller.listen.", valueName: "address"))
    var listen: String?

    @Option(name: .long, help: ArgumentHelp("This replica's name in logs, locks and the audit log (default: host and pid).", valueName: "name"))
    var replica: String?

    @Flag(name: .long, help: "Run one tick, print what it did as JSON, and exit.")
    var once = false

    func run() async throws {
        #if os(Linux)
            // glibc gives each thread that allocates an arena of its own; a long-running server with a
            // few threads keeps far less memory resident with two.
            _ = glibcMallopt(glibcArenaMax, 2)
        #endif
        // The stamp first: an edit made while the files are read is seen by the first tick.
        let stamp = try withDiagnostics { try global.workspace.changeStamp() }
        let configuration = try global.loadConfiguration()
        let resolved = try environment.resolve(in: configuration)
        let holder = replica ?? "\(Console.hostName)/\(ProcessInfo.processInfo.processIdentifier)"
        LoggingSystem.bootstrap { label in
            var handler = JSONLogHandler(label: label)
            handler.logLevel = Console.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
            return handler
        }
        var logger = Logger(label: "guardrail.controller")
        logger[metadataKey: "replica"] = .string(holder)
        let controller = try withDiagnostics {
            try Controller(
                workspace: global.workspace, configuration: configuration, environment: resolved, stamp: stamp, holder: holder,
                listen: listen, logger: logger, processEnvironment: Console.environment)
        }
        if once {
            let report = await controller.reconciler.tick()
            await controller.reconciler.shutdown()
            Console.out(TickReportJSON.render(report) + "\n")
            if !report.errors.isEmpty { throw ExitCode.failure }
            return
        }
        let log = logger
        try await controller.run(onRunning: { port in
            log.info("listening", metadata: ["address": "controller", "port": "\(port)"])
        })
    }
}

/// A tick report as one JSON object, for `controller --once`.
struct TickReportJSON: Encodable {
    struct Reported: Encodable { var address: String; var reason: String }
    struct Rollout: Encodable { var flag: String; var status: String; var phase: Int }
    struct PlanCounts: Encodable { var add: Int; var change: Int; var destroy: Int }

    var leader: Bool
    var epoch: Int64?
    var durationSeconds: Double
    var manifestsReloaded: Bool
    var plan: PlanCounts?
    var drift: [String: Int]
    var applied: [String]
    var restored: [String]
    var unsettled: [String]
    var errors: [String]
    var reported: [Reported]
    var rollouts: [Rollout]

    enum CodingKeys: String, CodingKey {
        case leader, epoch, plan, drift, applied, restored, unsettled, errors, reported, rollouts
        case durationSeconds = "duration_seconds", manifestsReloaded = "manifests_reloaded"
    }

    init(_ r: Reconciler.TickReport) {
        leader = r.leader
        epoch = r.epoch
        durationSeconds = r.duration
        manifestsReloaded = r.manifestsReloaded
        plan = r.plan.map { PlanCounts(add: $0.add, change: $0.change, destroy: $0.destroy) }
        drift = r.driftByKind
        applied = r.applied
        restored = r.restored
        unsettled = r.unsettled
        errors = r.errors
        reported = r.reported.map { Reported(address: $0.address, reason: $0.reason) }
        rollouts = r.rollouts.map { Rollout(flag: $0.flag, status: $0.status, phase: $0.phase + 1) }
    }

    static func render(_ r: Reconciler.TickReport) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(TickReportJSON(r))) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

#if os(Linux)
    /// glibc's `mallopt`, which the Glibc module does not export; `M_ARENA_MAX` is -8 in malloc.h.
    @_silgen_name("mallopt") private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
    private let glibcArenaMax: Int32 = -8
#endif
