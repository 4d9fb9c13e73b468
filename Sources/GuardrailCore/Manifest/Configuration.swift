import Dispatch

/// Everything the configuration folders declare, decoded and cross-checked.
public struct Configuration: Sendable {
    public var tenants: [Tenant] = []
    public var backupSchedules: [BackupSchedule] = []
    public var flags: [FeatureFlag] = []
    public var guardrails: [Guardrail] = []
    public var environments: [String: Environment] = [:]
    // Row-level security and role grants, from policies/.
    public var rowLevelSecurity: [RowLevelSecurity] = []
    public var roleGrants: [RoleGrants] = []
    /// Prometheus rule groups, from alerts/ (one namespace per file).
    public var ruleGroups: [RuleGroup] = []
    /// Alertmanager's receivers, routes and inhibit rules, from alerts/routing.yaml.
    public var alertRouting: AlertRouting?
    /// Rule unit tests in promtool's format (`alerts/*_test.yaml`), run by `validate`, not decoded.
    public var ruleTestFiles: [String] = []
    /// Where each object is declared, for errors that Postgres or a later stage finds.
    public var locations: [Address: SourceLocation] = [:]
    /// The files that were read, relative to the configuration root.
    public var files: [String] = []
    /// Each flag's `metadata.labels`, by flag name: what `flag kill --selector` picks flags by. Labels
    /// are the configuration's own, not live state, so they are never diffed.
    public var flagLabels: [String: [String: String]] = [:]
    /// SHA-256 of every file read, for saved plans; nil for configurations not loaded from files.
    public var digest: ConfigurationDigest?
    /// Where each guardrail's `query` and `minSamples.query` are written, by guardrail name: a query
    /// Prometheus refuses at plan time is reported there.
    public var guardrailQueryLocations: [String: GuardrailQueryLocations] = [:]

    public init() {}

    /// Counts by kind, for "Validated ..." and "No changes" summaries.
    public var objectCounts: [(kind: String, count: Int)] {
        [(Tenant.kind, tenants.count), (FeatureFlag.kind, flags.count), (Guardrail.kind, guardrails.count),
         (BackupSchedule.kind, backupSchedules.count), (Environment.kind, environments.count),
         (CatalogPlan.comparedTables, rowLevelSecurity.count), (CatalogPlan.comparedRoles, roleGrants.count), (RuleGroup.kind, ruleGroups.count),
         (AlertRouting.kind, alertRouting == nil ? 0 : 1)]
    }
}

/// Where a guardrail's queries are written.
public struct GuardrailQueryLocations: Sendable, Hashable {
    public var query: SourceLocation?
    public var minSamplesQuery: SourceLocation?
}

/// One configuration file's bytes, read by the caller.
public struct ManifestSource: Sendable {
    /// The path shown in diagnostics, relative to the configuration root: `manifests/tenants.yaml`.
    public var path: String
    public var bytes: [UInt8]

    public init(path: String, bytes: [UInt8]) {
        self.path = path
        self.bytes = bytes
    }
}

/// Turns manifest files into a `Configuration`, reporting every problem it finds.
///
/// Pure: the caller reads the files. Folders decide what a file may hold: `environments/` holds
/// Environment documents only; `manifests/` and `policies/` hold the other kinds.
public enum ConfigurationLoader {
    public static let apiVersion = "guardrail/v1"
    /// The kinds a document may have today. A kind is an error until it is implemented.
    public static let manifestKinds = [Tenant.kind, FeatureFlag.kind, Guardrail.kind, RowLevelSecurity.kind, RoleGrants.kind, BackupSchedule.kind]
    /// The first word of each kind's addresses (`tenant` in `tenant.acme`), as `--target` and drift modes name kinds.
    public static let addressPrefixes = [Tenant.addressPrefix, FeatureFlag.addressPrefix, Guardrail.addressPrefix, RowLevelSecurity.addressPrefix,
                                          RoleGrants.addressPrefix, BackupSchedule.addressPrefix, RuleGroup.addressPrefix]

