import Logging
import NIOCore
import PostgresNIO

/// Rows for `COPY ... FROM STDIN` in Postgres's text format, written straight into one buffer.
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

    /// Sends the rows into `table` of `schema` on `connection`, inside the caller's transaction.
    ///
    /// postgres-nio quotes the table name as a single identifier, so the schema is found through a
    /// transaction-local search_path, set for this statement and put back after it.
    func copy(into table: String, columns: [String], schema: SQLIdentifier, on connection: DatabaseConnection, logger: Logger) async throws {
        let rows = try await connection.query("SELECT current_setting('search_path')", logger: logger)
        var previous = ""
        for (path) in try rows.decode(String.self) { previous = path }
        try await connection.query("SELECT set_config('search_path', \(schema.quoted), true)", logger: logger)
        try await connection.copyFrom(table: table, columns: columns, logger: logger) { writer in
            try await writer.write(buffer)
        }
        try await connection.query("SELECT set_config('search_path', \(previous), true)", logger: logger)
    }
}
