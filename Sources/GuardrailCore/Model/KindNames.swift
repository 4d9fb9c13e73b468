/// Kind names as sentences use them: "13 tenants", "6 feature flags", "1 guardrail".
public enum KindNames {
    public static func count(_ n: Int, of kind: String) -> String {
        var word = ""
        for ch in kind {
            if ch.isUppercase, !word.isEmpty { word += " " }
            word += ch.lowercased()
        }
        return "\(n) \(word)\(n == 1 ? "" : "s")"
    }
}
