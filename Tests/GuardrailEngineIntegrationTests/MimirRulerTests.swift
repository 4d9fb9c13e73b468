import Foundation
import GuardrailCore
@testable import GuardrailEngine
import GuardrailTestSupport
import Testing

/// The mimir target against the in-process ruler, which follows the documented ruler API: managed
/// namespaces carry Guardrail's prefix, other namespaces are never touched, writes are read back,
/// and 409/429 answers are retried or, when they persist, the apply's earlier writes are undone.
@Suite("Alert rules on a Mimir-compatible ruler")
struct MimirRulerTests {
    static let tenant = "realestate"

    static func configuration(_ rules: String) throws -> Configuration {
        try Fixtures.configuration(["alerts/launch.yaml": rules])
    }

    static let rules = """
        groups:
          - name: api errors + 5xx
            interval: 1m
            rules:
              - alert: ErrorRateBurn
                expr: |
                  sum(rate(http_requests_total{status=~"5.."}[5m]))
                    / sum(rate(http_requests_total[5m])) > 0.01
                for: 5m
                labels: {severity: critical}
                annotations: {summary: "Error rate > 1%: {{ $value | humanizePercentage }}", runbook: "https://runbooks.example/errors#burn"}
          - name: pipeline
            rules:
              - record: "dlq:depth:max"
                expr: max by (subject) (dlq_depth)

        """

    /// Generous: the whole suite runs in parallel on two busy cores, and an answer from the in-process
    /// ruler can wait behind other tests; a real failure still fails, only later.
    static let timeout: TimeInterval = 60

    func plan(_ target: MimirRuler, _ configuration: Configuration, overrides: HazardOverrides = HazardOverrides()) async throws -> Plan {
        var live = LiveState(schemaVersion: nil)
        live.ruleGroups = try await target.observe()
        return PlanBuilder.plan(
            desired: configuration, live: live,
            context: .init(environment: "local", planID: UUID().uuidString, createdAt: "now", managesAlerts: true))
    }

    func apply(_ target: MimirRuler, _ plan: Plan) async throws -> RulesApplyReport {
        try await target.apply(plan.changes.filter { $0.kind == RuleGroup.kind }, live: try await target.observe())
    }

    func alertChanges(_ plan: Plan) -> [Change] { plan.changes.filter { $0.kind == RuleGroup.kind && $0.address.name.hasPrefix("launch.") } }

    @Test("apply posts each group under the prefixed namespace, reads it back, and a fresh plan is empty; other namespaces stay")
    func convergesAndLeavesOtherNamespacesAlone() async throws {
        let ruler = FakeRuler()
        try await ruler.start()
        defer { ruler.stop() }
        try ruler.seed(tenant: Self.tenant, namespace: "other-team", groupYAML: "name: theirs\nrules:\n  - alert: X\n    expr: vector(1)\n")
        let target = MimirRuler(baseURL: ruler.url, tenant: Self.tenant, namespacePrefix: "guardrail-", timeout: Self.timeout)
        let configuration = try Self.configuration(Self.rules)

        let first = try await plan(target, configuration)
        #expect(alertChanges(first).map(\.action) == [.create, .create])
        let report = try await apply(target, first)
        #expect(report.steps == ["created guardrail-launch/api errors + 5xx", "created guardrail-launch/pipeline"], "\(report.steps)")
        #expect(ruler.namespaces(tenant: Self.tenant) == ["guardrail-launch", "other-team"])
        #expect(ruler.groupNames(tenant: Self.tenant, namespace: "guardrail-launch") == ["api errors + 5xx", "pipeline"])
        #expect(ruler.requests.contains("POST /prometheus/config/v1/rules/guardrail-launch"))
        #expect(
            ruler.requests.contains("GET /prometheus/config/v1/rules/guardrail-launch/api%20errors%20%2B%205xx"),
            "names are percent-encoded: \(ruler.requests)")

        // The ruler answers in its own YAML style, not in the double-quoted style Guardrail posts.
        let stored = try #require(ruler.groupYAML(tenant: Self.tenant, namespace: "guardrail-launch", group: "api errors + 5xx"))
        #expect(stored.hasPrefix("name: api errors + 5xx\ninterval: 1m\nrules:\n- alert: ErrorRateBurn\n"), "\(stored)")
        #expect(stored.contains("summary: 'Error rate > 1%: {{ $value | humanizePercentage }}'"), "\(stored)")
        let second = try await plan(target, configuration)
        #expect(second.changes.isEmpty, "\(second.changes.map(\.address))")

