import Foundation
import GuardrailController
import GuardrailCore
import GuardrailEngine
import HTTPTypes
import Hummingbird
import Logging
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// The controller's HTTP API in-process: health, readiness, metrics, OFREP single and bulk
/// evaluation (with ETags), and admin actions behind a bearer token. Bad requests get 4xx.
@Suite("controller HTTP")
struct ControllerHTTPTests {
    static let acme = UUID(uuidString: "3f6c1d2e-8a4b-4c1e-9a57-0d2f5b8e7c11")!
    static let globex = UUID(uuidString: "9b2e4f10-3c5d-4e6f-8a7b-1c2d3e4f5a6b")!

    final class RecordingActions: AdminActions, @unchecked Sendable {
        let lock = NSLock()
        var calls: [String] = []
        func run(flag: String, event: RolloutEvent, actor: String, reason: String?) async throws -> [RolloutDecision] {
            lock.withLock { calls.append("\(flag) \(event)" + (reason.map { " reason=\($0)" } ?? "")) }
            if flag == "not.running" { throw RolloutCommandError(description: "flag.not.running has no rollout") }
            return [RolloutDecision(kind: .kill, phase: 0, message: "killed by \(actor)")]
        }
        func run(
            flags: [String], selector: [String: String], event: RolloutEvent, actor: String, reason: String?
        ) async throws
            -> [(flag: String, decision: RolloutDecision)]
        {
            lock.withLock { calls.append("\(flags) \(selector.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }) \(event)") }
            if flags.contains("not.running") { throw RolloutCommandError(description: "flag.not.running has no rollout") }
            return flags.map { ($0, RolloutDecision(kind: .kill, phase: 0, message: "killed by \(actor)")) }
        }
    }

    static func state() async -> ControllerState {
        let state = ControllerState(environment: "production", holder: "replica-1")
        await state.setSnapshot(
            FlagSnapshot(
                flags: [
                    "channel.email": .init(killed: false, enabled: true, rollout: "progressing at phase 2", cohort: [acme]),
                    "ai.scoring": .init(killed: false, enabled: true, rollout: nil, cohort: [acme, globex]),
                ], tenantIDs: ["acme": acme, "globex": globex]))
        return state
    }

    static func app(_ state: ControllerState, token: String? = "s3cret", actions: any AdminActions = RecordingActions()) -> some ApplicationProtocol {
        Application(router: ControllerRouter.build(state: state, adminToken: token, actions: actions))
    }

