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

    public init(source: any ByteReader) {
        self.source = source
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
        try skipWhitespace()
        if pos >= buffer.count { return nil }
        if layout == nil {
            if buffer.count - pos >= 3, buffer[pos] == 0xEF, buffer[pos + 1] == 0xBB, buffer[pos + 2] == 0xBF { pos += 3; try skipWhitespace() }
            if pos < buffer.count, buffer[pos] == UInt8(ascii: "[") {
                layout = .array
                inArray = true
                pos += 1
                try skipWhitespace()
            }
        }
        if inArray {
            if arrayClosed { return try trailing() }
            if pos < buffer.count, buffer[pos] == UInt8(ascii: "]") {
                arrayClosed = true
                pos += 1
                return try trailing()
            }
        }
        guard pos < buffer.count else {
            if inArray { throw JSONSyntaxError(line: line, reason: "the top-level array is not closed (truncated file?)") }
            return nil
        }
        let end = try elementEnd()
        recordLine = line
        var parser = ElementParser(bytes: buffer, pos: pos, end: end, line: line)
        let value = try parser.parseRecord()
        line = parser.line
        pos = end
        if layout == nil {
            try skipWhitespace()
            layout = pos >= buffer.count && eof ? .object : .ndjson
        }
        if inArray {
            try skipWhitespace()
            if pos < buffer.count, buffer[pos] == UInt8(ascii: ",") { pos += 1 }
            else if pos < buffer.count, buffer[pos] == UInt8(ascii: "]") { arrayClosed = true; pos += 1 }
            else { throw JSONSyntaxError(line: line, reason: "expected ',' or ']' after an array element") }
        }
        return value
    }

    private func trailing() throws -> [(String, JSONValue)]? {
        try skipWhitespace()
        if pos < buffer.count { throw JSONSyntaxError(line: line, reason: "unexpected text after the top-level array") }
        return nil
    }

    /// Offset just past the element starting at `pos`, reading more input as needed.
    private func elementEnd() throws -> Int {
        var i = pos
        var depth = 0
        var inString = false
        var escaped = false
        while true {
            while i < buffer.count {
                let b = buffer[i]
                if inString {
                    if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false; if depth == 0 { return i + 1 } }
                } else {
                    switch b {
                    case UInt8(ascii: "\""): inString = true
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 { return i + 1 }
                        if depth < 0 { throw JSONSyntaxError(line: line, reason: "unbalanced '\(UnicodeScalar(b))'") }
                    case UInt8(ascii: ","), 0x0A, 0x0D, 0x20, 0x09:
                        if depth == 0 { return i }
                    default: break
                    }
                }
                i += 1
            }
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
        var out: [UInt8] = []
        while pos < end {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") { pos += 1; return String(decoding: out, as: UTF8.self) }
            if b == UInt8(ascii: "\\") {
                pos += 1
                guard pos < end else { break }
                let e = bytes[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if scalar >= 0xD800 && scalar < 0xDC00, pos + 1 < end, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") {
                        pos += 2
                        let low = try hex4()
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    out.append(contentsOf: Array(String(UnicodeScalar(scalar).map { Character($0) } ?? "\u{FFFD}").utf8))
                default: out.append(e)
                }
                continue
            }
            if b == 0x0A { line += 1 }
            out.append(b)
            pos += 1
        }
        throw fail("string not closed")
    }

    mutating func hex4() throws -> UInt32 {
        guard pos + 4 <= end, let v = UInt32(String(decoding: bytes[pos..<pos + 4], as: UTF8.self), radix: 16) else { throw fail("bad \\u escape") }
        pos += 4
        return v
    }

    /// A nested object/array as compact JSON text (whitespace outside strings dropped).
    mutating func compactNested() throws -> String {
        var out: [UInt8] = []
        var depth = 0
        var inString = false
        var escaped = false
        while pos < end {
            let b = bytes[pos]
            pos += 1
            if inString {
                out.append(b)
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch b {
            case 0x0A: line += 1; continue
            case 0x20, 0x09, 0x0D: continue
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            default: break
            }
            out.append(b)
            if depth == 0 { return String(decoding: out, as: UTF8.self) }
        }
        throw fail("nested value not closed")
    }
}