    /// The keys each kind's `spec` may have.
    static func specKeys(for kind: String) -> [String] {
        switch kind {
        case Environment.kind: Environment.specKeys
        case Tenant.kind: Tenant.specKeys
        case BackupSchedule.kind: BackupSchedule.specKeys
        case FeatureFlag.kind: FeatureFlag.specKeys
        case Guardrail.kind: Guardrail.specKeys
        case RowLevelSecurity.kind: RowLevelSecurity.specKeys
        case RoleGrants.kind: RoleGrants.specKeys
        case AlertRouting.kind: AlertRouting.specKeys
        default: []
        }
    }
    static let documentKeys = DocumentShape.documentKeys
    static let metadataKeys = DocumentShape.metadataKeys

    /// Large files are cut into runs of whole documents (`DocumentChunks`) that are parsed and decoded
    /// on every core; the checks across documents then run in file order, so the result is the same
    /// as reading each file as one stream. `minimumPieceSize` is the smallest run (tests pass `.max`).
    /// `keyRecorder`, when given, is told the keys every mapping the decoders open allows.
    public static func load(_ sources: [ManifestSource], minimumPieceSize: Int = DocumentChunks.minimumSize,
                            keyRecorder: KeyRecorder? = nil) -> (Configuration, Diagnostics) {
        let diagnostics = Diagnostics()
        var configuration = Configuration()
        var firstSeen: [Address: SourceLocation] = [:]
        var tenantIDs: [String: (name: String, location: SourceLocation)] = [:]
        var references: [ManifestReference] = []

        var pieces: [Piece] = []
        let sorted = sources.sorted(by: { $0.path < $1.path })
        configuration.digest = ConfigurationDigest(sorted)
        for (sourceIndex, source) in sorted.enumerated() {
            configuration.files.append(source.path)
            let folder = source.path.split(separator: "/").first.map(String.init) ?? ""
            if folder == "alerts", ["_test.yaml", "_test.yml"].contains(where: source.path.hasSuffix) {
                configuration.ruleTestFiles.append(source.path)
                continue
            }
            if folder == "alerts", !AlertRouting.isGuardrailDocument(source.bytes) {
                // Plain Prometheus rule files, not Guardrail documents: the namespace is the file's name.
                guard let namespace = RuleFile.namespace(ofFile: source.path, diagnostics: diagnostics) else { continue }
                let groups = RuleFile.decode(source.bytes, path: source.path, namespace: namespace, diagnostics: diagnostics,
                                             keyRecorder: keyRecorder)
                for group in groups {
                    if let first = firstSeen[group.address] {
                        diagnostics.error("duplicate rule group \(group.address)", detail: "\(group.address) is already declared at \(first); two files have the namespace \(namespace).",
                                          at: group.location)
                        continue
                    }
                    if let location = group.location {
                        firstSeen[group.address] = location
                        configuration.locations[group.address] = location
                    }
                    configuration.ruleGroups.append(group)
                }
                continue
            }
            for run in DocumentChunks.split(source.bytes, minimumSize: minimumPieceSize) {
                pieces.append(Piece(source: sourceIndex, path: source.path, folder: folder, range: run.range, firstLine: run.firstLine))
            }
        }
        // Parse and decode every piece on every core; each piece has its own diagnostics.
        let decoded = decodePieces(pieces, sources: sorted, keyRecorder: keyRecorder)
        // A file with no document at all (empty, only `---` or comments) is most likely a mistake.
        var documentsPerSource: [Int: Int] = [:]
        for (piece, chunk) in zip(pieces, decoded) {
            documentsPerSource[piece.source, default: 0] += chunk.yamlDocuments + (chunk.stoppedBySyntaxError ? 1 : 0)
        }
        for (index, piece) in pieces.enumerated() where documentsPerSource[piece.source] == 0 {
            if index > 0, pieces[index - 1].source == piece.source { continue }
            diagnostics.warning("\(piece.path) holds no document",
                                detail: "The file is empty, or holds only `---` separators and comments; add a document or remove the file.",
                                at: .file(piece.path))
        }
        var stoppedFile: Int?
        for (piece, chunk) in zip(pieces, decoded) {
            // After a syntax error nothing more of that file is read, as if it had been one stream.
            if stoppedFile == piece.source { continue }
            if chunk.stoppedBySyntaxError { stoppedFile = piece.source }
            diagnostics.append(contentsOf: chunk.diagnostics)
            references.append(contentsOf: chunk.references)
            let reader = NodeReader(file: piece.path, diagnostics: diagnostics)
            for document in chunk.documents {
                let metadata = document.metadata
                let address: Address
                switch document.object {
                case .environment(let environment):
                    address = Address(prefix: "environment", name: environment.name)
                    if firstSeen[address] == nil { configuration.environments[environment.name] = environment }
                case .tenant(let tenant, let idMark):
                    address = tenant.address
                    if let other = tenantIDs[tenant.id], other.name != tenant.name {
                        reader.error("duplicate tenant id \(tenant.id)",
                                     detail: "Tenant \"\(other.name)\" at \(other.location) already has this id; every tenant needs its own.",
                                     at: idMark ?? metadata.nameMark)
                        continue
                    }
                    if firstSeen[address] == nil {
                        configuration.tenants.append(tenant)
                        tenantIDs[tenant.id] = (tenant.name, metadata.nameLocation)
                    }
                case .backupSchedule(let schedule):
                    address = schedule.address
                    if firstSeen[address] == nil { configuration.backupSchedules.append(schedule) }
                case .rowLevelSecurity(let rls):
                    address = rls.address
                    if firstSeen[address] == nil { configuration.rowLevelSecurity.append(rls) }
                case .roleGrants(let grants):
                    address = grants.address
                    if firstSeen[address] == nil { configuration.roleGrants.append(grants) }
                case .flag(let flag):
                    address = flag.address
                    if firstSeen[address] == nil {
                        configuration.flags.append(flag)
                        if !metadata.labels.isEmpty { configuration.flagLabels[flag.name] = metadata.labels }
                    }
                case .guardrail(let guardrail, let queries):
                    address = guardrail.address
                    if firstSeen[address] == nil {
                        configuration.guardrails.append(guardrail)
                        configuration.guardrailQueryLocations[guardrail.name] = queries
                    }
                case .alertRouting(let routing):
                    // Alertmanager runs one configuration, so there is one routing whatever its name.
                    address = routing.address
                    if firstSeen[address] == nil { configuration.alertRouting = routing }
                }
                if let first = firstSeen[address] {
                    reader.error("duplicate \(document.kind) name \"\(metadata.name)\"",
                                 detail: "\(address) is already declared at \(first); names are unique within a kind.",
                                 at: metadata.nameMark)
                } else {
                    firstSeen[address] = metadata.nameLocation
                    configuration.locations[address] = metadata.nameLocation
                }
            }
        }
        // Names are checked once every file is read: a flag may come before the tenants it names.
        ManifestReference.check(references, target: "tenant", known: configuration.tenants.map(\.name), into: diagnostics)
        ManifestReference.check(references, target: "guardrail", known: configuration.guardrails.map(\.name), into: diagnostics)
        return (configuration, diagnostics)
    }

