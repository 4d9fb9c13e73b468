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
        guard try await Migrations.currentVersion(connection, schema: schema, logger: logger) != nil, let id = UUID(uuidString: planID) else { return nil }
        do {
            let rows = try await connection.query(
                "SELECT applied_at::text FROM \(unescaped: schema.qualifying("audit_log")) WHERE plan_id = \(id)", logger: logger)
            for at in try rows.decode(String.self) { return at }
        } catch {
            throw DatabaseError.wrap(error, context: "reading the audit log")
        }
        return nil
    }

    /// What a plan made now, by this session, from `configuration`, is bound to.
    public func binding(targets: [String], configuration: ConfigurationDigest) async throws -> PlanBinding {
        PlanBinding(environment: environment.name, database: try await databaseTarget(), alerts: [environment.rulesTarget?.description, environment.alertmanager?.description].compactMap { $0 }.joined(separator: "; ").nilIfEmpty,
                    targets: targets, configuration: configuration)
    }

    /// The plan `apply FILE` applies: a fresh plan of `configuration` against live state now, made
    /// under the apply lock, after checking that the saved plan was made here, from this
    /// configuration, signed when a key is set, and is identical to the fresh one. Nothing that
    /// decides safety is taken from the file: the fresh plan's hazards are the ones checked.
    public func replan(saved: Plan, configuration: Configuration, gitCommit: String?) async throws -> Plan {
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
