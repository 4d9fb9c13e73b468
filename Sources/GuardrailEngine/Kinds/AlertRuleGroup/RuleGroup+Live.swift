import GuardrailCore

/// Rule groups live on the environment's alerts target: the session reads them over HTTP before a
/// plan and writes them once the Postgres transaction has committed (`Session.plan`, `Session.apply`).
extension RuleGroup: LiveKind {
    public static var appliedInTransaction: Bool { false }
    public static func observe(_ context: ObservationContext, into live: inout LiveState) async throws {}
}
