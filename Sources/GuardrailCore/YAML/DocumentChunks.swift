/// Splits a large YAML stream into runs of whole documents, so each run can be parsed on its own
/// core and still report the lines of the whole file.
///
/// A line that starts with `---` followed by a space, a tab or the line's end is a document start:
/// no scalar can go on past it (libyaml ends a block scalar there and rejects a quoted one), so a
/// cut there changes nothing but where a parse begins. A stream is kept whole when cutting could
/// change how it reads: it has directives (a `%` line belongs to the document after it), or line
/// breaks other than `\n` and `\r\n` (libyaml counts a lone `\r`, NEL, LS and PS as breaks too, and
/// the line numbers of later runs would drift).
public enum DocumentChunks {
    /// Runs are at least this many bytes; smaller streams are one run.
    public static let minimumSize = 128 * 1024

    public struct Run: Equatable, Sendable {
        public var range: Range<Int>
        /// The 1-based line of the file the run starts on.
        public var firstLine: Int
    }

    public static func split(_ bytes: [UInt8], minimumSize: Int = minimumSize) -> [Run] {
        let whole = [Run(range: 0..<bytes.count, firstLine: 1)]
        guard minimumSize < Int.max / 2, bytes.count >= 2 * minimumSize else { return whole }
        return bytes.withUnsafeBufferPointer { b -> [Run] in
            var runs: [Run] = []
            var start = 0, startLine = 1, line = 1
            var lineStart = true
            let n = b.count
            var i = 0
            while i < n {
                let c = b[i]
                if lineStart {
                    if c == UInt8(ascii: "%") { return whole }
                    if c == UInt8(ascii: "-"), i - start >= minimumSize, i + 2 < n, b[i + 1] == c, b[i + 2] == c,
                        i + 3 == n || b[i + 3] == UInt8(ascii: " ") || b[i + 3] == UInt8(ascii: "\t")
                            || b[i + 3] == UInt8(ascii: "\n") || b[i + 3] == UInt8(ascii: "\r")
                    {
                        runs.append(Run(range: start..<i, firstLine: startLine))
                        start = i
                        startLine = line
                    }
                    lineStart = false
                }
                switch c {
                case UInt8(ascii: "\n"):
                    line += 1
                    lineStart = true
                case UInt8(ascii: "\r"):
                    if i + 1 >= n || b[i + 1] != UInt8(ascii: "\n") { return whole }
                case 0xC2:
                    if i + 1 < n, b[i + 1] == 0x85 { return whole }
                case 0xE2:
                    if i + 2 < n, b[i + 1] == 0x80, b[i + 2] == 0xA8 || b[i + 2] == 0xA9 { return whole }
                default:
                    break
                }
                i += 1
            }
            runs.append(Run(range: start..<n, firstLine: startLine))
            return runs
        }
    }
}
