/// The kinds Guardrail knows, in the order plans list and apply them.
///
/// The configuration loader, the plan builder, `LiveState` and, in the engine, the session and the
/// controller iterate this list. Adding a kind is a folder under `GuardrailCore/Kinds/`, one under
/// `GuardrailEngine/Kinds/`, and one line in `builtIn` (docs/adding-a-kind.md).
public struct KindRegistry: Sendable {
    /// Every kind Guardrail ships, in dependency order: tenants before the flags that name them,
    /// guardrails before the flags that watch them, roles before the policies that name them, alert
    /// rules and routing last (applied over HTTP once Postgres has committed).
    public static let builtIn = KindRegistry([
        Environment.self,
        Tenant.self,
        Guardrail.self,
        FeatureFlag.self,
        BackupSchedule.self,
        RoleGrants.self,
        RowLevelSecurity.self,
        RuleGroup.self,
        AlertRouting.self,
    ])

    public let kinds: [any KindDefinition.Type]
    private let byName: [String: Int]
    private let byChangeKind: [String: Int]
    private let byPrefix: [String: Int]

    public init(_ kinds: [any KindDefinition.Type]) {
        var byName: [String: Int] = [:], byChangeKind: [String: Int] = [:], byPrefix: [String: Int] = [:]
        for (index, kind) in kinds.enumerated() {
            precondition(byName[kind.kind] == nil, "kind \(kind.kind) is registered twice")
            byName[kind.kind] = index
            for changeKind in kind.changeKinds { byChangeKind[changeKind] = index }
            for prefix in kind.addressPrefixes { byPrefix[prefix] = index }
        }
        self.kinds = kinds
        self.byName = byName
        self.byChangeKind = byChangeKind
        self.byPrefix = byPrefix
    }

    /// This registry with `kind` added last.
    public func registering(_ kind: any KindDefinition.Type) -> KindRegistry { KindRegistry(kinds + [kind]) }

    public func kind(named name: String) -> (any KindDefinition.Type)? { byName[name].map { kinds[$0] } }
    /// The kind that plans changes of this `Change.kind`.
    public func kind(ofChange changeKind: String) -> (any KindDefinition.Type)? { byChangeKind[changeKind].map { kinds[$0] } }
    public func kind(ofPrefix prefix: String) -> (any KindDefinition.Type)? { byPrefix[prefix].map { kinds[$0] } }
    /// The kinds a document may name.
    public var documentKinds: [String] { kinds.filter { !$0.folders.isEmpty }.map { $0.kind } }
    /// The first word of every planned kind's addresses, as `--target` and drift modes name kinds.
    public var addressPrefixes: [String] { kinds.filter { $0.isPlanned }.flatMap { $0.addressPrefixes } }
    /// The group a change commits with.
    public func applyGroup(ofChange changeKind: String) -> String { kind(ofChange: changeKind)?.applyGroup ?? changeKind }
    /// Where in the registry's order a change's kind comes.
    public func position(ofChange changeKind: String) -> Int? { byChangeKind[changeKind] }
}
