import AutoloaderCore
import CCompression
import Foundation

/// An Avro schema (from an object container file's header), flattened into nodes; named types are referenced by
/// node index, so recursive schemas (a linked list) are a cycle of indexes, not an infinite tree.
public struct AvroSchema: Sendable {
    public enum Logical: Sendable, Equatable {
        case none, decimal(precision: Int, scale: Int), uuid, date, timeMillis, timeMicros
        case timestampMillis, timestampMicros, timestampNanos, localMillis, localMicros, localNanos
    }

    public enum Node: Sendable {
        case null, boolean, int(Logical), long(Logical), float, double, bytes(Logical), string(Logical)
        case record(name: String, fields: [Field])
        case enumeration([String])
        case array(Int)
        case map(Int)
        case fixed(size: Int, Logical)
        case union([Int])
    }

    public struct Field: Sendable {
        public var name: String
        public var node: Int
    }

    public private(set) var nodes: [Node] = []
    public private(set) var root = 0

    public init(json text: String, file: String) throws {
        func bad(_ why: String) -> AutoloaderError { .badInput(SourceLocation(file: file), reason: "Avro schema: \(why)") }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
        } catch { throw bad("not JSON (\(error.localizedDescription))") }
        var named: [String: Int] = [:]
        var nodes: [Node] = []
        func add(_ node: Node) -> Int { nodes.append(node); return nodes.count - 1 }
        func fullName(_ object: [String: Any], _ namespace: String) throws -> (String, String) {
            guard let name = object["name"] as? String, !name.isEmpty else { throw bad("a named type without a name") }
            if name.contains(".") { return (name, String(name[..<name.lastIndex(of: ".")!])) }
            let space = object["namespace"] as? String ?? namespace
            return (space.isEmpty ? name : space + "." + name, space)
        }
        func logical(_ object: [String: Any]) -> Logical {
            switch object["logicalType"] as? String {
            case "decimal": return .decimal(precision: (object["precision"] as? Int) ?? 38, scale: (object["scale"] as? Int) ?? 0)
            case "uuid": return .uuid
            case "date": return .date
            case "time-millis": return .timeMillis
            case "time-micros": return .timeMicros
            case "timestamp-millis": return .timestampMillis
            case "timestamp-micros": return .timestampMicros
            case "timestamp-nanos": return .timestampNanos
            case "local-timestamp-millis": return .localMillis
            case "local-timestamp-micros": return .localMicros
            case "local-timestamp-nanos": return .localNanos
            default: return .none  // unknown logical types read as their underlying type, as the spec says
            }
        }
        func parse(_ schema: Any, _ namespace: String, depth: Int) throws -> Int {
            guard depth < 200 else { throw bad("nested more than 200 levels deep") }
            if let branches = schema as? [Any] {
                let index = add(.null)
                nodes[index] = .union(try branches.map { try parse($0, namespace, depth: depth + 1) })
                return index
            }
            if let name = schema as? String {
                switch name {
                case "null": return add(.null)
                case "boolean": return add(.boolean)
                case "int": return add(.int(.none))
                case "long": return add(.long(.none))
                case "float": return add(.float)
                case "double": return add(.double)
                case "bytes": return add(.bytes(.none))
                case "string": return add(.string(.none))
                default:
                    if let index = named[name] ?? named[namespace.isEmpty ? name : namespace + "." + name] { return index }
                    throw bad("unknown type '\(name)'")
                }
            }
            guard let object = schema as? [String: Any] else { throw bad("a type is neither a name, a list nor an object") }
            guard let type = object["type"] else { throw bad("an object without 'type'") }
            guard let typeName = type as? String else { return try parse(type, namespace, depth: depth + 1) }
            switch typeName {
            case "record", "error":
                let (full, space) = try fullName(object, namespace)
                let index = add(.record(name: full, fields: []))
                named[full] = index  // before the fields: a field may refer to its own record
                guard let fields = object["fields"] as? [[String: Any]] else { throw bad("record \(full) has no 'fields' list") }
                var out: [Field] = []
                for f in fields {
                    guard let name = f["name"] as? String, let t = f["type"] else { throw bad("a field of \(full) lacks 'name' or 'type'") }
                    out.append(Field(name: name, node: try parse(t, space, depth: depth + 1)))
                }
                nodes[index] = .record(name: full, fields: out)
                return index
            case "enum":
                let (full, _) = try fullName(object, namespace)
                guard let symbols = object["symbols"] as? [String] else { throw bad("enum \(full) has no 'symbols'") }
                let index = add(.enumeration(symbols))
                named[full] = index
                return index
            case "fixed":
                let (full, _) = try fullName(object, namespace)
                guard let size = object["size"] as? Int, size >= 0 else { throw bad("fixed \(full) has no 'size'") }
                let index = add(.fixed(size: size, logical(object)))
                named[full] = index
                return index
            case "array":
                guard let items = object["items"] else { throw bad("an array without 'items'") }
                let index = add(.null)
                nodes[index] = .array(try parse(items, namespace, depth: depth + 1))
                return index
            case "map":
                guard let values = object["values"] else { throw bad("a map without 'values'") }
                let index = add(.null)
                nodes[index] = .map(try parse(values, namespace, depth: depth + 1))
                return index
            case "int": return add(.int(logical(object)))
            case "long": return add(.long(logical(object)))
            case "bytes": return add(.bytes(logical(object)))
            case "string": return add(.string(logical(object)))
            default:
                return try parse(typeName, namespace, depth: depth + 1)  // {"type": "double"} or a named reference
            }
        }
        root = try parse(parsed, "", depth: 0)
        self.nodes = nodes
    }

    /// The top-level record's fields: the table's columns.
    public func columns(file: String) throws -> [Field] {
        guard case let .record(_, fields) = nodes[root] else {
            throw AutoloaderError.badInput(SourceLocation(file: file), reason: "Avro: the file's schema is not a record, so it has no columns")
        }
        return fields
    }

    /// A union of null and one type is that type, nullable.
    public func unwrapped(_ node: Int) -> (node: Int?, nullable: Bool) {
        guard case let .union(branches) = nodes[node] else {
            if case .null = nodes[node] { return (nil, true) }
            return (node, false)
        }
        let present = branches.filter { if case .null = nodes[$0] { return false }; return true }
        return (present.count == 1 ? present[0] : nil, present.count < branches.count)
    }

    /// A column's SQL type, from the schema only. Records, arrays, maps and unions of several types are JSON.
    public func columnType(_ node: Int) -> (type: ColumnType, nullable: Bool) {
        let (inner, nullable) = unwrapped(node)
        guard let inner else {
            if case .union = nodes[node] { return (.json, nullable) }
            return (.varchar(0), true)
        }
        let type: ColumnType
        switch nodes[inner] {
        case .null: type = .varchar(0)
        case .boolean: type = .boolean
        case let .int(l): type = l == .date ? ColumnType(kind: .date) : l == .timeMillis ? ColumnType(kind: .time) : .integer
        case let .long(l):
            switch l {
            case .timeMicros: type = ColumnType(kind: .time)
            case .timestampMillis, .timestampMicros, .timestampNanos: type = ColumnType(kind: .timestamptz)
            case .localMillis, .localMicros, .localNanos: type = ColumnType(kind: .timestamp)
            default: type = .bigint
            }
        case .float, .double: type = .double
        case let .bytes(l), let .string(l), let .fixed(_, l):
            if case let .decimal(p, s) = l { type = .decimal(p, s) } else if l == .uuid { type = .varchar(36) } else { type = .varchar(0) }
        case let .enumeration(symbols):
            type = .varchar(symbols.map(\.count).max() ?? 0, bytes: symbols.map(\.utf8.count).max() ?? 0)
        case .record, .array, .map, .union: type = .json
        }
        return (type, nullable)
    }

    /// Reads a union's branch number and gives the node of the value that follows (the node itself if not a union).
    @inline(__always) public func resolve(_ node: Int, _ c: inout AvroCursor) throws -> Int {
        guard case let .union(branches) = nodes[node] else { return node }
        let k = try c.long()
        guard k >= 0, k < branches.count else { throw AvroCursor.Failure(reason: "union branch \(k) of \(branches.count)") }
        return branches[Int(k)]
    }

    /// Temporal values: (kind, units per second), or nil for a node that is not one.
    public func temporal(_ node: Int) -> (kind: TypeKind, unitsPerSecond: Int64)? {
        switch nodes[node] {
        case .int(.date): return (.date, 1)
        case .int(.timeMillis): return (.time, 1000)
        case .long(.timeMicros): return (.time, 1_000_000)
        case .long(.timestampMillis): return (.timestamptz, 1000)
        case .long(.timestampMicros): return (.timestamptz, 1_000_000)
        case .long(.timestampNanos): return (.timestamptz, 1_000_000_000)
        case .long(.localMillis): return (.timestamp, 1000)
        case .long(.localMicros): return (.timestamp, 1_000_000)
        case .long(.localNanos): return (.timestamp, 1_000_000_000)
        default: return nil
        }
    }

    /// One value as JSON, read from the cursor (also how a value is skipped): records as objects, arrays as arrays,
    /// maps as objects, a union as its branch's value, enums as their symbol, decimals exact, dates and times as ISO
    /// text, bytes as base64 (JSON has no bytes).
    public func writeJSON(_ node: Int, _ c: inout AvroCursor, into out: inout [UInt8], depth: Int = 0) throws {
        guard depth < Limits.maxJSONDepth else { throw AvroCursor.Failure(reason: "a value nested more than \(Limits.maxJSONDepth) levels deep") }
        let n = try resolve(node, &c)
        if let (kind, units) = temporal(n) {
            let v = try c.long()
            out.append(UInt8(ascii: "\""))
            ExactText.temporal(TemporalFormat.Value(sinceEpoch: kind == .date ? v * 86400 : v, unitsPerSecond: units), kind: kind, into: &out)
            out.append(UInt8(ascii: "\""))
            return
        }
        switch nodes[n] {
        case .null: out.append(contentsOf: "null".utf8)
        case .boolean: out.append(contentsOf: (try c.byte() != 0 ? "true" : "false").utf8)
        case .int, .long: out.append(contentsOf: String(try c.long()).utf8)
        case .float: ExactText.jsonDouble(Double(try c.float()), into: &out)
        case .double: ExactText.jsonDouble(try c.double(), into: &out)
        case let .bytes(l), let .string(l):
            let b = try c.bytes()
            if case .bytes = nodes[n] { try Self.writeBytesJSON(b, logical: l, into: &out) } else { JSONText.appendString(b.bindMemory(to: UInt8.self), to: &out) }
        case let .fixed(size, l): try Self.writeBytesJSON(try c.take(size), logical: l, into: &out)
        case let .enumeration(symbols):
            var s = try Self.symbol(symbols, &c)
            s.withUTF8 { JSONText.appendString($0, to: &out) }
        case let .record(_, fields):
            out.append(UInt8(ascii: "{"))
            for (i, f) in fields.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                var name = f.name
                name.withUTF8 { JSONText.appendString($0, to: &out) }
                out.append(UInt8(ascii: ":"))
                try writeJSON(f.node, &c, into: &out, depth: depth + 1)
            }
            out.append(UInt8(ascii: "}"))
        case let .array(items):
            out.append(UInt8(ascii: "["))
            var first = true
            while let count = try c.blockCount() {
                for _ in 0..<count {
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    try writeJSON(items, &c, into: &out, depth: depth + 1)
                }
            }
            out.append(UInt8(ascii: "]"))
        case let .map(values):
            out.append(UInt8(ascii: "{"))
            var first = true
            while let count = try c.blockCount() {
                for _ in 0..<count {
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    JSONText.appendString(try c.bytes().bindMemory(to: UInt8.self), to: &out)
                    out.append(UInt8(ascii: ":"))
                    try writeJSON(values, &c, into: &out, depth: depth + 1)
                }
            }
            out.append(UInt8(ascii: "}"))
        case .union:
            throw AvroCursor.Failure(reason: "a union directly inside a union")
        }
    }

    /// An enum's symbol, from its index.
    public static func symbol(_ symbols: [String], _ c: inout AvroCursor) throws -> String {
        let k = try c.long()
        guard k >= 0, k < symbols.count else { throw AvroCursor.Failure(reason: "enum index \(k) of \(symbols.count)") }
        return symbols[Int(k)]
    }

    static func writeBytesJSON(_ b: UnsafeRawBufferPointer, logical: Logical, into out: inout [UInt8]) throws {
        switch logical {
        case let .decimal(_, scale): ExactText.decimal(twosComplement: Array(b), scale: scale, into: &out)
        case .uuid where b.count == 16:
            out.append(UInt8(ascii: "\""))
            ExactText.uuid(Array(b), into: &out)
            out.append(UInt8(ascii: "\""))
        default:
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: Data(b).base64EncodedString().utf8)
            out.append(UInt8(ascii: "\""))
        }
    }
}

