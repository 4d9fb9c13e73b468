import ArgumentParser
@testable import GuardrailCLI
import Testing

@Suite("command-line parsing")
struct CommandLineParsingTests {
    @Test("apply refuses --target together with a saved plan, saying what to do instead")
    func applyTargetWithPlanFileIsRejected() {
        #expect(throws: (any Error).self) { try GuardrailCommand.parseAsRoot(["apply", "plan.json", "--target", "tenant.a"]) }
        let message = GuardrailCommand.message(for: ValidationError("x"))
        #expect(!message.isEmpty)
        do {
            _ = try GuardrailCommand.parseAsRoot(["apply", "plan.json", "--target", "tenant.a"])
        } catch {
            #expect(GuardrailCommand.message(for: error).contains("--target cannot be combined with a saved plan"))
        }
    }

    @Test("plan rejects an unknown --format and lists the valid ones")
    func unknownFormat() {
        do {
            _ = try GuardrailCommand.parseAsRoot(["plan", "--format", "yaml"])
            Issue.record("parsing should have failed")
        } catch {
            let message = GuardrailCommand.message(for: error)
            #expect(message.contains("yaml"))
            #expect(message.contains("text"))
        }
    }

    @Test("a bad --lock-timeout duration is rejected at parse time")
    func badLockTimeout() {
        #expect(throws: (any Error).self) { try GuardrailCommand.parseAsRoot(["apply", "--lock-timeout", "soon"]) }
        #expect(throws: Never.self) { try GuardrailCommand.parseAsRoot(["apply", "--lock-timeout", "1m30s"]) }
    }
}
