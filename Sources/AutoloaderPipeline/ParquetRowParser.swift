import AutoloaderCore
import AutoloaderFormats
import Foundation

/// Parquet row groups → converted cells. Flat fields are read value by value; a nested field (struct, list, map)
/// becomes one JSON value per row.
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
        var form: ParquetFile.ScalarForm
        var physical: Int?
        var name: String
        /// Its values become text by a conversion (dates, times, decimals), dearer than copying the text.
        var convertsToText: Bool {
            physical == 3 || [.date, .time, .timestamp, .timestamptz, .decimal].contains(kind)
        }
    }

    /// A dictionary's entries as converted text, each converted the first time a row uses it.
    struct RenderedEntries {
        private var text: [UInt8] = []
        private var starts: [Int] = [], ends: [Int] = []

        /// Sets cell `at` to entry's text if it was kept.
        @inline(__always) func copy(_ entry: Int, into batch: inout RowBatch, at: Int) -> Bool {
            guard entry < starts.count, starts[entry] >= 0 else { return false }
            text.withUnsafeBufferPointer { batch.setText(at: at, UnsafeBufferPointer(rebasing: $0[starts[entry]..<ends[entry]])) }
            return true
        }

        /// Keeps the text cell `at` holds as entry's.
        mutating func keep(_ entry: Int, from batch: RowBatch, at: Int) {
            guard case let .text(start, count) = batch.cells[at] else { return }
            if entry >= starts.count {
                starts.append(contentsOf: repeatElement(-1, count: entry + 1 - starts.count))
                ends.append(contentsOf: repeatElement(-1, count: entry + 1 - ends.count))
            }
            starts[entry] = text.count
            text.append(contentsOf: batch.arena[Int(start)..<Int(start + count)])
            ends[entry] = text.count
        }
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
            return Plan(kind: kind, form: ParquetFile.ScalarForm(field.node), physical: field.node.physical, name: field.name)
        }
    }

    /// A field's reader in one row group.
    enum FieldReader {
        case flat(ParquetFile.ColumnReader)
        case nested(ParquetFile.NestedFieldReader)
    }

    func parse(_ channel: BoundedChannel<Parsed>) throws -> Loader.FileOutcome {
        var sink = spec.sink(into: channel)
        var rescued = RescuedData()
        for group in parquet.rowGroups.indices {
            // Page by page: memory holds one page per column, whatever the row group's size.
            let columns = try fieldIndex.map { i -> FieldReader in
                let field = parquet.fields[i]
                return field.leaf == nil ? .nested(try ParquetFile.NestedFieldReader(file: parquet, field: field, rowGroup: group))
                    : .flat(try ParquetFile.ColumnReader(file: parquet, field: field, rowGroup: group))
            }
            var scratch: [UInt8] = []
            var rendered = [RenderedEntries](repeating: RenderedEntries(), count: columns.count)  // this row group's dictionaries
            if !rescue {
                // Column by column, as the file stores them, a batch's rows at a time: each column's loop runs over
                // a page's values without looking anything up per value.
                var left = Int(parquet.rowGroups[group].rows)
                while left > 0 {
                    let n = min(left, max(1, spec.rowsPerBatch - sink.batch.rowCount))
                    try sink.appendRows(n) { batch, base in
                        var slot = 0  // the column's place in the batch: dropped columns have none
                        for c in columns.indices {
                            let dropped = converters[c].isDropped
                            let first = base + slot, stride = batch.columnCount
                            switch columns[c] {
                            case let .flat(reader):
                                if dropped { try reader.next(rows: n) { _, _, _ in }; continue }
                                if plans[c].convertsToText {
                                    // Dates, times and decimals: a dictionary entry is converted once, then its text copied.
                                    var memo = RenderedEntries()
                                    swap(&memo, &rendered[c])
                                    defer { swap(&memo, &rendered[c]) }
                                    try reader.next(rows: n) { r, cell, entry in
                                        let at = first + r * stride
                                        guard entry >= 0 else { return set(cell, column: c, at: at, in: &batch) }
                                        if memo.copy(entry, into: &batch, at: at) { return }
                                        set(cell, column: c, at: at, in: &batch)
                                        memo.keep(entry, from: batch, at: at)
                                    }
                                } else {
                                    try reader.next(rows: n) { r, cell, _ in set(cell, column: c, at: first + r * stride, in: &batch) }
                                }
                            case let .nested(reader):
                                for r in 0..<n {
                                    if dropped { scratch.removeAll(keepingCapacity: true); _ = try reader.next(into: &scratch); continue }
                                    let start = batch.arena.count
                                    if try reader.next(into: &batch.arena) {
                                        batch.cells[first + r * stride] = .text(start: Int32(truncatingIfNeeded: start), count: Int32(truncatingIfNeeded: batch.arena.count - start))
                                    }
                                }
                            }
                            if !dropped { slot += 1 }
                        }
                    }
                    left -= n
                }
                continue
            }
            // With `rescue`, row by row: a row's dropped values are gathered into its `_rescued_data`.
            for _ in 0..<Int(parquet.rowGroups[group].rows) {
                rescued.reset()
                for c in columns.indices {
                    switch columns[c] {
                    case let .flat(reader):
                        if converters[c].isDropped {
                            rescue(try reader.next(), name: plans[c].name, into: &rescued)
                            continue
                        }
                        try reader.next { cell in
                            sink.batch.cells.append(.null)
                            set(cell, column: c, at: sink.batch.cells.count - 1, in: &sink.batch)
                        }
                    case let .nested(reader):
                        if converters[c].isDropped {
                            scratch.removeAll(keepingCapacity: true)
                            if try reader.next(into: &scratch) { rescued.add(plans[c].name, value: .nested(String(decoding: scratch, as: UTF8.self))) }
                            continue
                        }
                        let start = sink.batch.arena.count
                        if try reader.next(into: &sink.batch.arena) {
                            sink.batch.cells.append(.text(start: Int32(truncatingIfNeeded: start), count: Int32(truncatingIfNeeded: sink.batch.arena.count - start)))
                        } else {
                            sink.batch.cells.append(.null)
                        }
                    }
                }
                rescued.append(to: &sink.batch)
                try sink.endRow()
            }
        }
        try sink.flush()
        return sink.loaded(sha256: try hashing.finish())  // one sequential pass for the content hash
    }

    @inline(__always) private func set(_ value: ParquetFile.Cell, column c: Int, at i: Int, in batch: inout RowBatch) {
        switch value {
        case .null: break
        case let .bool(b): batch.cells[i] = .int(b ? 1 : 0)
        case let .double(d): batch.cells[i] = .double(d)
        case let .int96(nanos, julian):
            let days = Int64(julian) - 2_440_588
            writeTemporal(TemporalFormat.Value(sinceEpoch: days * 86_400_000_000_000 + nanos, unitsPerSecond: 1_000_000_000), column: c, at: i, in: &batch)
        case let .int(v):
            let kind = plans[c].kind
            switch kind {
            case .date: writeTemporal(TemporalFormat.Value(sinceEpoch: v * 86400, unitsPerSecond: 1), column: c, at: i, in: &batch)
            case .timestamp, .timestamptz, .time:
                writeTemporal(TemporalFormat.Value(sinceEpoch: v, unitsPerSecond: plans[c].form.unitsPerSecond), column: c, at: i, in: &batch)
            case .decimal:
                let form = plans[c].form
                if form.kind == .unsigned {  // UINT_64: all 64 bits are magnitude
                    batch.setText(at: i) { ExactText.decimal(magnitude: form.unsignedValue(v, physical: plans[c].physical), negative: false, scale: 0, into: &$0) }
                } else {
                    batch.setText(at: i) { ExactText.decimal(magnitude: v.magnitude, negative: v < 0, scale: max(0, form.scale), into: &$0) }
                }
            default:
                // UINT_32 is stored in an INT32: read back, its top bit is a sign unless taken as unsigned.
                batch.cells[i] = .int(plans[c].form.kind == .unsigned ? Int64(truncatingIfNeeded: plans[c].form.unsignedValue(v, physical: plans[c].physical)) : v)
            }
        case let .bytes(b):
            switch plans[c].form.kind {
            case .decimal: batch.setText(at: i) { ExactText.decimal(twosComplement: Array(b), scale: max(0, plans[c].form.scale), into: &$0) }
            case .uuid where b.count == 16: batch.setText(at: i) { ExactText.uuid(Array(b), into: &$0) }
            case .float16: batch.cells[i] = .double(ParquetFile.ScalarForm.half(Array(b)))
            // Bytes not declared text: base64, as in nested values and Avro (a text column cannot hold any byte).
            case .binary: batch.setText(at: i) { $0.append(contentsOf: Data(buffer: b).base64EncodedString().utf8) }
            default: batch.setText(at: i, b)
            }
        }
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

    @inline(__always) private func writeTemporal(_ value: TemporalFormat.Value, column c: Int, at i: Int, in batch: inout RowBatch) {
        let kind = plans[c].kind
        batch.setText(at: i) { ExactText.temporal(value, kind: kind, into: &$0) }
    }
}