/// Avro's binary encoding, read from one decompressed block: zigzag varints, length-prefixed bytes, little-endian
/// floats. Every read is bounds-checked; a short block is a `Failure`, never a read past the end.
public struct AvroCursor {
    public struct Failure: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
        public init(reason: String) { self.reason = reason }
    }

    let data: UnsafeRawBufferPointer
    public private(set) var pos = 0
    public var atEnd: Bool { pos >= data.count }

    public init(_ data: UnsafeRawBufferPointer) { self.data = data }

    @inline(__always) public mutating func byte() throws -> UInt8 {
        guard pos < data.count else { throw Failure(reason: "the block ends inside a value (truncated or corrupt)") }
        defer { pos += 1 }
        return data[pos]
    }

    @inline(__always) public mutating func long() throws -> Int64 {
        var result: UInt64 = 0, shift: UInt64 = 0
        while true {
            let b = try byte()
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { break }
            shift += 7
            guard shift < 64 else { throw Failure(reason: "a varint longer than 10 bytes") }
        }
        return Int64(bitPattern: (result >> 1) ^ (0 &- (result & 1)))
    }

    @inline(__always) public mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= data.count - pos else { throw Failure(reason: "a value of \(n) bytes runs past the end of its block") }
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: data[pos..<(pos + n)])
    }

    @inline(__always) public mutating func bytes() throws -> UnsafeRawBufferPointer {
        try take(Int(clamping: try long()))
    }

    public mutating func float() throws -> Float {
        let b = try take(4)
        return Float(bitPattern: UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24)
    }

    public mutating func double() throws -> Double {
        let b = try take(8)
        var v: UInt64 = 0
        for i in (0..<8).reversed() { v = v << 8 | UInt64(b[i]) }
        return Double(bitPattern: v)
    }

    /// An array's or map's next block of items: their count, or nil at the terminating zero. A negative count is
    /// followed by the block's size in bytes (which we do not need).
    public mutating func blockCount() throws -> Int? {
        var count = try long()
        if count == 0 { return nil }
        if count < 0 {
            count = -count
            _ = try long()
        }
        guard count <= data.count - pos + 1 else { throw Failure(reason: "a block of \(count) items cannot fit in what is left of the data") }
        return Int(count)
    }
}