    /// A run of whole documents of one file: the unit that is parsed and decoded on its own core.
    struct Piece: Sendable {
        var source: Int
        var path: String
        var folder: String
        var range: Range<Int>
        var firstLine: Int
    }

    /// One document decoded into its kind's value, before the checks across documents.
    enum DecodedObject: Sendable {
        case environment(Environment)
        case tenant(Tenant, idMark: YAMLMark?)
        case backupSchedule(BackupSchedule)
        case rowLevelSecurity(RowLevelSecurity)
        case roleGrants(RoleGrants)
        case flag(FeatureFlag)
        case guardrail(Guardrail, queries: GuardrailQueryLocations)
        case alertRouting(AlertRouting)
    }

    struct DecodedDocument: Sendable {
        var kind: String
        var metadata: ObjectMetadata
        var object: DecodedObject
    }

    struct DecodedPiece: Sendable {
        var documents: [DecodedDocument] = []
        var diagnostics: [Diagnostic] = []
        var references: [ManifestReference] = []
        var stoppedBySyntaxError = false
        /// YAML documents parsed, decoded or not.
        var yamlDocuments = 0
    }

    /// Decodes the pieces in parallel; the result is in the pieces' order.
    static func decodePieces(_ pieces: [Piece], sources: [ManifestSource], keyRecorder: KeyRecorder?) -> [DecodedPiece] {
        var results = [DecodedPiece](repeating: DecodedPiece(), count: pieces.count)
        results.withUnsafeMutableBufferPointer { out in
            // Each iteration writes only its own slot.
            nonisolated(unsafe) let out = out
            DispatchQueue.concurrentPerform(iterations: pieces.count) { i in
                let piece = pieces[i]
                sources[piece.source].bytes.withUnsafeBufferPointer { all in
                    out[i] = decodePiece(UnsafeBufferPointer(rebasing: all[piece.range]), piece: piece, keyRecorder: keyRecorder)
                }
            }
        }
        return results
    }

