#if canImport(Glibc)
import Glibc
#endif
import AutoloaderCore

/// A JSON value as the loader needs it: numbers keep their literal text (`2.0` has one fractional digit),
/// nested objects and arrays are kept as compact JSON text.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number([UInt8])
    case string(String)
    case nested(String)
}

/// How records are laid out in a JSON file.
public enum JSONLayout: String, Codable, Sendable {
    /// One object per line (or any whitespace-separated sequence of objects).
    case ndjson
    /// One top-level array of objects.
    case array
    /// One object: one row.
    case object
}

public struct JSONSyntaxError: Error, Sendable, CustomStringConvertible {
    public var line: Int
    public var reason: String
    public var description: String { "line \(line): \(reason)" }
}

/// Streams top-level records out of a JSON file with bounded memory: it scans for the end of each element
/// (tracking depth and strings), then parses just that element.
public final class JSONRecordReader {
    private let source: any ByteReader
    private var buffer: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 1 << 18)
    private var pos = 0
    private var eof = false
    private var line = 1
    public private(set) var layout: JSONLayout?
    private var inArray = false
    private var arrayClosed = false
    /// Line on which the current record starts.
    public private(set) var recordLine = 0
    /// The records are the elements of the array at this path of object keys (`{"data": [...]}`: ["data"]);
    /// empty: the top level holds them (NDJSON, an array, one object).
    public let path: [String]
    /// Objects entered to reach the array, still to be closed after it (their other members are skipped).
    private var enclosing = 0

    public init(source: any ByteReader, path: [String] = []) {
        self.source = source
        self.path = path
    }

    private func fill() throws -> Bool {
        if eof { return false }
        if pos > 0 {
            buffer.removeSubrange(0..<pos)
            pos = 0
        }
        let n = try chunk.withUnsafeMutableBytes { try source.read(into: $0) }
        buffer.append(contentsOf: chunk[0..<n])
        if n == 0 { eof = true }
        return n > 0
    }

    private func skipWhitespace() throws {
        while true {
            while pos < buffer.count {
                let b = buffer[pos]
                if b == 0x0A { line += 1 } else if !(b == 0x20 || b == 0x09 || b == 0x0D) { return }
                pos += 1
            }
            if try !fill() { return }
        }
    }

    /// The next record's key/value pairs in file order, or nil at the end.
    public func next() throws -> [(String, JSONValue)]? {
        guard let end = try locate() else { return nil }
        var parser = ElementParser(bytes: buffer, pos: pos, end: end, line: line)
        let value = try parser.parseRecord()
        line = parser.line
        pos = end
        try afterElement()
        return value
    }

    /// The next record's bytes, unparsed, handed to `body` (valid only inside it); nil at the end. For readers
    /// that scan records themselves (`JSONObjectScanner`) instead of building values.
    public func nextRaw<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) throws -> R? {
        guard let end = try locate() else { return nil }
        let start = pos
        let result = try buffer.withUnsafeBufferPointer { buf -> R in
            let raw = UnsafeBufferPointer(rebasing: buf[start..<end])
            for b in raw where b == 0x0A { line += 1 }
            return try body(raw)
        }
        pos = end
        try afterElement()
        return result
    }

    /// NDJSON's fast road: once the file is known to be one record after another, the next record is taken to end
    /// at its line's end, found with memchr, instead of by the structural scan (`elementEnd`, a second pass over
    /// every byte). `accept` gets the line and answers nil unless it held exactly one whole record (the scanner
    /// read it to its end); then, and for the rest of the file, records are located by the scan and go to `body`.
    /// Sound because a JSON object is self-delimiting: a line that parses whole as one object is that record.
    public func nextRaw<R>(tryLine accept: (UnsafeBufferPointer<UInt8>) throws -> R?, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) throws -> R? {
        if linesHoldRecords, layout == .ndjson, !inArray, path.isEmpty {
            try skipWhitespace()
            if pos >= buffer.count { return nil }
            if buffer[pos] == UInt8(ascii: "{"), let end = try lineEnd() {
                recordLine = line
                let start = pos
                if let accepted = try buffer.withUnsafeBufferPointer({ try accept(UnsafeBufferPointer(rebasing: $0[start..<end])) }) {
                    pos = end
                    return accepted
                }
                linesHoldRecords = false
            }
        }
        return try nextRaw(body)
    }

    /// Whether lines have held one record each so far (see `nextRaw(tryLine:_:)`).
    private var linesHoldRecords = true

    /// Offset of the end of the line starting at `pos` (its newline, or the end of the file); nil when the line is
    /// longer than a record may be.
    private func lineEnd() throws -> Int? {
        var from = pos
        while true {
            let found: Int? = buffer.withUnsafeBytes { raw in
                guard from < raw.count, let base = raw.baseAddress,
                      let hit = memchr(base + from, 0x0A, raw.count - from) else { return nil }
                return base.distance(to: UnsafeRawPointer(hit))
            }
            if let found { return found }
            let offset = buffer.count - pos
            if offset > Limits.maxRecordBytes { return nil }
            if try !fill() { return buffer.count }
            from = pos + offset
        }
    }

    /// The syntax error ElementParser reports for a record the scanner could not read (its message and line).
    public func syntaxError(in raw: UnsafeBufferPointer<UInt8>) -> JSONSyntaxError {
        var parser = ElementParser(bytes: Array(raw), pos: 0, end: raw.count, line: recordLine)
        do {
            _ = try parser.parseRecord()
            return JSONSyntaxError(line: recordLine, reason: "unreadable JSON record")
        } catch let error as JSONSyntaxError {
            return error
        } catch {
            return JSONSyntaxError(line: recordLine, reason: "\(error)")
        }
    }

    /// Finds the next element: returns where it ends (it starts at `pos`), or nil at the end of the records.
    private func locate() throws -> Int? {
        try skipWhitespace()
        if pos >= buffer.count { return nil }
        if layout == nil {
            while buffer.count - pos < 3, try fill() {}  // a byte-order mark may straddle reads
            if buffer.count - pos >= 3, buffer[pos] == 0xEF, buffer[pos + 1] == 0xBB, buffer[pos + 2] == 0xBF { pos += 3; try skipWhitespace() }
            if !path.isEmpty { try enterRecords() }
            if pos < buffer.count, buffer[pos] == UInt8(ascii: "[") {
                layout = .array
                inArray = true
                pos += 1
                try skipWhitespace()
            }
        }
        while inArray {
            if !arrayClosed, pos < buffer.count, buffer[pos] == UInt8(ascii: "]") {
                arrayClosed = true
                pos += 1
            }
            guard arrayClosed else { break }
            if path.isEmpty { _ = try trailing(); return nil }
            // Records inside objects: close them; another wrapper may follow (concatenated responses, as Firehose writes).
            try closeEnclosing()
            try skipWhitespace()
            if pos >= buffer.count { return nil }
            arrayClosed = false
            try enterRecords()
            pos += 1
            try skipWhitespace()
        }
        guard pos < buffer.count else {
            if inArray { throw JSONSyntaxError(line: line, reason: "the top-level array is not closed (truncated file?)") }
            return nil
        }
        let end = try elementEnd()
        recordLine = line
        return end
    }

    /// After an element: settles the layout, and inside an array expects `,` or `]`.
    private func afterElement() throws {
        if layout == nil {
            try skipWhitespace()
            layout = pos >= buffer.count && eof ? .object : .ndjson
        }
        if inArray {
            try skipWhitespace()
            if pos < buffer.count, buffer[pos] == UInt8(ascii: ",") { pos += 1 }
            else if pos < buffer.count, buffer[pos] == UInt8(ascii: "]") { arrayClosed = true; pos += 1 }
            else if pos >= buffer.count { throw JSONSyntaxError(line: line, reason: "the array of records is not closed (truncated file?)") }
            else { throw JSONSyntaxError(line: line, reason: "expected ',' or ']' after an array element") }
        }
    }

    private func trailing() throws -> [(String, JSONValue)]? {
        try skipWhitespace()
        if pos < buffer.count { throw JSONSyntaxError(line: line, reason: "unexpected text after the top-level array") }
        return nil
    }

    /// Walks into a wrapper object to the records' array; leaves `pos` at its `[`.
    private func enterRecords() throws {
        try descend()
        guard pos < buffer.count, buffer[pos] == UInt8(ascii: "[") else {
            throw JSONSyntaxError(line: line, reason: "the value at json_path \(path.joined(separator: ".")) is not an array of records")
        }
    }

    /// After the records' array: the wrapper objects' remaining members are skipped, then they close.
    private func closeEnclosing() throws {
        while enclosing > 0 {
            try skipWhitespace()
            while pos < buffer.count, buffer[pos] == UInt8(ascii: ",") {
                pos += 1
                _ = try member()
                try skip()
                try skipWhitespace()
            }
            guard pos < buffer.count, buffer[pos] == UInt8(ascii: "}") else {
                throw JSONSyntaxError(line: line, reason: "expected ',' or '}' after the records at json_path \(path.joined(separator: "."))")
            }
            pos += 1
            enclosing -= 1
        }
    }

    /// Walks into the objects named by `path`, skipping other members, to the value at its end.
    private func descend() throws {
        for key in path {
            try skipWhitespace()
            guard pos < buffer.count, buffer[pos] == UInt8(ascii: "{") else {
                throw JSONSyntaxError(line: line, reason: "json_path \(path.joined(separator: ".")): expected an object around '\(key)'")
            }
            pos += 1
            enclosing += 1
            while true {
                try skipWhitespace()
                guard pos < buffer.count, buffer[pos] != UInt8(ascii: "}") else {
                    throw JSONSyntaxError(line: line, reason: "json_path \(path.joined(separator: ".")): no key '\(key)' in the object")
                }
                if try member() == key { break }
                try skip()
                try skipWhitespace()
                if pos < buffer.count, buffer[pos] == UInt8(ascii: ",") { pos += 1 } else {
                    throw JSONSyntaxError(line: line, reason: "json_path \(path.joined(separator: ".")): no key '\(key)' in the object")
                }
            }
            try skipWhitespace()
        }
    }

    /// An object member's key and its ':'; leaves `pos` at the value.
    private func member() throws -> String {
        try skipWhitespace()
        guard pos < buffer.count, buffer[pos] == UInt8(ascii: "\"") else { throw JSONSyntaxError(line: line, reason: "expected a key") }
        let end = try elementEnd()
        var parser = ElementParser(bytes: buffer, pos: pos, end: end, line: line)
        let key = try parser.parseString()
        pos = end
        try skipWhitespace()
        guard pos < buffer.count, buffer[pos] == UInt8(ascii: ":") else { throw JSONSyntaxError(line: line, reason: "expected ':' after the key \"\(key)\"") }
        pos += 1
        try skipWhitespace()
        return key
    }

    /// Skips the value at `pos` (a member the path does not name).
    private func skip() throws {
        try skipWhitespace()
        let end = try elementEnd()
        for b in buffer[pos..<end] where b == 0x0A { line += 1 }
        pos = end
    }

    /// The wrapper of the common case, from the start of a file: one top-level object whose first member that is an
    /// array starts with an object (`{"data": [{…}, …], "meta": …}`, `{"count": 2, "results": [{…}]}`). nil for
    /// NDJSON (an object followed by another), a top-level array, or an object without such a member.
    public static func wrapperPath(_ sample: [UInt8]) -> [String]? {
        let reader = JSONRecordReader(source: PrefixedReader(prefix: sample, rest: EmptyReader()))
        do {
            try reader.skipWhitespace()
            if sample.starts(with: [0xEF, 0xBB, 0xBF]) { reader.pos = 3; try reader.skipWhitespace() }
            guard reader.pos < reader.buffer.count, reader.buffer[reader.pos] == UInt8(ascii: "{") else { return nil }
            reader.pos += 1
            while true {
                try reader.skipWhitespace()
                guard reader.pos < reader.buffer.count, reader.buffer[reader.pos] == UInt8(ascii: "\"") else { return nil }
                let key = try reader.member()
                if reader.pos < reader.buffer.count, reader.buffer[reader.pos] == UInt8(ascii: "[") {
                    var i = reader.pos + 1
                    while i < reader.buffer.count, [0x20, 0x09, 0x0A, 0x0D].contains(reader.buffer[i]) { i += 1 }
                    guard i < reader.buffer.count, reader.buffer[i] == UInt8(ascii: "{") else { return nil }
                    // Found; but a whole object followed by another is NDJSON whose records hold arrays.
                    reader.pos = 0
                    reader.line = 1
                    if sample.starts(with: [0xEF, 0xBB, 0xBF]) { reader.pos = 3 }
                    try reader.skipWhitespace()
                    let end: Int
                    do { end = try reader.elementEnd() } catch {
                        return [key]  // the object goes on past the sample: one large object (a defect shows when it is read)
                    }
                    reader.pos = end
                    try reader.skipWhitespace()
                    return reader.pos >= reader.buffer.count ? [key] : nil
                }
                try reader.skip()
                try reader.skipWhitespace()
                guard reader.pos < reader.buffer.count, reader.buffer[reader.pos] == UInt8(ascii: ",") else { return nil }
                reader.pos += 1
            }
        } catch {
            return nil
        }
    }

    /// Offset just past the element starting at `pos`, reading more input as needed.
    private func elementEnd() throws -> Int {
        var i = pos
        var depth = 0
        var inString = false
        var escaped = false
        while true {
            // Scanned through a buffer pointer, strings skipped to their next quote or backslash in a tight loop:
            // this pass sees every byte of the file.
            let found: Int? = try buffer.withUnsafeBufferPointer { buf in
                let n = buf.count
                while i < n {
                    if inString {
                        if escaped { escaped = false; i += 1; continue }
                        while i < n, buf[i] != UInt8(ascii: "\"") && buf[i] != UInt8(ascii: "\\") { i += 1 }
                        if i == n { break }
                        if buf[i] == UInt8(ascii: "\\") { escaped = true; i += 1; continue }
                        inString = false
                        i += 1
                        if depth == 0 { return i }
                        continue
                    }
                    let b = buf[i]
                    switch b {
                    case UInt8(ascii: "\""): inString = true
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        // A scalar member of a wrapper object ends at its object's close (`"t": 1}`).
                        if depth == 0 && i > pos { return i }
                        depth -= 1
                        if depth == 0 { return i + 1 }
                        if depth < 0 { throw JSONSyntaxError(line: line, reason: "unbalanced '\(UnicodeScalar(b))'") }
                    case UInt8(ascii: ","), 0x0A, 0x0D, 0x20, 0x09:
                        if depth == 0 { return i }
                    default: break
                    }
                    i += 1
                }
                return nil
            }
            if let found { return found }
            let offset = i - pos
            if offset > Limits.maxRecordBytes {
                throw JSONSyntaxError(line: line, reason: "a JSON record larger than \(Limits.maxRecordBytes >> 20) MiB; split the file into records (one object per line)")
            }
            if try !fill() {
                if depth == 0 && !inString && i > pos { return i }
                throw JSONSyntaxError(line: line, reason: "the file ends inside a JSON value (truncated file?)")
            }
            i = pos + offset
        }
    }
}

