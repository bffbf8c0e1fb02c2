/// Thrift's compact protocol, decoded into a generic tree: all Parquet needs (file footer, page headers).
/// Bounded: lengths are checked against the input, nesting depth is limited, so bad bytes give an error.
public indirect enum ThriftValue: Sendable {
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case binary([UInt8])
    case list([ThriftValue])
    case structure([Int16: ThriftValue])

    public subscript(_ field: Int16) -> ThriftValue? {
        if case let .structure(fields) = self { return fields[field] }
        return nil
    }
    public var int: Int64? { if case let .int(v) = self { return v }; return nil }
    public var bool: Bool? { if case let .bool(v) = self { return v }; return nil }
    public var list: [ThriftValue] { if case let .list(v) = self { return v }; return [] }
    public var string: String? { if case let .binary(b) = self { return String(decoding: b, as: UTF8.self) }; return nil }
}

public struct ThriftError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

public struct CompactDecoder {
    let bytes: UnsafeRawBufferPointer
    public private(set) var pos = 0

    public init(_ bytes: UnsafeRawBufferPointer, at pos: Int = 0) {
        self.bytes = bytes
        self.pos = pos
    }

    mutating func byte() throws -> UInt8 {
        guard pos < bytes.count else { throw ThriftError(description: "thrift: unexpected end of data") }
        defer { pos += 1 }
        return bytes[pos]
    }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw ThriftError(description: "thrift: varint too long") }
        }
    }

    mutating func zigzag() throws -> Int64 {
        let v = try varint()
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    public mutating func readStruct(depth: Int = 0) throws -> ThriftValue {
        guard depth < 32 else { throw ThriftError(description: "thrift: nested too deep") }
        var fields: [Int16: ThriftValue] = [:]
        var last: Int16 = 0
        while true {
            let header = try byte()
            if header == 0 { return .structure(fields) }
            let delta = Int16(header >> 4)
            let id: Int16 = delta == 0 ? Int16(truncatingIfNeeded: try zigzag()) : last &+ delta
            last = id
            fields[id] = try value(type: header & 0x0F, depth: depth)
        }
    }

    mutating func value(type: UInt8, depth: Int) throws -> ThriftValue {
        switch type {
        case 1: return .bool(true)
        case 2: return .bool(false)
        case 3: return .int(Int64(Int8(bitPattern: try byte())))
        case 4, 5, 6: return .int(try zigzag())
        case 7:
            guard pos + 8 <= bytes.count else { throw ThriftError(description: "thrift: truncated double") }
            var raw: UInt64 = 0
            for i in 0..<8 { raw |= UInt64(bytes[pos + i]) << (8 * UInt64(i)) }
            pos += 8
            return .double(Double(bitPattern: raw))
        case 8:
            let n = Int(try varint())
            guard n >= 0, pos + n <= bytes.count else { throw ThriftError(description: "thrift: binary longer than the data") }
            defer { pos += n }
            return .binary(Array(bytes[pos..<(pos + n)]))
        case 9, 10:
            let header = try byte()
            var count = Int(header >> 4)
            if count == 15 { count = Int(try varint()) }
            guard count <= bytes.count - pos else { throw ThriftError(description: "thrift: list longer than the data") }
            let elementType = header & 0x0F
            var items: [ThriftValue] = []
            items.reserveCapacity(count)
            for _ in 0..<count {
                if elementType == 1 || elementType == 2 {
                    items.append(.bool(try byte() == 1))
                } else {
                    items.append(try value(type: elementType, depth: depth + 1))
                }
            }
            return .list(items)
        case 11:
            let count = Int(try varint())
            guard count <= bytes.count - pos else { throw ThriftError(description: "thrift: map longer than the data") }
            if count == 0 { return .list([]) }
            let kv = try byte()
            var items: [ThriftValue] = []
            for _ in 0..<count {
                items.append(try value(type: kv >> 4, depth: depth + 1))
                items.append(try value(type: kv & 0x0F, depth: depth + 1))
            }
            return .list(items)
        case 12: return try readStruct(depth: depth + 1)
        default: throw ThriftError(description: "thrift: unknown type \(type)")
        }
    }
}
