extension Guardrail {
    static let compareShape = MappingShape(
        "Healthy while the cohort's value is at most maxRatio times the control tenants'.",
        [
            FieldShape("baseline", .word(["control"]), "What the cohort is compared with: control, the eligible tenants not yet in the cohort."),
            FieldShape(
                "maxRatio", .number(minimum: nil, exclusiveMinimum: 0), required: true, "The largest healthy cohort/control ratio, such as 1.5."),
        ])

    static let minSamplesShape = MappingShape(
        "An evaluation counts only when this query returns at least min.",
        [
            FieldShape("query", .nonEmptyText, required: true, "PromQL returning the sample count; may use {{cohort}} and {{control}}."),
            FieldShape("min", .number(minimum: 0, exclusiveMinimum: nil), required: true, "The fewest samples an evaluation needs."),
        ])

    /// A Guardrail's keys: the decoder's `allowed:` and `guardrail schema`'s properties.
    static let specShape = MappingShape(
        "A metric that watches rollouts: a query, one threshold, and what missing answers do.",
        [
            FieldShape("description", .text, "What the guardrail protects."),
            FieldShape(
                "query", .nonEmptyText, required: true,
                "PromQL returning one number; {{cohort}} and {{control}} expand to regexes of the cohort's and the control tenants' ids."),
            FieldShape("max", .number(minimum: nil, exclusiveMinimum: nil), "Healthy while the value is at most this."),
            FieldShape("min", .number(minimum: nil, exclusiveMinimum: nil), "Healthy while the value is at least this."),
            FieldShape("compare", .mapping(compareShape), "Healthy while the cohort is at most maxRatio times the control."),
            FieldShape("interval", .duration, "How often the query is evaluated (1m when left out, at least 1s)."),
            FieldShape("failures", .integer(1...1000), "Consecutive failing evaluations that make a breach (1 when left out)."),
            FieldShape("minSamples", .mapping(minSamplesShape), "The samples an evaluation needs before it counts."),
            FieldShape("onNoData", .word(Reaction.self), "What an empty result or NaN does: hold (the default), pause or rollback."),
            FieldShape("onError", .word(Reaction.self), "What errorLimit query errors in a row do: hold (pauses at the limit), pause or rollback."),
            FieldShape("errorLimit", .integer(1...1000), "Query errors in a row before onError acts (3 when left out)."),
        ], rules: MappingShape.exactlyOne(of: ["max", "min", "compare"]))

    public static let shape = KindShape(
        kind: kind, fileName: "guardrail", title: "Guardrail Guardrail",
        description: "A metric that watches rollouts (manifests/): a PromQL query with {{cohort}} and {{control}}, one of max, min or compare.",
        root: .document(
            name: .dnsLabel, nameDescription: "The guardrail's name, as rollouts list it: lowercase letters, digits and '-'.",
            spec: specShape))
}
