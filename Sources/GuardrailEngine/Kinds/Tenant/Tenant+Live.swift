import GuardrailCore

extension Tenant: StoredLiveKind {
    typealias Store = TenantStore

    /// Plans answer from the controller's cache while the table's rows are unchanged.
    public static func observe(_ context: ObservationContext, into live: inout LiveState) async throws {
        guard context.hasTables(of: Self.self) else { return }
        live.tenants = try await TenantStore.observe(context.connection, schema: context.schema, logger: context.logger, cache: context.tenantCache)
    }
}
