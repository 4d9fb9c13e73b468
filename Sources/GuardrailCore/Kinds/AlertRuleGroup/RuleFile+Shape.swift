extension RuleFile {
    static let ruleShape = MappingShape(
        "An alerting rule (alert) or a recording rule (record).",
        [
            FieldShape("alert", .nonEmptyText, "The alert's name, its alertname label."),
            FieldShape("record", .string(.prometheusMetricName), "The series a recording rule writes, such as job:http_requests:rate5m."),
            FieldShape("expr", .nonEmptyText, required: true, "The PromQL expression the rule evaluates."),
            FieldShape("for", .duration, "Alerting rules: how long the expression must hold before the alert fires."),
            FieldShape("keep_firing_for", .duration, "Alerting rules: how long the alert keeps firing after the expression stops holding."),
            FieldShape(
                "labels", .stringMap(keys: StringFormat(pattern: "^(?!__name__$)[a-zA-Z_][a-zA-Z0-9_]*$")),
                "Labels added to the alert or series, such as severity: critical."),
            FieldShape("annotations", .stringMap(keys: .prometheusLabelName), "Alerting rules: annotations such as summary and description."),
        ],
        rules: MappingShape.exactlyOne(of: ["alert", "record"]).merging([
            "if": .object(["required": .array([.string("record")])]),
            "then": .object(["properties": .object(["for": .bool(false), "keep_firing_for": .bool(false), "annotations": .bool(false)])]),
        ]) { first, _ in first })

    static let groupShape = MappingShape(
        "A rule group: its name, evaluation interval and rules.",
        [
            FieldShape(
                "name", .string(StringFormat(pattern: "^(?!\\.\\.?$)[^/\\\\]+$", minLength: 1)), required: true,
                "The group's name, unique in the file; its address is alerts.<file>.<name>."),
            FieldShape("interval", .duration, "How often the group is evaluated (Prometheus's global evaluation_interval when left out)."),
            FieldShape("limit", .integer(0...Int(Int32.max)), "The most alerts or series a rule may produce; 0 for no limit."),
            FieldShape("rules", .list(.mapping(ruleShape), ListRules(minItems: 1)), required: true, "The rules, in order."),
        ])

    /// A rule file's keys: the decoder's `allowed:` and `guardrail schema`'s properties.
    static let fileShape = MappingShape(
        "A Prometheus rule file.",
        [
            FieldShape("groups", .list(.mapping(groupShape), ListRules(allowsNull: true)), required: true, "The rule groups.")
        ])

    public static let shape = KindShape(
        kind: RuleGroup.kind, fileName: "alert-rules", title: "Guardrail alert rule file (AlertRuleGroup)",
        description: """
            A Prometheus rule file (alerts/<namespace>.yaml), read as Prometheus reads it: each group is \
            alerts.<namespace>.<group>. promtool check rules reads the same file unchanged.
            """,
        root: .file(fileShape))
}
