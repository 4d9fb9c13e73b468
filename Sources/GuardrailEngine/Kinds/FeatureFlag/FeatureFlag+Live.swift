import GuardrailCore

extension FeatureFlag: StoredLiveKind {
    typealias Store = FlagStore
}