/// Parses one element (an object is a record) from a byte slice.
struct ElementParser {
    let bytes: [UInt8]
    var pos: Int
    let end: Int
    var line: Int

    mutating func fail(_ reason: String) -> JSONSyntaxError { JSONSyntaxError(line: line, reason: reason) }

    mutating func skip() {
        while pos < end {
            let b = bytes[pos]
            if b == 0x0A { line += 1 } else if !(b == 0x20 || b == 0x09 || b == 0x0D) { return }
            pos += 1
        }
    }

    mutating func parseRecord() throws -> [(String, JSONValue)] {
        skip()
        guard pos < end, bytes[pos] == UInt8(ascii: "{") else { throw fail("expected an object ({…}) as a record") }
        pos += 1
        var fields: [(String, JSONValue)] = []
        skip()
        if pos < end, bytes[pos] == UInt8(ascii: "}") { pos += 1; return fields }
        while true {
            skip()
            guard pos < end, bytes[pos] == UInt8(ascii: "\"") else { throw fail("expected a key") }
            let key = try parseString()
            skip()
            guard pos < end, bytes[pos] == UInt8(ascii: ":") else { throw fail("expected ':' after key \"\(key)\"") }
            pos += 1
            skip()
            fields.append((key, try parseValue()))
            skip()
            guard pos < end else { throw fail("object not closed") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "}") { pos += 1; return fields }
            throw fail("expected ',' or '}' in an object")
        }
    }

