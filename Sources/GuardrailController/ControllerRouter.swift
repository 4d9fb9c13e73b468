import Crypto
import Foundation
import GuardrailCore
import GuardrailEngine
import HTTPTypes
import Hummingbird
import NIOCore

/// What admin endpoints do; the controller runs them as the CLI does, tests may pass a fake.
public protocol AdminActions: Sendable {
    func run(flag: String, event: RolloutEvent, actor: String, reason: String?) async throws -> [RolloutDecision]
    /// `event` on several flags in one transaction: all of them, or none. `selector` adds the flags
    /// whose manifest labels include it; a selector that picks nothing is an error.
    func run(
        flags: [String], selector: [String: String], event: RolloutEvent, actor: String, reason: String?
    ) async throws
        -> [(flag: String, decision: RolloutDecision)]
}

/// Admin actions through a short-lived session on the environment, like `guardrail flag kill`.
public struct SessionAdminActions: AdminActions {
    public let environment: @Sendable () async -> ResolvedEnvironment?
    public let configuration: @Sendable () async -> Configuration?

    public init(
        environment: @escaping @Sendable () async -> ResolvedEnvironment?,
        configuration: @escaping @Sendable () async -> Configuration? = { nil }
    ) {
        self.environment = environment
        self.configuration = configuration
    }

    public func run(flag: String, event: RolloutEvent, actor: String, reason: String?) async throws -> [RolloutDecision] {
        try await run(flags: [flag], selector: [:], event: event, actor: actor, reason: reason).map(\.decision)
    }

    public func run(
        flags: [String], selector: [String: String], event: RolloutEvent, actor: String, reason: String?
    ) async throws
        -> [(flag: String, decision: RolloutDecision)]
    {
        guard let environment = await environment() else { throw DatabaseError.other("the controller has not loaded its environment yet") }
        var names = flags
        if !selector.isEmpty {
            let selected = await configuration()?.flags(selectedBy: selector) ?? []
            guard !selected.isEmpty else {
                throw RolloutCommandError(
                    description: "no flag in the configuration has the labels "
                        + selector.keys.sorted().map { "\($0)=\(selector[$0]!)" }.joined(separator: ","))
            }
            names += selected
        }
        let session = try await Session.open(environment, applicationName: "guardrail controller admin")
        do {
            let decisions = try await session.command(Array(Set(names)).sorted(), event, actor: actor, reason: reason)
            await session.close()
            return decisions
        } catch {
            await session.close()
            throw error
        }
    }
}

/// The controller's HTTP API:
///
/// - the dashboard, read-only HTML: `GET /`, `/rollouts`, `/drift`, `/backups`, each with its JSON twin
///   (`/v1/status`, `/v1/rollouts`, `/v1/drift`, `/v1/backups`) built from the same document;
/// - `GET /healthz` (alive: the reconcile loop finished a tick within its bound), `GET /readyz` (connected and manifests loaded; says whether this replica leads),
///   `GET /metrics` (Prometheus text), `GET /v1/status` (JSON);
/// - OpenFeature remote evaluation: `POST /ofrep/v1/evaluate/flags/{key}` and `POST /ofrep/v1/evaluate/flags`
///   (bulk, with an ETag), the tenant as the context's `targetingKey` (its name or id);
/// - admin actions with `Authorization: Bearer <token>`: `POST /v1/flags/{flag}/kill|release`,
///   `POST /v1/flags/kill|release` (several flags, or a label selector, in one transaction),
///   `POST /v1/rollouts/{flag}/pause|resume`. Without a configured token they answer 404.
public enum ControllerRouter {
    public static let maxBodyBytes = 64 * 1024

