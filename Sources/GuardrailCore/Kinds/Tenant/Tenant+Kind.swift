extension Tenant: KindDefinition {
    public struct Admission: KindAdmission {
        /// Each tenant id seen so far, with the name of the tenant that has it.
        var ids: [String: String] = [:]
        public init() {}
        public mutating func reserve(_ count: Int) { ids.reserveCapacity(ids.count + count) }
    }

    public static var allowedSpecKeys: [String] { specKeys }
    public static var schemaShape: KindShape? { shape }
    public static var summaryRank: Int { 0 }

    public static func decode(_ document: ManifestDocument, references: inout [ManifestReference]) -> DecodedObject<Tenant>? {
        guard let tenant = decode(metadata: document.metadata, spec: document.spec) else { return nil }
        return DecodedObject(tenant, metadata: document.metadata, mark: document.spec.node("id")?.mark)
    }

    /// Every tenant needs its own id: a second tenant with the same one is reported at its id.
    public static func admit(
        _ decoded: DecodedObject<Tenant>, state: inout Admission, into configuration: inout Configuration,
        reader: NodeReader
    ) -> Bool {
        let tenant = decoded.object
        if let other = state.ids[tenant.id], other != tenant.name {
            let location = configuration.locations[Address(prefix: addressPrefix, name: other)].map { "\($0)" } ?? "another file"
            reader.error(
                "duplicate tenant id \(tenant.id)",
                detail: "Tenant \"\(other)\" at \(location) already has this id; every tenant needs its own.",
                at: decoded.mark ?? decoded.metadata.nameMark)
            return false
        }
        state.ids[tenant.id] = tenant.name
        return true
    }

    /// Tenants are always counted, so a plan says "0 tenants" rather than nothing.
    public static func compared(desired: Configuration, live: LiveState, context: PlanBuilder.Context) -> [String: Int] {
        [kind: Set(desired.tenants.map(\.name)).union(live.tenants.map(\.name)).count]
    }
}