    static func decodePiece(_ bytes: UnsafeBufferPointer<UInt8>, piece: Piece, keyRecorder: KeyRecorder?) -> DecodedPiece {
        let diagnostics = Diagnostics()
        let reader = NodeReader(file: piece.path, diagnostics: diagnostics, keyRecorder: keyRecorder)
        var out = DecodedPiece()
        let syntax = YAMLParser.parse(bytes, file: piece.path, firstLine: piece.firstLine) { document in
            out.yamlDocuments += 1
            guard let (kind, metadata, spec) = decodeEnvelope(document, reader: reader, folder: piece.folder) else { return }
            let object: DecodedObject
            switch kind {
            case Environment.kind:
                guard let environment = Environment.decode(metadata: metadata, spec: spec, fileStem: fileStem(piece.path)) else { return }
                object = .environment(environment)
            case Tenant.kind:
                guard let tenant = Tenant.decode(metadata: metadata, spec: spec) else { return }
                object = .tenant(tenant, idMark: spec.node("id")?.mark)
            case BackupSchedule.kind:
                guard let schedule = BackupSchedule.decode(metadata: metadata, spec: spec) else { return }
                object = .backupSchedule(schedule)
            case RowLevelSecurity.kind:
                guard let rls = RowLevelSecurity.decode(metadata: metadata, spec: spec) else { return }
                object = .rowLevelSecurity(rls)
            case RoleGrants.kind:
                guard let grants = RoleGrants.decode(metadata: metadata, spec: spec) else { return }
                object = .roleGrants(grants)
            case FeatureFlag.kind:
                guard let flag = FeatureFlag.decode(metadata: metadata, spec: spec, references: &out.references) else { return }
                object = .flag(flag)
            case Guardrail.kind:
                guard let guardrail = Guardrail.decode(metadata: metadata, spec: spec) else { return }
                var minSamplesQuery: YAMLMark?
                if case .mapping(let m) = spec.node("minSamples") {
                    minSamplesQuery = m.entries.first { $0.key.scalarText == "query" }?.value.mark
                }
                object = .guardrail(guardrail, queries: GuardrailQueryLocations(query: spec.node("query").map { reader.location($0.mark) },
                                                                                minSamplesQuery: minSamplesQuery.map(reader.location)))
            case AlertRouting.kind:
                guard let routing = AlertRouting.decode(metadata: metadata, spec: spec) else { return }
                object = .alertRouting(routing)
            default:
                return
            }
            out.documents.append(DecodedDocument(kind: kind, metadata: metadata, object: object))
        }
        out.diagnostics = diagnostics.all + syntax
        out.stoppedBySyntaxError = !syntax.isEmpty
        return out
    }

