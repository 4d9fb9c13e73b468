import GuardrailCore

extension RowLevelSecurity: LiveKind {
    /// The tables and roles in scope and the ones Guardrail manages, roles and grants included. The
    /// catalog exists before Guardrail's schema does, so this runs on a database never applied to.
    public static func observe(_ context: ObservationContext, into live: inout LiveState) async throws {
        live.catalog = try await CatalogPipeline.observe(
            context.connection, schema: context.schema, schemaVersion: context.schemaVersion,
            scope: context.scope, logger: context.logger)
    }

    /// Each changed table, locked in name order before live state is re-read.
    public static func lock(for changes: [Change], _ context: ApplyContext) async throws {
        try await CatalogPipeline.lockTables(for: changes, on: context.connection, logger: context.logger)
    }

    public static func apply(_ changes: [Change], _ context: ApplyContext) async throws {
        try await CatalogPipeline.apply(changes, on: context.connection, schema: context.schema, logger: context.logger)
    }
}
