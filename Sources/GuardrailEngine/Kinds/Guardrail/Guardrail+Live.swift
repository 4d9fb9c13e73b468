import GuardrailCore

extension Guardrail: StoredLiveKind {
    typealias Store = GuardrailStore
}