    mutating func parseValue() throws -> JSONValue {
        guard pos < end else { throw fail("missing value") }
        switch bytes[pos] {
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "{"), UInt8(ascii: "["): return .nested(try compactNested())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default:
            let start = pos
            while pos < end, let b = Optional(bytes[pos]), (b >= 48 && b <= 57) || b == UInt8(ascii: "-") || b == UInt8(ascii: "+") || b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E") { pos += 1 }
            guard pos > start else { throw fail("unexpected character '\(UnicodeScalar(bytes[pos]))'") }
            return .number(Array(bytes[start..<pos]))
        }
    }

    mutating func literal(_ word: String) throws {
        for c in word.utf8 {
            guard pos < end, bytes[pos] == c else { throw fail("invalid literal, expected \(word)") }
            pos += 1
        }
    }

    mutating func parseString() throws -> String {
        pos += 1
        // Most strings hold no escape and no newline: made straight from the bytes (no copy for short ones).
        let start = pos
        while pos < end {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                pos += 1
                return bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[start..<(pos - 1)]), as: UTF8.self) }
            }
            if b == UInt8(ascii: "\\") || b == 0x0A { break }
            pos += 1
        }
        var out: [UInt8] = []
        let (ok, newlines) = bytes.withUnsafeBufferPointer { JSONBytes.unescape($0, &pos, end: end, from: start, into: &out) }
        line += newlines
        guard ok else { throw fail(pos >= end ? "string not closed" : "bad \\u escape") }
        return String(decoding: out, as: UTF8.self)
    }

    /// A nested object/array as compact JSON text (whitespace outside strings dropped).
    mutating func compactNested() throws -> String {
        var out: [UInt8] = []
        let (ok, newlines) = bytes.withUnsafeBufferPointer { JSONBytes.compact($0, &pos, end: end, into: &out) }
        line += newlines
        guard ok else { throw fail("nested value not closed") }
        return String(decoding: out, as: UTF8.self)
    }
}