/// An Avro object container file, read as a stream: the header (magic, metadata with the schema and codec, sync
/// marker), then one block at a time, decompressed whole (writers keep blocks small: 16–64 KB by default).
public final class AvroContainer {
    public static let magic: [UInt8] = [0x4F, 0x62, 0x6A, 0x01]  // "Obj" 1
    /// Largest block read into memory; writers use kilobytes, so more is corruption.
    public static let maxBlockBytes = 256 << 20
    public static let codecs: Set<String> = ["null", "deflate", "snappy", "zstandard", "bzip2"]

    public let schema: AvroSchema
    public let codec: String
    public let name: String
    private var input: Input
    private let sync: [UInt8]
    /// The current block, decompressed, and its record count; records in earlier blocks.
    public private(set) var block: [UInt8] = []
    public private(set) var blockRecords = 0
    public private(set) var recordsBefore = 0
    public private(set) var blocks = 0

    public init(source: any ByteReader, name: String) throws {
        self.name = name
        func bad(_ why: String) -> AutoloaderError { .badInput(SourceLocation(file: name), reason: "not a readable Avro file: \(why)") }
        var input = Input(source: source, name: name)
        guard try input.ensure(4), Array(input.buffer[input.start..<(input.start + 4)]) == Self.magic else {
            throw bad("no Obj\\x01 magic at the start")
        }
        input.start += 4
        var metadata: [String: [UInt8]] = [:]
        while true {
            guard let count = try input.long() else { throw bad("the header ends early") }
            if count == 0 { break }
            if count < 0 { _ = try input.long() }  // a negative count is followed by the block's size
            for _ in 0..<count.magnitude {
                guard let key = try input.bytes(), let value = try input.bytes() else { throw bad("the header's metadata ends early") }
                metadata[String(decoding: key, as: UTF8.self)] = value
            }
        }
        guard try input.ensure(16) else { throw bad("the header ends before its sync marker") }
        sync = Array(input.buffer[input.start..<(input.start + 16)])
        input.start += 16
        self.input = input
        guard let schemaText = metadata["avro.schema"] else { throw bad("no avro.schema in the header") }
        schema = try AvroSchema(json: String(decoding: schemaText, as: UTF8.self), file: name)
        codec = metadata["avro.codec"].map { String(decoding: $0, as: UTF8.self) } ?? "null"
        guard Self.codecs.contains(codec) else {
            throw AutoloaderError.badInput(SourceLocation(file: name), reason: "Avro codec '\(codec)' is not supported (null, deflate, snappy, zstandard and bzip2 are)")
        }
    }

