#if canImport(Glibc)
import Glibc
#endif
import AutoloaderCore

/// Splits one record out of a byte buffer. Pure and allocation-free per record: field boundaries go into
/// reused arrays. Knows LF, CRLF and CR terminators, RFC 4180 doubled quotes and backslash escapes.
///
/// Invariant: `starts[i] <= ends[i]` are offsets into the buffer handed to `parseRecord`; they are
/// valid only until the buffer is refilled.
public struct CSVTokenizer {
    public static let quotedFlag: UInt8 = 1
    public static let needsUnescapeFlag: UInt8 = 2
    /// Bytes after a closing quote before the delimiter: kept raw, reported by the loader if it cares.
    public static let malformedFlag: UInt8 = 4

    public let delimiter: UInt8
    public let quote: UInt8
    public let hasQuote: Bool
    public let escape: UInt8
    public let hasEscape: Bool

    public private(set) var starts: [Int] = []
    public private(set) var ends: [Int] = []
    public private(set) var flags: [UInt8] = []
    public private(set) var fieldCount = 0

    public init(dialect: Dialect) {
        delimiter = dialect.delimiter
        quote = dialect.quote ?? 0
        hasQuote = dialect.quote != nil
        escape = dialect.escape ?? 0
        hasEscape = dialect.escape != nil
        starts.reserveCapacity(64)
        ends.reserveCapacity(64)
        flags.reserveCapacity(64)
    }

    /// Fields kept per record: far more than any table holds (PostgreSQL 1,600 columns, SQLite 2,000), so a
    /// wrong delimiter on a long line costs bounded memory; `overflowed` tells that fields were dropped.
    public static let maxFields = 1 << 14
    public private(set) var overflowed = false

    @inline(__always) private mutating func addField(_ s: Int, _ e: Int, _ f: UInt8) {
        if fieldCount >= Self.maxFields {
            overflowed = true
            return
        }
        if fieldCount < starts.count {
            starts[fieldCount] = s
            ends[fieldCount] = e
            flags[fieldCount] = f
        } else {
            starts.append(s)
            ends.append(e)
            flags.append(f)
        }
        fieldCount += 1
    }

    /// Parses the record starting at `pos`. Returns the offset after its terminator and the number of line
    /// breaks inside quoted fields, or nil when the record may continue past `end` (and `atEOF` is false).
    public mutating func parseRecord(_ p: UnsafePointer<UInt8>, from pos: Int, to end: Int, atEOF: Bool) -> (next: Int, embeddedNewlines: Int)? {
        let lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        fieldCount = 0
        overflowed = false
        var i = pos
        var newlines = 0
        while true {
            if i >= end {
                guard atEOF else { return nil }
                addField(i, i, 0)
                return (i, newlines)
            }
            if hasQuote && p[i] == quote {
                var j = i + 1
                var fieldFlags = Self.quotedFlag
                var closing = -1
                while true {
                    if j >= end {
                        guard atEOF else { return nil }
                        break  // unterminated quote at end of file: the field runs to the end
                    }
                    let d = p[j]
                    if hasEscape && d == escape {
                        if j + 1 >= end && !atEOF { return nil }
                        fieldFlags |= Self.needsUnescapeFlag
                        j += 2
                        continue
                    }
                    if d == quote {
                        if j + 1 >= end && !atEOF { return nil }  // cannot tell "" from a closing quote yet
                        if !hasEscape && j + 1 < end && p[j + 1] == quote {
                            fieldFlags |= Self.needsUnescapeFlag
                            j += 2
                            continue
                        }
                        closing = j
                        j += 1
                        break
                    }
                    if d == lf { newlines += 1 } else if d == cr, !(j + 1 < end && p[j + 1] == lf) { newlines += 1 }
                    j += 1
                }
                if closing < 0 {
                    addField(i + 1, min(j, end), fieldFlags)
                    return (end, newlines)
                }
                if j < end, p[j] != delimiter, p[j] != lf, p[j] != cr {
                    // Stray bytes after the closing quote: keep the whole field raw.
                    var k = j
                    while k < end, p[k] != delimiter, p[k] != lf, p[k] != cr { k += 1 }
                    if k >= end && !atEOF { return nil }
                    addField(i, k, Self.malformedFlag)
                    i = k
                } else {
                    addField(i + 1, closing, fieldFlags)
                    i = j
                }
            } else if hasEscape {
                // Escapes hold outside quotes too (MySQL's and Redshift's ESCAPE): `a\,b` is one value, `\` + a line
                // break continues it.
                var j = i
                var fieldFlags: UInt8 = 0
                while j < end {
                    let d = p[j]
                    if d == escape {
                        if j + 1 >= end {
                            if !atEOF { return nil }
                            j += 1
                            break
                        }
                        fieldFlags = Self.needsUnescapeFlag
                        if p[j + 1] == lf || (p[j + 1] == cr && !(j + 2 < end && p[j + 2] == lf)) { newlines += 1 }
                        j += 2
                        continue
                    }
                    if d == delimiter || d == lf || d == cr { break }
                    j += 1
                }
                if j >= end && !atEOF { return nil }
                addField(i, min(j, end), fieldFlags)
                i = min(j, end)
            } else {
                var j = i
                while j < end {
                    let d = p[j]
                    if d == delimiter || d == lf || d == cr { break }
                    j += 1
                }
                if j >= end && !atEOF { return nil }
                addField(i, j, 0)
                i = j
            }
            if i >= end { return (i, newlines) }  // only reached at EOF
            let d = p[i]
            if d == delimiter {
                i += 1
                continue
            }
            if d == lf { return (i + 1, newlines) }
            // d == cr
            if i + 1 < end { return (p[i + 1] == lf ? i + 2 : i + 1, newlines) }
            return atEOF ? (i + 1, newlines) : nil
        }
    }

