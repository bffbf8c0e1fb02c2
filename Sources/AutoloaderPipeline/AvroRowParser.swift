import AutoloaderCore
import AutoloaderFormats
import Foundation

/// Avro object container files → converted cells, a block at a time: the top-level record's fields are the
/// columns; scalars become typed cells, nested values (records, arrays, maps, unions of several types) JSON text.
final class AvroRowParser: RecordParser, @unchecked Sendable {
    let spec: RowSinkSpec
    let source: any ByteReader
    let converters: [Converter]
    let jsonColumns: [Bool]
    /// Evolution `rescue`: the values of columns the table does not have go to `_rescued_data`.
    let rescue: Bool
    let hashing: HashingReader

    init(spec: RowSinkSpec, source: any ByteReader, types: [ColumnType], converters: [Converter], rescue: Bool, hashing: HashingReader) {
        self.spec = spec
        self.source = source
        self.converters = converters
        jsonColumns = types.map { $0.kind == .json }
        self.rescue = rescue
        self.hashing = hashing
    }

    func parse(_ channel: BoundedChannel<Parsed>) throws -> Loader.FileOutcome {
        let name = spec.file.key
        let container = try AvroContainer(source: source, name: name)
        let schema = container.schema
        let fields = try schema.columns(file: name)
        guard fields.count == converters.count else {
            throw AutoloaderError.badInput(SourceLocation(file: name), reason: "Avro: the file has \(fields.count) fields where detection saw \(converters.count)")
        }
        var sink = spec.sink(into: channel)
        var rescued = RescuedData()
        var scratch: [UInt8] = []
        while try container.nextBlock() {
            var record = container.recordsBefore
            var field = ""
            do {
                try container.block.withUnsafeBytes { raw in
                    var c = AvroCursor(raw)
                    for _ in 0..<container.blockRecords {
                        record += 1
                        rescued.reset()
                        for (k, f) in fields.enumerated() {
                            field = f.name
                            if converters[k].isDropped {
                                scratch.removeAll(keepingCapacity: true)
                                try schema.writeJSON(f.node, &c, into: &scratch)
                                if rescue, scratch != Array("null".utf8) { rescued.add(f.name, value: .nested(String(decoding: scratch, as: UTF8.self))) }
                                continue
                            }
                            try append(f.node, schema, &c, json: jsonColumns[k], to: &sink.batch)
                        }
                        if rescue { rescued.append(to: &sink.batch) }
                        try sink.endRow()
                    }
                    field = ""
                    guard c.atEnd else { throw AvroCursor.Failure(reason: "bytes left in the block after its \(container.blockRecords) records (corrupt)") }
                }
            } catch let failure as AvroCursor.Failure {
                // A damaged block cannot be resynchronised inside: the file fails, located.
                throw AutoloaderError.badInput(SourceLocation(file: name, column: field.isEmpty ? nil : field),
                                               reason: "Avro record \(record) (block \(container.blocks)): \(failure.reason)")
            }
        }
        try sink.flush()
        return sink.loaded(sha256: try hashing.finish())
    }

    /// One top-level field's value as a cell.
    private func append(_ node: Int, _ schema: AvroSchema, _ c: inout AvroCursor, json: Bool, to batch: inout RowBatch) throws {
        let n = try schema.resolve(node, &c)
        if case .null = schema.nodes[n] { batch.cells.append(.null); return }
        if json {
            try batch.appendText { out in try schema.writeJSON(n, &c, into: &out) }
            return
        }
        if let (kind, units) = schema.temporal(n) {
            let v = try c.long()
            batch.appendText { ExactText.temporal(TemporalFormat.Value(sinceEpoch: kind == .date ? v * 86400 : v, unitsPerSecond: units), kind: kind, into: &$0) }
            return
        }
        switch schema.nodes[n] {
        case .boolean: batch.cells.append(.int(try c.byte() != 0 ? 1 : 0))
        case .int, .long: batch.cells.append(.int(try c.long()))
        case .float: batch.cells.append(.double(Double(try c.float())))
        case .double: batch.cells.append(.double(try c.double()))
        case let .string(l): appendBytes(try c.bytes(), logical: l, binary: false, to: &batch)
        case let .bytes(l): appendBytes(try c.bytes(), logical: l, binary: true, to: &batch)
        case let .fixed(size, l): appendBytes(try c.take(size), logical: l, binary: true, to: &batch)
        case let .enumeration(symbols): batch.appendText(try AvroSchema.symbol(symbols, &c))
        default:
            try batch.appendText { out in try schema.writeJSON(n, &c, into: &out) }
        }
    }

    /// Strings as they are; decimals exact, 16-byte UUIDs as text, other bytes as base64 (text columns cannot hold
    /// arbitrary bytes: PostgreSQL refuses a NUL, Redshift invalid UTF-8).
    private func appendBytes(_ b: UnsafeRawBufferPointer, logical: AvroSchema.Logical, binary: Bool, to batch: inout RowBatch) {
        switch logical {
        case let .decimal(_, scale): batch.appendText { ExactText.decimal(twosComplement: Array(b), scale: scale, into: &$0) }
        case .uuid where b.count == 16: batch.appendText { ExactText.uuid(Array(b), into: &$0) }
        default:
            if binary { batch.appendText { $0.append(contentsOf: Data(b).base64EncodedString().utf8) } } else { batch.appendText(b.bindMemory(to: UInt8.self)) }
        }
    }
}
