import Foundation
import GuardrailCore
import GuardrailEngine

/// What the dashboard's pages are built from: a copy of the controller's state taken at one moment.
/// Building a document from it is pure, so each page's JSON twin and its HTML come from one value.
public struct DashboardInputs: Sendable {
    public struct ErrorRecord: Sendable, Hashable {
        public var at: Date
        public var message: String

        public init(at: Date, message: String) {
            self.at = at
            self.message = message
        }
    }

    public var environment: String
    public var replica: String
    public var leader: Bool
    public var ready: Bool
    public var alive: Bool
    public var secondsSinceProgress: Double
    public var stuckAfter: Double?
    public var lastTick: Reconciler.TickReport?
    /// Tenants each flag is on for, from the flag snapshot (0 while killed); the rollouts' cohort
    /// sizes come from here when a flag is in it.
    public var cohorts: [String: Int]
    public var rollouts: [RolloutStatusReport]?
    public var rolloutsReadAt: Date?
    public var rolloutsProblem: String?
    public var history: GuardrailHistory
    public var backups: [BackupRunner.Status]?
    public var backupsReadAt: Date?
    public var backupsProblem: String?
    public var recentErrors: [ErrorRecord]
    public var now: Date

    public init(
        environment: String, replica: String, leader: Bool, ready: Bool, alive: Bool, secondsSinceProgress: Double, stuckAfter: Double?,
        lastTick: Reconciler.TickReport?, cohorts: [String: Int], rollouts: [RolloutStatusReport]?, rolloutsReadAt: Date?,
        rolloutsProblem: String?, history: GuardrailHistory, backups: [BackupRunner.Status]?, backupsReadAt: Date?, backupsProblem: String?,
        recentErrors: [ErrorRecord], now: Date
    ) {
        self.environment = environment
        self.replica = replica
        self.leader = leader
        self.ready = ready
        self.alive = alive
        self.secondsSinceProgress = secondsSinceProgress
        self.stuckAfter = stuckAfter
        self.lastTick = lastTick
        self.cohorts = cohorts
        self.rollouts = rollouts
        self.rolloutsReadAt = rolloutsReadAt
        self.rolloutsProblem = rolloutsProblem
        self.history = history
        self.backups = backups
        self.backupsReadAt = backupsReadAt
        self.backupsProblem = backupsProblem
        self.recentErrors = recentErrors
        self.now = now
    }

    static func time(_ date: Date) -> String { ISOTime.string(date) }

    /// Said on the pages a standby cannot fill.
    var standbyNotice: String? {
        leader ? nil : "This replica is on standby: the leading replica runs rollouts and backups, and its dashboard shows them."
    }
}

/// Where each page and its twin live.
enum DashboardPage: String, CaseIterable, Sendable {
    case overview, rollouts, drift, backups

    var path: String { self == .overview ? "/" : "/\(rawValue)" }
    var twin: String { self == .overview ? "/v1/status" : "/v1/\(rawValue)" }
    var title: String {
        switch self {
        case .overview: "Overview"
        case .rollouts: "Rollouts"
        case .drift: "Drift"
        case .backups: "Backups"
        }
    }
}

// MARK: - Rollouts

/// `/v1/rollouts` and `/rollouts`: each flag's phases, cohort, guardrail values and decisions.
struct RolloutsDocument: Encodable, Sendable {
    struct Phase: Encodable, Sendable {
        var number: Int
        var name: String
        /// Who the phase adds: tenants, a selector, a percent.
        var audience: String
        /// The bake the controller runs (the environment may cap the manifest's).
        var bake: String
        /// `done`, `current`, `paused`, `next`, `rolled-back` or `not-reached`.
        var state: String
        var startedAt: String?
        var bakeEndsAt: String?
        var bakeRemainingSeconds: Double?
    }

    struct Point: Encodable, Sendable {
        var at: String
        var value: Double?
        /// `pass`, `fail`, `no-data`, `insufficient-samples` or `error`.
        var verdict: String
        var message: String
    }

    struct GuardrailSeries: Encodable, Sendable {
        var name: String
        var description: String
        /// `max`, `min` or `compare`; `limit` is the maximum, the minimum or the ratio to the control group.
        var condition: String
        var limit: Double?
        var threshold: String
        var failuresToBreach: Int
        var consecutiveFailures: Int
        var lastVerdict: String?
        /// Oldest first; as many as the controller keeps in memory.
        var points: [Point]
    }