    static func fileStem(_ path: String) -> String {
        let last = path.split(separator: "/").last.map(String.init) ?? path
        if let dot = last.lastIndex(of: ".") { return String(last[..<dot]) }
        return last
    }

    private static func decodeEnvelope(_ document: YAMLDocument, reader: NodeReader, folder: String)
        -> (String, ObjectMetadata, FieldReader)? {
        guard let top = reader.fields(document.root, "the document", allowed: documentKeys) else { return nil }
        // Top-level values are named by their key alone ("kind must be a string"), not "the document.kind".
        guard let apiVersionNode = top.required("apiVersion"), let apiVersion = reader.string(apiVersionNode, "apiVersion"),
              let kindNode = top.required("kind"), let kind = reader.string(kindNode, "kind") else { return nil }
        guard apiVersion == Self.apiVersion else {
            reader.error("unknown apiVersion \"\(apiVersion)\"", detail: "Guardrail reads \(Self.apiVersion) documents.", at: top.node("apiVersion")!.mark)
            return nil
        }
        let kindMark = top.node("kind")!.mark
        let known = manifestKinds + [Environment.kind]
        guard known.contains(kind) || kind == AlertRouting.kind else {
            var detail = ""
            if let s = Suggestion.closest(to: kind, among: known) { detail = "Did you mean \"\(s)\"? " }
            detail += "Known kinds: \(known.joined(separator: ", "))."
            reader.error("unknown kind \"\(kind)\"", detail: detail, at: kindMark)
            return nil
        }
        if (kind == AlertRouting.kind) != (folder == "alerts") {
            let detail = kind == AlertRouting.kind
                ? "The routing sits beside the rules it routes: put it in alerts/routing.yaml."
                : "alerts/ holds Prometheus rule files and one AlertRouting document; put \(kind) documents in \(kind == Environment.kind ? "environments/" : "manifests/ or policies/")."
            reader.error("\(kind) document in \(folder)/", detail: detail, at: kindMark)
            return nil
        }
        if (kind == Environment.kind) != (folder == "environments") {
            let detail = kind == Environment.kind
                ? "Environment documents belong in environments/<name>.yaml."
                : "environments/ holds Environment documents only; put \(kind) documents in manifests/ or policies/."
            reader.error("\(kind) document in \(folder)/", detail: detail, at: kindMark)
            return nil
        }
        guard let metaNode = top.required("metadata"), let meta = reader.fields(metaNode, "metadata", allowed: metadataKeys) else { return nil }
        guard let nameNode = meta.required("name"), let name = reader.string(nameNode, "metadata.name") else { return nil }
        let labels = meta.node("labels").flatMap {
            reader.stringMap($0, "metadata.labels", validateKey: NameRules.labelKey, validateValue: NameRules.labelValue)
        } ?? [:]
        let annotations = meta.node("annotations").flatMap { reader.stringMap($0, "metadata.annotations") } ?? [:]
        let specKeys = specKeys(for: kind)
        // Opened with the kind's own context, so an unknown or repeated key reads "in Tenant spec".
        guard let specNode = top.required("spec"), let spec = reader.fields(specNode, "\(kind) spec", allowed: specKeys) else { return nil }
        let metadata = ObjectMetadata(name: name, nameMark: nameNode.mark, labels: labels, annotations: annotations,
                                      location: reader.location(document.root.mark), nameLocation: reader.location(nameNode.mark))
        return (kind, metadata, spec)
    }
}

extension Configuration {
    /// The flags whose labels include every `key=value` of `selector`, sorted; an empty selector selects none.
    public func flags(selectedBy selector: [String: String]) -> [String] {
        guard !selector.isEmpty else { return [] }
        return flags.map(\.name).filter { name in
            let labels = flagLabels[name] ?? [:]
            return selector.allSatisfy { labels[$0.key] == $0.value }
        }.sorted()
    }
}
