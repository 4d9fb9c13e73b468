import Logging
import NIOCore
import PostgresNIO

/// Rows for `COPY ... FROM STDIN` in Postgres's text format, written straight into a buffer.
///
/// A field's backslash, tab, line feed and carriage return are escaped (`\\`, `\t`, `\n`, `\r`), so
/// no value can end its field or its row early. There are no NULLs: every column Guardrail copies
/// is NOT NULL.
struct CopyText {
    private(set) var buffer: ByteBuffer

    init(capacity: Int) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    /// Appends `value` as the next field of the current row; `last` ends the row.
    mutating func field(_ value: String, last: Bool = false) {
        var value = value
        value.withUTF8 { bytes in
            var start = 0
            for (i, byte) in bytes.enumerated() {
                let escaped: UInt8
                switch byte {
                case UInt8(ascii: "\\"): escaped = UInt8(ascii: "\\")
                case UInt8(ascii: "\t"): escaped = UInt8(ascii: "t")
                case UInt8(ascii: "\n"): escaped = UInt8(ascii: "n")
                case UInt8(ascii: "\r"): escaped = UInt8(ascii: "r")
                default: continue
                }
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[start..<i]))
                buffer.writeInteger(UInt8(ascii: "\\"))
                buffer.writeInteger(escaped)
                start = i + 1
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[start...]))
        }
        buffer.writeInteger(last ? UInt8(ascii: "\n") : UInt8(ascii: "\t"))
    }

    /// Writes `rows` into `table` of `schema` on `connection`, inside the caller's transaction, each
    /// row's fields written by `write`. The text goes out in pieces of about `pieceBytes`, so a copy
    /// of 100,000 rows never holds them all as text.
    ///
    /// postgres-nio quotes the table name as a single identifier, so the schema is found through a
    /// transaction-local search_path, set for this statement and put back after it.
    static func copy<Rows: Sequence>(
        _ rows: Rows, into table: String, columns: [String], schema: SQLIdentifier, on connection: DatabaseConnection, logger: Logger,
        pieceBytes: Int = 1 << 20, write: (inout CopyText, Rows.Element) throws -> Void
    ) async throws {
        let path = try await connection.query("SELECT current_setting('search_path')", logger: logger)
        var previous = ""
        for (value) in try path.decode(String.self) { previous = value }
        try await connection.query("SELECT set_config('search_path', \(schema.quoted), true)", logger: logger)
        try await connection.copyFrom(table: table, columns: columns, logger: logger) { writer in
            var text = CopyText(capacity: pieceBytes + 4096)
            for row in rows {
                try write(&text, row)
                guard text.buffer.readableBytes >= pieceBytes else { continue }
                try await writer.write(text.buffer)
                text.buffer.clear()
            }
            if text.buffer.readableBytes > 0 { try await writer.write(text.buffer) }
        }
        try await connection.query("SELECT set_config('search_path', \(previous), true)", logger: logger)
    }
}