/// JSON's byte-level steps that both parsers take (ElementParser builds values, JSONObjectScanner does not).
enum JSONBytes {
    /// A string's rest from `start` (after its opening quote) with escapes resolved, appended to `out`; `i` ends
    /// after the closing quote. Returns false at a bad `\u` escape or an unclosed string, and the newlines seen.
    static func unescape(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int, end: Int, from start: Int, into out: inout [UInt8]) -> (Bool, Int) {
        var newlines = 0
        i = start
        while i < end {
            let c = b[i]
            if c == UInt8(ascii: "\"") { i += 1; return (true, newlines) }
            guard c == UInt8(ascii: "\\") else {
                if c == 0x0A { newlines += 1 }
                out.append(c)
                i += 1
                continue
            }
            i += 1
            guard i < end else { return (false, newlines) }
            let e = b[i]
            i += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                guard var scalar = hex4(b, &i, end: end) else { return (false, newlines) }
                if scalar >= 0xD800 && scalar < 0xDC00, i + 1 < end, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                    i += 2
                    guard let low = hex4(b, &i, end: end) else { return (false, newlines) }
                    // A high surrogate without its low half is no character: U+FFFD (it trapped on underflow).
                    scalar = (0xDC00...0xDFFF).contains(low) ? 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00) : 0xFFFD
                }
                out.append(contentsOf: UTF8.encode(Unicode.Scalar(scalar) ?? "\u{FFFD}")!)
            default: out.append(e)
            }
        }
        return (false, newlines)
    }

    static func hex4(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int, end: Int) -> UInt32? {
        guard i + 4 <= end else { return nil }
        var v: UInt32 = 0
        for k in 0..<4 {
            let c = b[i + k]
            let d: UInt8
            switch c {
            case 48...57: d = c - 48
            case 97...102: d = c - 87
            case 65...70: d = c - 55
            default: return nil
            }
            v = v << 4 | UInt32(d)
        }
        i += 4
        return v
    }

    /// The object or array at `i`, compact (whitespace outside strings dropped), appended to `out`; `i` ends after
    /// it. Returns false when it is not closed, and the newlines seen.
    static func compact(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int, end: Int, into out: inout [UInt8]) -> (Bool, Int) {
        var newlines = 0
        var depth = 0
        var inString = false
        var escaped = false
        while i < end {
            let c = b[i]
            i += 1
            if inString {
                out.append(c)
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch c {
            case 0x0A: newlines += 1; continue
            case 0x20, 0x09, 0x0D: continue
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            default: break
            }
            out.append(c)
            if depth == 0 { return (true, newlines) }
        }
        return (false, newlines)
    }
}

