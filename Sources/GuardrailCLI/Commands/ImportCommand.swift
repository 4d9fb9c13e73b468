import ArgumentParser
import Foundation
import GuardrailCore
import GuardrailEngine

/// `guardrail import`: writes manifests for live objects the configuration does not declare yet, and
/// records them as managed, so an immediate plan is empty.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Write manifests for live objects, so Guardrail can manage them (adoption).",
        discussion: """
            rls: every table with row-level security enabled or forced, or with policies, outside the \
            system schemas. grants: every role holding SELECT, INSERT, UPDATE or DELETE on such tables. \
            Objects the configuration already declares are skipped. The manifests are written to \
            policies/imported-<kind>.yaml (or --out), and the objects are recorded as managed in \
            Guardrail's schema: deleting their manifests later plans their removal.
            """
    )

    enum Kind: String, ExpressibleByArgument, CaseIterable { case rls, grants }

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions

    @Argument(help: ArgumentHelp("What to import: rls or grants.", valueName: "kind"))
    var kind: Kind

    @Option(name: .long, help: ArgumentHelp("The file to write, relative to the configuration directory.", valueName: "file"))
    var out: String?

    @Flag(name: .long, help: "Overwrite the file if it exists.")
    var force = false

    @Option(name: .long, help: ArgumentHelp("How long to wait for the apply lock (e.g. 30s).", valueName: "duration"))
    var lockTimeout: GuardrailDuration = .seconds(10)

    @OptionGroup var why: ReasonOption

    func run() async throws {
        let configuration = try global.loadConfiguration()
        let resolved = try environment.resolve(in: configuration)
        if let refusal = resolved.missingReason(why.reason, command: "`guardrail import`") {
            Console.error("error: " + refusal)
            throw ExitCode.failure
        }
        let relative = out ?? "policies/imported-\(kind.rawValue).yaml"
        let path = URL(fileURLWithPath: relative, relativeTo: global.workspace.root).standardizedFileURL
        if FileManager.default.fileExists(atPath: path.path), !force {
            Console.error("error: \(relative) already exists\n  Pass --force to overwrite it, or --out to write another file.")
            throw ExitCode.failure
        }
        let applicationName = "guardrail import (\(Console.osUser)@\(Console.hostName))"
        let session = try await withDiagnostics { try await Session.open(resolved, applicationName: applicationName) }
        do {
            let header = "Imported by `guardrail import \(kind.rawValue)` from environment \"\(resolved.name)\"."
            let text: String
            var tables: [QualifiedName] = [], roles: [String] = []
            // Role manifests that gain the privileges their roles hold on the imported tables, by file.
            var editedFiles: [String: String] = [:]
            var editedRoles: [String] = []
            switch kind {
            case .rls:
                let found = try await withDiagnostics {
                    try await session.discoverRowLevelSecurity(excluding: Set(configuration.rowLevelSecurity.map(\.table)))
                }
                tables = found.map(\.table)
                text = RowLevelSecurity.manifestYAML(
                    found, header: header + "\nExpressions are as Postgres stores them, fully qualified, so searchPath is empty.")
                // Adopting a table makes every declared role's privileges on it managed: without
                // them in the role's manifest, the next plan would revoke them.
                let held = try await withDiagnostics {
                    try await session.privileges(of: Set(configuration.roleGrants.map(\.role)), on: Set(tables))
                }
                for role in held.keys.sorted() {
                    guard let file = configuration.locations[RoleGrants.address(role)]?.file else { continue }
                    let current = try editedFiles[file] ?? String(contentsOf: global.workspace.root.appendingPathComponent(file), encoding: .utf8)
                    do {
                        editedFiles[file] = try RoleGrants.addingGrants(held[role]!, toRole: role, in: current, file: file)
                        editedRoles.append(role)
                    } catch {
                        Console.error(
                            "error: cannot add \(role)'s privileges on the imported tables to \(file): \(error)\n  "
                                + "Add them to its grants by hand and run the import again; nothing was written.")
                        throw ExitCode.failure
                    }
                }
            case .grants:
                let found = try await withDiagnostics { try await session.discoverRoleGrants(excluding: Set(configuration.roleGrants.map(\.role))) }
                roles = found.map(\.role)
                text = RoleGrants.manifestYAML(found, header: header)
            }
            guard !tables.isEmpty || !roles.isEmpty else {
                Console.error(
                    "Nothing to import: every live \(kind == .rls ? "table with row-level security" : "role with table privileges") is already in the configuration."
                )
                await session.close()
                return
            }
            // What is written must read back, together with the edited role manifests and the rest
            // of the configuration; a failure here is a bug, and nothing is written or recorded.
            var sources = try global.workspace.sources().sources.filter { editedFiles[$0.path] == nil && $0.path != relative }
            sources.append(ManifestSource(path: relative, bytes: Array(text.utf8)))
            for (file, edited) in editedFiles { sources.append(ManifestSource(path: file, bytes: Array(edited.utf8))) }
            let (_, diagnostics) = ConfigurationLoader.load(sources)
            guard !diagnostics.hasErrors else {
                Console.diagnostics(diagnostics.sorted)
                Console.error("error: the imported manifests do not validate; this is a bug in Guardrail, and nothing was written")
                throw ExitCode.failure
            }
            try withDiagnostics {
                do {
                    try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try Data(text.utf8).write(to: path, options: .atomic)
                    for (file, edited) in editedFiles.sorted(by: { $0.key < $1.key }) {
                        try Data(edited.utf8).write(to: global.workspace.root.appendingPathComponent(file), options: .atomic)
                    }
                } catch {
                    throw DiagnosticError(.error("cannot write \(relative)", detail: error.localizedDescription))
                }
            }
            try await withDiagnostics {
                try await session.acquireLock(timeout: lockTimeout, applicationName: applicationName + " lock")
                try await session.adopt(
                    tables: tables, roles: roles,
                    record: .init(
                        actor: Console.osUser, gitCommit: global.workspace.gitCommit(), reason: why.reason,
                        summary: "imported \(kind.rawValue) into \(relative): "
                            + (tables.map(\.description) + roles).joined(separator: ", ")))
            }
            let count = tables.count + roles.count
            let noun = kind == .rls ? "table\(count == 1 ? "" : "s") with row-level security" : "role\(count == 1 ? "" : "s")"
            Console.out("Imported \(count) \(noun) into \(relative); Guardrail now manages \(count == 1 ? "it" : "them").\n")
            for (file, _) in editedFiles.sorted(by: { $0.key < $1.key }) {
                let names = editedRoles.filter { configuration.locations[RoleGrants.address($0)]?.file == file }
                Console.out(
                    "Added the privileges \(names.joined(separator: ", ")) hold\(names.count == 1 ? "s" : "") on the imported tables to their grants in \(file).\n"
                )
            }
            Console.out("Run `guardrail plan --env \(resolved.name)`: it should show no changes.\n")
            await session.close()
        } catch {
            await session.close()
            throw error
        }
    }
}