    static func json(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    static func decode(_ response: TestResponse) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any] ?? [:]
    }

    @Test(
        "health follows the reconcile loop: ok while ticks finish within 3 intervals + the step timeout, 503 once the loop is frozen past it, ok again after a tick"
    )
    func healthFollowsTheLoop() async throws {
        let clock = NIOLockedValueBox(1000.0)
        let state = ControllerState(environment: "production", holder: "replica-1", stuckAfter: 95, uptime: { clock.withLockedValue { $0 } })
        try await Self.app(state).test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok, "starting: the first tick has its bound too") }
            clock.withLockedValue { $0 += 96 }
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .serviceUnavailable, "no tick in 96 s, past the 95 s bound")
                #expect(String(buffer: response.body) == "stuck: no reconcile tick finished in 96s (the bound is 95s)\n")
            }
            await state.record(Reconciler.TickReport(startedAt: Date()), manifestsLoaded: true)
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            clock.withLockedValue { $0 += 95 }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok, "exactly at the bound is still alive") }
            clock.withLockedValue { $0 += 1 }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .serviceUnavailable) }
            // Readiness is not health: a replica whose loop froze may still be connected.
            await state.databaseReachable(true)
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test("the watchdog exits with status 70 once the loop is stuck past its bound, and not before")
    func watchdogExits() async throws {
        let clock = NIOLockedValueBox(0.0)
        let exits = NIOLockedValueBox<[Int32]>([])
        let state = ControllerState(environment: "production", holder: "replica-1", stuckAfter: 5, uptime: { clock.withLockedValue { $0 } })
        let watchdog = LoopWatchdog(
            state: state, checkEvery: 0.05, logger: Logger(label: "test"), exit: { status in exits.withLockedValue { $0.append(status) } })
        let run = Task { try await watchdog.run() }
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(exits.withLockedValue { $0 }.isEmpty, "within the bound")
        clock.withLockedValue { $0 = 5.5 }
        try await run.value
        #expect(exits.withLockedValue { $0 } == [70])
    }

    @Test("health is always ok without a bound; readiness waits for a tick with the manifests loaded and says whether this replica leads")
    func healthAndReadiness() async throws {
        let state = await Self.state()
        try await Self.app(state).test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .serviceUnavailable) }
            var report = Reconciler.TickReport(startedAt: Date())
            report.leader = true
            await state.record(report, manifestsLoaded: true)
            await state.databaseReachable(true)
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "{\"ready\":true,\"leader\":true}\n")
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains("guardrail_controller_ticks_total 1"))
                #expect(text.contains("guardrail_controller_leader 1"))
                #expect(text.contains("guardrail_flag_cohort_size{flag=\"channel.email\"} 1"))
            }
            try await client.execute(uri: "/v1/status", method: .get) { response in
                let status = try Self.decode(response)
                #expect(status["leader"] as? Bool == true)
                #expect((status["flags"] as? [String: Int])?["ai.scoring"] == 2)
            }
        }
    }

    @Test("OFREP single evaluation: in the cohort true, outside false, unknown flag 404, bad contexts 400 with OFREP error codes")
    func singleEvaluation() async throws {
        let state = await Self.state()
        try await Self.app(state).test(.router) { client in
            try await client.execute(
                uri: "/ofrep/v1/evaluate/flags/channel.email", method: .post, body: Self.json(#"{"context":{"targetingKey":"acme"}}"#)
            ) { response in
                #expect(response.status == .ok)
                let body = try Self.decode(response)
                #expect(body["value"] as? Bool == true)
                #expect(body["reason"] as? String == "TARGETING_MATCH")
                #expect(body["variant"] as? String == "on")
                #expect(body["key"] as? String == "channel.email")
            }
            try await client.execute(
                uri: "/ofrep/v1/evaluate/flags/channel.email", method: .post,
                body: Self.json(#"{"context":{"targetingKey":"\#(Self.globex.uuidString.lowercased())"}}"#)
            ) { response in
                let body = try Self.decode(response)
                #expect(body["value"] as? Bool == false)
                #expect(body["reason"] as? String == "DEFAULT")
            }
            try await client.execute(uri: "/ofrep/v1/evaluate/flags/nope", method: .post, body: Self.json(#"{"context":{"targetingKey":"acme"}}"#)) {
                response in
                #expect(response.status == .notFound)
                let code = try Self.decode(response)["errorCode"] as? String
                #expect(code == "FLAG_NOT_FOUND")
            }
            for (body, code) in [
                ("{not json", "PARSE_ERROR"), (#"{"ctx":{}}"#, "INVALID_CONTEXT"), (#"{"context":{}}"#, "TARGETING_KEY_MISSING"),
                (#"{"context":{"targetingKey":"initech"}}"#, "INVALID_CONTEXT"), ("[1]", "PARSE_ERROR"),
                (#"{"context":{"targetingKey":"acme"},"pad":[1,}"#, "PARSE_ERROR"), (#"{"context":"acme"}"#, "INVALID_CONTEXT"),
                (#"{"context":null}"#, "INVALID_CONTEXT"), (#"{"context":{"targetingKey":7}}"#, "TARGETING_KEY_MISSING"),
                (#"{"context":{"targetingKey":""}}"#, "TARGETING_KEY_MISSING"),
            ] {
                try await client.execute(uri: "/ofrep/v1/evaluate/flags/channel.email", method: .post, body: Self.json(body)) { response in
                    #expect(response.status == .badRequest, "\(body)")
                    let got = try Self.decode(response)["errorCode"] as? String
                    #expect(got == code, "\(body)")
                }
            }
            // The context's other attributes may be any JSON.
            let rich = #"{"context":{"plan":{"tier":[1,2.5,null,true,{"x":"y"}]},"targetingKey":"acme","seats":-3e2,"beta":false},"extra":null}"#
            try await client.execute(uri: "/ofrep/v1/evaluate/flags/channel.email", method: .post, body: Self.json(rich)) { response in
                #expect(response.status == .ok)
                let body = try Self.decode(response)
                #expect(body["value"] as? Bool == true)
            }
            let huge = #"{"context":{"targetingKey":"acme","pad":""# + String(repeating: "x", count: 100_000) + #""}}"#
            try await client.execute(uri: "/ofrep/v1/evaluate/flags/channel.email", method: .post, body: Self.json(huge)) { response in
                #expect(response.status == .contentTooLarge)
            }
        }
    }

    @Test("OFREP bulk evaluation answers every flag with an ETag; the same ETag gets 304 until the snapshot changes")
    func bulkEvaluationWithETag() async throws {
        let state = await Self.state()
        try await Self.app(state).test(.router) { client in
            let body = Self.json(#"{"context":{"targetingKey":"globex"}}"#)
            let etag = try await client.execute(uri: "/ofrep/v1/evaluate/flags", method: .post, body: body) { response -> String in
                #expect(response.status == .ok)
                let flags = try Self.decode(response)["flags"] as? [[String: Any]] ?? []
                #expect(flags.map { $0["key"] as? String } == ["ai.scoring", "channel.email"])
                #expect(flags.map { $0["value"] as? Bool } == [true, false])
                return try #require(response.headers[.eTag])
            }
            try await client.execute(uri: "/ofrep/v1/evaluate/flags", method: .post, headers: [.ifNoneMatch: etag], body: body) { response in
                #expect(response.status == .notModified)
            }
            await state.setSnapshot(
                FlagSnapshot(
                    flags: ["ai.scoring": .init(killed: true, enabled: true, rollout: nil, cohort: [Self.globex])],
                    tenantIDs: ["globex": Self.globex]))
            try await client.execute(uri: "/ofrep/v1/evaluate/flags", method: .post, headers: [.ifNoneMatch: etag], body: body) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.eTag] != etag)
                let flags = try Self.decode(response)["flags"] as? [[String: Any]] ?? []
                #expect(flags.first?["value"] as? Bool == false, "killed")
            }
        }
    }

    @Test("admin actions need the bearer token, are disabled without one, and reject bad bodies and names")
    func adminActions() async throws {
        let state = await Self.state()
        let actions = RecordingActions()
        try await Self.app(state, actions: actions).test(.router) { client in
            let path = "/v1/flags/channel.email/kill"
            try await client.execute(uri: path, method: .post) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: path, method: .post, headers: [.authorization: "Bearer wrong"]) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: path, method: .post, headers: [.authorization: "Bearer s3cret"]) { response in
                #expect(response.status == .ok)
                let action = try Self.decode(response)["action"] as? String
                #expect(action == "kill")
            }
            try await client.execute(
                uri: "/v1/rollouts/channel.email/pause", method: .post, headers: [.authorization: "Bearer s3cret"],
                body: Self.json(#"{"reason":"bounce spike"}"#)
            ) { #expect($0.status == .ok) }
            try await client.execute(
                uri: "/v1/rollouts/channel.email/pause", method: .post, headers: [.authorization: "Bearer s3cret"],
                body: Self.json("[1,")
            ) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/v1/flags/Bad%20Name/kill", method: .post, headers: [.authorization: "Bearer s3cret"]) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(uri: "/v1/rollouts/not.running/resume", method: .post, headers: [.authorization: "Bearer s3cret"]) {
                #expect($0.status == .conflict)
            }
        }
        #expect(actions.calls.count == 3)
        #expect(actions.calls[0].hasPrefix("channel.email kill"))
        #expect(actions.calls[1].contains("bounce spike"))

        try await Self.app(state, token: nil).test(.router) { client in
            try await client.execute(uri: "/v1/flags/channel.email/kill", method: .post, headers: [.authorization: "Bearer s3cret"]) {
                #expect($0.status == .notFound)
            }
        }
    }

    @Test("POST /v1/flags/kill and /release take a list of flags or a label selector, and refuse anything else")
    func adminMultiFlagBodies() async throws {
        let state = await Self.state()
        let actions = RecordingActions()
        try await Self.app(state, actions: actions).test(.router) { client in
            let auth: HTTPFields = [.authorization: "Bearer s3cret"]
            try await client.execute(uri: "/v1/flags/kill", method: .post, body: Self.json(#"{"flags":["a.b"]}"#)) {
                #expect($0.status == .unauthorized)
            }
            for bad in ["", "[1,", #"{"flags":"a.b"}"#, #"{"flags":[]}"#, #"{"selector":{"group":1}}"#, #"{"flags":["Bad Name"]}"#, "{}"] {
                try await client.execute(uri: "/v1/flags/kill", method: .post, headers: auth, body: Self.json(bad)) {
                    #expect($0.status == .badRequest, "\(bad)")
                }
            }
            for (bad, says) in [
                ("[1]", "the body must be a JSON object"), (#"{"flags":null}"#, "flags must be a list"),
                (#"{"flags":["a.b",1]}"#, "flags must be a list"), (#"{"flags":["a.b"],"selector":["x"]}"#, "flags must be a list"),
                (#"{"selector":null,"flags":["a.b"]}"#, "flags must be a list"),
            ] {
                try await client.execute(uri: "/v1/flags/kill", method: .post, headers: auth, body: Self.json(bad)) { response in
                    #expect(response.status == .badRequest, "\(bad)")
                    #expect(String(buffer: response.body).hasPrefix(says), "\(bad): \(String(buffer: response.body))")
                }
            }
            try await client.execute(
                uri: "/v1/flags/kill", method: .post, headers: auth,
                body: Self.json(#"{"flags":["channel.email","flag.channel.sms"],"selector":{"group":"channels"}}"#)
            ) { response in
                #expect(response.status == .ok)
                let flags = try Self.decode(response)["flags"] as? [[String: String]]
                #expect(flags?.map { $0["flag"] } == ["channel.email", "channel.sms"])
            }
            try await client.execute(uri: "/v1/flags/release", method: .post, headers: auth, body: Self.json(#"{"flags":["not.running"]}"#)) {
                #expect($0.status == .conflict)
            }
        }
        #expect(actions.calls.count == 2, "\(actions.calls)")
        #expect(actions.calls[0].hasPrefix(#"["channel.email", "channel.sms"] ["group=channels"] kill"#), "\(actions.calls)")
        #expect(actions.calls[1].contains("release"))
    }

    @Test("where the environment requires a reason, an admin action without one is refused before anything runs")
    func adminActionsNeedAReasonWhereRequired() async throws {
        let state = await Self.state()
        var environment = ResolvedEnvironment(
            name: "production", database: Database(url: try DatabaseURL(parsing: "postgres://u@127.0.0.1/db"), schema: "guardrail"))
        environment.requireReason = true
        await state.publish(environment: environment)
        let actions = RecordingActions()
        try await Self.app(state, actions: actions).test(.router) { client in
            let auth: HTTPFields = [.authorization: "Bearer s3cret"]
            for (uri, body) in [
                ("/v1/flags/channel.email/kill", ""), ("/v1/flags/kill", #"{"flags":["channel.email"]}"#),
                ("/v1/rollouts/channel.email/pause", #"{"reason":"  "}"#),
            ] {
                try await client.execute(uri: uri, method: .post, headers: auth, body: Self.json(body)) { response in
                    #expect(response.status == .badRequest, "\(uri)")
                    #expect(String(buffer: response.body).contains("requires a reason"), "\(uri)")
                }
            }
            try await client.execute(
                uri: "/v1/flags/kill", method: .post, headers: auth,
                body: Self.json(#"{"flags":["channel.email"],"reason":"bounces at 6%"}"#)
            ) { #expect($0.status == .ok) }
        }
        #expect(actions.calls.count == 1, "nothing ran without a reason: \(actions.calls)")
    }

    @Test("the bearer scheme is matched without regard to case (RFC 7235); the token itself is not, and other schemes are refused")
    func bearerSchemeIsCaseInsensitive() async throws {
        let state = await Self.state()
        let actions = RecordingActions()
        try await Self.app(state, actions: actions).test(.router) { client in
            let path = "/v1/flags/channel.email/kill"
            for header in ["bearer s3cret", "BEARER s3cret", "bEaReR  s3cret"] {
                try await client.execute(uri: path, method: .post, headers: [.authorization: header]) { #expect($0.status == .ok, "\(header)") }
            }
            for header in ["Bearer S3CRET", "Basic s3cret", "Bearers3cret", "Bearer", "s3cret"] {
                try await client.execute(uri: path, method: .post, headers: [.authorization: header]) {
                    #expect($0.status == .unauthorized, "\(header)")
                }
            }
        }
        #expect(actions.calls.count == 3)
    }
}

@Suite("controller HTTP limits")
struct HTTPClientLimitsTests {
    @Test(
        "the connection cap keeps descriptors for the loop below the descriptor limit, and never drops to zero",
        arguments: [(20_000, 512), (1024, 512), (600, 472), (200, 72), (129, 1), (64, 1)])
    func capFitsUnderTheDescriptorLimit(_ limit: Int, _ expected: Int) {
        #expect(HTTPClientLimits(maxConnections: 512).fitted(toDescriptorLimit: limit).maxConnections == expected)
    }

    @Test("the environment's controller section sets the timeouts and the cap; the defaults are 10s, 60s and 512")
    func environmentSetsTheLimits() throws {
        func controller(_ section: String, descriptorLimit: Int = 20_000) throws -> Controller {
            let environment = """
                apiVersion: guardrail/v1
                kind: Environment
                metadata: {name: local}
                spec:
                  postgres: {url: "postgres://guardrail@127.0.0.1:1/none", schema: guardrail}
                  controller: {\(section)}

                """
            let (configuration, diagnostics) = ConfigurationLoader.load([
                ManifestSource(path: "environments/local.yaml", bytes: Array(environment.utf8))
            ])
            #expect(!diagnostics.hasErrors, "\(diagnostics.all)")
            let resolved = try ResolvedEnvironment.resolve(try #require(configuration.environments["local"]))
            return try Controller(
                workspace: Workspace(root: "/nonexistent"), configuration: configuration, environment: resolved, stamp: "", holder: "t",
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), descriptorLimit: descriptorLimit)
        }
        #expect(
            try controller("interval: 5s").clientLimits
                == HTTPClientLimits(headerReadTimeout: .seconds(10), idleTimeout: .seconds(60), maxConnections: 512))
        #expect(
            try controller("headerReadTimeout: 2s, idleTimeout: 30s, maxConnections: 100").clientLimits
                == HTTPClientLimits(headerReadTimeout: .seconds(2), idleTimeout: .seconds(30), maxConnections: 100))
        #expect(
            try controller("maxConnections: 2000", descriptorLimit: 1024).clientLimits.maxConnections == 1024
                - HTTPClientLimits.descriptorsReservedForTheLoop)
    }

    @Test("a timeout under a second is refused at validate")
    func shortTimeoutIsRefused() {
        let environment =
            "apiVersion: guardrail/v1\nkind: Environment\nmetadata: {name: local}\nspec:\n  postgres: {url: x}\n  controller: {headerReadTimeout: 100ms}\n"
        let (_, diagnostics) = ConfigurationLoader.load([ManifestSource(path: "environments/local.yaml", bytes: Array(environment.utf8))])
        #expect(diagnostics.all.map(\.summary) == ["controller.headerReadTimeout is too short"])
    }
}

@Suite("controller backup metrics")
struct ControllerBackupMetricsTests {
    @Test("backup gauges go through the registry: set per schedule, and removed when the schedule or its value is gone")
    func backupGaugesFollowTheLastStatus() {
        let metrics = ControllerMetrics()
        metrics.record(backups: [
            BackupMetrics.Family(name: "guardrail_backup_rpo_met", help: "1 when within the RPO.", samples: [("nightly", 1), ("hourly", 0)]),
            BackupMetrics.Family(name: "guardrail_backup_last_size_bytes", help: "Size.", samples: [("nightly", 2048)]),
        ])
        let first = metrics.render()
        #expect(first.contains(#"guardrail_backup_rpo_met{schedule="nightly"} 1"#), "\(first)")
        #expect(first.contains(#"guardrail_backup_rpo_met{schedule="hourly"} 0"#))
        #expect(first.contains(#"guardrail_backup_last_size_bytes{schedule="nightly"} 2048"#))
        #expect(first.components(separatedBy: "# TYPE guardrail_backup_rpo_met gauge").count == 2, "one family header")

        metrics.record(backups: [BackupMetrics.Family(name: "guardrail_backup_rpo_met", help: "1 when within the RPO.", samples: [("nightly", 0)])])
        let second = metrics.render()
        #expect(second.contains(#"guardrail_backup_rpo_met{schedule="nightly"} 0"#), "\(second)")
        #expect(!second.contains(#"schedule="hourly""#), "a schedule that is gone has no gauge left")
        #expect(!second.contains("guardrail_backup_last_size_bytes{"), "a value that is gone has no gauge left")
    }
}
