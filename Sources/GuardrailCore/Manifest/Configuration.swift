import Dispatch

/// Everything the configuration folders declare, decoded and cross-checked.
public struct Configuration: KindObjectsHolder, Sendable {
    /// The kinds this configuration was read with.
    public var registry: KindRegistry = .builtIn
    /// Every kind's objects, in file order.
    public var objects = KindObjects()
    public var environments: [String: Environment] = [:]
    // Row-level security and role grants, from policies/.
    public var rowLevelSecurity: [RowLevelSecurity] {
        get { objects[RowLevelSecurity.self] }
        _modify { yield &objects[RowLevelSecurity.self] }
    }
    public var roleGrants: [RoleGrants] {
        get { objects[RoleGrants.self] }
        _modify { yield &objects[RoleGrants.self] }
    }
    /// Rule unit tests in promtool's format (`alerts/*_test.yaml`), run by `validate`, not decoded.
    public var ruleTestFiles: [String] = []
    /// Where each object is declared, for errors that Postgres or a later stage finds.
    public var locations = SourceLocations()
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
        registry.kinds.enumerated().sorted { ($0.element.summaryRank, $0.offset) < ($1.element.summaryRank, $1.offset) }
            .flatMap { $0.element.declared(in: self) }
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
    /// The first word of each kind's addresses (`tenant` in `tenant.acme`), as `--target` and drift modes name kinds.
    public static let addressPrefixes = KindRegistry.builtIn.addressPrefixes

    static let documentKeys = DocumentShape.documentKeys
    static let metadataKeys = DocumentShape.metadataKeys
    /// What each folder holds, said to someone who put a document of another kind there.
    static let folderContents = [
        "alerts": "alerts/ holds Prometheus rule files and one AlertRouting document",
        "environments": "environments/ holds Environment documents only",
    ]

