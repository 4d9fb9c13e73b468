import GuardrailCore

/// The routing lives in Alertmanager: the session reads and writes it over HTTP. Postgres keeps the
/// digest of its secrets recorded at the last confirmed apply, read here.
extension AlertRouting: LiveKind {
    public static var sinceSchemaVersion: Int? { AlertRoutingStore.sinceSchemaVersion }
    public static var appliedInTransaction: Bool { false }

    public static func observe(_ context: ObservationContext, into live: inout LiveState) async throws {
        guard let alertmanager = context.alertmanager, context.hasTables(of: Self.self) else { return }
        live.alertRoutingSecretsDigest = try await AlertRoutingStore.observeDigest(
            context.connection, schema: context.schema,
            alertmanager: alertmanager, logger: context.logger)
    }
}