/// Walks one JSON object's members in its bytes, without building values: the loader's path for records.
/// Strings arrive unescaped and nested values compact (as `JSONValue` has them); text that needed changing
/// is written to `scratch`, the rest is pointed at in place. Returns false on anything malformed (the caller
/// asks ElementParser for the located error) — it never guesses.
public struct JSONObjectScanner {
    public enum Kind: Equatable { case string, number, bool, null, nested }
    /// Where a value's bytes are: in the record (`inScratch` false) or in `scratch`, at `start`, `count` long.
    public struct Slice {
        public var kind: Kind
        public var inScratch: Bool
        public var start: Int
        public var count: Int

        public init(kind: Kind, inScratch: Bool, start: Int, count: Int) {
            self.kind = kind
            self.inScratch = inScratch
            self.start = start
            self.count = count
        }
    }

    public var scratch: [UInt8] = []
    private var keyScratch: [UInt8] = []

    public init() {}

    /// Calls `member` with each key's bytes (valid during the call) and its value; false: malformed.
    public mutating func scan(_ b: UnsafeBufferPointer<UInt8>, member: (UnsafeBufferPointer<UInt8>, Slice) throws -> Void) rethrows -> Bool {
        scratch.removeAll(keepingCapacity: true)
        let n = b.count
        var i = 0
        @inline(__always) func skip() { while i < n, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }
        skip()
        guard i < n, b[i] == UInt8(ascii: "{") else { return false }
        i += 1
        skip()
        if i < n, b[i] == UInt8(ascii: "}") { i += 1; skip(); return i == n }
        while true {
            skip()
            guard i < n, b[i] == UInt8(ascii: "\"") else { return false }
            guard let key = string(b, &i, into: &keyScratch, separate: true) else { return false }
            skip()
            guard i < n, b[i] == UInt8(ascii: ":") else { return false }
            i += 1
            skip()
            guard i < n else { return false }
            let value: Slice
            switch b[i] {
            case UInt8(ascii: "\""):
                guard let v = string(b, &i, into: &scratch, separate: false) else { return false }
                value = v
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard let v = nested(b, &i) else { return false }
                value = v
            case UInt8(ascii: "t"):
                guard word(b, &i, "true") else { return false }
                value = Slice(kind: .bool, inScratch: false, start: i - 4, count: 4)
            case UInt8(ascii: "f"):
                guard word(b, &i, "false") else { return false }
                value = Slice(kind: .bool, inScratch: false, start: i - 5, count: 5)
            case UInt8(ascii: "n"):
                guard word(b, &i, "null") else { return false }
                value = Slice(kind: .null, inScratch: false, start: i - 4, count: 4)
            default:
                let start = i
                while i < n, (b[i] >= 48 && b[i] <= 57) || b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: ".")
                        || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") { i += 1 }
                guard i > start else { return false }
                value = Slice(kind: .number, inScratch: false, start: start, count: i - start)
            }
            if key.inScratch {
                try keyScratch.withUnsafeBufferPointer { try member(UnsafeBufferPointer(rebasing: $0[key.start..<(key.start + key.count)]), value) }
            } else {
                try member(UnsafeBufferPointer(rebasing: b[key.start..<(key.start + key.count)]), value)
            }
            skip()
            guard i < n else { return false }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            guard b[i] == UInt8(ascii: "}") else { return false }
            i += 1
            skip()
            return i == n
        }
    }

    private func word(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int, _ w: StaticString) -> Bool {
        let count = w.utf8CodeUnitCount
        guard i + count <= b.count else { return false }
        let p = w.utf8Start
        for k in 0..<count where b[i + k] != p[k] { return false }
        i += count
        return true
    }

    /// A string at `i` (its opening quote): in place when it holds no escape, else unescaped into `out`
    /// (appended; `separate`: `out` is emptied first, for keys).
    private func string(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int, into out: inout [UInt8], separate: Bool) -> Slice? {
        let n = b.count
        i += 1
        let start = i
        // Raw control characters are kept as ElementParser keeps them.
        while i < n, b[i] != UInt8(ascii: "\"") && b[i] != UInt8(ascii: "\\") { i += 1 }
        guard i < n else { return nil }
        if b[i] == UInt8(ascii: "\"") {
            i += 1
            return Slice(kind: .string, inScratch: false, start: start, count: i - 1 - start)
        }
        return escaped(b, &i, from: start, into: &out, separate: separate)
    }

    private func escaped(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int, from start: Int, into out: inout [UInt8], separate: Bool) -> Slice? {
        if separate { out.removeAll(keepingCapacity: true) }
        let outStart = out.count
        guard JSONBytes.unescape(b, &i, end: b.count, from: start, into: &out).0 else { return nil }
        return Slice(kind: .string, inScratch: true, start: outStart, count: out.count - outStart)
    }

    /// A nested object or array, compact, always into scratch.
    private mutating func nested(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) -> Slice? {
        let outStart = scratch.count
        guard JSONBytes.compact(b, &i, end: b.count, into: &scratch).0 else { return nil }
        return Slice(kind: .nested, inScratch: true, start: outStart, count: scratch.count - outStart)
    }
}