        // Deleting every managed group is a mass delete; once allowed, only the managed namespace goes.
        let wipe = try await plan(target, try Fixtures.configuration([:]))
        #expect(wipe.changes.allSatisfy { $0.hazards.contains { $0.kind == .massDelete } })
        _ = try await apply(target, wipe)
        #expect(ruler.namespaces(tenant: Self.tenant) == ["other-team"])
        #expect(try await plan(target, try Fixtures.configuration([:])).changes.isEmpty)
    }

    @Test("a field change is planned at field level and applied; an unchanged group is not re-posted")
    func fieldChangeUpdatesOneGroup() async throws {
        let ruler = FakeRuler()
        try await ruler.start()
        defer { ruler.stop() }
        let target = MimirRuler(baseURL: ruler.url, tenant: Self.tenant, timeout: Self.timeout)
        _ = try await apply(target, try await plan(target, try Self.configuration(Self.rules)))
        let changed = try Self.configuration(Self.rules.replacingOccurrences(of: "for: 5m", with: "for: 10m"))
        let plan = try await plan(target, changed)
        let change = try #require(alertChanges(plan).first)
        #expect(alertChanges(plan).count == 1)
        #expect(change.action == .update && change.changedAttributes == ["rules[0]"])
        #expect(change.before?["rules[0]"]?.mapValue?["for"] == .string("5m"))
        #expect(change.after?["rules[0]"]?.mapValue?["for"] == .string("10m"))
        let posts = ruler.requests.filter { $0.hasPrefix("POST") }.count
        _ = try await apply(target, plan)
        #expect(ruler.requests.filter { $0.hasPrefix("POST") }.count == posts + 1)
        #expect(try await self.plan(target, changed).changes.isEmpty)
    }

    @Test("429 and 409 answers are retried with backoff and the apply succeeds")
    func transientRefusalsAreRetried() async throws {
        let ruler = FakeRuler()
        try await ruler.start()
        defer { ruler.stop() }
        let target = MimirRuler(baseURL: ruler.url, tenant: Self.tenant, timeout: Self.timeout, retries: 3, backoff: 0.01)
        ruler.injectFailures("POST", [429, 409])
        _ = try await apply(target, try await plan(target, try Self.configuration(Self.rules)))
        #expect(ruler.groupNames(tenant: Self.tenant, namespace: "launch") == ["api errors + 5xx", "pipeline"])
    }

    @Test("a refusal that persists fails the apply and undoes the groups this apply already wrote")
    func persistentRefusalRevertsEarlierWrites() async throws {
        let ruler = FakeRuler()
        try await ruler.start()
        defer { ruler.stop() }
        let target = MimirRuler(baseURL: ruler.url, tenant: Self.tenant, timeout: Self.timeout, retries: 1, backoff: 0.01)
        let plan = try await plan(target, try Self.configuration(Self.rules))
        // The first group's POST goes through; the second's is refused on its first try and its one retry.
        ruler.injectFailures("POST", [0, 429, 429])
        do {
            _ = try await apply(target, plan)
            Issue.record("the apply should have failed")
        } catch let error as RulesApplyError {
            #expect(error.reason.contains("alerts.launch.pipeline") && error.reason.contains("HTTP 429"), "\(error)")
            #expect(error.restored == "Put back the 1 group this apply had already changed on the ruler.", "\(error)")
        }
        #expect(ruler.namespaces(tenant: Self.tenant).isEmpty, "the group created before the refusal was deleted again")
        #expect(ruler.requests.contains("DELETE /prometheus/config/v1/rules/launch/api%20errors%20%2B%205xx"), "\(ruler.requests)")
    }

    @Test("a tenant with no rules answers 404, which is an empty ruler; a missing tenant header is refused with the ruler's message")
    func emptyTenantAndMissingHeader() async throws {
        let ruler = FakeRuler()
        try await ruler.start()
        defer { ruler.stop() }
        #expect(try await MimirRuler(baseURL: ruler.url, tenant: Self.tenant, timeout: Self.timeout).observe().isEmpty)
        do {
            _ = try await MimirRuler(baseURL: ruler.url, tenant: nil, timeout: Self.timeout).observe()
            Issue.record("observe without a tenant should fail")
        } catch {
            #expect("\(error)".contains("HTTP 401") && "\(error)".contains("no org id"), "\(error)")
        }
    }
}