    func bad(_ why: String) -> AutoloaderError {
        .badInput(SourceLocation(file: name), reason: "Avro block \(blocks) (after record \(recordsBefore + blockRecords)): \(why)")
    }

    /// Reads the next block; false at the end of the file.
    public func nextBlock() throws -> Bool {
        recordsBefore += blockRecords
        blockRecords = 0
        guard let count = try input.long() else { return false }
        blocks += 1
        guard let size = try input.long() else { throw bad("the file ends inside a block header (truncated)") }
        guard count >= 0, size >= 0, size <= Self.maxBlockBytes else { throw bad("a block of \(count) records in \(size) bytes (corrupt)") }
        guard try input.ensure(Int(size) + 16) else { throw bad("the file ends inside a block (truncated)") }
        let data = Array(input.buffer[input.start..<(input.start + Int(size))])
        input.start += Int(size)
        guard Array(input.buffer[input.start..<(input.start + 16)]) == sync else { throw bad("the sync marker after it does not match the header's (corrupt)") }
        input.start += 16
        block = try decompress(data)
        blockRecords = Int(count)
        return true
    }

    private func decompress(_ data: [UInt8]) throws -> [UInt8] {
        do {
            switch codec {
            case "null": return data
            case "deflate": return try readAll(GzipReader(BytesReader(data), name: name, raw: true), sizeHint: data.count * 4)
            case "snappy":
                // Snappy's block, then the CRC-32 (big-endian) of the uncompressed bytes.
                guard data.count >= 4 else { throw bad("snappy block shorter than its checksum") }
                let out = try Snappy.decompress(Array(data.dropLast(4)))
                let crc = out.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
                let stored = data.suffix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                guard crc == stored else { throw bad("snappy block fails its CRC-32 (corrupt)") }
                return out
            case "zstandard": return try readAll(ZstdReader(BytesReader(data), name: name), sizeHint: data.count * 4)
            case "bzip2": return try readAll(Bzip2Reader(BytesReader(data), name: name), sizeHint: data.count * 4)
            default: throw bad("codec \(codec)")
            }
        } catch {
            throw bad("its \(codec) data is corrupt")
        }
    }

