import Foundation

/// Something Guardrail did, or left for a person, that someone should hear about: a rollback, a kill,
/// a drift correction, a failed backup. Delivered to Alertmanager as an alert, so the routing the team
/// already runs decides who is told. Pure.
public struct GuardrailEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case rolloutStarted = "RolloutStarted"
        case rolloutAdvanced = "RolloutAdvanced"
        case rolloutHeld = "RolloutHeld"
        case rolloutPaused = "RolloutPaused"
        case rolloutBreached = "RolloutBreached"
        case rolledBack = "RolloutRolledBack"
        case rolloutCompleted = "RolloutCompleted"
        case flagKilled = "FlagKilled"
        case flagReleased = "FlagReleased"
        case driftCorrected = "DriftCorrected"
        case driftHeld = "DriftHeld"
        case applyDone = "ApplyDone"
        case backupFailed = "BackupFailed"
        case drillFailed = "DrillFailed"

        /// Breaches, rollbacks, kills and failed backups wake someone up; the rest is for the record.
        public var severity: String {
            switch self {
            case .rolloutBreached, .rolledBack, .flagKilled, .backupFailed, .drillFailed: "critical"
            default: "info"
            }
        }
    }

    public var kind: Kind
    public var environment: String
    /// The object, as a plan names it: `flag.search.v2`, `tenant.acme`, `backup.nightly`.
    public var address: String
    /// Further labels: `flag`, `phase`.
    public var labels: [String: String]
    /// The human sentence.
    public var summary: String
    public var at: Date

    public init(_ kind: Kind, environment: String, address: String, labels: [String: String] = [:], summary: String, at: Date) {
        self.kind = kind
        self.environment = environment
        self.address = address
        self.labels = labels
        self.summary = summary
        self.at = at
    }

    public var alertname: String { "Guardrail" + kind.rawValue }

    /// The event a rollout decision is, if it is one: evaluations and resumes are not news.
    public static func of(_ decision: RolloutDecision, flag: String, environment: String, at: Date) -> GuardrailEvent? {
        let kind: Kind
        switch decision.kind {
        case .start: kind = .rolloutStarted
        case .advance, .promote: kind = .rolloutAdvanced
        case .hold: kind = .rolloutHeld
        case .pause, .abort: kind = .rolloutPaused
        case .breach: kind = .rolloutBreached
        case .rollback, .stepBack: kind = .rolledBack
        case .complete: kind = .rolloutCompleted
        case .kill: kind = .flagKilled
        case .release: kind = .flagReleased
        case .evaluation, .resume, .retry, .specChange: return nil
        }
        return GuardrailEvent(
            kind, environment: environment, address: "flag.\(flag)", labels: ["flag": flag, "phase": "\(decision.phase + 1)"],
            summary: decision.message, at: at)
    }

    /// Alertmanager's `POST /api/v2/alerts` body: one alert per event, labelled for routing
    /// (`alertname`, `severity`, `environment`, `address` and the event's own), the sentence as the
    /// `summary` annotation, firing from the event's time for `lasting`, so it resolves by itself.
    public static func alertmanagerBody(_ events: [GuardrailEvent], statusURL: String?, lasting: TimeInterval = 3600) -> String {
        var out = "["
        for (i, event) in events.enumerated() {
            if i > 0 { out += "," }
            var labels = event.labels
            labels["alertname"] = event.alertname
            labels["severity"] = event.kind.severity
            labels["environment"] = event.environment
            labels["address"] = event.address
            out += "{\"labels\":"
            AttributeValue.map(labels.mapValues { .string($0) }).appendCanonicalJSON(to: &out)
            out += ",\"annotations\":"
            AttributeValue.map(["summary": .string(event.summary)]).appendCanonicalJSON(to: &out)
            out += ",\"startsAt\":" + AttributeValue.jsonQuote(Self.timestamp(event.at))
            out += ",\"endsAt\":" + AttributeValue.jsonQuote(Self.timestamp(event.at.addingTimeInterval(lasting)))
            if let statusURL { out += ",\"generatorURL\":" + AttributeValue.jsonQuote(statusURL) }
            out += "}"
        }
        return out + "]"
    }

    /// The document a plain webhook receives for one event.
    public var webhookBody: String {
        var fields: [String: AttributeValue] = labels.mapValues { .string($0) }
        fields["event"] = .string(kind.rawValue)
        fields["severity"] = .string(kind.severity)
        fields["environment"] = .string(environment)
        fields["address"] = .string(address)
        fields["summary"] = .string(summary)
        fields["at"] = .string(Self.timestamp(at))
        return AttributeValue.map(fields).canonicalJSON
    }

    static func timestamp(_ date: Date) -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date)
    }
}
