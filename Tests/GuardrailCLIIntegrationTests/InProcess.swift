import Foundation
import GuardrailCLI
import GuardrailTestSupport
import NIOConcurrencyHelpers

/// Runs a `guardrail` command line in this process, as `CommandRunner` runs the binary: the same
/// arguments, directory, minimal environment and standard input, with its output captured through
/// the command's `CommandIO` instead of pipes. Tests that are about the process itself (signals,
/// a terminal, the controller's logging) keep spawning the binary.
enum InProcess {
    static func run(_ arguments: [String], in directory: URL, environment: [String: String] = [:], stdin: String? = nil) async throws -> CommandResult
    {
        let out = NIOLockedValueBox(""), err = NIOLockedValueBox("")
        let lines = NIOLockedValueBox(stdin.map { $0.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) } ?? [])
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": NSTemporaryDirectory(), "NO_COLOR": "1"]
        for (k, v) in environment { env[k] = v }
        let io = CommandIO(
            out: { text in out.withLockedValue { $0 += text } }, err: { text in err.withLockedValue { $0 += text } },
            readLine: { lines.withLockedValue { $0.isEmpty ? nil : $0.removeFirst() } },
            environment: env, workingDirectory: directory.path)
        let status = await GuardrailCommand.execute(arguments, io: io)
        return CommandResult(status: status, stdout: out.withLockedValue { $0 }, stderr: err.withLockedValue { $0 })
    }
}
