import GuardrailCore

/// Roles and grants are observed with row-level security, in one read of the catalog
/// (`RowLevelSecurity.observe`), since policies name roles.
extension RoleGrants: LiveKind {
    public static func observe(_ context: ObservationContext, into live: inout LiveState) async throws {}

    public static func apply(_ changes: [Change], _ context: ApplyContext) async throws {
        try await CatalogPipeline.apply(changes, on: context.connection, schema: context.schema, logger: context.logger)
    }
}
