import Foundation
import GuardrailCore
@testable import GuardrailEngine
import GuardrailTestSupport
import Logging
import Testing

/// Guardrail's events reach people through Alertmanager, and delivery never holds up the sender.
@Suite("event delivery") struct NotifierTests {
    static let at = Date(timeIntervalSince1970: 1_790_000_000)

    static func rollback(_ flag: String = "search.v2") -> GuardrailEvent {
        GuardrailEvent.of(
            RolloutDecision(kind: .rollback, phase: 1, message: "rolled back: bench-errors breached"), flag: flag,
            environment: "staging", at: at)!
    }

    @Test("rollout decisions map to events; evaluations are not news; breaches and rollbacks are critical")
    func decisionsBecomeEvents() throws {
        let event = Self.rollback()
        #expect(event.alertname == "GuardrailRolloutRolledBack")
        #expect(event.kind.severity == "critical")
        #expect(event.labels == ["flag": "search.v2", "phase": "2"])
        #expect(GuardrailEvent.of(RolloutDecision(kind: .evaluation, phase: 0, message: "ok"), flag: "f", environment: "e", at: Self.at) == nil)
        #expect(
            GuardrailEvent.of(RolloutDecision(kind: .advance, phase: 0, message: "on"), flag: "f", environment: "e", at: Self.at)?.kind.severity
                == "info")
        let body = GuardrailEvent.alertmanagerBody([event], statusURL: "http://127.0.0.1:8080/v1/status")
        let alerts = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [[String: Any]])
        let labels = try #require(alerts.first?["labels"] as? [String: String])
        #expect(labels["alertname"] == "GuardrailRolloutRolledBack")
        #expect(labels["severity"] == "critical")
        #expect(labels["environment"] == "staging")
        #expect(labels["address"] == "flag.search.v2")
        #expect((alerts.first?["annotations"] as? [String: String])?["summary"] == "rolled back: bench-errors breached")
        #expect(alerts.first?["generatorURL"] as? String == "http://127.0.0.1:8080/v1/status")
        let starts = try #require(alerts.first?["startsAt"] as? String), ends = try #require(alerts.first?["endsAt"] as? String)
        #expect(starts < ends)
    }

    @Test("a rollback alert goes Guardrail -> a real Alertmanager -> the receiver its routing names")
    func rollbackReachesTheReceiverThroughAlertmanager() async throws {
        let receiver = WebhookReceiver()
        try await receiver.start()
        defer { receiver.stop() }
        let alertmanager = try await PrivateAlertmanager.start(
            configuration: """
                route:
                  receiver: blackhole
                  group_wait: 0s
                  group_by: [alertname, flag]
                  routes:
                    - matchers: ['severity="critical"', 'alertname=~"Guardrail.*"']
                      receiver: oncall
                receivers:
                  - name: blackhole
                  - name: oncall
                    webhook_configs: [{url: "\(receiver.url)/oncall", send_resolved: false}]
                """)
        defer { alertmanager.stop() }
        let notifier = Notifier(alertmanager: alertmanager.url, statusURL: nil, logger: Logger(label: "test"))
        defer { Task { await notifier.shutdown() } }
        var event = Self.rollback()
        event.at = Date()
        notifier.send([event])
        #expect(
            try await WebhookReceiver.eventually { receiver.received.contains { $0.contains("GuardrailRolloutRolledBack") } },
            "Alertmanager did not route the rollback to the on-call receiver; it received \(receiver.received)")
        let routed = try #require(receiver.received.first { $0.contains("GuardrailRolloutRolledBack") })
        #expect(routed.contains("\"receiver\":\"oncall\""))
        #expect(routed.contains("rolled back: bench-errors breached"))
        // Alertmanager can route the alert on before the notifier has read its answer and counted it.
        #expect(try await WebhookReceiver.eventually(10) { notifier.counts.delivered == 1 }, "delivered: \(notifier.counts)")
    }

    @Test("a receiver that answers 500 and then 200 gets the event once")
    func retriedUntilTaken() async throws {
        let receiver = WebhookReceiver()
        try await receiver.start()
        defer { receiver.stop() }
        receiver.answer([500, 503])
        let notifier = Notifier(alertmanager: receiver.url, statusURL: nil, firstBackoff: .milliseconds(20), logger: Logger(label: "test"))
        defer { Task { await notifier.shutdown() } }
        notifier.send([Self.rollback()])
        #expect(try await WebhookReceiver.eventually { notifier.counts.delivered == 1 })
        #expect(receiver.requestCount == 3)
        #expect(receiver.received.count == 1)
        #expect(notifier.counts.failed == 0)
    }

    @Test("a 4xx is not retried: Alertmanager refused the body, and sending it again would not help")
    func refusedIsNotRetried() async throws {
        let receiver = WebhookReceiver()
        try await receiver.start()
        defer { receiver.stop() }
        receiver.answer([400])
        let notifier = Notifier(alertmanager: receiver.url, statusURL: nil, firstBackoff: .milliseconds(20), logger: Logger(label: "test"))
        defer { Task { await notifier.shutdown() } }
        notifier.send([Self.rollback()])
        #expect(try await WebhookReceiver.eventually { notifier.counts.failed == 1 })
        #expect(receiver.requestCount == 1)
    }

    @Test("a hanging receiver holds no sender: send returns while delivery waits, and a full queue drops the oldest, counted")
    func hangingReceiverNeverBlocksAndTheQueueIsBounded() async throws {
        let receiver = WebhookReceiver()
        try await receiver.start()
        defer { receiver.stop() }
        receiver.hold()
        let notifier = Notifier(alertmanager: receiver.url, statusURL: nil, capacity: 3, requestTimeout: .seconds(120), logger: Logger(label: "test"))
        defer { Task { await notifier.shutdown() } }
        notifier.send([Self.rollback("first")])
        #expect(try await WebhookReceiver.eventually { receiver.heldCount == 1 }, "the first delivery never reached the receiver")
        // The receiver has not answered; sending more returns regardless.
        notifier.send((0..<10).map { Self.rollback("f\($0)") })
        #expect(receiver.heldCount == 1)
        #expect(notifier.counts.dropped == 8)
        #expect(notifier.counts.queued == 3)
        receiver.release()
        #expect(try await WebhookReceiver.eventually { notifier.counts.queued == 0 && notifier.counts.delivered >= 4 })
        let flags = receiver.received.joined()
        #expect(flags.contains("\"flag\":\"f9\"") && flags.contains("\"flag\":\"f7\""))
        #expect(!flags.contains("\"flag\":\"f0\""))
    }

    @Test("a plain webhook gets one JSON document per event it asked for, with its secret header")
    func webhookGetsTheEventsItWants() async throws {
        let receiver = WebhookReceiver()
        try await receiver.start()
        defer { receiver.stop() }
        let webhook = Notifier.Webhook(
            url: receiver.url + "/guardrail", events: ["RolloutRolledBack", "FlagKilled"],
            header: ("X-Guardrail-Secret", Secret("s3cret-value")))
        let notifier = Notifier(.webhook(webhook), statusURL: nil, firstBackoff: .milliseconds(20), logger: Logger(label: "test"))
        defer { Task { await notifier.shutdown() } }
        let advanced = GuardrailEvent.of(
            RolloutDecision(kind: .advance, phase: 1, message: "advanced"), flag: "x", environment: "staging", at: Self.at)!
        notifier.send([advanced, Self.rollback()])
        #expect(try await WebhookReceiver.eventually { notifier.counts.delivered == 1 })
        #expect(receiver.received.count == 1, "only the event the webhook asked for: \(receiver.received)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(receiver.received[0].utf8)) as? [String: String])
        #expect(document["event"] == "RolloutRolledBack")
        #expect(document["severity"] == "critical")
        #expect(document["flag"] == "search.v2")
        #expect(document["summary"] == "rolled back: bench-errors breached")
        #expect(receiver.secretHeaders == ["s3cret-value"])
        #expect(!"\(Notifier.Destination.webhook(webhook).description)".contains("s3cret"))
    }
}