    /// The byte stream under the blocks, buffered.
    struct Input {
        let source: any ByteReader
        let name: String
        var buffer: [UInt8] = []
        var start = 0
        var eof = false

        /// Makes `n` bytes available from `start`; false when the stream ends first.
        mutating func ensure(_ n: Int) throws -> Bool {
            while buffer.count - start < n {
                if eof { return false }
                if start > 0 {
                    buffer.removeSubrange(0..<start)
                    start = 0
                }
                let old = buffer.count
                buffer.append(contentsOf: repeatElement(0, count: max(n - old, 1 << 16)))
                let got = try buffer.withUnsafeMutableBytes { try source.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[old...])) }
                buffer.removeSubrange((old + got)...)
                if got == 0 { eof = true }
            }
            return true
        }

        /// A zigzag varint; nil at a clean end of the stream.
        mutating func long() throws -> Int64? {
            var result: UInt64 = 0, shift: UInt64 = 0
            var first = true
            while true {
                guard try ensure(1) else {
                    if first { return nil }
                    throw AutoloaderError.badInput(SourceLocation(file: name), reason: "Avro: the file ends inside a number (truncated)")
                }
                first = false
                let b = buffer[start]
                start += 1
                result |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { break }
                shift += 7
                guard shift < 64 else { throw AutoloaderError.badInput(SourceLocation(file: name), reason: "Avro: a varint longer than 10 bytes (corrupt)") }
            }
            return Int64(bitPattern: (result >> 1) ^ (0 &- (result & 1)))
        }

        mutating func bytes() throws -> [UInt8]? {
            guard let n = try long(), n >= 0, n < maxBlockBytes, try ensure(Int(n)) else { return nil }
            defer { start += Int(n) }
            return Array(buffer[start..<(start + Int(n))])
        }
    }
}