    struct Decision: Encodable, Sendable {
        var at: String
        var kind: String
        var phase: Int
        var message: String
        var actor: String?
        var reason: String?
        var guardrail: String?
        var value: Double?
    }

    struct Flag: Encodable, Sendable {
        var flag: String
        var description: String
        /// `progressing`, `paused`, `completed`, `rolled-back`, `killed`, `off` or `not-started`.
        var status: String
        var reason: String
        var enabled: Bool
        var killed: Bool
        var killedBy: String?
        var cohortSize: Int
        var eligibleTenants: Int
        var onBreach: String
        var currentPhase: Int?
        var phases: [Phase]
        var guardrails: [GuardrailSeries]
        /// Newest first, evaluations left out.
        var decisions: [Decision]
    }

    var environment: String
    var replica: String
    var leader: Bool
    var generatedAt: String
    var readAt: String?
    var notice: String?
    var problem: String?
    var flags: [Flag]

    static func make(_ inputs: DashboardInputs) -> RolloutsDocument {
        RolloutsDocument(
            environment: inputs.environment, replica: inputs.replica, leader: inputs.leader,
            generatedAt: DashboardInputs.time(inputs.now),
            readAt: inputs.rolloutsReadAt.map(DashboardInputs.time),
            notice: inputs.leader
                ? nil
                : "This replica is on standby: phases, cohorts and decisions are read from Postgres; "
                    + "the leading replica evaluates the guardrails, and its dashboard charts their values.",
            problem: inputs.rolloutsProblem,
            flags: (inputs.rollouts ?? []).map {
                flag($0, history: inputs.history, now: inputs.now, cohort: inputs.cohorts[$0.flag.name])
            }
            .sorted { (attention($0.status), $0.flag) < (attention($1.status), $1.flag) })
    }

    /// What needs a person first: rollouts rolled back or killed, then those moving, then the rest.
    static func attention(_ status: String) -> Int {
        switch status {
        case "rolled-back", "killed": 0
        case "paused": 1
        case "progressing": 2
        case "not-started": 3
        default: 4
        }
    }

