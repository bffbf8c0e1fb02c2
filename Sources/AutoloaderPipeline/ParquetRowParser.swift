import AutoloaderCore
import AutoloaderFormats

/// Parquet row groups → converted cells. Flat columns only for now: a nested field fails the file with a
/// clear reason (its schema is still detected: a json column).
final class ParquetRowParser: RecordParser, @unchecked Sendable {
    let spec: RowSinkSpec
    let parquet: ParquetFile
    let fieldIndex: [Int]          // for each file column (detection order), its Parquet field
    let converters: [Converter]
    /// Evolution `rescue`: the values of columns the table does not have go to `_rescued_data`.
    let rescue: Bool
    let hashing: HashingReader

    /// Per file column, what turning its values into cells needs, worked out once (per value it was a schema
    /// lookup and a compiled format each).
    struct Plan {
        var kind: TypeKind
        var unitsPerSecond: Int64
        /// Decimal digits after the point (DECIMAL columns).
        var scale: Int
        var iso: TemporalFormat?
        var name: String
        /// A UUID column (16 bytes): written as 8-4-4-4-12 hex digits.
        var uuid: Bool
    }
    let plans: [Plan]

    init(spec: RowSinkSpec, parquet: ParquetFile, types: [ColumnType], converters: [Converter], rescue: Bool = false, hashing: HashingReader) {
        self.spec = spec
        self.rescue = rescue
        self.parquet = parquet
        fieldIndex = Array(parquet.fields.indices)
        self.converters = converters
        self.hashing = hashing
        plans = zip(fieldIndex, types).map { index, type in
            let field = parquet.fields[index]
            var kind = type.kind
            if field.node.physical == 3 { kind = .timestamp }  // INT96 is a timestamp whatever the column says
            return Plan(kind: kind, unitsPerSecond: Self.unitsPerSecond(field), scale: max(0, type.scale ?? 0),
                        iso: TemporalFormat("", kind: kind), name: field.name, uuid: field.node.logical?[14] != nil)
        }
    }

    func run(into channel: BoundedChannel<Parsed>) {
        do {
            _ = channel.send(.done(try parse(channel)))
        } catch {
            _ = channel.send(.failed(error))
        }
    }

    private func parse(_ channel: BoundedChannel<Parsed>) throws -> Loader.FileOutcome {
        var sink = spec.sink(into: channel)
        var rescued = RescuedData()
        for group in parquet.rowGroups.indices {
            // Page by page, a value at a time: memory holds one page per column, whatever the row group's size.
            let columns = try fieldIndex.map { try ParquetFile.ColumnReader(file: parquet, field: parquet.fields[$0], rowGroup: group) }
            for _ in 0..<Int(parquet.rowGroups[group].rows) {
                rescued.reset()
                for c in columns.indices {
                    let value = try columns[c].next()
                    if converters[c].isDropped {
                        if rescue { rescue(value, name: plans[c].name, into: &rescued) }
                        continue
                    }
                    append(value, column: c, to: &sink.batch)
                }
                if rescue { rescued.append(to: &sink.batch) }
                try sink.endRow()
            }
        }
        try sink.flush()
        return sink.loaded(sha256: try hashing.finish())  // one sequential pass for the content hash
    }

    @inline(__always) private func append(_ value: ParquetFile.Value, column c: Int, to batch: inout RowBatch) {
        switch value {
        case .null: batch.cells.append(.null)
        case let .bool(b): batch.cells.append(.int(b ? 1 : 0))
        case let .double(d): batch.cells.append(.double(d))
        case let .int96(nanos, julian):
            let days = Int64(julian) - 2_440_588
            writeTemporal(TemporalFormat.Value(sinceEpoch: days * 86_400_000_000_000 + nanos, unitsPerSecond: 1_000_000_000), column: c, to: &batch)
        case let .int(v):
            switch plans[c].kind {
            case .date: writeTemporal(TemporalFormat.Value(sinceEpoch: v * 86400, unitsPerSecond: 1), column: c, to: &batch)
            case .timestamp, .timestamptz, .time:
                writeTemporal(TemporalFormat.Value(sinceEpoch: v, unitsPerSecond: plans[c].unitsPerSecond), column: c, to: &batch)
            case .decimal: Self.appendDecimal(v, scale: plans[c].scale, to: &batch)
            default: batch.cells.append(.int(v))
            }
        case let .bytes(b):
            if plans[c].kind == .decimal {
                // Big-endian two's complement unscaled value of any width (FIXED_LEN_BYTE_ARRAY(16) holds 38 digits).
                let negative = b.first.map { $0 & 0x80 != 0 } ?? false
                var magnitude = b
                if negative {  // two's complement: invert and add one
                    var carry = 1
                    for i in magnitude.indices.reversed() {
                        let sum = Int(~magnitude[i]) + carry
                        magnitude[i] = UInt8(truncatingIfNeeded: sum)
                        carry = sum >> 8
                    }
                }
                Self.appendDecimal(magnitude: magnitude, negative: negative, scale: plans[c].scale, to: &batch)
            } else if plans[c].uuid, b.count == 16 {
                let hex = Array("0123456789abcdef".utf8)
                var text: [UInt8] = []
                text.reserveCapacity(36)
                for (i, byte) in b.enumerated() {
                    if i == 4 || i == 6 || i == 8 || i == 10 { text.append(UInt8(ascii: "-")) }
                    text.append(hex[Int(byte >> 4)])
                    text.append(hex[Int(byte & 0xF)])
                }
                text.withUnsafeBufferPointer { batch.appendText($0) }
            } else {
                b.withUnsafeBufferPointer { batch.appendText($0) }
            }
        }
    }

