import Foundation
import GuardrailTestSupport
import Testing

/// The command line as CI and engineers use it: exit codes, formats, saved plans, confirmation,
/// and that the database password never shows up anywhere.
@Suite("plan and apply from the command line", .enabled(if: TestPostgres.isAvailable, "needs the Postgres that scripts/test starts"))
struct PlanApplyCommandTests {
    struct Fixture {
        var db: TestDatabase
        var dir: URL
        var env: [String: String]
        /// Everything every command printed, checked for the password at the end.
        var transcript = ""

        mutating func run(
            _ args: [String], stdin: String? = nil, extraEnv: [String: String] = [:], through wrapper: [String]? = nil
        ) async throws -> CommandResult {
            // In-process, unless a wrapper (script(1) for a terminal) runs the binary.
            let result =
                try await wrapper == nil
                ? InProcess.run(args, in: dir, environment: env.merging(extraEnv) { $1 }, stdin: stdin)
                : CommandRunner.run(args, in: dir, environment: env.merging(extraEnv) { $1 }, stdin: stdin, executable: wrapper)
            transcript += result.output
            return result
        }

        func writeTenants(_ count: Int, displayPrefix: String = "Brokerage") throws {
            try Data(Fixtures.tenantsYAML(count: count, displayPrefix: displayPrefix).utf8)
                .write(to: dir.appendingPathComponent("manifests/tenants.yaml"))
        }
    }

