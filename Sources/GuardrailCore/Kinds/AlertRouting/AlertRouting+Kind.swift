extension AlertRouting: KindDefinition {
    public static var allowedSpecKeys: [String] { specKeys }
    public static var schemaShape: KindShape? { shape }
    public static var folders: [String] { ["alerts"] }
    public static var placement: String { "The routing sits beside the rules it routes: put it in alerts/routing.yaml" }
    public static var summaryRank: Int { 8 }

    public static func decode(_ document: ManifestDocument, references: inout [ManifestReference]) -> DecodedObject<AlertRouting>? {
        decode(metadata: document.metadata, spec: document.spec).map { DecodedObject($0, metadata: document.metadata) }
    }

    /// Alertmanager runs one configuration, so there is one routing whatever its name.
    public static func name(of object: AlertRouting) -> String { object.address.name }

    public static func changes(desired: Configuration, live: LiveState, context: PlanBuilder.Context, notes: inout [String]) -> [Change] {
        guard let routing = desired.alertRouting else { return [] }
        guard context.managesRouting else {
            notes.append(
                context.unmanagedRoutingReason
                    ?? "Environment \"\(context.environment)\" has no alertmanager, so alerts/routing.yaml is not planned.")
            return []
        }
        return changes(desired: routing, live: live.alertRouting, secretsChanged: context.routingSecretsChanged)
    }

    public static func compared(desired: Configuration, live: LiveState, context: PlanBuilder.Context) -> [String: Int] {
        context.managesRouting && desired.alertRouting != nil ? [kind: 1] : [:]
    }

    public static func liveAttributes(prefix: String, in live: LiveState) -> [String: Attributes] {
        guard let routing = live.alertRouting else { return [:] }
        return [routing.address.name: routing.attributes()]
    }
}
