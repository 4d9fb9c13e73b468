import Foundation
import GuardrailTestSupport
import Testing

@Suite("verify routing from the command line")
struct VerifyRoutingCommandTests {
    @Test("the example routing: critical reaches PagerDuty and #incidents, warnings #alerts; no environment or secret is needed")
    func exampleRouting() async throws {
        let critical = try await InProcess.run(["verify", "routing", "--labels", "severity=critical,team=ops"], in: Fixtures.repositoryRoot)
        #expect(critical.status == 0, "\(critical.output)")
        #expect(critical.stdout == "pagerduty-ops-oncall\nslack-incidents\n")
        let warning = try await InProcess.run(["verify", "routing", "--labels", "severity=warning"], in: Fixtures.repositoryRoot)
        #expect(warning.stdout == "slack-alerts\n", "\(warning.output)")
    }

    @Test("malformed --labels is refused with a message that says how to write them")
    func badLabels() async throws {
        let result = try await InProcess.run(["verify", "routing", "--labels", "severity"], in: Fixtures.repositoryRoot)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stderr.contains("--labels: \"severity\" has no '='"), "\(result.output)")
    }

    @Test("a configuration without alerts/routing.yaml says where to declare it")
    func noRouting() async throws {
        let dir = try Fixtures.writeWorkspace(files: ["alerts/launch.yaml": "groups: []\n"])
        let result = try await InProcess.run(["verify", "routing", "--labels", "severity=critical"], in: dir)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stderr.contains("the configuration has no AlertRouting"), "\(result.output)")
    }
}
