/// `JSONValue` through `Codable`, for the few documents whose shape is open: a log line's metadata,
/// the fields of an Alertmanager receiver, a stored plan document passed through whole. Every fixed
/// shape has its own `Codable` type instead. (`rendered` is the schemas' own layout; encoding follows
/// the encoder's options.)
extension JSONValue: Codable {
    /// Tries the shapes most documents are made of first (strings, objects), so a large document is
    /// read with few failed attempts; `true` is never read as 1, nor 1 as 1.0.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let o = try? c.decode([String: JSONValue].self) {
            self = .object(o)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int.self) {
            self = .int(i)
        } else {
            self = .double(try c.decode(Double.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}
