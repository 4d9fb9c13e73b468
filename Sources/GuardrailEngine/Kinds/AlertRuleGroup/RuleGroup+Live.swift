import GuardrailCore

/// Rule groups live on the environment's alerts target (a Prometheus rules directory or a Mimir
/// ruler), read and written over HTTP around the Postgres transaction.
extension RuleGroup: ExternalLiveKind {
    public static func observe(_ context: ObservationContext, into live: inout LiveState) async throws {}

    /// The groups in the namespaces the configuration (and its generated rules) uses.
    public static func observe(
        for configuration: Configuration, _ context: ExternalContext, into live: inout LiveState, plan: inout PlanBuilder.Context
    ) async throws {
        guard let rules = context.environment.rulesTarget else { return }
        live.ruleGroups = try await rules.observe(matching: configuration.ruleGroups + GeneratedRules.groups(for: configuration))
    }

    public static func observe(forApplying changes: [Change], _ context: ExternalContext, into live: inout LiveState) async throws {
        guard let target = context.environment.rulesTarget else {
            throw DatabaseError.other(
                "the plan changes alert rules, but environment \"\(context.environment.name)\" has no alerts target in this run")
        }
        live.ruleGroups = try await target.observe(
            matching: changes.compactMap { change in
                change.after.flatMap { try? RuleGroup(name: change.address.name, attributes: $0) }
            })
    }

    public static func applyExternal(_ changes: [Change], live: LiveState, _ context: ExternalContext) async throws -> [String] {
        guard let target = context.environment.rulesTarget else { return [] }
        return try await target.apply(changes, live: live.ruleGroups).steps
    }
}