    /// `cohort`: the flag's cohort size when known from elsewhere (the flag snapshot), else the report's.
    static func flag(_ report: RolloutStatusReport, history: GuardrailHistory, now: Date, cohort: Int? = nil) -> Flag {
        let flag = report.flag, state = report.state
        let status: String = report.killed ? "killed" : (!flag.enabled ? "off" : (state?.status.rawValue ?? "not-started"))
        var reason = state?.reason ?? ""
        if report.killed { reason = "killed" + (report.killedBy.map { " by \($0)" } ?? "") + "; off for every tenant until released" }
        if !flag.enabled { reason = "the manifest says enabled: false, so the flag is off for everyone" }
        var phases: [Phase] = []
        for (i, phase) in (flag.rollout?.phases ?? []).enumerated() {
            var audience: [String] = []
            if !phase.tenants.isEmpty { audience.append(phase.tenants.joined(separator: ", ")) }
            if !phase.selector.isEmpty { audience.append(phase.selector.keys.sorted().map { "\($0)=\(phase.selector[$0]!)" }.joined(separator: ",")) }
            if let p = phase.percent { audience.append("\(p)%") }
            var line = Phase(
                number: i + 1, name: phase.name, audience: audience.joined(separator: " + "), bake: "\(report.timing.bake(phase.bake))",
                state: "next")
            if let state {
                switch state.status {
                case .rolledBack: line.state = i <= state.phase ? "rolled-back" : "not-reached"
                case .completed: line.state = i <= state.phase ? "done" : "not-reached"
                case .progressing, .paused:
                    if i < state.phase {
                        line.state = "done"
                    } else if i == state.phase {
                        line.state = state.status == .paused || report.killed ? "paused" : "current"
                        let ends = state.phaseStartedAt.addingTimeInterval(report.timing.bake(phase.bake).seconds)
                        line.startedAt = DashboardInputs.time(state.phaseStartedAt)
                        line.bakeEndsAt = DashboardInputs.time(ends)
                        line.bakeRemainingSeconds = max(0, ends.timeIntervalSince(now))
                    }
                }
            }
            phases.append(line)
        }
        let byName = Dictionary(report.guardrails.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let guardrails = (flag.rollout?.guardrails ?? []).map { name -> GuardrailSeries in
            let g = byName[name]
            var condition = "undefined", limit: Double?
            switch g?.condition {
            case .max(let v)?: condition = "max"; limit = v
            case .min(let v)?: condition = "min"; limit = v
            case .compareToControl(let r)?: condition = "compare"; limit = r
            case nil: break
            }
            let points = history.points(flag: flag.name, guardrail: name)
            return GuardrailSeries(
                name: name, description: g?.description ?? "", condition: condition, limit: limit,
                threshold: g?.thresholdDescription ?? "not defined in this environment", failuresToBreach: g?.failures ?? 1,
                consecutiveFailures: state?.tracks[name]?.consecutiveFailures ?? 0,
                lastVerdict: (points.last?.verdict ?? state?.tracks[name]?.lastVerdict)?.rawValue,
                points: points.map {
                    Point(
                        at: ISOTime.string($0.at, milliseconds: true), value: $0.value, verdict: $0.verdict.rawValue,
                        message: $0.message)
                })
        }
        let decisions = report.events.filter { $0.decision.kind != .evaluation }.map { record in
            Decision(
                at: DashboardInputs.time(record.at), kind: record.decision.kind.rawValue, phase: record.decision.phase + 1,
                message: record.decision.message, actor: record.decision.actor, reason: record.reason,
                guardrail: record.decision.verdict?.guardrail, value: record.decision.verdict?.value)
        }
        return Flag(
            flag: flag.name, description: flag.description, status: status, reason: reason, enabled: flag.enabled, killed: report.killed,
            killedBy: report.killedBy, cohortSize: report.killed ? 0 : cohort ?? report.enabledCount,
            eligibleTenants: report.eligibleCount,
            onBreach: flag.rollout?.onBreach.rawValue ?? "", currentPhase: state.map { $0.phase + 1 }, phases: phases,
            guardrails: guardrails, decisions: decisions)
    }
}

// MARK: - Drift

/// `/v1/drift` and `/drift`: what the last plan found per kind, and what became of each change.
struct DriftDocument: Encodable, Sendable {
    struct Item: Encodable, Sendable {
        var address: String
        var action: String
        /// `corrected`, `restored`, `waits-for-human`, `came-back` or `not-corrected`.
        var status: String
        var reason: String
        /// Why a change waits for a human, when it does.
        var waitReason: String?
    }

    struct Kind: Encodable, Sendable {
        var kind: String
        var changes: Int
        var corrected: Int
        var waitingForHuman: Int
        var cameBack: Int
        var items: [Item]
        /// Items past the page's limit per kind (counted above, not listed).
        var notListed: Int
    }

    var environment: String
    var replica: String
    var leader: Bool
    var generatedAt: String
    var tickAt: String?
    var notice: String?
    var plan: [String: Int]?
    var kinds: [Kind]

    static let itemsPerKind = 200

