import Foundation
import GuardrailCore

/// What a command reads from and writes to its process: its output streams, standard input, the
/// environment variables and the working directory. The binary runs with `CommandIO.process`; a test
/// runs a command in-process with its own (`GuardrailCommand.execute(_:io:)`), so commands never reach
/// for the process directly.
public struct CommandIO: Sendable {
    public var out: @Sendable (String) -> Void
    public var err: @Sendable (String) -> Void
    public var readLine: @Sendable () -> String?
    public var environment: [String: String]
    /// Relative paths given on the command line are relative to this directory.
    public var workingDirectory: String
    public var stdoutIsTerminal: Bool
    public var stdinIsTerminal: Bool

    public init(
        out: @escaping @Sendable (String) -> Void, err: @escaping @Sendable (String) -> Void,
        readLine: @escaping @Sendable () -> String? = { nil }, environment: [String: String], workingDirectory: String,
        stdoutIsTerminal: Bool = false, stdinIsTerminal: Bool = false
    ) {
        self.out = out
        self.err = err
        self.readLine = readLine
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.stdoutIsTerminal = stdoutIsTerminal
        self.stdinIsTerminal = stdinIsTerminal
    }

    /// The process's own streams, environment and directory.
    public static var process: CommandIO {
        CommandIO(
            out: { FileHandle.standardOutput.write(Data($0.utf8)) }, err: { FileHandle.standardError.write(Data($0.utf8)) },
            readLine: { Swift.readLine() }, environment: ProcessInfo.processInfo.environment,
            workingDirectory: FileManager.default.currentDirectoryPath,
            stdoutIsTerminal: isatty(STDOUT_FILENO) == 1, stdinIsTerminal: isatty(STDIN_FILENO) == 1)
    }

    /// The IO of the command running in this task.
    @TaskLocal public static var current: CommandIO = .process
}

/// Where the command line writes. Standard output carries the result (a plan, a report); standard
/// error carries diagnostics and progress, so `plan --format json > plan.json` stays clean.
enum Console {
    static func out(_ text: String) {
        CommandIO.current.out(text)
    }

    static func error(_ text: String) {
        CommandIO.current.err(text.hasSuffix("\n") ? text : text + "\n")
    }

    static func diagnostics(_ diagnostics: [Diagnostic]) {
        guard !diagnostics.isEmpty else { return }
        error(diagnostics.map(\.description).joined(separator: "\n"))
    }

    static func readLine() -> String? { CommandIO.current.readLine() }

    static var stdoutIsTerminal: Bool { CommandIO.current.stdoutIsTerminal }
    static var stdinIsTerminal: Bool { CommandIO.current.stdinIsTerminal }

    /// The command's environment variables.
    static var environment: [String: String] { CommandIO.current.environment }

    /// A path from the command line, made absolute against the command's working directory.
    static func path(_ path: String) -> String {
        path.hasPrefix("/")
            ? path
            : URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: CommandIO.current.workingDirectory, isDirectory: true))
                .standardizedFileURL.path
    }

    /// Colour only on a terminal, and never when NO_COLOR is set (no-color.org).
    static func useColor(disabled: Bool) -> Bool {
        !disabled && stdoutIsTerminal && environment["NO_COLOR"].map(\.isEmpty) ?? true
    }

    /// The operating-system user, for the audit log and lock holder names.
    static var osUser: String {
        if let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return environment["USER"] ?? "unknown"
    }

    static var hostName: String { ProcessInfo.processInfo.hostName }
}
