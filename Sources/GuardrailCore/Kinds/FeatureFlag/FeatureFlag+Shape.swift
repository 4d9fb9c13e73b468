extension FeatureFlag {
    static let overridesShape = MappingShape(
        "Tenants forced on or off whatever the rollout says; a tenant is in one list at most.",
        [
            FieldShape("enable", .stringList(), "Tenant names the flag is on for (while enabled is true)."),
            FieldShape("disable", .stringList(), "Tenant names the flag is off for."),
        ])

    static let phaseTenantsShape = MappingShape(
        "The tenants a phase names, by name and/or label selector.",
        [
            FieldShape("names", .stringList(), "Tenant names."),
            FieldShape(
                "selector", .stringMap(keys: .labelKey, values: .labelValue, allowsNull: false),
                "Tenants whose labels include every one of these, such as {cohort: internal}."),
        ])

    static let phaseShape = MappingShape(
        "One phase: tenants by name or selector, a percent of the eligible tenants, or both, and a bake time.",
        [
            FieldShape("name", .nonEmptyText, "The phase's name; its percent (\"5%\") or phase-N when left out. Unique within the rollout."),
            FieldShape(
                "tenants", .anyOf([.stringList(), .mapping(phaseTenantsShape)]),
                "Tenants this phase adds: a list of names, or {names: [...], selector: {label: value}}."),
            FieldShape("percent", .integer(0...100), "The percent of eligible tenants on at this phase; never lower than an earlier phase's."),
            FieldShape("bake", .duration, "How long the phase runs with healthy guardrails before the next one starts (0 when left out)."),
        ], rules: MappingShape.atLeastOne(of: ["percent", "tenants"]))

    static let rolloutShape = MappingShape(
        "How the flag reaches its target: ordered phases, the guardrails watching them, what a breach does.",
        [
            FieldShape("phases", .list(.mapping(phaseShape), ListRules(minItems: 1)), required: true, "The phases, in order."),
            FieldShape("guardrails", .stringList(), "Names of the Guardrail objects that watch every phase."),
            FieldShape("onBreach", .word(Rollout.BreachAction.self), "What a breach does: rollback (the default), step-back or pause."),
        ])

    /// A FeatureFlag's keys: the decoder's `allowed:` and `guardrail schema`'s properties.
    static let specShape = MappingShape(
        "A feature flag: its target, overrides and rollout.",
        [
            FieldShape("description", .text, "What the flag turns on."),
            FieldShape("enabled", .boolean, required: true, "The target: false turns the flag off for every tenant at once."),
            FieldShape(
                "salt", .nonEmptyText, "Mixed into each tenant's rank so two flags at 5% pick different tenants; the flag's name when left out."),
            FieldShape("overrides", .mapping(overridesShape), "Tenants forced on or off."),
            FieldShape(
                "rollout", .mapping(rolloutShape), "Ordered phases from the first tenants to everyone; without one the target applies at once."),
        ])

    public static let shape = KindShape(
        kind: kind, fileName: "feature-flag", title: "Guardrail FeatureFlag",
        description: "A feature flag (manifests/): the target, per-tenant overrides, and an optional rollout watched by guardrails.",
        root: .document(name: .dottedName, nameDescription: "The flag's name: DNS labels joined by dots, such as channel.email.", spec: specShape))
}