    func fixture(tenants: Int = 12) async throws -> Fixture {
        let db = try await TestPostgres.createDatabase()
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: tenants),
            "environments/local.yaml": Fixtures.localEnvironmentYAML,
        ])
        return Fixture(db: db, dir: dir, env: ["DATABASE_URL": db.urlString])
    }

    @Test("--detailed-exitcode gives 2 for changes, 0 when converged, 3 when a hazard blocks, and text follows the plan contract")
    func detailedExitCodesAndTextOutput() async throws {
        var f = try await fixture()
        defer { let db = f.db; Task { await db.drop() } }

        let first = try await f.run(["plan", "--env", "local", "--detailed-exitcode"])
        #expect(first.status == 2, "\(first.output)")
        #expect(first.stdout.contains("+ tenant \"brokerage-0\" {"))
        #expect(first.stdout.contains("Plan: 12 to add, 0 to change, 0 to destroy."))
        #expect(!first.stdout.contains("\u{1B}["), "no colour when not on a terminal")

        let apply = try await f.run(["apply", "--env", "local", "--auto-approve"])
        #expect(apply.status == 0, "\(apply.output)")
        #expect(apply.stdout.contains("Apply complete! Resources: 12 added, 0 changed, 0 destroyed."))

        let converged = try await f.run(["plan", "--env", "local", "--detailed-exitcode"])
        #expect(converged.status == 0, "\(converged.output)")
        #expect(converged.stdout.contains("No changes."))
        #expect(converged.stdout.contains("Compared 12 tenants"))

        try f.writeTenants(11, displayPrefix: "Realty")
        let blocked = try await f.run(["plan", "--env", "local", "--detailed-exitcode"])
        #expect(blocked.status == 3, "\(blocked.output)")
        #expect(blocked.stdout.contains("- tenant \"brokerage-11\" {"))
        #expect(blocked.stdout.contains("~ display_name = \"Brokerage 1\" -> \"Realty 1\""))
        #expect(blocked.stdout.contains("Plan: 0 to add, 11 to change, 1 to destroy."))
        #expect(blocked.stdout.contains("needs --allow-destroy"))

        let allowed = try await f.run(["plan", "--env", "local", "--detailed-exitcode", "--allow-destroy"])
        #expect(allowed.status == 2, "\(allowed.output)")

        let refused = try await f.run(["apply", "--env", "local", "--auto-approve"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("--allow-destroy"))
        #expect(try await f.db.scalar("SELECT count(*) FROM guardrail.tenants") == "12")

        let history = try await f.run(["history", "--env", "local"])
        #expect(history.status == 0)
        #expect(
            history.stdout.split(separator: "\n").filter { $0.contains("  apply  ") }.count == 1,
            "one apply, the refused one is not: \(history.stdout)")

        #expect(!f.transcript.contains(f.db.password))
    }

    @Test("JSON output has format_version and every change with address, action, before, after and hazards")
    func jsonOutput() async throws {
        var f = try await fixture(tenants: 3)
        defer { let db = f.db; Task { await db.drop() } }
        let result = try await f.run(["plan", "--env", "local", "--format", "json"])
        #expect(result.status == 0, "\(result.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["format_version"] as? String == "1.0")
        let changes = try #require(json["changes"] as? [[String: Any]])
        #expect(changes.count == 3)
        for change in changes {
            #expect(change["address"] is String)
            #expect(change["action"] as? String == "create")
            #expect(change["after"] is [String: Any])
            #expect(change["hazards"] is [Any])
        }
        #expect(!f.transcript.contains(f.db.password))
    }

    @Test("Markdown output has a summary table and the full plan in <details>, under 60,000 characters for 3,000 tenants")
    func markdownOutputIsCapped() async throws {
        var f = try await fixture(tenants: 3_000)
        defer { let db = f.db; Task { await db.drop() } }
        let result = try await f.run(["plan", "--env", "local", "--format", "markdown"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("| Kind | Add | Change | Destroy |"))
        #expect(result.stdout.contains("| Tenant | 3000 | 0 | 0 |"))
        #expect(result.stdout.contains("<details><summary>Full plan</summary>"))
        #expect(result.stdout.count < 60_000)
        #expect(result.stdout.contains("was cut"))
    }

    @Test("a saved plan applies once; a second apply of the same file is refused; the file holds no password")
    func savedPlanRoundTrip() async throws {
        var f = try await fixture(tenants: 4)
        defer { let db = f.db; Task { await db.drop() } }
        let planPath = f.dir.appendingPathComponent("plan.json").path
        let plan = try await f.run(["plan", "--env", "local", "--out", planPath])
        #expect(plan.status == 0, "\(plan.output)")
        let saved = try String(contentsOfFile: planPath, encoding: .utf8)
        #expect(!saved.contains(f.db.password))
        #expect(saved.contains("\"fingerprints\""))

        let apply = try await f.run(["apply", "--env", "local", planPath])
        #expect(apply.status == 0, "\(apply.output)")
        #expect(try await f.db.scalar("SELECT count(*) FROM guardrail.tenants") == "4")

        let again = try await f.run(["apply", "--env", "local", planPath])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already applied"))
        #expect(!f.transcript.contains(f.db.password))
    }

    @Test("a saved plan is refused when live state moved on, naming the changed tenant")
    func staleSavedPlanFromCLI() async throws {
        var f = try await fixture(tenants: 4)
        defer { let db = f.db; Task { await db.drop() } }
        #expect(try await f.run(["apply", "--env", "local", "--auto-approve"]).status == 0)
        try f.writeTenants(4, displayPrefix: "Next")
        let planPath = f.dir.appendingPathComponent("plan.json").path
        #expect(try await f.run(["plan", "--env", "local", "--out", planPath]).status == 0)
        try await f.db.execute("UPDATE guardrail.tenants SET labels = '{\"x\":\"y\"}' WHERE name = 'brokerage-2'")
        let stale = try await f.run(["apply", "--env", "local", planPath])
        #expect(stale.status == 1)
        #expect(stale.stderr.contains("saved plan is stale"))
        #expect(stale.stderr.contains("tenant.brokerage-2"))
        #expect(try await f.db.scalar("SELECT count(*) FROM guardrail.tenants WHERE display_name LIKE 'Next%'") == "0")
    }

    @Test("apply without --auto-approve and without a terminal refuses and changes nothing")
    func applyNeedsApprovalWithoutTTY() async throws {
        var f = try await fixture(tenants: 2)
        defer { let db = f.db; Task { await db.drop() } }
        let result = try await f.run(["apply", "--env", "local"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("--auto-approve"))
        #expect(try await f.db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'guardrail'") == "0")
    }

    @Test("--target limits the plan to the addresses it names")
    func targetLimitsThePlan() async throws {
        var f = try await fixture(tenants: 5)
        defer { let db = f.db; Task { await db.drop() } }
        let result = try await f.run(["plan", "--env", "local", "--target", "tenant.brokerage-2", "--format", "json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let addresses = (json["changes"] as? [[String: Any]])?.compactMap { $0["address"] as? String }
        #expect(addresses == ["tenant.brokerage-2"])
        #expect(try await f.run(["apply", "--env", "local", "--auto-approve", "--target", "tenant.brokerage-2"]).status == 0)
        #expect(try await f.db.scalar("SELECT string_agg(name, ',') FROM guardrail.tenants") == "brokerage-2")
    }

    @Test("a wrong password or an unreachable server gives a clear error that never contains the password")
    func connectionErrorsRedactThePassword() async throws {
        var f = try await fixture(tenants: 1)
        defer { let db = f.db; Task { await db.drop() } }
        let wrong = "pw-wrong-\(UUID().uuidString)"
        var url = URLComponents(string: f.db.urlString)!
        url.password = wrong
        let bad = try await f.run(["plan", "--env", "local"], extraEnv: ["DATABASE_URL": url.string!])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("cannot connect to Postgres at postgres://"))
        #expect(bad.stderr.contains(":***@"))
        #expect(!bad.output.contains(wrong))

        url.password = f.db.password
        url.port = 1
        let unreachable = try await f.run(["apply", "--env", "local", "--auto-approve"], extraEnv: ["DATABASE_URL": url.string!])
        #expect(unreachable.status == 1)
        #expect(unreachable.stderr.contains("cannot connect to Postgres"))
        #expect(!f.transcript.contains(f.db.password))
        #expect(!f.transcript.contains(wrong))
    }

    @Test("a missing DATABASE_URL is an error naming the variable and the file that reads it")
    func missingVariableIsNamed() async throws {
        let dir = try Fixtures.writeWorkspace(files: [
            "manifests/tenants.yaml": Fixtures.tenantsYAML(count: 1),
            "environments/local.yaml": Fixtures.localEnvironmentYAML,
        ])
        let result = try await InProcess.run(["plan", "--env", "local"], in: dir)
        #expect(result.status == 1)
        #expect(result.stderr.contains("environments/local.yaml:5:"))
        #expect(result.stderr.contains("environment variable DATABASE_URL is not set"))
    }

    @Test("on a terminal, apply shows the plan and applies only after 'yes'; anything else cancels and changes nothing")
    func confirmationOnATerminal() async throws {
        var f = try await fixture(tenants: 2)
        defer { let db = f.db; Task { await db.drop() } }
        // script(1) gives the command a pseudo-terminal, as an engineer's shell would.
        func onTerminal(_ answer: String) async throws -> CommandResult {
            let command = "\(CommandRunner.binary) apply --env local --no-color"
            return try await f.run([], stdin: answer + "\n", through: ["/usr/bin/script", "-qec", command, "/dev/null"])
        }
        let no = try await onTerminal("no")
        #expect(no.output.contains("Do you want to perform these actions in environment \"local\"?"), "\(no.output)")
        #expect(no.output.contains("Apply cancelled."), "\(no.output)")
        #expect(try await f.db.scalar("SELECT to_regclass('guardrail.tenants') IS NULL") == "t")
        let yes = try await onTerminal("yes")
        #expect(yes.output.contains("Apply complete! Resources: 2 added, 0 changed, 0 destroyed."), "\(yes.output)")
        #expect(try await f.db.scalar("SELECT count(*) FROM guardrail.tenants") == "2")
        #expect(!f.transcript.contains(f.db.password))
    }

    @Test("plan is in colour on a terminal, and plain with --no-color, with NO_COLOR, or through a pipe")
    func colourOnlyOnATerminal() async throws {
        var f = try await fixture(tenants: 2)
        defer { let db = f.db; Task { await db.drop() } }
        func onTerminal(_ flags: String, noColor: String = "") async throws -> CommandResult {
            try await f.run(
                [], extraEnv: ["NO_COLOR": noColor],
                through: ["/usr/bin/script", "-qec", "\(CommandRunner.binary) plan --env local \(flags)", "/dev/null"])
        }
        let coloured = try await onTerminal("")
        #expect(coloured.output.contains("\u{1B}[32m+\u{1B}[0m tenant \"brokerage-0\" {"), "\(coloured.output)")
        #expect(coloured.output.contains("\u{1B}[1mPlan:\u{1B}[0m 2 to add"), "\(coloured.output)")
        #expect(!(try await onTerminal("--no-color")).output.contains("\u{1B}["))
        #expect(!(try await onTerminal("", noColor: "1")).output.contains("\u{1B}["))
        let piped = try await f.run(["plan", "--env", "local"], extraEnv: ["NO_COLOR": ""])
        #expect(piped.stdout.contains("+ tenant \"brokerage-0\" {"))
        #expect(!piped.output.contains("\u{1B}["))
    }

    @Test(
        "a second apply from the command line says once, after a second, who holds the lock and since when; waits --lock-timeout, then fails naming the holder"
    )
    func concurrentApplyFromTheCommandLine() async throws {
        var f = try await fixture(tenants: 2)
        defer { let db = f.db; Task { await db.drop() } }
        let holder = try await f.db.lockedSession()
        let started = Date()
        let blocked = try await f.run(["apply", "--env", "local", "--auto-approve", "--lock-timeout", "3s"])
        let waited = Date().timeIntervalSince(started)
        await holder.close()
        #expect(blocked.status == 1)
        let waitingLines = blocked.stderr.split(separator: "\n").filter { $0.hasPrefix("waiting for the apply lock held by ") }
        #expect(waitingLines.count == 1, "one waiting line: \(blocked.stderr)")
        #expect(waitingLines.first?.contains("\"test lock\" (environment \"local\", pid ") == true, "\(waitingLines)")
        #expect(waitingLines.first?.contains(", since 20") == true, "\(waitingLines)")
        #expect(
            blocked.stderr.contains(
                "another Guardrail process holds the apply lock (schema \"guardrail\" in the database of environment \"local\"); waited 3s"),
            "\(blocked.stderr)")
        #expect(
            blocked.stderr.contains("\"test lock\" (environment \"local\", pid "), "names the holder's application_name and pid: \(blocked.stderr)")
        #expect(waited >= 3 && waited < 30, "\(waited)")
        #expect(try await f.run(["apply", "--env", "local", "--auto-approve"]).status == 0, "free again once the holder is gone")
    }
}