    /// Writes field `i` without its escapes (`""` → `"`, `\x` → `x`) into `out`, which must hold at least
    /// the field's raw length (unescaping only shrinks). Returns the bytes written.
    public func unescape(_ p: UnsafePointer<UInt8>, field i: Int, into out: UnsafeMutablePointer<UInt8>) -> Int {
        var j = starts[i]
        let e = ends[i]
        var n = 0
        while j < e {
            let b = p[j]
            if hasEscape && b == escape && j + 1 < e {
                out[n] = p[j + 1]
                j += 2
            } else if !hasEscape && b == quote && j + 1 < e && p[j + 1] == quote {
                out[n] = b
                j += 2
            } else {
                out[n] = b
                j += 1
            }
            n += 1
        }
        return n
    }
}

/// Pulls records from a byte stream: `next()` then read fields until the following `next()`.
/// Strips a UTF-8 byte-order mark and tracks the physical line each record starts on (1-based).
public final class CSVRecordReader {
    public private(set) var tokenizer: CSVTokenizer
    private let source: any ByteReader
    private var buffer: UnsafeMutableRawBufferPointer
    private var pos = 0
    private var dataEnd = 0
    private var eof = false
    private var firstFill = true
    private var scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: 4096)
    private var scratchCapacity = 4096
    private var nextLine = 1
    /// Physical line of the current record.
    public private(set) var line = 0
    private var recordStart = 0
    private var recordEnd = 0

    public init(source: any ByteReader, dialect: Dialect, bufferSize: Int = 1 << 20) {
        self.source = source
        tokenizer = CSVTokenizer(dialect: dialect)
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bufferSize, 64), alignment: 8)
    }

    deinit {
        buffer.deallocate()
        scratch.deallocate()
    }

    private var base: UnsafePointer<UInt8> {
        UnsafePointer(buffer.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }

    /// Advances to the next record; false at the end. Blank lines are skipped (but counted).
    public func next() throws -> Bool {
        while true {
            if pos >= dataEnd {
                if eof { return false }
                try refill()
                continue
            }
            if let r = tokenizer.parseRecord(base, from: pos, to: dataEnd, atEOF: eof) {
                recordStart = pos
                recordEnd = r.next
                line = nextLine
                pos = r.next
                nextLine += 1 + r.embeddedNewlines
                if tokenizer.fieldCount == 1 && tokenizer.starts[0] == tokenizer.ends[0] && tokenizer.flags[0] == 0 {
                    continue  // blank line
                }
                return true
            }
            try refill()
        }
    }

    /// Skips `n` physical lines (titles, comments) without tokenizing them as CSV.
    public func skipLines(_ n: Int) throws {
        var left = n
        while left > 0 {
            if pos >= dataEnd {
                if eof { return }
                try refill()
                continue
            }
            let p = base
            var i = pos
            while i < dataEnd, p[i] != UInt8(ascii: "\n"), p[i] != UInt8(ascii: "\r") { i += 1 }
            if i >= dataEnd && !eof { try refill(); continue }
            if i < dataEnd, p[i] == UInt8(ascii: "\r") {
                if i + 1 >= dataEnd && !eof { try refill(); continue }
                if i + 1 < dataEnd, p[i + 1] == UInt8(ascii: "\n") { i += 1 }
            }
            pos = min(i + 1, dataEnd)
            nextLine += 1
            left -= 1
        }
    }

    /// Reads until the buffer is full (or the input ends): an incomplete record is parsed again from its start
    /// after each refill, so filling only a little at a time made one long record cost its length squared.
    private func refill() throws {
        if pos > 0 {
            let keep = dataEnd - pos
            if keep > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + pos, byteCount: keep) }
            dataEnd = keep
            pos = 0
        }
        if dataEnd == buffer.count {
            guard buffer.count < Limits.maxRecordBytes else {
                throw AutoloaderError.badInput(SourceLocation(file: "", line: nextLine),
                                               reason: "a record longer than \(Limits.maxRecordBytes >> 20) MiB (no end of line where one was expected: is the delimiter or quote right, or does the file have no line ends?)")
            }
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 8)
            bigger.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: dataEnd)
            buffer.deallocate()
            buffer = bigger
        }
        while dataEnd < buffer.count {
            let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[dataEnd...]))
            if n == 0 { eof = true; break }
            dataEnd += n
        }
        if firstFill && dataEnd >= 3 || (firstFill && eof) {
            firstFill = false
            let p = base
            if dataEnd >= 3, p[0] == 0xEF, p[1] == 0xBB, p[2] == 0xBF { pos = 3 }
        }
    }

    public var fieldCount: Int { tokenizer.fieldCount }

    @inline(__always) public func isQuoted(_ i: Int) -> Bool { tokenizer.flags[i] & CSVTokenizer.quotedFlag != 0 }

    /// The bytes of field `i`, unescaped. Valid until the next call to `field` or `next`.
    @inline(__always) public func field(_ i: Int) -> UnsafeBufferPointer<UInt8> {
        let s = tokenizer.starts[i]
        if tokenizer.flags[i] & CSVTokenizer.needsUnescapeFlag != 0 {
            let length = tokenizer.ends[i] - s
            if length > scratchCapacity {
                scratch.deallocate()
                scratchCapacity = length * 2
                scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: scratchCapacity)
            }
            return UnsafeBufferPointer(start: scratch, count: tokenizer.unescape(base, field: i, into: scratch))
        }
        return UnsafeBufferPointer(start: base + s, count: tokenizer.ends[i] - s)
    }

    /// The record as written (for error reports), without its terminator.
    public var rawRecord: UnsafeBufferPointer<UInt8> {
        var e = recordEnd
        let p = base
        while e > recordStart, p[e - 1] == UInt8(ascii: "\n") || p[e - 1] == UInt8(ascii: "\r") { e -= 1 }
        return UnsafeBufferPointer(start: p + recordStart, count: e - recordStart)
    }

    /// Offset of the first invalid UTF-8 byte in the record, or nil.
    public func invalidUTF8Offset() -> Int? {
        UTF8Validation.firstInvalidByte(rawRecord)
    }

    /// Offset of the first NUL byte in the record, or nil (text never holds one; PostgreSQL refuses it).
    public func nulOffset() -> Int? {
        let raw = rawRecord
        guard let base = raw.baseAddress, let hit = memchr(base, 0, raw.count) else { return nil }
        return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
    }

    /// Field values as Strings (detection and headers only: not the hot path).
    public func fieldStrings() -> [String] {
        (0..<fieldCount).map { String(decoding: field($0), as: UTF8.self) }
    }
}
