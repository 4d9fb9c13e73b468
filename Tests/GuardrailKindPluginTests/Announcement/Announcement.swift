import GuardrailCore

/// A toy kind, written the way docs/adding-a-kind.md says: a banner the platform shows one tenant.
/// This half is what `GuardrailCore/Kinds/<Kind>/` would hold: the value, its attributes, and how a
/// document decodes to it.
///
/// ```yaml
/// apiVersion: guardrail/v1
/// kind: Announcement
/// metadata: {name: maintenance-window}
/// spec: {tenant: acme-realty, message: "Listings are read-only from 02:00 to 03:00 UTC.", severity: warning}
/// ```
struct Announcement: Resource, Hashable {
    enum Severity: String, CaseIterable, Sendable {
        case info, warning, critical
    }

    var name: String
    var tenant: String
    var message: String
    var severity: Severity

    static let kind = "Announcement"
    static let addressPrefix = "announcement"
    /// Which tenant sees it is what it is: moving it to another tenant is a new announcement.
    static let immutableAttributes: Set<String> = ["tenant"]
    static let destroyHazard = "deleting an announcement takes the banner down for its tenant"

    init(name: String, tenant: String, message: String, severity: Severity) {
        self.name = name
        self.tenant = tenant
        self.message = message
        self.severity = severity
    }

    var attributes: Attributes {
        ["tenant": .string(tenant), "message": .string(message), "severity": .string(severity.rawValue)]
    }

    init(name: String, attributes: Attributes) throws {
        guard let tenant = attributes["tenant"]?.stringValue else { throw AttributeError.missing("tenant", in: Self.kind) }
        guard let message = attributes["message"]?.stringValue else { throw AttributeError.missing("message", in: Self.kind) }
        guard let severity = attributes["severity"]?.stringValue.flatMap(Severity.init(rawValue:)) else {
            throw AttributeError.missing("severity", in: Self.kind)
        }
        self.init(name: name, tenant: tenant, message: message, severity: severity)
    }
}

extension Announcement: KindDefinition {
    static var allowedSpecKeys: [String] { ["tenant", "message", "severity"] }

    static func decode(_ document: ManifestDocument, references: inout [ManifestReference]) -> DecodedObject<Announcement>? {
        let spec = document.spec, metadata = document.metadata
        var ok = true
        if let problem = NameRules.dnsLabel(metadata.name) {
            document.reader.error("invalid Announcement name \"\(metadata.name)\"", detail: problem, at: metadata.nameMark)
            ok = false
        }
        let tenant = spec.string("tenant", required: true)
        let message = spec.string("message", required: true)
        let severity = spec.has("severity") ? spec.oneOf("severity", as: Severity.self) : .info
        // The tenant must be declared; the loader reports an unknown one where it is written.
        if let tenant, let node = spec.node("tenant") {
            references.append(
                ManifestReference(
                    target: "tenant", name: tenant, location: document.reader.location(node.mark),
                    context: "announcement.\(metadata.name) tenant"))
        }
        guard ok, let tenant, let message, let severity else { return nil }
        return DecodedObject(Announcement(name: metadata.name, tenant: tenant, message: message, severity: severity), metadata: metadata)
    }
}