    public static func build(state: ControllerState, adminToken: String?, actions: any AdminActions) -> Router<BasicRequestContext> {
        let router = Router()
        // Alive means the loop makes progress, not that the process answers HTTP: a frozen loop
        // serves stale answers, so an orchestrator should restart it.
        router.get("/healthz") { _, _ in
            guard await state.alive else {
                let since = await state.secondsSinceProgress, bound = await state.stuckAfter ?? 0
                return text(.serviceUnavailable, "stuck: no reconcile tick finished in \(Int(since))s (the bound is \(Int(bound))s)\n")
            }
            return text(.ok, "ok\n")
        }
        router.get("/readyz") { _, _ in
            let ready = await state.ready, leader = await state.leader
            let body = "{\"ready\":\(ready),\"leader\":\(leader)}\n"
            return Response(
                status: ready ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        router.get("/metrics") { _, _ in
            let text = state.metrics.render()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/v1/status") { _, _ in try json(.ok, await StatusDocument.make(state)) }
        // The dashboard: read-only pages, each built from the same document its /v1 twin serves.
        router.get("/") { _, _ in html(DashboardHTML.overview(StatusDocument.make(await state.dashboardInputs()))) }
        router.get("/rollouts") { _, _ in html(DashboardHTML.rollouts(RolloutsDocument.make(await state.dashboardInputs()))) }
        router.get("/v1/rollouts") { _, _ in try json(.ok, RolloutsDocument.make(await state.dashboardInputs())) }
        router.get("/drift") { _, _ in html(DashboardHTML.drift(DriftDocument.make(await state.dashboardInputs()))) }
        router.get("/v1/drift") { _, _ in try json(.ok, DriftDocument.make(await state.dashboardInputs())) }
        router.get("/backups") { _, _ in html(DashboardHTML.backups(BackupsDocument.make(await state.dashboardInputs()))) }
        router.get("/v1/backups") { _, _ in try json(.ok, BackupsDocument.make(await state.dashboardInputs())) }
        router.get("/ping") { _, _ in text(.ok, "pong\n") }

        router.post("/ofrep/v1/evaluate/flags/:key") { request, context in
            let key = context.parameters.get("key") ?? ""
            let targeting: String
            switch try await targetingKey(request) {
            case .success(let t): targeting = t
            case .failure(let problem): return try json(.badRequest, OFREPError(key: key, errorCode: problem.code, errorDetails: problem.detail))
            }
            let (snapshot, _) = state.snapshotBox.get()
            switch snapshot.evaluate(key, tenant: targeting) {
            case .success(let e):
                return try json(
                    .ok,
                    OFREPEvaluation(
                        key: key, value: e.value, reason: e.reason.rawValue, variant: e.value ? "on" : "off",
                        metadata: ["detail": e.detail]))
            case .failure(.flagNotFound):
                return try json(
                    .notFound, OFREPError(key: key, errorCode: "FLAG_NOT_FOUND", errorDetails: "there is no flag \(key) in this environment"))
            case .failure(.tenantNotFound(let t)):
                return try json(
                    .badRequest, OFREPError(key: key, errorCode: OFREPErrorCode.unknownTenant, errorDetails: "no tenant has the name or id \(t)"))
            }
        }
        router.post("/ofrep/v1/evaluate/flags") { request, _ in
            let targeting: String
            switch try await targetingKey(request) {
            case .success(let t): targeting = t
            case .failure(let problem): return try json(.badRequest, OFREPBulkError(errorCode: problem.code, errorDetails: problem.detail))
            }
            let (snapshot, version) = state.snapshotBox.get()
            guard snapshot.tenant(targeting) != nil else {
                return try json(
                    .badRequest, OFREPBulkError(errorCode: OFREPErrorCode.unknownTenant, errorDetails: "no tenant has the name or id \(targeting)"))
            }
            let etag = "\"\(version)-" + Self.hash(targeting) + "\""
            if request.headers[.ifNoneMatch] == etag { return Response(status: .notModified, headers: [.eTag: etag]) }
            var flags: [OFREPEvaluation] = []
            for name in snapshot.flags.keys.sorted() {
                if case .success(let e) = snapshot.evaluate(name, tenant: targeting) {
                    flags.append(
                        OFREPEvaluation(
                            key: name, value: e.value, reason: e.reason.rawValue, variant: e.value ? "on" : "off", metadata: ["detail": e.detail]))
                }
            }
            var response = try json(.ok, OFREPBulk(flags: flags))
            response.headers[.eTag] = etag
            return response
        }

        // Several flags in one transaction, as `guardrail flag kill a b --selector k=v` does:
        // {"flags": ["channel.email", ...], "selector": {"group": "channels"}, "reason": "..."}.
        for verb in ["kill", "release"] {
            router.post(RouterPath("/v1/flags/\(verb)")) { request, _ in
                guard let adminToken, !adminToken.isEmpty else { return text(.notFound, "admin actions are disabled: no adminToken is configured\n") }
                guard authorized(request, token: adminToken) else {
                    return Response(
                        status: .unauthorized, headers: [.wwwAuthenticate: "Bearer"],
                        body: .init(byteBuffer: ByteBuffer(string: "a valid bearer token is required\n")))
                }
                var body = try await request.body.collect(upTo: maxBodyBytes)
                guard let data = body.readData(length: body.readableBytes),
                    let request = try? JSONDecoder().decode(AdminFlagsRequest.self, from: data)
                else {
                    return text(
                        .badRequest,
                        "the body must be a JSON object, such as {\"flags\": [\"channel.email\"]} or {\"selector\": {\"group\": \"channels\"}}\n")
                }
                guard !request.malformed else {
                    return text(.badRequest, "flags must be a list of names and selector an object of label values\n")
                }
                let flags = request.flags, selector = request.selector
                guard !flags.isEmpty || !selector.isEmpty else { return text(.badRequest, "name flags, or select them with a selector\n") }
                for flag in flags {
                    let name = flag.hasPrefix("flag.") ? String(flag.dropFirst(5)) : flag
                    if let problem = NameRules.dottedName(name) { return text(.badRequest, "\"\(flag)\" is not a flag name: \(problem)\n") }
                }
                let actor = "controller admin API"
                let reason = request.reason
                if let refusal = await state.resolvedEnvironment?.missingReason(reason, command: "POST /v1/flags/\(verb)") {
                    return text(.badRequest, refusal + "\n")
                }
                let event: RolloutEvent = verb == "kill" ? .kill(by: actor) : .release(by: actor)
                do {
                    let results = try await actions.run(
                        flags: flags.map { $0.hasPrefix("flag.") ? String($0.dropFirst(5)) : $0 }, selector: selector,
                        event: event, actor: actor, reason: reason)
                    return try json(
                        .ok,
                        AdminFlagsResult(action: verb, flags: results.map { AdminFlagsResult.Flag(flag: $0.flag, decision: $0.decision.message) }))
                } catch let error as RolloutCommandError {
                    return text(.conflict, error.description + "\n")
                }
            }
        }

        for (path, verb) in [
            ("/v1/flags/:flag/kill", "kill"), ("/v1/flags/:flag/release", "release"),
            ("/v1/rollouts/:flag/pause", "pause"), ("/v1/rollouts/:flag/resume", "resume"),
        ] {
            router.post(RouterPath(path)) { request, context in
                guard let adminToken, !adminToken.isEmpty else { return text(.notFound, "admin actions are disabled: no adminToken is configured\n") }
                guard authorized(request, token: adminToken) else {
                    return Response(
                        status: .unauthorized, headers: [.wwwAuthenticate: "Bearer"],
                        body: .init(byteBuffer: ByteBuffer(string: "a valid bearer token is required\n")))
                }
                let flag = context.parameters.get("flag") ?? ""
                if let problem = NameRules.dottedName(flag) { return text(.badRequest, "\"\(flag)\" is not a flag name: \(problem)\n") }
                var body = try await request.body.collect(upTo: maxBodyBytes)
                var reason: String?
                if body.readableBytes > 0 {
                    guard let data = body.readData(length: body.readableBytes),
                        let request = try? JSONDecoder().decode(AdminReasonRequest.self, from: data)
                    else {
                        return text(.badRequest, "the body must be a JSON object, such as {\"reason\": \"...\"}\n")
                    }
                    reason = request.reason
                }
                let actor = "controller admin API"
                if let refusal = await state.resolvedEnvironment?.missingReason(
                    reason, command: "POST \(path.replacingOccurrences(of: ":flag", with: flag))")
                {
                    return text(.badRequest, refusal + "\n")
                }
                let event: RolloutEvent =
                    switch verb {
                    case "kill": .kill(by: actor)
                    case "release": .release(by: actor)
                    case "pause": .pause(by: actor, reason: reason)
                    default: .resume(by: actor)
                    }
                do {
                    let decisions = try await actions.run(flag: flag, event: event, actor: actor, reason: reason)
                    return try json(.ok, ["flag": flag, "action": verb, "decisions": decisions.map(\.message).joined(separator: "; ")])
                } catch let error as RolloutCommandError {
                    return text(.conflict, error.description + "\n")
                }
            }
        }
        return router
    }

    /// Bearer token check in constant time: the comparison takes as long whatever the prefix matched.
    /// The scheme is matched without regard to case, as RFC 7235 says (`bearer`, `BEARER`).
    static func authorized(_ request: Request, token: String) -> Bool {
        guard let header = request.headers[.authorization], let space = header.firstIndex(of: " "),
            header[..<space].lowercased() == "bearer"
        else { return false }
        let credentials = header[space...].drop { $0 == " " }
        let given = Array(SHA256.hash(data: Array(credentials.utf8)))
        let wanted = Array(SHA256.hash(data: Array(token.utf8)))
        var difference: UInt8 = 0
        for (a, b) in zip(given, wanted) { difference |= a ^ b }
        return difference == 0
    }

    struct ContextProblem: Error { var code: String; var detail: String }

    /// The evaluation context's targeting key, or the OFREP error for a bad request.
    static func targetingKey(_ request: Request) async throws -> Result<String, ContextProblem> {
        var body = try await request.body.collect(upTo: maxBodyBytes)
        guard let data = body.readData(length: body.readableBytes), !data.isEmpty,
            let evaluation = try? JSONDecoder().decode(OFREPRequest.self, from: data)
        else {
            return .failure(ContextProblem(code: "PARSE_ERROR", detail: "the body must be a JSON object with a context"))
        }
        guard let context = evaluation.context else {
            return .failure(ContextProblem(code: "INVALID_CONTEXT", detail: "the body has no context object"))
        }
        guard let key = context.targetingKey, !key.isEmpty else {
            return .failure(ContextProblem(code: "TARGETING_KEY_MISSING", detail: "the context needs a targetingKey: the tenant's name or id"))
        }
        return .success(key)
    }

    static func hash(_ text: String) -> String {
        Hex.string(SHA256.hash(data: Array(text.utf8)).prefix(8))
    }

    static func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// A dashboard page: no caching, and a Content-Security-Policy that lets only its own refresh script run.
    static func html(_ page: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8", .contentSecurityPolicy: DashboardHTML.contentSecurityPolicy,
                .cacheControl: "no-store", HTTPField.Name("X-Content-Type-Options")!: "nosniff",
                HTTPField.Name("Referrer-Policy")!: "no-referrer",
            ],
            body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    static func json<T: Encodable>(_ status: HTTPResponse.Status, _ value: T) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(
            status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}

/// An OFREP evaluation request, `{"context": {"targetingKey": "acme", ...}}`. Only the targeting key is
/// read; the context's other attributes may be any JSON and are not decoded. A `context` that is not
/// an object, or a `targetingKey` that is not a string, reads as absent, so the request is answered
/// with the OFREP error for what is missing rather than as unparsable.
struct OFREPRequest: Decodable {
    struct Context: Decodable {
        var targetingKey: String?

        enum CodingKeys: String, CodingKey { case targetingKey }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            targetingKey = try? c.decode(String.self, forKey: .targetingKey)
        }
    }

    var context: Context?

    enum CodingKeys: String, CodingKey { case context }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        context = try? c.decode(Context.self, forKey: .context)
    }
}

/// The body of `POST /v1/flags/kill|release`: `{"flags": [...], "selector": {...}, "reason": "..."}`,
/// every key optional. A `reason` that is not a string is ignored; `flags` or `selector` of another
/// shape (null included) marks the request malformed, which is refused with its own message.
struct AdminFlagsRequest: Decodable {
    var flags: [String] = []
    var selector: [String: String] = [:]
    var reason: String?
    var malformed = false

    enum CodingKeys: String, CodingKey { case flags, selector, reason }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        reason = try? c.decode(String.self, forKey: .reason)
        if c.contains(.flags) {
            if let flags = try? c.decode([String].self, forKey: .flags) { self.flags = flags } else { malformed = true }
        }
        if c.contains(.selector) {
            if let selector = try? c.decode([String: String].self, forKey: .selector) { self.selector = selector } else { malformed = true }
        }
    }
}

/// The optional body of a one-flag admin action: `{"reason": "..."}`; a non-string reason is ignored.
struct AdminReasonRequest: Decodable {
    var reason: String?

