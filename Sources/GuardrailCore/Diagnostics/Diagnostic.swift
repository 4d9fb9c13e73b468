/// One problem found in the configuration or while talking to a live system.
///
/// Like a compiler diagnostic it has a severity, a one-line summary, a full-sentence detail and,
/// where known, the place in a file that caused it:
///
///     manifests/tenants.yaml:12:5: error: unknown key "displayname" in Tenant spec
///       Did you mean "displayName"? Allowed keys: id, displayName, status.
public struct Diagnostic: Error, Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Severity: String, Hashable, Sendable, Codable {
        case error
        case warning
    }

    public var severity: Severity
    public var summary: String
    public var detail: String
    public var location: SourceLocation?

    public init(_ severity: Severity, _ summary: String, detail: String = "", at location: SourceLocation? = nil) {
        self.severity = severity
        self.summary = summary
        self.detail = detail
        self.location = location
    }

    public static func error(_ summary: String, detail: String = "", at location: SourceLocation? = nil) -> Diagnostic {
        Diagnostic(.error, summary, detail: detail, at: location)
    }

    public static func warning(_ summary: String, detail: String = "", at location: SourceLocation? = nil) -> Diagnostic {
        Diagnostic(.warning, summary, detail: detail, at: location)
    }

    public var description: String {
        var text = location.map { "\($0): " } ?? ""
        text += "\(severity.rawValue): \(summary)"
        if !detail.isEmpty {
            text += "\n  " + detail.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\n  ")
        }
        return text
    }
}

/// Collects diagnostics so one run reports every problem, not just the first.
///
/// Decoders take a `Diagnostics` and keep going after a problem, so a user fixes a file in one pass.
///
/// `@unchecked Sendable` is safe because it is confined: a loader creates its collector, appends
/// from its own task only, and hands out `all` (a value) when done; no two tasks hold one at once.
public final class Diagnostics: @unchecked Sendable {
    public private(set) var all: [Diagnostic] = []

    public init() {}

    public func append(_ diagnostic: Diagnostic) { all.append(diagnostic) }
    public func append(contentsOf diagnostics: [Diagnostic]) { all.append(contentsOf: diagnostics) }

    /// Decoders report through these two, and their messages quote keys and values from files, so
    /// each quoted or unspaced run is cut to `TextEscaping.excerptLimit` characters here, in one place.
    public func error(_ summary: String, detail: String = "", at location: SourceLocation? = nil) {
        all.append(.error(TextEscaping.clampingExcerpts(summary), detail: TextEscaping.clampingExcerpts(detail), at: location))
    }

    public func warning(_ summary: String, detail: String = "", at location: SourceLocation? = nil) {
        all.append(.warning(TextEscaping.clampingExcerpts(summary), detail: TextEscaping.clampingExcerpts(detail), at: location))
    }

    public var errors: [Diagnostic] { all.filter { $0.severity == .error } }
    public var hasErrors: Bool { all.contains { $0.severity == .error } }

    /// Diagnostics ordered by file, line and column, the order a reader fixes them in.
    public var sorted: [Diagnostic] {
        all.enumerated().sorted { lhs, rhs in
            let l = lhs.element.location, r = rhs.element.location
            switch (l, r) {
            case let (l?, r?):
                if l.file != r.file { return l.file < r.file }
                if l.line != r.line { return l.line < r.line }
                if l.column != r.column { return l.column < r.column }
                return lhs.offset < rhs.offset
            case (nil, .some): return false
            case (.some, nil): return true
            case (nil, nil): return lhs.offset < rhs.offset
            }
        }.map(\.element)
    }
}

/// An error that carries diagnostics, thrown when a stage cannot go on.
public struct DiagnosticError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    public init(_ diagnostic: Diagnostic) { self.diagnostics = [diagnostic] }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