    /// An INT32/INT64 decimal (the common case, per cell): digits straight from the integer, no arrays made.
    static func appendDecimal(_ unscaled: Int64, scale: Int, to batch: inout RowBatch) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24 + scale) { buf in
            var m = unscaled.magnitude, end = buf.count, k = 0
            repeat {
                if k == scale && scale > 0 { end -= 1; buf[end] = UInt8(ascii: ".") }
                end -= 1
                buf[end] = UInt8(ascii: "0") + UInt8(m % 10)
                m /= 10
                k += 1
            } while m > 0 || k <= scale
            if unscaled < 0 { end -= 1; buf[end] = UInt8(ascii: "-") }
            batch.appendText(UnsafeBufferPointer(rebasing: buf[end...]))
        }
    }

    /// A decimal as exact text (`-12345.678`), from its unscaled magnitude (big-endian) and scale: through a Double it
    /// lost digits past 15 and wrapped past 18.
    static func appendDecimal(magnitude: [UInt8], negative: Bool, scale: Int, to batch: inout RowBatch) {
        var n = magnitude
        var digits: [UInt8] = []  // least significant first
        var first = n.firstIndex { $0 != 0 } ?? n.count
        while first < n.count {
            var remainder = 0
            for i in first..<n.count {
                let value = remainder << 8 | Int(n[i])
                n[i] = UInt8(value / 10)
                remainder = value % 10
            }
            digits.append(UInt8(ascii: "0") + UInt8(remainder))
            while first < n.count, n[first] == 0 { first += 1 }
        }
        while digits.count <= scale { digits.append(UInt8(ascii: "0")) }
        var text: [UInt8] = negative && digits.contains(where: { $0 != UInt8(ascii: "0") }) ? [UInt8(ascii: "-")] : []
        text.reserveCapacity(digits.count + 2)
        for (k, d) in digits.enumerated().reversed() {
            text.append(d)
            if k == scale && scale > 0 { text.append(UInt8(ascii: ".")) }
        }
        text.withUnsafeBufferPointer { batch.appendText($0) }
    }

    private func rescue(_ value: ParquetFile.Value, name: String, into rescued: inout RescuedData) {
        switch value {
        case .null: break
        case let .bool(b): rescued.add(name, value: .bool(b))
        case let .double(d): rescued.add(name, value: .number(Array(String(d).utf8)))
        case let .int(v): rescued.add(name, value: .number(Array(String(v).utf8)))
        case let .int96(nanos, julian): rescued.add(name, value: .number(Array(String((Int64(julian) - 2_440_588) * 86_400_000_000_000 + nanos).utf8)))
        case let .bytes(b): b.withUnsafeBufferPointer { rescued.add(name, text: $0) }
        }
    }

    private static func unitsPerSecond(_ field: ParquetFile.Field) -> Int64 {
        if let unit = field.node.logical?[8]?[2] ?? field.node.logical?[7]?[2] {
            if unit[1] != nil { return 1000 }
            if unit[2] != nil { return 1_000_000 }
            return 1_000_000_000
        }
        switch field.node.converted {
        case 7, 9: return 1000
        default: return 1_000_000
        }
    }

    @inline(__always) private func writeTemporal(_ value: TemporalFormat.Value, column c: Int, to batch: inout RowBatch) {
        guard let format = plans[c].iso else { batch.cells.append(.null); return }
        var v = value
        if format.kind == .time { v.year = 1970; v.month = 1; v.day = 1 }
        let start = Int32(truncatingIfNeeded: batch.arena.count)
        format.writeISO(v, into: &batch.arena)
        batch.cells.append(.text(start: start, count: Int32(truncatingIfNeeded: batch.arena.count) - start))
    }
}
