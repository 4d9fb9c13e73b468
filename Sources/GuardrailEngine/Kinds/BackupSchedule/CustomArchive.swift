/// Reads the table of contents of a pg_dump custom-format archive (`pg_dump -Fc`), to prove a
/// backup is readable without starting a process: the header, every TOC entry, and for each entry
/// with data, the data block at the offset the TOC records (its block type and dump id).
///
/// That is what `pg_restore --list` reads, plus the data offsets it does not follow. Archive format
/// versions 1.12 to 1.16 (PostgreSQL 9.0 to 17) are read; others are `unsupportedVersion`, and the
/// caller falls back to `pg_restore --list`. `BackupArchiveStore.verify` reads each new archive
/// through it, from the file, before the archive gets its final name.
public enum CustomArchive {
    public struct Entry: Equatable, Sendable {
        public var dumpID: Int
        public var description: String
        public var tag: String
        /// Where the entry's data block starts, when it has one.
        public var dataOffset: Int?
    }

    public struct Contents: Sendable {
        public var version: String
        public var entries: [Entry]
    }

    public enum Problem: Error, Equatable, CustomStringConvertible, Sendable {
        case notAnArchive
        case notCustomFormat(Int)
        case unsupportedVersion(String)
        case truncated(at: Int)
        case malformed(String)

        public var description: String {
            switch self {
            case .notAnArchive: "it does not start with PGDMP, so it is not a pg_dump archive"
            case .notCustomFormat(let f): "it is a pg_dump archive of format \(f), not the custom format (1)"
            case .unsupportedVersion(let v): "its archive format version \(v) is not one Guardrail reads"
            case .truncated(let at): "it ends at byte \(at), inside its table of contents or a data block it lists: the file is truncated"
            case .malformed(let what): "its table of contents is malformed: \(what)"
            }
        }
    }

    /// Reads `count` bytes at `offset` (fewer at the end of the file).
    public typealias Reader = (_ offset: Int, _ count: Int) throws -> [UInt8]

    // Block types: data, and large objects (2 in old archives, 3 since).
    static let blockTypes: Set<UInt8> = [1, 2, 3]
    static let offsetSet: UInt8 = 2

    public static func read(size: Int, _ read: @escaping Reader) throws -> Contents {
        var r = Cursor(size: size, read: read)
        guard try r.bytes(5) == Array("PGDMP".utf8) else { throw Problem.notAnArchive }
        let major = Int(try r.byte()), minor = Int(try r.byte())
        let revision = major > 1 || (major == 1 && minor > 0) ? Int(try r.byte()) : 0
        let version = "\(major).\(minor).\(revision)"
        guard major == 1, (12...16).contains(minor) else { throw Problem.unsupportedVersion(version) }
        r.intSize = Int(try r.byte())
        r.offSize = Int(try r.byte())
        guard (1...8).contains(r.intSize), (1...8).contains(r.offSize) else {
            throw Problem.malformed("integer size \(r.intSize), offset size \(r.offSize)")
        }
        let format = Int(try r.byte())
        guard format == 1 else { throw Problem.notCustomFormat(format) }
        if minor >= 15 { _ = try r.byte() } else { _ = try r.int() }  // compression
        for _ in 0..<7 { _ = try r.int() }  // creation time
        _ = try r.string(); _ = try r.string(); _ = try r.string()  // database, server and pg_dump versions
        let count = try r.int()
        guard count >= 0, count < 100_000_000 else { throw Problem.malformed("\(count) entries") }
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        for _ in 0..<count {
            let id = try r.int()
            guard id > 0 else { throw Problem.malformed("entry id \(id)") }
            _ = try r.int()  // had a data dumper
            _ = try r.string(); _ = try r.string()  // table oid, oid
            let tag = try r.string() ?? ""
            let description = try r.string() ?? ""
            _ = try r.int()  // section
            for _ in 0..<5 { _ = try r.string() }  // definition, drop, copy statement, namespace, tablespace
            if minor >= 14 { _ = try r.string() }  // table access method
            if minor >= 16 { _ = try r.int() }  // relkind
            _ = try r.string()  // owner
            _ = try r.string()  // with oids: "false"
            while try r.string() != nil {}  // dependencies, up to a null
            let flag = try r.byte()
            var offset = 0
            for i in 0..<r.offSize { offset |= Int(try r.byte()) << (8 * i) }
            entries.append(Entry(dumpID: id, description: description, tag: tag, dataOffset: flag == offsetSet ? offset : nil))
        }
        // Each data block the TOC points at starts with its type and the entry's dump id.
        for entry in entries {
            guard let offset = entry.dataOffset else { continue }
            guard offset > 0, offset < size else { throw Problem.truncated(at: size) }
            // A type byte and an int: read just those, not a whole buffer per table.
            var block = Cursor(size: size, read: read, position: offset, chunk: 2 + r.intSize)
            block.intSize = r.intSize
            let type = try block.byte()
            guard blockTypes.contains(type) else {
                throw Problem.malformed(
                    "the data of \(entry.description) \(entry.tag) (entry \(entry.dumpID)) does not start a data block at byte \(offset)")
            }
            let id = try block.int()
            guard id == entry.dumpID else {
                throw Problem.malformed(
                    "the data block at byte \(offset) belongs to entry \(id), not to \(entry.description) \(entry.tag) (entry \(entry.dumpID))")
            }
        }
        return Contents(version: version, entries: entries)
    }

    /// Sequential reads through a small buffer.
    struct Cursor {
        var size: Int
        var read: Reader
        var position = 0
        var buffer: [UInt8] = []
        var bufferStart = 0
        var intSize = 4
        var offSize = 8
        /// How much each read asks for.
        var chunk: Int

        init(size: Int, read: @escaping Reader, position: Int = 0, chunk: Int = 64 * 1024) {
            self.size = size
            self.read = read
            self.position = position
            self.bufferStart = position
            self.chunk = chunk
        }

        mutating func byte() throws -> UInt8 {
            if position - bufferStart >= buffer.count {
                guard position < size else { throw Problem.truncated(at: size) }
                buffer = try read(position, chunk)
                bufferStart = position
                guard !buffer.isEmpty else { throw Problem.truncated(at: position) }
            }
            defer { position += 1 }
            return buffer[position - bufferStart]
        }

        mutating func bytes(_ n: Int) throws -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try byte()) }
            return out
        }

        /// pg_dump's integer: a sign byte, then `intSize` bytes, least significant first.
        mutating func int() throws -> Int {
            let negative = try byte() != 0
            var value = 0
            for i in 0..<intSize { value |= Int(try byte()) << (8 * i) }
            return negative ? -value : value
        }

        /// A length, then that many bytes; a negative length is null.
        mutating func string() throws -> String? {
            let length = try int()
            guard length >= 0 else { return nil }
            guard length <= size - position else { throw Problem.truncated(at: size) }
            return String(decoding: try bytes(length), as: UTF8.self)
        }
    }
}
