import GuardrailCore

/// The routing lives in Alertmanager, read and written over HTTP around the Postgres transaction.
/// Postgres keeps the digest of its secrets recorded at the last confirmed apply, read by `observe`.
extension AlertRouting: ExternalLiveKind {
    public static var sinceSchemaVersion: Int? { AlertRoutingStore.sinceSchemaVersion }

    public static func observe(_ context: ObservationContext, into live: inout LiveState) async throws {
        guard let alertmanager = context.alertmanager, context.hasTables(of: Self.self) else { return }
        live.alertRoutingSecretsDigest = try await AlertRoutingStore.observeDigest(
            context.connection, schema: context.schema,
            alertmanager: alertmanager, logger: context.logger)
    }

    /// The running routing, and whether the secrets it resolves to changed since the last apply
    /// (a plan shows them only as `***`, so a changed secret is a change of its own).
    public static func observe(
        for configuration: Configuration, _ context: ExternalContext, into live: inout LiveState, plan: inout PlanBuilder.Context
    ) async throws {
        guard let alertmanager = context.environment.alertmanager, let routing = configuration.alertRouting else { return }
        live.alertRouting = try await alertmanager.observe(desired: routing)
        plan.routingSecretsChanged = try alertmanager.secretDigest(of: routing) != live.alertRoutingSecretsDigest
    }

    public static func observe(forApplying changes: [Change], _ context: ExternalContext, into live: inout LiveState) async throws {
        let (alertmanager, routing) = try planned(context)
        live.alertRouting = try await alertmanager.observe(desired: routing)
    }

    /// Renders Alertmanager's file from the routing the session planned (with its secrets), then
    /// records the digest of those secrets.
    public static func applyExternal(_ changes: [Change], live: LiveState, _ context: ExternalContext) async throws -> [String] {
        let (alertmanager, routing) = try planned(context)
        let steps = try await alertmanager.apply(routing)
        try await AlertRoutingStore.record(
            try alertmanager.secretDigest(of: routing), alertmanager: alertmanager.baseURL,
            on: context.connection, schema: context.schema, logger: context.logger)
        return steps
    }

    private static func planned(_ context: ExternalContext) throws -> (AlertmanagerTarget, AlertRouting) {
        guard let alertmanager = context.environment.alertmanager else {
            throw DatabaseError.other(
                "the plan changes the alert routing, but environment \"\(context.environment.name)\" has no alertmanager in this run")
        }
        guard let routing = context.planned[AlertRouting.self].first else {
            throw DatabaseError.other("the plan changes the alert routing, but this session did not plan it; run `guardrail plan` again")
        }
        return (alertmanager, routing)
    }
}
