/// Kind names as sentences use them: "13 tenants", "6 feature flags", "7 RLS policies", "1 guardrail".
public enum KindNames {
    public static func count(_ n: Int, of kind: String) -> String {
        let word = words(kind)
        guard n != 1 else { return "1 \(word)" }
        if word.hasSuffix("y"), let before = word.dropLast().last, !"aeiou".contains(before) {
            return "\(n) \(word.dropLast())ies"
        }
        return "\(n) \(word)s"
    }

    /// `FeatureFlag` -> "feature flag"; words already spaced keep acronyms: "RLS policy".
    static func words(_ kind: String) -> String {
        if kind.contains(" ") {
            return kind.split(separator: " ").map { $0.count > 1 && $0.allSatisfy(\.isUppercase) ? String($0) : $0.lowercased() }
                .joined(separator: " ")
        }
        var word = ""
        for ch in kind {
            if ch.isUppercase, !word.isEmpty { word += " " }
            word += ch.lowercased()
        }
        return word
    }
}