    enum CodingKeys: String, CodingKey { case reason }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        reason = try? c.decode(String.self, forKey: .reason)
    }
}

struct OFREPEvaluation: Encodable {
    var key: String
    var value: Bool
    var reason: String
    var variant: String
    var metadata: [String: String]
}

struct OFREPBulk: Encodable { var flags: [OFREPEvaluation] }

/// What `POST /v1/flags/kill|release` did to each flag.
struct AdminFlagsResult: Encodable {
    struct Flag: Encodable { var flag: String; var decision: String }
    var action: String
    var flags: [Flag]
}

struct OFREPError: Encodable {
    var key: String
    var errorCode: String
    var errorDetails: String
}

struct OFREPBulkError: Encodable {
    var errorCode: String
    var errorDetails: String
}

/// `/v1/status`: the last tick, rollouts and backups; the dashboard's overview page is built from it.
struct StatusDocument: Encodable, Sendable {
    struct Tick: Encodable, Sendable {
        var startedAt: String
        var durationSeconds: Double
        var plan: [String: Int]?
        var driftByKind: [String: Int]
        var applied: [String]
        var reported: [[String: String]]
        var unsettled: [String]
        var errors: [String]
        var stepSeconds: [String: Double]
        var epoch: Int64?
        var manifestsReloaded: Bool
    }