    static func make(_ inputs: DashboardInputs) -> DriftDocument {
        let tick = inputs.lastTick
        var kinds: [Kind] = []
        if let tick {
            let applied = Set(tick.applied), restored = Set(tick.restored), unsettled = Set(tick.unsettled)
            let waiting = Dictionary(tick.reported.map { ($0.address, $0.reason) }, uniquingKeysWith: { a, _ in a })
            var byKind: [String: [Item]] = [:]
            for entry in tick.drift {
                var item = Item(address: entry.address, action: entry.action, status: "not-corrected", reason: entry.reason)
                if restored.contains(entry.address) {
                    item.status = "restored"
                } else if applied.contains(entry.address) {
                    item.status = "corrected"
                } else if let why = waiting[entry.address] {
                    item.status = "waits-for-human"; item.waitReason = why
                } else if unsettled.contains(entry.address) {
                    item.status = "came-back"
                }
                byKind[entry.kind, default: []].append(item)
            }
            // Kinds counted without entries (a report built elsewhere) still show their count.
            for kind in Set(tick.driftByKind.keys).union(byKind.keys).sorted() {
                let items = byKind[kind] ?? []
                kinds.append(
                    Kind(
                        kind: kind, changes: tick.driftByKind[kind] ?? items.count,
                        corrected: items.filter { $0.status == "corrected" || $0.status == "restored" }.count,
                        waitingForHuman: items.filter { $0.status == "waits-for-human" }.count,
                        cameBack: items.filter { $0.status == "came-back" }.count,
                        items: Array(items.prefix(itemsPerKind)), notListed: max(0, items.count - itemsPerKind)))
            }
        }
        return DriftDocument(
            environment: inputs.environment, replica: inputs.replica, leader: inputs.leader,
            generatedAt: DashboardInputs.time(inputs.now),
            tickAt: tick.map { DashboardInputs.time($0.startedAt) }, notice: inputs.standbyNotice,
            plan: tick?.plan.map { ["add": $0.add, "change": $0.change, "destroy": $0.destroy] }, kinds: kinds)
    }
}

// MARK: - Backups

/// `/v1/backups` and `/backups`: each schedule's last run, its recovery point, and its last drill.
struct BackupsDocument: Encodable, Sendable {
    struct Run: Encodable, Sendable {
        var id: Int
        var status: String
        var startedAt: String
        var finishedAt: String?
        var durationSeconds: Double?
        var sizeBytes: Int?
        var label: String?
        var error: String?
    }

    struct Check: Encodable, Sendable {
        var name: String
        var passed: Bool
        var detail: String
    }

    struct Drill: Encodable, Sendable {
        var status: String
        var startedAt: String
        var finishedAt: String?
        var rtoSeconds: Double?
        var target: String?
        var error: String?
        var checks: [Check]
    }

    struct Schedule: Encodable, Sendable {
        var name: String
        var method: String
        var schedule: String
        var timezone: String
        var rpo: String
        var rpoMet: Bool
        /// Seconds since the newest good backup finished.
        var ageSeconds: Double?
        var archiveLagSeconds: Double?
        var archiveProblem: String?
        var lastSuccessAt: String?
        var lastRun: Run?
        var nextRunAt: String?
        var drillSchedule: String?
        var rto: String?
        var lastDrill: Drill?
    }

    var environment: String
    var replica: String
    var leader: Bool
    var generatedAt: String
    var readAt: String?
    var notice: String?
    var problem: String?
    var schedules: [Schedule]

    static func make(_ inputs: DashboardInputs) -> BackupsDocument {
        let t = DashboardInputs.time
        let schedules = (inputs.backups ?? []).sorted { $0.schedule.name < $1.schedule.name }.map { s -> Schedule in
            let run = s.lastRun.map { r in
                Run(
                    id: r.id, status: r.status.rawValue, startedAt: t(r.startedAt), finishedAt: r.finishedAt.map(t),
                    durationSeconds: r.finishedAt.map { $0.timeIntervalSince(r.startedAt) }, sizeBytes: r.sizeBytes, label: r.label, error: r.error)
            }
            let drill = s.lastDrill.map { d in
                Drill(
                    status: d.status, startedAt: t(d.startedAt), finishedAt: d.finishedAt.map(t), rtoSeconds: d.rtoSeconds, target: d.target,
                    error: d.error, checks: d.checks.map { Check(name: $0.name, passed: $0.passed, detail: $0.detail) })
            }
            return Schedule(
                name: s.schedule.name, method: s.schedule.method.rawValue, schedule: s.schedule.schedule.source,
                timezone: s.schedule.timezone,
                rpo: "\(s.schedule.rpo)", rpoMet: s.meetsRPO, ageSeconds: s.age,
                archiveLagSeconds: s.schedule.method == .pgbackrest ? s.archiver?.lagSeconds : nil, archiveProblem: s.archiveProblem,
                lastSuccessAt: s.lastSuccess?.finishedAt.map(t), lastRun: run, nextRunAt: s.nextRun.map(t),
                drillSchedule: s.schedule.restoreDrill?.schedule.source, rto: s.schedule.rto.map { "\($0)" }, lastDrill: drill)
        }
        return BackupsDocument(
            environment: inputs.environment, replica: inputs.replica, leader: inputs.leader, generatedAt: t(inputs.now),
            readAt: inputs.backupsReadAt.map(t), notice: inputs.standbyNotice, problem: inputs.backupsProblem,
            schedules: schedules)
    }
}
