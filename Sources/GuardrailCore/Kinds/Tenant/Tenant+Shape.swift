extension Tenant {
    /// A Tenant's keys: the decoder's `allowed:` and `guardrail schema`'s properties.
    static let specShape = MappingShape(
        "A customer of the platform.",
        [
            FieldShape("id", .string(.uuid), required: true, "The tenant's UUID as the application stores it; a new id is a different tenant."),
            FieldShape("displayName", .text, "The name people read; the object's name when left out."),
            FieldShape("status", .word(Status.self), "Whether the tenant is active (the default), suspended or being offboarded."),
        ])

    public static let shape = KindShape(
        kind: kind, fileName: "tenant", title: "Guardrail Tenant",
        description: "A customer of the platform (manifests/): its id, display name and status. Labels select it into rollout phases.",
        root: .document(
            name: .dnsLabel, nameDescription: "The tenant's name: lowercase letters, digits and '-', at most 63 characters.",
            spec: specShape))
}
