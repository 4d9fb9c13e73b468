import ArgumentParser
import Foundation
@testable import GuardrailCLI
import GuardrailCore
import GuardrailEngine
import Testing

/// The files operators run the controller with (`deploy/kubernetes`, `deploy/systemd`) use only
/// commands, flags, ports and paths that exist: their command lines parse with the real command,
/// their environment is one in `environments/`, their secrets cover its variables, their probes and
/// watchdog follow the controller's bound, and their volumes hold the environment's paths.
@Suite("deployment files")
struct DeploymentFilesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// The environment the files run, resolved as the controller resolves it (secrets stand-ins).
    static func environment(_ name: String) throws -> (Environment, ResolvedEnvironment) {
        let (configuration, diagnostics) = try Workspace(root: root.path).loadEnvironments()
        #expect(!diagnostics.hasErrors)
        let declared = try #require(configuration.environments[name], "environments/\(name).yaml")
        let resolved = try ResolvedEnvironment.resolve(
            declared, processEnvironment: ["DATABASE_URL": "postgres://u@localhost/db", "GUARDRAIL_ADMIN_TOKEN": "t"])
        return (declared, resolved)
    }

    /// Variables the environment file needs and gives no default for: `${NAME}`.
    static func requiredVariables(_ name: String) throws -> Set<String> {
        let text = try Self.text("environments/\(name).yaml")
        let regex = try NSRegularExpression(pattern: #"\$\{([A-Z_][A-Z0-9_]*)\}"#)
        let matches = regex.matches(in: text, range: NSRange(text.startIndex..., in: text))
        return Set(matches.compactMap { Range($0.range(at: 1), in: text).map { String(text[$0]) } })
    }

    static func controller(_ arguments: [String]) throws -> ControllerCommand {
        let parsed = try GuardrailCommand.parseAsRoot(arguments)
        return try #require(parsed as? ControllerCommand, "\(arguments) is the controller command")
    }

    @Test(
        "systemd: ExecStart parses as `guardrail controller`, Restart=on-failure, WatchdogSec is the controller's stuck bound, secrets and paths are the environment's"
    )
    func systemdUnit() throws {
        let unit = try Self.text("deploy/systemd/guardrail-controller.service")
        var settings: [String: String] = [:]
        for line in unit.split(separator: "\n") where !line.hasPrefix("#") && line.contains("=") {
            let parts = line.split(separator: "=", maxSplits: 1)
            settings[String(parts[0])] = String(parts[1])
        }
        let exec = try #require(settings["ExecStart"]).split(separator: " ").map(String.init)
        #expect(exec.first?.hasSuffix("/guardrail") == true)
        // %H is systemd's host name specifier, expanded before the command runs.
        let command = try Self.controller(Array(exec.dropFirst()).map { $0 == "%H" ? "host-1" : $0 })
        #expect(command.replica == "host-1")
        #expect(command.global.dir == "/etc/guardrail")
        let (_, environment) = try Self.environment(command.environment.name)
        #expect(settings["Restart"] == "on-failure")
        #expect(settings["Type"] == "notify", "the controller sends READY=1 and WATCHDOG=1")
        #expect(settings["WatchdogSec"] == "\(Int(environment.stuckAfter.seconds))", "WatchdogSec matches the watchdog's bound")
        #expect(settings["TimeoutStopSec"] == "\(Int(environment.stuckAfter.seconds))")
        #expect(settings["EnvironmentFile"] != nil)
        for variable in try Self.requiredVariables(command.environment.name) {
            #expect(unit.contains("\(variable)="), "the unit's comment tells where \(variable) comes from")
        }
        let writable = (settings["ReadWritePaths"] ?? "").split(separator: " ").map(String.init)
        #expect(writable.contains(try #require(environment.backupDirectory)))
        #expect(writable.contains(try #require(Self.rulesDirectory(environment))))
    }

    /// Where the environment writes alert rule files, when its target is a Prometheus rules directory.
    static func rulesDirectory(_ environment: ResolvedEnvironment) -> String? {
        (environment.rulesTarget as? PrometheusRulesDirectory)?.directory
    }

    @Test(
        "Kubernetes: two replicas; the controller's args parse; liveness on /healthz and readiness on /readyz at the listen port; secrets cover the environment's variables; volumes hold its paths; the Service targets the port"
    )
    func kubernetes() throws {
        let deployment = try YAMLTree(Self.text("deploy/kubernetes/deployment.yaml"))
        #expect(deployment["kind"]?.string == "Deployment")
        #expect(deployment["spec", "replicas"]?.string == "2")
        let pod = try #require(deployment["spec", "template", "spec"])
        let containers = pod["containers"]?.list ?? []
        let controller = try #require(containers.first { $0["name"]?.string == "controller" })
        let args = (controller["args"]?.list ?? []).compactMap(\.string)
        // $(POD_NAME) is expanded by the kubelet from the env entry of that name.
        let env = controller["env"]?.list ?? []
        #expect(env.contains { $0["name"]?.string == "POD_NAME" && $0["valueFrom", "fieldRef", "fieldPath"]?.string == "metadata.name" })
        let command = try Self.controller(args.map { $0 == "$(POD_NAME)" ? "guardrail-controller-0" : $0 })
        let (declared, environment) = try Self.environment(command.environment.name)
        #expect(declared.controller != nil)

        // Every variable the environment needs comes from a Secret.
        for variable in try Self.requiredVariables(command.environment.name) {
            let entry = env.first { $0["name"]?.string == variable }
            #expect(entry?["valueFrom", "secretKeyRef", "name"]?.string != nil, "\(variable) comes from a Secret")
        }

        // The port: --listen's, named http, probed and served.
        let listen = try #require(command.listen)
        let port = try #require(listen.split(separator: ":").last.map(String.init))
        let ports = controller["ports"]?.list ?? []
        #expect(ports.contains { $0["name"]?.string == "http" && $0["containerPort"]?.string == port })
        #expect(controller["livenessProbe", "httpGet", "path"]?.string == "/healthz")
        #expect(controller["livenessProbe", "httpGet", "port"]?.string == "http")
        #expect(controller["readinessProbe", "httpGet", "path"]?.string == "/readyz")
        #expect(controller["readinessProbe", "httpGet", "port"]?.string == "http")
        #expect(
            pod["terminationGracePeriodSeconds"]?.string == "\(Int(environment.stuckAfter.seconds))", "SIGTERM may finish a tick as long as the bound"
        )

        // The configuration directory is git-sync's link under the shared volume.
        let mounts = (controller["volumeMounts"]?.list ?? []).compactMap { $0["mountPath"]?.string }
        let sync = try #require(containers.first { $0["name"]?.string == "git-sync" })
        let syncArgs = (sync["args"]?.list ?? []).compactMap(\.string)
        let syncRoot = try #require(syncArgs.first { $0.hasPrefix("--root=") }).dropFirst("--root=".count)
        let syncLink = try #require(syncArgs.first { $0.hasPrefix("--link=") }).dropFirst("--link=".count)
        #expect(command.global.dir == "\(syncRoot)/\(syncLink)")
        #expect(mounts.contains(String(syncRoot)))
        #expect((sync["volumeMounts"]?.list ?? []).contains { $0["mountPath"]?.string == String(syncRoot) })
        #expect(mounts.contains(try #require(environment.backupDirectory)))
        #expect(mounts.contains(try #require(Self.rulesDirectory(environment))))
        let volumes = Set((pod["volumes"]?.list ?? []).compactMap { $0["name"]?.string })
        for mount in controller["volumeMounts"]?.list ?? [] { #expect(volumes.contains(mount["name"]?.string ?? "?")) }

        let service = try YAMLTree(Self.text("deploy/kubernetes/service.yaml"))
        #expect(service["kind"]?.string == "Service")
        let servicePorts = service["spec", "ports"]?.list ?? []
        #expect(servicePorts.contains { $0["targetPort"]?.string == "http" && $0["port"]?.string == port })
        let labels = deployment["spec", "template", "metadata", "labels"]
        for entry in service["spec", "selector"]?.mapping ?? [] { #expect(labels?[entry.key]?.string == entry.value.string) }
    }
}

/// A parsed YAML document, navigated by keys: enough to read deployment files.
struct YAMLTree {
    let node: YAMLNode

    init(_ node: YAMLNode) { self.node = node }

    init(_ text: String) throws {
        let result = YAMLParser.parse(text, file: "deploy")
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        node = try #require(result.documents.first?.root)
    }

    subscript(_ keys: String...) -> YAMLTree? {
        var current = self
        for key in keys {
            guard case .mapping(let m) = current.node,
                let entry = m.entries.first(where: { if case .scalar(let s) = $0.key { s.value == key } else { false } })
            else { return nil }
            current = YAMLTree(entry.value)
        }
        return current
    }

    var string: String? { if case .scalar(let s) = node { s.value } else { nil } }
    var list: [YAMLTree]? { if case .sequence(let s) = node { s.items.map(YAMLTree.init) } else { nil } }
    var mapping: [(key: String, value: YAMLTree)]? {
        guard case .mapping(let m) = node else { return nil }
        return m.entries.compactMap { entry in if case .scalar(let k) = entry.key { (k.value, YAMLTree(entry.value)) } else { nil } }
    }
}