    struct RolloutLine: Encodable, Sendable {
        var flag: String
        var status: String
        var phase: Int
        var phaseName: String
        /// From the dashboard's read of Postgres, when this replica leads.
        var phases: Int? = nil
        var cohortSize: Int? = nil
        var eligibleTenants: Int? = nil
    }

    struct BackupLine: Encodable, Sendable {
        var schedule: String
        var rpoMet: Bool
        var lastRunStatus: String?
        var lastDrillStatus: String?
    }

    struct ErrorLine: Encodable, Sendable {
        var at: String
        var message: String
    }

    var environment: String
    var replica: String
    var leader: Bool
    var ready: Bool
    var lastTick: Tick?
    var rollouts: [RolloutLine]
    var flags: [String: Int]
    var generatedAt: String
    var alive: Bool
    var secondsSinceTick: Double
    var healthBoundSeconds: Double?
    /// Nil on a standby, which does not read them.
    var backups: [BackupLine]?
    /// The latest errors the ticks reported, newest first.
    var recentErrors: [ErrorLine]

    static func make(_ state: ControllerState) async -> StatusDocument {
        make(await state.dashboardInputs())
    }

    static func make(_ inputs: DashboardInputs) -> StatusDocument {
        let tick = inputs.lastTick
        let t = DashboardInputs.time
        return StatusDocument(
            environment: inputs.environment, replica: inputs.replica, leader: inputs.leader, ready: inputs.ready,
            lastTick: tick.map { t in
                Tick(
                    startedAt: DashboardInputs.time(t.startedAt), durationSeconds: t.duration,
                    plan: t.plan.map { ["add": $0.add, "change": $0.change, "destroy": $0.destroy] },
                    driftByKind: t.driftByKind, applied: t.applied, reported: t.reported.map { ["address": $0.address, "reason": $0.reason] },
                    unsettled: t.unsettled, errors: t.errors, stepSeconds: t.steps, epoch: t.epoch, manifestsReloaded: t.manifestsReloaded)
            },
            // From the dashboard's read of Postgres once there is one (a standby has it too), else from the tick.
            rollouts: inputs.rollouts.map { reports in
                reports.map { o in
                    let line = RolloutsDocument.flag(
                        o, history: GuardrailHistory(), now: inputs.now,
                        cohort: inputs.cohorts[o.flag.name])
                    let current = line.currentPhase.flatMap { p in line.phases.first { $0.number == p } }
                    return RolloutLine(
                        flag: line.flag, status: line.status, phase: line.currentPhase ?? 0, phaseName: current?.name ?? "",
                        phases: line.phases.count, cohortSize: line.cohortSize, eligibleTenants: line.eligibleTenants)
                }
            }
                ?? (tick?.rollouts ?? []).map { r in
                    RolloutLine(flag: r.flag, status: r.status, phase: r.phase + 1, phaseName: r.phaseName)
                },
            flags: inputs.cohorts, generatedAt: t(inputs.now), alive: inputs.alive, secondsSinceTick: inputs.secondsSinceProgress,
            healthBoundSeconds: inputs.stuckAfter,
            backups: inputs.backups.map { list in
                list.sorted { $0.schedule.name < $1.schedule.name }.map {
                    BackupLine(
                        schedule: $0.schedule.name, rpoMet: $0.meetsRPO, lastRunStatus: $0.lastRun?.status.rawValue,
                        lastDrillStatus: $0.lastDrill?.status)
                }
            },
            recentErrors: inputs.recentErrors.reversed().map { ErrorLine(at: t($0.at), message: $0.message) })
    }
}

/// OFREP error codes (the OpenFeature specification's), as Guardrail uses them:
///
/// | Situation | Code | HTTP |
/// |---|---|---|
/// | the body is not JSON | `PARSE_ERROR` | 400 |
/// | no `context` object | `INVALID_CONTEXT` | 400 |
/// | `context` without a `targetingKey` | `TARGETING_KEY_MISSING` | 400 |
/// | a `targetingKey` that is no tenant's name or id | `INVALID_CONTEXT` | 400 |
/// | an unknown flag | `FLAG_NOT_FOUND` | 404 |
///
/// `TARGETING_KEY_MISSING` means the key was not given; a key that names nobody is a context the
/// provider cannot evaluate, which the specification calls `INVALID_CONTEXT`.
enum OFREPErrorCode {
    static let unknownTenant = "INVALID_CONTEXT"
}
