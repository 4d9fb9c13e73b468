/// One manifest kind, as the pure core sees it: how its documents are decoded and admitted into a
/// `Configuration`, and how its part of a plan is made from desired and live state.
///
/// Every kind is described by one type conforming to this protocol (for most kinds, the kind's own
/// value type) and registered in one list, `KindRegistry.builtIn`. The configuration loader, the
/// plan builder and `LiveState` iterate that list; none of them names a kind. The engine adds how a
/// kind is read from and written to live systems (`LiveKind`, in GuardrailEngine).
///
/// Only `kind`, `addressPrefix` and `decode` have no default. A kind whose objects are `Resource`s
/// gets the usual plan for free: a name-by-name diff of `Configuration[Self.self]` against
/// `LiveState[Self.self]`, with mass deletes flagged. See docs/adding-a-kind.md.
public protocol KindDefinition: Sendable {
    /// What one document of the kind decodes to.
    associatedtype Object: Sendable
    /// What the loader keeps across documents while admitting them (a kind's cross-document checks,
    /// such as unique tenant ids); most kinds keep nothing.
    associatedtype Admission: KindAdmission = NoAdmission

    /// The manifest `kind`, such as `Tenant`.
    static var kind: String { get }
    /// The first word of its addresses, such as `tenant` in `tenant.acme-realty`.
    static var addressPrefix: String { get }
    /// The `kind` of each change this kind plans; the kind itself unless it plans objects of its own
    /// (row-level security plans policies too).
    static var changeKinds: [String] { get }
    /// The keys its documents' `spec` may have.
    static var allowedSpecKeys: [String] { get }
    /// Its keys with their types, required keys and descriptions, which `guardrail schema` renders as
    /// JSON Schema; the decoder should take its `allowed:` lists from it. Nil: no schema is written.
    static var schemaShape: KindShape? { get }
    /// The configuration folders its documents may be in. Empty: the kind is not written as
    /// Guardrail documents (alert rule groups are Prometheus rule files).
    static var folders: [String] { get }
    /// Where its documents belong, said to someone who put one elsewhere.
    static var placement: String { get }
    /// Whether plans include it; environments are read, not planned.
    static var isPlanned: Bool { get }
    /// Changes with the same group commit together when the controller corrects drift.
    static var applyGroup: String { get }

    /// Decodes one document; problems go to the document's reader and yield nil.
    static func decode(_ document: ManifestDocument, references: inout [ManifestReference]) -> DecodedObject<Object>?
    /// The object's name, for duplicate checks.
    static func name(of object: Object) -> String
    /// Called in file order for each decoded object that is not a duplicate; false drops it.
    static func admit(_ decoded: DecodedObject<Object>, state: inout Admission, into configuration: inout Configuration, reader: NodeReader) -> Bool
    /// Keeps the admitted objects (in file order) in the configuration.
    static func store(_ objects: [Object], in configuration: inout Configuration)
    /// How many the configuration declares, with the words the summaries use.
    static func declared(in configuration: Configuration) -> [(kind: String, count: Int)]
    /// Where its counts come in `validate`'s summary line, lowest first (kinds without one come last,
    /// in registry order).
    static var summaryRank: Int { get }

    /// This kind's changes, in the order they are applied. `notes` collects what the plan should say
    /// about the kind (why it is not planned here, for instance).
    static func changes(desired: Configuration, live: LiveState, context: PlanBuilder.Context, notes: inout [String]) -> [Change]
    /// How many objects were compared, by the words the plan's summary uses.
    static func compared(desired: Configuration, live: LiveState, context: PlanBuilder.Context) -> [String: Int]
    /// What the plan reports about this kind without changing it.
    static func findings(desired: Configuration, live: LiveState) -> [Finding]
    /// The live attributes of every object whose address starts with `prefix`, by name.
    static func liveAttributes(prefix: String, in live: LiveState) -> [String: Attributes]
    /// The form of a change's `before` that its fingerprint is taken of.
    static func fingerprintForm(_ attributes: Attributes) -> Attributes
    /// The address prefixes its changes use (row-level security's policies share `rls`).
    static var addressPrefixes: [String] { get }
}

/// What a kind's loader keeps across documents.
public protocol KindAdmission: Sendable {
    init()
    /// Makes room for `count` more objects.
    mutating func reserve(_ count: Int)
}

extension KindAdmission {
    public mutating func reserve(_ count: Int) {}
}

/// Nothing kept across documents.
public struct NoAdmission: KindAdmission {
    public init() {}
}

/// One document's parts, as the loader hands them to a kind's `decode`.
public struct ManifestDocument {
    public var metadata: ObjectMetadata
    public var spec: FieldReader
    /// The configuration-relative path of the file, and its name without the extension.
    public var path: String
    public var fileStem: String
    public var reader: NodeReader { spec.reader }
}

/// A decoded object with the places that later checks report problems at: `mark`, the one most
/// kinds need (a tenant's id), kept without allocating, and any others by name.
public struct DecodedObject<Object: Sendable>: Sendable {
    public var object: Object
    public var metadata: ObjectMetadata
    public var mark: YAMLMark?
    public var marks: [String: YAMLMark]

