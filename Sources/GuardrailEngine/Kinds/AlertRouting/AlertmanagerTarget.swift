import Crypto
import Foundation
import GuardrailCore

/// An Alertmanager whose configuration file Guardrail owns: `alertmanager: {url, configFile}`.
///
/// Plan reads the running configuration through `GET /api/v2/status`, so it works from a CI runner.
/// Apply renders the whole file, checks it with `amtool check-config` when installed, writes it
/// atomically (0600: it holds secrets), `POST /-/reload`s, and confirms through `GET /api/v2/status`
/// that the running routing is the one written; otherwise it puts the previous file back, reloads
/// again and fails with Alertmanager's reason (the same confirmed-load contract as rule files).
public struct AlertmanagerTarget: Sendable, CustomStringConvertible {
    public var baseURL: String
    public var configFile: String?
    /// The process environment the routing's `${VAR}` secrets are read from. Never printed.
    var variables: [String: String]
    /// How long to wait for Alertmanager to show the new configuration after a reload.
    public var confirmTimeout: TimeInterval = 30
    /// `amtool`, when installed: the rendered file is checked with `amtool check-config` before it is written.
    public var amtool: String? = AlertmanagerTarget.amtoolPath

    public init(baseURL: String, configFile: String?, variables: [String: String]) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.configFile = configFile
        self.variables = variables
    }

    public var description: String {
        "Alertmanager at \(HTTPExchange.redacted(baseURL))" + (configFile.map { " (configuration file \($0))" } ?? "")
    }

    /// The configuration Alertmanager runs now, as YAML text.
    func runningConfiguration() async throws -> String {
        let answer = try await HTTPExchange.send(.GET, baseURL + "/api/v2/status")
        guard answer.succeeded else { throw AlertmanagerError("GET /api/v2/status answered \(answer.status): \(answer.text.prefix(300))") }
        guard let status = try? JSONDecoder().decode(AlertmanagerStatus.self, from: answer.body) else {
            throw AlertmanagerError("GET /api/v2/status did not return config.original")
        }
        return status.config.original
    }

    /// The part of `GET /api/v2/status` that is read: `{"config": {"original": "<the YAML file>"}}`.
    struct AlertmanagerStatus: Decodable {
        struct Config: Decodable { var original: String }
        var config: Config
    }

    /// The running routing in the manifest's terms, its settings aligned with `desired`'s.
    public func observe(desired: AlertRouting?) async throws -> AlertRouting {
        let text: String
        do {
            text = try await runningConfiguration()
        } catch {
            throw DiagnosticError(
                .error(
                    "cannot read the running Alertmanager configuration from \(description)",
                    detail: "\(error). Without it the routing cannot be compared; check that this machine can reach Alertmanager."))
        }
        switch AlertRouting.running(text, aligningWith: desired, name: desired?.name ?? "alertmanager") {
        case .success(let routing): return routing
        case .failure(let d): throw DiagnosticError(d)
        }
    }

    /// The SHA-256 of the routing's resolved secrets, or the diagnostic naming an unset variable.
    public func secretDigest(of routing: AlertRouting) throws -> String {
        if let digest = routing.secretDigest(resolving: variables) { return digest }
        if case .failure(let d) = routing.alertmanagerConfiguration(resolving: variables) { throw DiagnosticError(d) }
        throw DiagnosticError(.error("a secret of the routing cannot be resolved"))
    }

    /// Writes, reloads and confirms `routing`; on failure restores the previous file and reloads.
    public func apply(_ routing: AlertRouting) async throws -> [String] {
        guard let configFile else {
            throw AlertmanagerError("alertmanager.configFile is not set for this environment, so the configuration cannot be written")
        }
        let text: String
        switch routing.alertmanagerConfiguration(resolving: variables) {
        case .success(let t): text = t
        case .failure(let d): throw DiagnosticError(d)
        }
        var steps: [String] = []
        if let amtool {
            // Checked beside the target (same directory, 0600) so relative paths resolve the same way.
            let scratch = URL(fileURLWithPath: configFile).deletingLastPathComponent()
                .appendingPathComponent(".guardrail-check-\(UUID().uuidString).yml").path
            try PrivateFile.writeAtomically(Array(text.utf8), to: scratch)
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let result = try await ExternalCommand(executable: amtool, arguments: ["check-config", scratch]).run()
            guard result.status == 0 else {
                let reason = (result.stderr + result.stdout).split(separator: "\n").filter { !$0.contains("Checking") }.prefix(5).joined(
                    separator: " ")
                throw AlertmanagerError("amtool check-config refuses the rendered configuration: \(reason)")
            }
            steps.append("amtool check-config: OK")
        }
        let previous = FileManager.default.contents(atPath: configFile)
        do {
            try PrivateFile.writeAtomically(Array(text.utf8), to: configFile)
        } catch {
            throw AlertmanagerError("cannot write \(configFile): \(error)")
        }
        steps.append("wrote \(configFile) (\(KindNames.count(routing.receivers.count, of: "receiver")))")
        do {
            try await reload()
            steps.append("Alertmanager reloaded")
            try await confirm(routing, text: text)
            steps.append("Alertmanager runs the configuration as written")
        } catch {
            let restored = await restore(previous, to: configFile)
            throw AlertmanagerError("\(error)\n  \(restored)")
        }
        return steps
    }

    func reload() async throws {
        let answer = try await HTTPExchange.send(.POST, baseURL + "/-/reload")
        guard answer.succeeded else {
            throw AlertmanagerError(
                "Alertmanager refused the configuration: \(answer.text.trimmingCharacters(in: .whitespacesAndNewlines).prefix(500))")
        }
    }

    /// Polls `GET /api/v2/status` until the running routing is the one written.
    /// Polls `GET /api/v2/status` and `/metrics` until the running routing is the one written: the
    /// same routing, and `alertmanager_config_hash` equal to the written file's.
    func confirm(_ routing: AlertRouting, text written: String) async throws {
        let deadline = Date().addingTimeInterval(confirmTimeout)
        let expected = routing.attributes()
        let hash = Self.configHash(written)
        var lastProblem = "no answer yet"
        while true {
            do {
                let text = try await runningConfiguration()
                switch AlertRouting.running(text, aligningWith: routing, name: routing.name) {
                case .success(let running):
                    let live = running.attributes()
                    let differing = Set(live.keys).union(expected.keys).filter { live[$0] != expected[$0] }.sorted()
                    if !differing.isEmpty {
                        lastProblem = "the running configuration differs in \(differing.joined(separator: ", "))"
                    } else if let running = await metric("alertmanager_config_hash"), running != hash {
                        lastProblem = "alertmanager_config_hash is not the hash of the file written"
                    } else {
                        return
                    }
                case .failure(let d): lastProblem = d.summary
                }
            } catch {
                lastProblem = "\(error)"
            }
            if Date() >= deadline {
                throw AlertmanagerError("Alertmanager did not run the configuration as written within \(Int(confirmTimeout))s: \(lastProblem)")
            }
            try await Task.sleep(nanoseconds: 250_000_000)
        }
    }

    /// Puts the previous file back and reloads; says what happened, for the error message.
    func restore(_ previous: Data?, to path: String) async -> String {
        do {
            if let previous {
                try PrivateFile.writeAtomically([UInt8](previous), to: path)
            } else {
                try? FileManager.default.removeItem(atPath: path)
            }
        } catch {
            return "Restoring the previous \(path) failed (\(error)); fix it by hand."
        }
        guard previous != nil else { return "There was no previous \(path); the new one was removed." }
        do {
            try await reload()
            return "The previous \(path) was restored and Alertmanager reloaded it."
        } catch {
            return "The previous \(path) was restored, but reloading Alertmanager failed again: \(error)"
        }
    }

    /// Alertmanager's `alertmanager_config_hash` of a file: the first 48 bits of its MD5, little-endian.
    static func configHash(_ text: String) -> Double {
        let sum = Array(Insecure.MD5.hash(data: Array(text.utf8)))
        var value: UInt64 = 0
        for (i, byte) in sum.prefix(6).enumerated() { value |= UInt64(byte) << (8 * UInt64(i)) }
        return Double(value)
    }

    /// One of Alertmanager's own metrics, or nil when /metrics cannot be read.
    func metric(_ name: String) async -> Double? {
        guard let answer = try? await HTTPExchange.send(.GET, baseURL + "/metrics"), answer.succeeded else { return nil }
        for line in answer.text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    static var amtoolPath: String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") + ["/usr/bin"] {
            let candidate = "\(dir)/amtool"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// Alertmanager refused or did not confirm a change; the reason is Alertmanager's where it gave one.
public struct AlertmanagerError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension String {
    /// nil for the empty string, for optional settings joined from parts.
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
