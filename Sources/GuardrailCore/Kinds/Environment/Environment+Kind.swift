extension Environment: KindDefinition {
    public static var addressPrefix: String { "environment" }
    public static var allowedSpecKeys: [String] { specKeys }
    public static var schemaShape: KindShape? { shape }
    public static var folders: [String] { ["environments"] }
    public static var placement: String { "Environment documents belong in environments/<name>.yaml" }
    /// Environments say where the other kinds are applied; they are read, never planned.
    public static var isPlanned: Bool { false }
    public static var summaryRank: Int { 4 }

    public static func decode(_ document: ManifestDocument, references: inout [ManifestReference]) -> DecodedObject<Environment>? {
        decode(metadata: document.metadata, spec: document.spec, fileStem: document.fileStem).map { DecodedObject($0, metadata: document.metadata) }
    }

    public static func name(of object: Environment) -> String { object.name }

    public static func store(_ objects: [Environment], in configuration: inout Configuration) {
        for environment in objects { configuration.environments[environment.name] = environment }
    }

    public static func declared(in configuration: Configuration) -> [(kind: String, count: Int)] {
        [(kind, configuration.environments.count)]
    }
}