    public init(_ object: Object, metadata: ObjectMetadata, mark: YAMLMark? = nil, marks: [String: YAMLMark] = [:]) {
        self.object = object
        self.metadata = metadata
        self.mark = mark
        self.marks = marks
    }
}

extension KindDefinition {
    public static var changeKinds: [String] { [kind] }
    public static var addressPrefixes: [String] { [addressPrefix] }
    public static var folders: [String] { ["manifests", "policies"] }
    public static var placement: String { "put \(kind) documents in manifests/ or policies/" }
    public static var isPlanned: Bool { true }
    public static var applyGroup: String { kind }
    public static var summaryRank: Int { .max }
    public static var schemaShape: KindShape? { nil }

    public static func admit(
        _ decoded: DecodedObject<Object>, state: inout Admission, into configuration: inout Configuration,
        reader: NodeReader
    ) -> Bool { true }
    public static func store(_ objects: [Object], in configuration: inout Configuration) {
        configuration.objects[Self.self].append(contentsOf: objects)
    }
    public static func declared(in configuration: Configuration) -> [(kind: String, count: Int)] {
        [(kind, configuration.objects.count(of: Self.self))]
    }
    public static func changes(desired: Configuration, live: LiveState, context: PlanBuilder.Context, notes: inout [String]) -> [Change] { [] }
    public static func compared(desired: Configuration, live: LiveState, context: PlanBuilder.Context) -> [String: Int] { [:] }
    public static func findings(desired: Configuration, live: LiveState) -> [Finding] { [] }
    public static func liveAttributes(prefix: String, in live: LiveState) -> [String: Attributes] { [:] }
    public static func fingerprintForm(_ attributes: Attributes) -> Attributes { attributes }
}

extension KindDefinition where Object: Resource {
    public static func name(of object: Object) -> String { object.name }

    /// Every desired object against every live one, by name; deleting most of them is a mass delete.
    public static func changes(desired: Configuration, live: LiveState, context: PlanBuilder.Context, notes: inout [String]) -> [Change] {
        let observed = live.objects[Self.self]
        return Diff.guardMassDeletes(Diff.changes(desired: desired.objects[Self.self], observed: observed), observedCount: [kind: observed.count])
    }

    public static func compared(desired: Configuration, live: LiveState, context: PlanBuilder.Context) -> [String: Int] {
        let n = Set(desired.objects[Self.self].map(\.name)).union(live.objects[Self.self].map(\.name)).count
        return n > 0 ? [kind: n] : [:]
    }

    public static func liveAttributes(prefix: String, in live: LiveState) -> [String: Attributes] {
        let objects = live.objects[Self.self]
        var byName: [String: Attributes] = [:]
        byName.reserveCapacity(objects.count)
        for object in objects { byName[object.name] = object.attributes }
        return byName
    }
}

/// The objects of every kind, each kind's in one array of its own type.
///
/// Reading a kind's array costs one lookup and no copy; appending through the subscript takes the
/// array out of the table first, so it grows in place.
public struct KindObjects: Sendable {
    private var storage: [String: any Sendable] = [:]

    public init() {}

    public subscript<K: KindDefinition>(_ kind: K.Type) -> [K.Object] {
        get { storage[K.kind].map { $0 as! [K.Object] } ?? [] }
        _modify {
            var value = storage.removeValue(forKey: K.kind).map { $0 as! [K.Object] } ?? []
            defer { storage[K.kind] = value }
            yield &value
        }
    }

    public func count<K: KindDefinition>(of kind: K.Type) -> Int { self[kind].count }

    /// `kind`'s objects, taken from `other` in place of these.
    public mutating func take<K: KindDefinition>(_ kind: K.Type, from other: KindObjects) {
        self[kind] = other[kind]
    }
}

/// A value holding every kind's objects (the configuration, live state), with a typed view of each
/// built-in kind that Guardrail's own code reads by name. A plug-in kind reads `objects[Kind.self]`.
public protocol KindObjectsHolder {
    var objects: KindObjects { get set }
}

extension KindObjectsHolder {
    public var tenants: [Tenant] {
        get { objects[Tenant.self] }
        _modify { yield &objects[Tenant.self] }
    }
    public var backupSchedules: [BackupSchedule] {
        get { objects[BackupSchedule.self] }
        _modify { yield &objects[BackupSchedule.self] }
    }
    public var flags: [FeatureFlag] {
        get { objects[FeatureFlag.self] }
        _modify { yield &objects[FeatureFlag.self] }
    }
    public var guardrails: [Guardrail] {
        get { objects[Guardrail.self] }
        _modify { yield &objects[Guardrail.self] }
    }
    /// The routing: from alerts/routing.yaml in a configuration; in live state, the one the
    /// environment's Alertmanager runs, when the configuration has a routing.
    public var alertRouting: AlertRouting? {
        get { objects[AlertRouting.self].first }
        set { objects[AlertRouting.self] = newValue.map { [$0] } ?? [] }
    }
    /// Prometheus rule groups: from alerts/ (one namespace per file) in a configuration; in live
    /// state, the ones in the namespaces Guardrail owns on the environment's alerts target.
    public var ruleGroups: [RuleGroup] {
        get { objects[RuleGroup.self] }
        _modify { yield &objects[RuleGroup.self] }
    }
}
