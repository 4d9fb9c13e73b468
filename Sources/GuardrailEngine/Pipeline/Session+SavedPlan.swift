import Foundation
import GuardrailCore
import PostgresNIO

extension Session {
    /// The database as a saved plan names it: the cluster's system identifier, the database and the schema.
    public func databaseTarget() async throws -> DatabaseTarget {
        do {
            let rows = try await connection.query(
                "SELECT (SELECT system_identifier::text FROM pg_catalog.pg_control_system()), pg_catalog.current_database()::text", logger: logger)
            for (identifier, name) in try rows.decode((String, String).self) {
                return DatabaseTarget(systemIdentifier: identifier, name: name, schema: schema.name)
            }
        } catch {
            throw DatabaseError.wrap(error, context: "reading the database's identity")
        }
        throw DatabaseError.other("the database did not say which cluster it is")
    }

    /// When the plan with this id was applied, from the audit log; nil when it was not.
    func appliedAt(planID: String) async throws -> String? {
        guard try await Migrations.currentVersion(connection, schema: schema, logger: logger) != nil, let id = UUID(uuidString: planID) else {
            return nil
        }
        do {
            let rows = try await connection.query(
                "SELECT applied_at::text FROM \(schema.qualifying("audit_log")) WHERE plan_id = \(id)", logger: logger)
            for at in try rows.decode(String.self) { return at }
        } catch {
            throw DatabaseError.wrap(error, context: "reading the audit log")
        }
        return nil
    }

    /// What a plan made now, by this session, from `configuration`, is bound to.
    public func binding(targets: [String], configuration: ConfigurationDigest) async throws -> PlanBinding {
        PlanBinding(
            environment: environment.name, database: try await databaseTarget(),
            alerts: [environment.rulesTarget?.description, environment.alertmanager?.description].compactMap { $0 }.joined(separator: "; ")
                .nilIfEmpty,
            targets: targets, configuration: configuration)
    }

    /// The plan `apply FILE` applies: a fresh plan of `configuration` against live state now, made
    /// under the apply lock, after checking that the saved plan was made here, from this
    /// configuration, signed when a key is set, and is identical to the fresh one. Nothing that
    /// decides safety is taken from the file: the fresh plan's hazards are the ones checked.
    ///
    /// The untouched file is recognised without decoding its changes: the checks that need only its
    /// header pass, and the fresh plan renders to the file's bytes. Anything else is decoded in full and
    /// goes through the checks in their usual order, so a refusal names the same cause either way.
    public func replan(file: SavedPlanFile, configuration: Configuration, gitCommit: String?) async throws -> Plan {
        guard lock != nil else { throw ApplyRefusal.notLocked }
        if let fresh = try await replanUntouched(file, configuration: configuration, gitCommit: gitCommit) { return fresh }
        let saved: Plan
        do {
            saved = try file.plan()
        } catch {
            throw DiagnosticError(.error("the saved plan could not be read in full", detail: "\(error). Make one with `guardrail plan --out FILE`."))
        }
        return try await replan(saved: saved, configuration: configuration, gitCommit: gitCommit)
    }

    /// The fresh plan when every header check passes and it renders to the file byte for byte; nil
    /// as soon as anything differs. A signed file is verified over the candidate, whose content is
    /// then known to be the file's.
    private func replanUntouched(_ file: SavedPlanFile, configuration: Configuration, gitCommit: String?) async throws -> Plan? {
        let header = file.header
        let key = environment.planSigningKey?.value
        guard header.formatVersion == Plan.currentFormatVersion, environment.planSigningKeyProblem == nil,
            (key == nil) == (header.signature == nil), let binding = header.binding, let digest = configuration.digest
        else { return nil }
        let current = try await self.binding(targets: binding.targets, configuration: digest)
        guard binding.targetMismatch(current) == nil, binding.configuration.difference(from: current.configuration) == nil,
            try await appliedAt(planID: header.id) == nil
        else { return nil }
        var fresh = try await plan(configuration, targets: binding.targets, gitCommit: gitCommit ?? header.gitCommit)
        let candidate = file.candidate(from: fresh)
        if let key, try PlanSignature.verify(candidate, key: key) != .valid { return nil }
        guard try file.isRendering(of: candidate) else { return nil }
        fresh.id = header.id
        fresh.binding = binding
        return fresh
    }

    /// `replan(file:)` for a plan decoded in full: every check in turn, then the change-by-change comparison.
    func replan(saved: Plan, configuration: Configuration, gitCommit: String?) async throws -> Plan {
        guard lock != nil else { throw ApplyRefusal.notLocked }
        guard saved.formatVersion == Plan.currentFormatVersion else { throw ApplyRefusal.unsupportedFormat(saved.formatVersion) }
        if let problem = environment.planSigningKeyProblem { throw DiagnosticError(problem) }
        try SavedPlanRefusal.checkSignature(of: saved, key: environment.planSigningKey?.value)
        guard let binding = saved.binding, let digest = configuration.digest else { throw SavedPlanRefusal.unbound }
        let current = try await self.binding(targets: binding.targets, configuration: digest)
        try SavedPlanRefusal.checkBinding(binding, against: current)
        // Said before the comparison, which would only find that the plan's work is done.
        if let at = try await appliedAt(planID: saved.id) { throw ApplyRefusal.alreadyApplied(planID: saved.id, at: at) }
        var fresh = try await plan(configuration, targets: binding.targets, gitCommit: gitCommit ?? saved.gitCommit)
        if let difference = PlanDifference.first(saved: saved, fresh: fresh) { throw SavedPlanRefusal.differs(difference) }
        // The fresh plan is applied under the saved plan's id, so applying the file twice is refused.
        fresh.id = saved.id
        fresh.binding = binding
        return fresh
    }
}
