import Foundation

/// A customer of the platform: a brokerage, or the internal test tenant.
///
/// ```yaml
/// apiVersion: guardrail/v1
/// kind: Tenant
/// metadata: {name: acme-realty, labels: {cohort: internal}}
/// spec: {id: 3f6c1d2e-8a4b-4c1e-9a57-0d2f5b8e7c11, displayName: Acme Realty, status: active}
/// ```
public struct Tenant: Resource, Hashable {
    public enum Status: String, Hashable, Sendable, Codable, CaseIterable {
        case active, suspended, offboarding
    }

    public var name: String
    /// The tenant's UUID as the application stores it, lowercased.
    public var id: String
    public var displayName: String
    public var status: Status
    public var labels: [String: String]

    public init(name: String, id: String, displayName: String, status: Status = .active, labels: [String: String] = [:]) {
        self.name = name
        self.id = id
        self.displayName = displayName
        self.status = status
        self.labels = labels
    }

    public static let kind = "Tenant"
    public static let addressPrefix = "tenant"
    /// The id is what applications and the cohort ledger key on; a new id is a different tenant.
    public static let immutableAttributes: Set<String> = ["id"]
    public static let destroyHazard = "deleting a tenant removes it from the tenant registry and from every flag cohort"
    static let specKeys = specShape.keys

    public var attributes: Attributes {
        ["id": .string(id), "display_name": .string(displayName), "status": .string(status.rawValue), "labels": labels.attributeValue]
    }

    public init(name: String, attributes: Attributes) throws {
        guard let id = attributes["id"]?.stringValue, let uuid = UUID(uuidString: id) else { throw AttributeError.missing("id", in: Self.kind) }
        guard let displayName = attributes["display_name"]?.stringValue else { throw AttributeError.missing("display_name", in: Self.kind) }
        guard let status = attributes["status"]?.stringValue.flatMap(Status.init(rawValue:)) else {
            throw AttributeError.missing("status", in: Self.kind)
        }
        guard let labels = (attributes["labels"] ?? .map([:])).stringMap else { throw AttributeError.missing("labels", in: Self.kind) }
        self.init(name: name, id: uuid.uuidString.lowercased(), displayName: displayName, status: status, labels: labels)
    }
}

extension Tenant {
    /// Decodes a Tenant's spec; problems go to the reader's diagnostics and yield nil.
    static func decode(metadata: ObjectMetadata, spec: FieldReader) -> Tenant? {
        var ok = true
        if let problem = NameRules.dnsLabel(metadata.name) {
            spec.reader.error("invalid Tenant name \"\(metadata.name)\"", detail: problem, at: metadata.nameMark)
            ok = false
        }
        let id = spec.uuid("id", required: true)
        let displayName = spec.has("displayName") ? spec.string("displayName") : metadata.name
        let status = spec.has("status") ? spec.oneOf("status", as: Status.self) : .active
        guard ok, let id, let displayName, let status else { return nil }
        return Tenant(name: metadata.name, id: id, displayName: displayName, status: status, labels: metadata.labels)
    }
}
