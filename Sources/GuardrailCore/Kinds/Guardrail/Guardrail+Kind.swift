extension Guardrail: KindDefinition {
    public static var allowedSpecKeys: [String] { specKeys }
    public static var schemaShape: KindShape? { shape }
    public static var summaryRank: Int { 2 }
    /// A flag and the guardrails it names commit together.
    public static var applyGroup: String { FeatureFlag.applyGroup }

    public static func decode(_ document: ManifestDocument, references: inout [ManifestReference]) -> DecodedObject<Guardrail>? {
        guard let guardrail = decode(metadata: document.metadata, spec: document.spec) else { return nil }
        var marks: [String: YAMLMark] = [:]
        if let query = document.spec.node("query") { marks["query"] = query.mark }
        if case .mapping(let m) = document.spec.node("minSamples"), let query = m.entries.first(where: { $0.key.scalarText == "query" }) {
            marks["minSamples.query"] = query.value.mark
        }
        return DecodedObject(guardrail, metadata: document.metadata, marks: marks)
    }

    /// Keeps where the queries are written: a query Prometheus refuses at plan time is reported there.
    public static func admit(
        _ decoded: DecodedObject<Guardrail>, state: inout NoAdmission, into configuration: inout Configuration,
        reader: NodeReader
    ) -> Bool {
        configuration.guardrailQueryLocations[decoded.object.name] = GuardrailQueryLocations(
            query: decoded.marks["query"].map(reader.location), minSamplesQuery: decoded.marks["minSamples.query"].map(reader.location))
        return true
    }
}