    /// Large files are cut into runs of whole documents (`DocumentChunks`) that are parsed and decoded
    /// on every core; the checks across documents then run in file order, so the result is the same
    /// as reading each file as one stream. `minimumPieceSize` is the smallest run (tests pass `.max`).
    /// `registry` is the kinds a document may have. `keyRecorder`, when given, is told the keys every
    /// mapping the decoders open allows.
    ///
    /// The sources are consumed: their bytes are let go once every piece is decoded, before the merge
    /// builds the configuration, so a large estate does not hold both.
    public static func load(
        _ sources: consuming [ManifestSource], minimumPieceSize: Int = DocumentChunks.minimumSize,
        registry: KindRegistry = .builtIn, keyRecorder: KeyRecorder? = nil
    ) -> (Configuration, Diagnostics) {
        let diagnostics = Diagnostics()
        var configuration = Configuration()
        configuration.registry = registry
        var merge = Merge(kinds: registry.kinds.count)
        var references: [ManifestReference] = []

        var pieces: [Piece] = []
        var sorted = (consume sources).sorted(by: { $0.path < $1.path })
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
                let groups = RuleFile.decode(
                    source.bytes, path: source.path, namespace: namespace, diagnostics: diagnostics,
                    keyRecorder: keyRecorder)
                for group in groups {
                    if let first = configuration.locations[group.address] {
                        diagnostics.error(
                            "duplicate rule group \(group.address)",
                            detail: "\(group.address) is already declared at \(first); two files have the namespace \(namespace).",
                            at: group.location)
                        continue
                    }
                    if let location = group.location { configuration.locations[group.address] = location }
                    configuration.ruleGroups.append(group)
                }
                continue
            }
            for run in DocumentChunks.split(source.bytes, minimumSize: minimumPieceSize) {
                pieces.append(Piece(source: sourceIndex, path: source.path, folder: folder, range: run.range, firstLine: run.firstLine))
            }
        }
        // Parse and decode every piece on every core; each piece has its own diagnostics.
        var decoded = decodePieces(pieces, sources: sorted, registry: registry, keyRecorder: keyRecorder)
        sorted = []
        // A file with no document at all (empty, only `---` or comments) is most likely a mistake.
        var documentsPerSource: [Int: Int] = [:]
        for (piece, chunk) in zip(pieces, decoded) {
            documentsPerSource[piece.source, default: 0] += chunk.yamlDocuments + (chunk.stoppedBySyntaxError ? 1 : 0)
        }
        for (index, piece) in pieces.enumerated() where documentsPerSource[piece.source] == 0 {
            if index > 0, pieces[index - 1].source == piece.source { continue }
            diagnostics.warning(
                "\(piece.path) holds no document",
                detail: "The file is empty, or holds only `---` separators and comments; add a document or remove the file.",
                at: .file(piece.path))
        }
        var stoppedFile: Int?
        var admitted: [(any AdmittedBatch)?] = Array(repeating: nil, count: registry.kinds.count)
        // Room for every object up front: growing these maps one document at a time rehashes them.
        var perKind = Array(repeating: 0, count: registry.kinds.count)
        for chunk in decoded {
            for (index, batch) in chunk.batches.enumerated() { perKind[index] += batch?.count ?? 0 }
        }
        for (index, count) in perKind.enumerated() {
            configuration.locations.reserveCapacity(count, prefix: registry.kinds[index].addressPrefix)
        }
        merge.reserve(perKind, registry: registry)
        for (pieceIndex, piece) in pieces.enumerated() {
            // Each piece is let go once merged: what the configuration keeps is shared with it.
            let chunk = decoded[pieceIndex]
            decoded[pieceIndex] = DecodedPiece()
            // After a syntax error nothing more of that file is read, as if it had been one stream.
            if stoppedFile == piece.source { continue }
            if chunk.stoppedBySyntaxError { stoppedFile = piece.source }
            diagnostics.append(contentsOf: chunk.diagnostics)
            references.append(contentsOf: chunk.references)
            let reader = NodeReader(file: piece.path, diagnostics: diagnostics)
            // Names are unique within a kind, so each kind's documents are admitted on their own, in file order.
            for (index, batch) in chunk.batches.enumerated() {
                guard let batch else { continue }
                batch.admit(into: &configuration, merge: &merge, admitted: &admitted[index], reader: reader)
            }
        }
        for batch in admitted { batch?.store(in: &configuration) }
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

    /// What the sequential merge keeps across pieces: each kind's admission state. Where each address
    /// was first declared is the configuration's `locations`.
    struct Merge {
        var admissions: [(any KindAdmission)?]
        /// How many objects of each kind were decoded, for the room reserved.
        var counts: [Int] = []

        init(kinds: Int) { admissions = Array(repeating: nil, count: kinds) }

        /// Each kind's admission state, made with room for its objects.
        mutating func reserve(_ counts: [Int], registry: KindRegistry) {
            self.counts = counts
            for (index, kind) in registry.kinds.enumerated() where counts[index] > 0 {
                func make<K: KindDefinition>(_: K.Type) -> any KindAdmission {
                    var state = K.Admission()
                    state.reserve(counts[index])
                    return state
                }
                admissions[index] = make(kind)
            }
        }
    }

    /// One piece's decoded documents of one kind, in file order.
    struct DecodedBatch<K: KindDefinition>: DecodedKindBatch {
        var index: Int
        var objects: [DecodedObject<K.Object>] = []
        var count: Int { objects.count }

        func admit(into configuration: inout Configuration, merge: inout Merge, admitted: inout (any AdmittedBatch)?, reader: NodeReader) {
            var state = merge.admissions[index].map { $0 as! K.Admission } ?? K.Admission()
            merge.admissions[index] = nil
            var kept: AdmittedObjects<K>
            if let admitted {
                kept = admitted as! AdmittedObjects<K>
            } else {
                kept = AdmittedObjects<K>()
                kept.objects.reserveCapacity(merge.counts[index])
            }
            admitted = nil
            for decoded in objects {
                let metadata = decoded.metadata
                let address = Address(prefix: K.addressPrefix, name: K.name(of: decoded.object))
                if let first = configuration.locations[address] {
                    reader.error(
                        "duplicate \(K.kind) name \"\(metadata.name)\"",
                        detail: "\(address) is already declared at \(first); names are unique within a kind.",
                        at: metadata.nameMark)
                    continue
                }
                guard K.admit(decoded, state: &state, into: &configuration, reader: reader) else { continue }
                configuration.locations[address] = metadata.nameLocation
                kept.objects.append(decoded.object)
            }
            merge.admissions[index] = state
            admitted = kept
        }
    }

    /// One kind's admitted objects, stored once every file is read.
    struct AdmittedObjects<K: KindDefinition>: AdmittedBatch {
        var objects: [K.Object] = []
        func store(in configuration: inout Configuration) { K.store(objects, in: &configuration) }
    }

    struct DecodedPiece: Sendable {
        /// By the kind's place in the registry.
        var batches: [(any DecodedKindBatch)?] = []
        var diagnostics: [Diagnostic] = []
        var references: [ManifestReference] = []
        var stoppedBySyntaxError = false
        /// YAML documents parsed, decoded or not.
        var yamlDocuments = 0
    }

    /// Decodes the pieces in parallel; the result is in the pieces' order.
    static func decodePieces(_ pieces: [Piece], sources: [ManifestSource], registry: KindRegistry, keyRecorder: KeyRecorder?) -> [DecodedPiece] {
        var results = [DecodedPiece](repeating: DecodedPiece(), count: pieces.count)
        results.withUnsafeMutableBufferPointer { out in
            // Each iteration writes only its own slot.
            nonisolated(unsafe) let out = out
            DispatchQueue.concurrentPerform(iterations: pieces.count) { i in
                let piece = pieces[i]
                sources[piece.source].bytes.withUnsafeBufferPointer { all in
                    out[i] = decodePiece(UnsafeBufferPointer(rebasing: all[piece.range]), piece: piece, registry: registry, keyRecorder: keyRecorder)
                }
            }
        }
        return results
    }

    static func decodePiece(_ bytes: UnsafeBufferPointer<UInt8>, piece: Piece, registry: KindRegistry, keyRecorder: KeyRecorder?) -> DecodedPiece {
        let diagnostics = Diagnostics()
        let reader = NodeReader(file: piece.path, diagnostics: diagnostics, keyRecorder: keyRecorder)
        var out = DecodedPiece()
        out.batches = Array(repeating: nil, count: registry.kinds.count)
        let stem = fileStem(piece.path)
        var labelSets = LabelSets()
        let syntax = YAMLParser.parse(bytes, file: piece.path, firstLine: piece.firstLine) { document in
            out.yamlDocuments += 1
            guard
                let (index, metadata, spec) = decodeEnvelope(
                    document, reader: reader, folder: piece.folder, registry: registry, labelSets: &labelSets)
            else { return }
            let parts = ManifestDocument(metadata: metadata, spec: spec, path: piece.path, fileStem: stem)
            func decode<K: KindDefinition>(_ kind: K.Type) {
                guard let decoded = K.decode(parts, references: &out.references) else { return }
                var batch = out.batches[index].map { $0 as! DecodedBatch<K> } ?? DecodedBatch<K>(index: index)
                out.batches[index] = nil
                batch.objects.append(decoded)
                out.batches[index] = batch
            }
            decode(registry.kinds[index])
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

    /// Reads a document's envelope: the kind (by its place in the registry), metadata and spec.
    private static func decodeEnvelope(
        _ document: YAMLDocument, reader: NodeReader, folder: String, registry: KindRegistry, labelSets: inout LabelSets
    )
        -> (Int, ObjectMetadata, FieldReader)?
    {
        guard let top = reader.fields(document.root, "the document", allowed: documentKeys) else { return nil }
        // Top-level values are named by their key alone ("kind must be a string"), not "the document.kind".
        guard let apiVersionNode = top.required("apiVersion"), let apiVersion = reader.string(apiVersionNode, "apiVersion"),
            let kindNode = top.required("kind"), let kind = reader.string(kindNode, "kind")
        else { return nil }
        guard apiVersion == Self.apiVersion else {
            reader.error(
                "unknown apiVersion \"\(apiVersion)\"", detail: "Guardrail reads \(Self.apiVersion) documents.", at: top.node("apiVersion")!.mark)
            return nil
        }
        let kindMark = top.node("kind")!.mark
        guard let definition = registry.kind(named: kind), !definition.folders.isEmpty else {
            let known = registry.documentKinds
            var detail = ""
            if let s = Suggestion.closest(to: kind, among: known) { detail = "Did you mean \"\(s)\"? " }
            detail += "Known kinds: \(known.joined(separator: ", "))."
            reader.error("unknown kind \"\(kind)\"", detail: detail, at: kindMark)
            return nil
        }
        guard definition.folders.contains(folder) else {
            let detail = folderContents[folder].map { "\($0); \(definition.placement)." } ?? definition.placement.capitalizedFirst + "."
            reader.error("\(kind) document in \(folder)/", detail: detail, at: kindMark)
            return nil
        }
        guard let metaNode = top.required("metadata"), let meta = reader.fields(metaNode, "metadata", allowed: metadataKeys) else { return nil }
        guard let nameNode = meta.required("name"), let name = reader.string(nameNode, "metadata.name") else { return nil }
        let labels =
            meta.node("labels").flatMap {
                reader.stringMap($0, "metadata.labels", validateKey: NameRules.labelKey, validateValue: NameRules.labelValue)
            }.map { labelSets.shared($0) } ?? [:]
        let annotations = meta.node("annotations").flatMap { reader.stringMap($0, "metadata.annotations") } ?? [:]
        // Opened with the kind's own context, so an unknown or repeated key reads "in Tenant spec".
        guard let specNode = top.required("spec"), let spec = reader.fields(specNode, "\(kind) spec", allowed: definition.allowedSpecKeys) else {
            return nil
        }
        let metadata = ObjectMetadata(
            name: name, nameMark: nameNode.mark, labels: labels, annotations: annotations,
            location: reader.location(document.root.mark), nameLocation: reader.location(nameNode.mark))
        return (registry.kinds.firstIndex { $0.kind == definition.kind }!, metadata, spec)
    }
}

/// One piece's decoded documents of one kind, admitted into the configuration in file order.
protocol DecodedKindBatch: Sendable {
    var count: Int { get }
    func admit(
        into configuration: inout Configuration, merge: inout ConfigurationLoader.Merge, admitted: inout (any AdmittedBatch)?,
        reader: NodeReader)
}

/// One kind's admitted objects, waiting to be stored.
protocol AdmittedBatch {
    func store(in configuration: inout Configuration)
}

extension String {
    /// The text with its first letter in upper case.
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
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
