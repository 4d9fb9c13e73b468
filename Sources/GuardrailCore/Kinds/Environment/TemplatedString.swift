/// A configuration value that may name process environment variables: `${DATABASE_URL}`, or
/// `${PGPORT:-5432}` with a default. Expanded only for the environment in use, so `validate` needs none.
public struct TemplatedString: Hashable, Sendable {
    public var raw: String
    public var location: SourceLocation

    public init(raw: String, location: SourceLocation) {
        self.raw = raw
        self.location = location
    }

    enum Piece: Equatable {
        case literal(String)
        case variable(name: String, fallback: String?)
    }

    /// Splits the text into literals and `${...}` references, or explains what is malformed.
    func pieces() -> Result<[Piece], Diagnostic> {
        var pieces: [Piece] = []
        var rest = Substring(raw)
        while let start = rest.range(of: "${") {
            if start.lowerBound > rest.startIndex { pieces.append(.literal(String(rest[..<start.lowerBound]))) }
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                return .failure(.error("unterminated ${ in \"\(raw)\"", detail: "Close the variable reference with }.", at: location))
            }
            let body = rest[start.upperBound..<end]
            let name: Substring, fallback: String?
            if let sep = body.range(of: ":-") {
                name = body[..<sep.lowerBound]
                fallback = String(body[sep.upperBound...])
            } else {
                name = body
                fallback = nil
            }
            guard Self.isVariableName(name) else {
                return .failure(
                    .error(
                        "invalid variable name \"\(name)\" in \"\(raw)\"",
                        detail: "Variable names are letters, digits and _, not starting with a digit.", at: location))
            }
            pieces.append(.variable(name: String(name), fallback: fallback))
            rest = rest[rest.index(after: end)...]
        }
        if !rest.isEmpty { pieces.append(.literal(String(rest))) }
        return .success(pieces)
    }

    /// The names this value reads, for validation and error messages.
    public var variableNames: [String] {
        guard case .success(let pieces) = pieces() else { return [] }
        return pieces.compactMap { if case .variable(let n, _) = $0 { n } else { nil } }
    }

    /// The value with every variable replaced, or an error naming the first missing one.
    public func expand(_ environment: [String: String]) -> Result<String, Diagnostic> {
        switch pieces() {
        case .failure(let d): return .failure(d)
        case .success(let pieces):
            var out = ""
            for piece in pieces {
                switch piece {
                case .literal(let s): out += s
                case .variable(let name, let fallback):
                    if let value = environment[name], !value.isEmpty {
                        out += value
                    } else if let fallback {
                        out += fallback
                    } else {
                        return .failure(
                            .error(
                                "environment variable \(name) is not set",
                                detail:
                                    "This setting reads ${\(name)}; export \(name) before running Guardrail, or give a default with ${\(name):-value}.",
                                at: location))
                    }
                }
            }
            return .success(out)
        }
    }

    static func isVariableName(_ s: Substring) -> Bool {
        guard let first = s.unicodeScalars.first, !(first.properties.numericType != nil) else { return false }
        return s.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "_" }
    }
}
