extension AlertRouting {
    /// One integration's settings, from `integrationFields` and `requiredFields`: Alertmanager's own names.
    static let integrationShapes: [String: MappingShape] = Dictionary(
        uniqueKeysWithValues: integrationFields.map { type, settings in
            let required = requiredFields[type] ?? []
            let fields = settings.sorted { $0.key < $1.key }.map { key, fieldType in
                let shape: ValueShape
                var description = "Alertmanager's \(type) \(key)."
                switch fieldType {
                case .text: shape = .text
                case .secret:
                    shape = .string(.secretReference)
                    description += " A secret: exactly one ${VAR}, set from CI's or the host's secrets."
                case .bool: shape = .boolean
                case .int: shape = .integer(0...Int(Int32.max))
                case .map: shape = .stringMap()
                }
                return FieldShape(key, shape, required: required.contains(key), description)
            }
            let rules = type == "pagerduty_configs" ? MappingShape.atLeastOne(of: ["routing_key", "service_key"]) : [:]
            return (type, MappingShape("One of a receiver's \(type).", fields, rules: rules))
        })

    static let receiverShape = MappingShape(
        "A receiver: a name routes refer to, and its integrations.",
        [
            FieldShape("name", .nonEmptyText, required: true, "The receiver's name, unique in the file.")
        ]
            + integrationFields.keys.sorted().map { type in
                FieldShape(type, .list(.mapping(integrationShapes[type]!), ListRules()), "Alertmanager's \(type).")
            })

    /// A route of the tree; children (`routes`) have the same shape.
    static let routeShape = MappingShape(
        "A route: the alerts it matches, how they are grouped, and its children.",
        [
            FieldShape("receiver", .nonEmptyText, "The receiver the alerts it takes go to (its parent's when left out)."),
            FieldShape("matchers", .stringList(), "Alertmanager matchers, such as 'severity=\"critical\"'; every one must match."),
            FieldShape(
                "group_by", .stringList(StringFormat(pattern: "^(\\.\\.\\.|[a-zA-Z_][a-zA-Z0-9_]*)$")),
                "Labels that group alerts into one notification, or [\"...\"] for every label."),
            FieldShape("group_wait", .duration, "How long to wait before the first notification of a group (root default 30s)."),
            FieldShape("group_interval", .duration, "How long to wait before notifying about new alerts in a group (root default 5m)."),
            FieldShape("repeat_interval", .duration, "How long to wait before repeating a notification (root default 4h)."),
            FieldShape("continue", .boolean, "Whether later siblings are tried after this route matches."),
            FieldShape("routes", .list(.definition("route"), ListRules()), "Child routes, tried in order."),
        ])

    /// The root route takes every alert: it needs a receiver, and has no matchers and no continue.
    static let rootRouteShape: MappingShape = {
        var shape = routeShape
        shape.description = "The root route: every alert enters here; it needs a receiver and has no matchers or continue."
        shape.fields = shape.fields.map { field in
            var field = field
            if field.key == "receiver" {
                field.required = true
                field.description = "The receiver alerts no child route takes go to."
            }
            return field
        }
        return shape.adding(rules: [
            "not": .object([
                "anyOf": .array([
                    .object(["required": .array([.string("matchers")])]), .object(["required": .array([.string("continue")])]),
                ])
            ])
        ])
    }()

    static let inhibitShape = MappingShape(
        "Mutes alerts matching target_matchers while an alert matching source_matchers fires.",
        [
            FieldShape("source_matchers", .stringList(), required: true, "Matchers of the alert that mutes."),
            FieldShape("target_matchers", .stringList(), required: true, "Matchers of the alerts it mutes."),
            FieldShape("equal", .stringList(), "Labels that must be equal in both."),
        ])

    /// An AlertRouting's keys: the decoder's `allowed:` and `guardrail schema`'s properties.
    static let specShape = MappingShape(
        "Alertmanager's receivers, route tree and inhibit rules, with Alertmanager's field names.",
        [
            FieldShape("receivers", .list(.mapping(receiverShape), ListRules()), required: true, "The receivers."),
            FieldShape("route", .mapping(rootRouteShape), required: true, "The root of the route tree."),
            FieldShape("inhibit_rules", .list(.mapping(inhibitShape), ListRules(allowsNull: true)), "Inhibit rules."),
        ])

    public static let shape = KindShape(
        kind: kind, fileName: "alert-routing", title: "Guardrail AlertRouting",
        description: "Who hears about an alert (alerts/routing.yaml): Alertmanager's receivers, routes and inhibit rules; secrets only as ${VAR}.",
        root: .document(name: .text, nameDescription: "The routing's name.", spec: specShape),
        definitions: ["route": routeShape])
}
