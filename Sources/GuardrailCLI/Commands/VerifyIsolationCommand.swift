import ArgumentParser
import Foundation
import GuardrailCore
import GuardrailEngine

/// `guardrail verify isolation`: proves that a role acting for one tenant can neither see nor write
/// another tenant's rows, on every table the configuration secures.
struct VerifyIsolationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "isolation",
        abstract: "Prove that tenant A cannot see or write tenant B's rows.",
        discussion: """
            For every table with a RowLevelSecurity manifest and enabled: true, and for every role its \
            policies name (or each --role), sets the role and the tenant setting to tenant A, then tries \
            to read tenant B's rows, insert a row for B, move a row to B, and update and delete B's rows; \
            for a partitioned table it also checks that no role can use a partition without row-level \
            security directly. \
            It writes one test row per tenant first, so the connecting user must bypass row-level \
            security (a superuser or BYPASSRLS role). Everything runs in one transaction that is rolled \
            back. Exits 1 if any check finds a leak or cannot run.
            """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var environment: EnvironmentOptions

    @Option(name: .long, help: ArgumentHelp("A role to act as (repeatable). Defaults to every role the policies name.", valueName: "role"))
    var role: [String] = []

    @Option(name: .long, help: ArgumentHelp("The column holding the tenant id.", valueName: "column"))
    var tenantColumn = "tenant_id"

    @Option(name: .long, help: ArgumentHelp("The setting the policies read the current tenant from.", valueName: "name"))
    var setting = "app.current_tenant_id"

    func run() async throws {
        let configuration = try global.loadConfiguration()
        let resolved = try environment.resolve(in: configuration)
        let secured = configuration.rowLevelSecurity.filter(\.enabled).sorted { $0.table < $1.table }
        guard !secured.isEmpty else {
            Console.error(
                "error: no table has a RowLevelSecurity manifest with enabled: true\n  Add policies/ manifests first; there is nothing to verify.")
            throw ExitCode.failure
        }
        let roles =
            role.isEmpty
            ? Set(secured.flatMap { $0.policies.flatMap(\.roles) }).subtracting([RowLevelSecurity.Policy.publicRole]).sorted()
            : role
        guard !roles.isEmpty else {
            Console.error("error: the policies apply to PUBLIC only, so there is no role to act as\n  Name the application's role with --role.")
            throw ExitCode.failure
        }
        let tenants = configuration.tenants.sorted { $0.name < $1.name }
        let (a, b): ((String, String), (String, String)) =
            tenants.count >= 2
            ? ((tenants[0].name, tenants[0].id), (tenants[1].name, tenants[1].id))
            : (("tenant A", UUID().uuidString.lowercased()), ("tenant B", UUID().uuidString.lowercased()))
        let options = IsolationVerifier.Options(
            tables: secured.map(\.table), roles: roles, tenantColumn: tenantColumn, setting: setting,
            tenantA: a.1, tenantB: b.1)
        let report = try await withDiagnostics {
            let session = try await Session.open(resolved, applicationName: "guardrail verify isolation (\(Console.osUser)@\(Console.hostName))")
            do {
                let report = try await session.verifyIsolation(options)
                await session.close()
                return report
            } catch {
                await session.close()
                throw error
            }
        }
        Console.out("Acting for \(a.0) (\(a.1)) against \(b.0) (\(b.1)), with \(setting) set; all changes rolled back.\n\n")
        var rows = [["TABLE", "ROLE", "CHECK", "RESULT", "DETAIL"]]
        for check in report.checks {
            rows.append([check.table.description, check.role, check.name, check.outcome.rawValue, check.detail])
        }
        let widths = rows[0].indices.map { i in rows.map { $0[i].count }.max()! }
        for row in rows {
            Console.out(
                row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                    .joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n")
        }
        let passed = report.checks.filter { $0.outcome == .isolated }.count
        Console.out(
            "\n\(report.checks.count) checks: \(passed) isolated, \(report.leaks) leak\(report.leaks == 1 ? "" : "s"), \(report.failures) could not run.\n"
        )
        if !report.proven {
            Console.error(
                report.leaks > 0
                    ? "error: tenant isolation is broken: \(report.leaks) check\(report.leaks == 1 ? "" : "s") reached another tenant's rows"
                    : "error: tenant isolation is unproven: \(report.failures) check\(report.failures == 1 ? "" : "s") could not run")
            throw ExitCode.failure
        }
    }
}
