/// A name one object uses for another (a flag naming a tenant or a guardrail), kept with where it
/// was written so that, once every file is loaded, an unknown name is reported at that spot.
public struct ManifestReference: Sendable {
    public var target: String
    public var name: String
    public var location: SourceLocation
    /// Where the name is used, in words: "flag.channel.email overrides.enable".
    public var context: String

    public init(target: String, name: String, location: SourceLocation, context: String) {
        self.target = target
        self.name = name
        self.location = location
        self.context = context
    }

    /// Reports every reference to a `target` object that is not among `known`.
    public static func check(_ references: [ManifestReference], target: String, known: some Collection<String>, into diagnostics: Diagnostics) {
        let names = Array(known)
        let set = Set(names)
        for reference in references where reference.target == target && !set.contains(reference.name) {
            var detail = ""
            if let s = Suggestion.closest(to: reference.name, among: names) { detail = "Did you mean \"\(s)\"? " }
            detail += names.isEmpty ? "No \(target) objects are declared." : "Declare a \(target) named \"\(reference.name)\", or fix the name."
            diagnostics.error("unknown \(target) \"\(reference.name)\" in \(reference.context)", detail: detail, at: reference.location)
        }
    }
}
