import Foundation

/// Runs the built `guardrail` binary as a user would, and captures what it printed.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var output: String { stdout + stderr }

    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

public enum CommandRunner {
    /// `GUARDRAIL_BIN` (set by scripts/test), or the debug build next to the sources.
    public static var binary: String {
        if let path = ProcessInfo.processInfo.environment["GUARDRAIL_BIN"], !path.isEmpty { return path }
        return Fixtures.repositoryRoot.appendingPathComponent(".build/debug/guardrail").path
    }

    /// Runs `guardrail args...` in `directory` with `environment` added to a minimal environment.
    /// Standard input is /dev/null, as in CI.
    /// `executable`, when given, runs instead of guardrail (its first element the program, the rest
    /// its arguments), such as script(1) around a guardrail command line.
    public static func run(
        _ arguments: [String], in directory: URL, environment: [String: String] = [:],
        stdin: String? = nil, executable: [String]? = nil
    ) throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable?.first ?? binary)
        process.arguments = executable.map { Array($0.dropFirst()) } ?? arguments
        process.currentDirectoryURL = directory
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": NSTemporaryDirectory(), "NO_COLOR": "1"]
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        if let stdin {
            let input = Pipe()
            process.standardInput = input
            try process.run()
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try input.fileHandleForWriting.close()
        } else {
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }
        // Read both pipes concurrently so a chatty process can never block on a full pipe.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        group.enter()
        DispatchQueue.global().async {
            outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave()
        }
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave()
        }
        group.wait()
        process.waitUntilExit()
        return CommandResult(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }
}
