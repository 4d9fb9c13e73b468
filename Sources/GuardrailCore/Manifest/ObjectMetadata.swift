/// The `metadata` block every manifest document has.
public struct ObjectMetadata: Sendable {
    public var name: String
    public var nameMark: YAMLMark
    public var labels: [String: String]
    public var annotations: [String: String]
    /// Where the document starts: `file:line:column` of its first key.
    public var location: SourceLocation
    public var nameLocation: SourceLocation
}

/// Checks for names and label keys, shared by every kind.
public enum NameRules {
    /// A DNS label, as Kubernetes names are: lowercase letters, digits and `-`, at most 63 characters.
    public static func dnsLabel(_ name: String) -> String? {
        let bytes = name.utf8
        guard !bytes.isEmpty, bytes.count <= 63 else {
            return "Names must have 1 to 63 characters; this one has \(bytes.count)."
        }
        let ok = bytes.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
        guard ok, bytes.first != 45, bytes.last != 45 else {
            return "Use lowercase letters, digits and '-', starting and ending with a letter or digit."
        }
        return nil
    }

    /// A dotted name such as `channel.email`: DNS labels joined by dots, at most 253 characters.
    public static func dottedName(_ name: String) -> String? {
        guard name.utf8.count <= 253 else { return "Names must have at most 253 characters." }
        for part in name.split(separator: ".", omittingEmptySubsequences: false) {
            if part.isEmpty { return "Dots must separate non-empty parts." }
            if let problem = dnsLabel(String(part)) { return problem }
        }
        return nil
    }

    /// A label key: an optional DNS-style prefix and `/`, then up to 63 letters, digits, `-`, `_` or `.`.
    public static func labelKey(_ key: String) -> String? {
        if !key.utf8.contains(UInt8(ascii: "/")) { return labelValue(key, allowEmpty: false) }
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return "A label key has at most one '/'." }
        if parts.count == 2, dottedName(String(parts[0])) != nil {
            return "The prefix before '/' must be a lowercase DNS name."
        }
        return labelValue(String(parts.last!), allowEmpty: false)
    }

    public static func labelValue(_ value: String) -> String? { labelValue(value, allowEmpty: true) }

    private static func labelValue(_ value: String, allowEmpty: Bool) -> String? {
        let bytes = value.utf8
        if bytes.isEmpty { return allowEmpty ? nil : "A label key cannot be empty." }
        guard bytes.count <= 63 else { return "Labels have at most 63 characters." }
        func alnum(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 65 && b <= 90) || (b >= 48 && b <= 57) }
        guard bytes.allSatisfy({ alnum($0) || $0 == 45 || $0 == 95 || $0 == 46 }), alnum(bytes.first!), alnum(bytes.last!) else {
            return "Use letters, digits, '-', '_' and '.', starting and ending with a letter or digit."
        }
        return nil
    }
}
