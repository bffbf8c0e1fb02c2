import AutoloaderCore
import AutoloaderFormats

/// Turns field bytes into a typed cell for one target column. A value that does not fit the column's
/// type is kept as text, never dropped: SQLite stores it as written and the user sees it.
struct Converter {
    enum Kind { case text, integer, real, boolean, temporal(TemporalFormat) }
    let kind: Kind
    /// Which null spellings become NULL. Typed columns: all of them (they cannot be values). Text columns:
    /// only the empty field, so a comment that reads "NULL" or "NA" arrives byte for byte (the seed's samples
    /// have such values); detection still reports the spellings it saw.
    let nullTokenMask: UInt8

    init(column: Column, fileFormat: String?) {
        switch column.type.kind {
        case .smallint, .integer, .bigint: kind = .integer
        case .decimal, .double: kind = .real
        case .boolean: kind = .boolean
        case .date, .time, .timestamp, .timestamptz:
            if let f = TemporalFormat(fileFormat ?? column.type.format ?? "", kind: column.type.kind) { kind = .temporal(f) } else { kind = .text }
        case .varchar, .json: kind = .text
        }
        if case .text = kind {
            nullTokenMask = 1  // the empty field
        } else {
            nullTokenMask = 0xFF
        }
    }

    @inline(__always) func append(_ b: UnsafeBufferPointer<UInt8>, to batch: inout RowBatch) {
        if let token = Values.nullToken(b), nullTokenMask & (1 << UInt8(token)) != 0 {
            batch.cells.append(.null)
            return
        }
        appendValue(b, to: &batch)
    }

    /// A value known not to be null (JSON strings and numbers: their nulls are JSON `null`).
    @inline(__always) func appendValue(_ b: UnsafeBufferPointer<UInt8>, to batch: inout RowBatch) {
        switch kind {
        case .text: batch.appendText(b)
        case .integer:
            if let v = Values.int64(b) { batch.cells.append(.int(v)) } else { batch.appendText(b) }
        case .real:
            if let v = Values.double(b) { batch.cells.append(.double(v)) } else { batch.appendText(b) }
        case .boolean:
            if let v = Values.boolean(b) { batch.cells.append(.int(v ? 1 : 0)) } else { batch.appendText(b) }
        case let .temporal(format):
            if let v = format.parse(b) {
                let start = Int32(truncatingIfNeeded: batch.arena.count)
                format.writeISO(v, into: &batch.arena)
                batch.cells.append(.text(start: start, count: Int32(truncatingIfNeeded: batch.arena.count) - start))
            } else {
                batch.appendText(b)
            }
        }
    }
}

extension Converter {
    func append(_ value: JSONValue?, to batch: inout RowBatch) {
        switch value {
        case nil, .null?: batch.cells.append(.null)
        case let .bool(b)?:
            if case .boolean = kind { batch.cells.append(.int(b ? 1 : 0)) } else { batch.appendText(b ? "true" : "false") }
        case let .number(text)?: text.withUnsafeBufferPointer { appendValue($0, to: &batch) }
        case let .string(s)?:
            var s = s
            s.withUTF8 { appendValue($0, to: &batch) }
        case let .nested(text)?: batch.appendText(text)
        }
    }
}
