import AutoloaderCore
import AutoloaderFormats

/// Turns field bytes into a typed cell for one target column. A value that does not fit the column's
/// type is kept as text, never dropped: SQLite stores it as written and the user sees it.
struct Converter {
    enum Kind { case text, integer, real, boolean, temporal, dropped }
    let kind: Kind
    /// The layout of a temporal column. Kept beside `kind`, not as its payload: binding a payload copies it
    /// (retains its arrays) for every cell, a few percent of a load.
    let temporal: TemporalFormat?
    /// Which null spellings become NULL. Typed columns: all of them (they cannot be values). Text columns:
    /// only the empty field, so a comment that reads "NULL" or "NA" arrives byte for byte (the seed's samples
    /// have such values); detection still reports the spellings it saw.
    let nullTokenMask: UInt16
    /// Typed warehouses (PostgreSQL): a value that does not fit is refused (`append` returns false) instead of
    /// being stored as text; integers are range-checked and decimals checked against their precision.
    let strict: Bool
    let integerRange: ClosedRange<Int64>
    let maxIntegerDigits: Int
    let typeDescription: String
    /// A json column of a typed warehouse: values nested deeper are refused (Limits.maxJSONDepth).
    let maxJSONDepth: Int?

    /// A file column the table does not load (evolution freeze/rescue): appends nothing.
    static let dropped = Converter(dropping: ())
    var isDropped: Bool { if case .dropped = kind { return true } else { return false } }

    private init(dropping: Void) {
        kind = .dropped
        temporal = nil
        nullTokenMask = 0
        strict = false
        integerRange = 0...0
        maxIntegerDigits = 0
        typeDescription = "dropped"
        maxJSONDepth = nil
    }

    init(column: Column, fileFormat: String?, strict: Bool = false) {
        self.strict = strict
        maxJSONDepth = strict && column.type.kind == .json ? Limits.maxJSONDepth : nil
        typeDescription = column.type.description + (maxJSONDepth.map { ", nested at most \($0) levels deep" } ?? "")
        switch column.type.kind {
        case .smallint: integerRange = Int64(Int16.min)...Int64(Int16.max)
        case .integer: integerRange = Int64(Int32.min)...Int64(Int32.max)
        default: integerRange = Int64.min...Int64.max
        }
        maxIntegerDigits = column.type.kind == .decimal ? max(1, (column.type.precision ?? 38) - (column.type.scale ?? 0)) : Int.max
        var temporal: TemporalFormat?
        switch column.type.kind {
        case .smallint, .integer, .bigint: kind = .integer
        case .decimal, .double: kind = .real
        case .boolean: kind = .boolean
        case .date, .time, .timestamp, .timestamptz:
            temporal = TemporalFormat(fileFormat ?? column.type.format ?? "", kind: column.type.kind)
            kind = temporal == nil ? .text : .temporal
        case .varchar, .json: kind = .text
        }
        self.temporal = temporal
        if case .text = kind {
            nullTokenMask = 1  // the empty field
        } else {
            nullTokenMask = 0xFFFF
        }
    }

    /// Appends the cell; false (nothing appended) when a strict converter refuses the value.
    /// `mutating` though it changes nothing: a mutating call uses the converter where it is, and a plain call
    /// copied it (retaining its strings and arrays) for every cell, 5–8 % of a load.
    @inline(__always) mutating func append(_ b: UnsafeBufferPointer<UInt8>, to batch: inout RowBatch) -> Bool {
        if case .dropped = kind { return true }
        if let token = Values.nullToken(b), nullTokenMask & (1 << UInt16(token)) != 0 {
            batch.cells.append(.null)
            return true
        }
        return appendValue(b, to: &batch)
    }

    /// A value known not to be null (JSON strings and numbers: their nulls are JSON `null`).
    @inline(__always) mutating func appendValue(_ b: UnsafeBufferPointer<UInt8>, to batch: inout RowBatch) -> Bool {
        switch kind {
        case .dropped: break
        case .text:
            if let maxJSONDepth, !Self.nests(b, within: maxJSONDepth) { return false }
            batch.appendText(b)
        case .integer:
            if let v = Values.int64(b), integerRange.contains(v) { batch.cells.append(.int(v)) } else if strict { return false } else { batch.appendText(b) }
        case .real:
            if strict {
                // Sent as written, so NUMERIC keeps every digit; checked so the server never rejects it.
                guard let shape = Values.numberShape(b), shape.integerDigits <= maxIntegerDigits || maxIntegerDigits == Int.max,
                      maxIntegerDigits == Int.max || shape.kind != .exponent else { return false }
                batch.appendText(b)
            } else if let v = Values.double(b) { batch.cells.append(.double(v)) } else { batch.appendText(b) }
        case .boolean:
            if let v = Values.boolean(b) { batch.cells.append(.int(v ? 1 : 0)) } else if strict { return false } else { batch.appendText(b) }
        case .temporal:
            if temporal?.isISO(b) == true {
                batch.appendText(b)
            } else if let v = temporal?.parse(b) {
                let start = Int32(truncatingIfNeeded: batch.arena.count)
                temporal?.writeISO(v, into: &batch.arena)
                batch.cells.append(.text(start: start, count: Int32(truncatingIfNeeded: batch.arena.count) - start))
            } else if strict {
                return false
            } else {
                batch.appendText(b)
            }
        }
        return true
    }
}

extension Converter {
    mutating func append(_ value: JSONValue?, to batch: inout RowBatch) -> Bool {
        if case .dropped = kind { return true }
        switch value {
        case nil, .null?: batch.cells.append(.null)
        case let .bool(b)?:
            if case .boolean = kind { batch.cells.append(.int(b ? 1 : 0)) } else if case .text = kind { batch.appendText(b ? "true" : "false") } else if strict { return false } else { batch.appendText(b ? "true" : "false") }
        case let .number(text)?: return text.withUnsafeBufferPointer { appendValue($0, to: &batch) }
        case let .string(s)?:
            var s = s
            return s.withUTF8 { appendValue($0, to: &batch) }
        case let .nested(text)?:
            if case .text = kind {
                var text = text
                if let maxJSONDepth, !text.withUTF8({ Self.nests($0, within: maxJSONDepth) }) { return false }
                batch.appendText(text)
            } else if strict { return false } else { batch.appendText(text) }
        }
        return true
    }

    /// Whether JSON text nests arrays and objects at most `limit` deep (brackets inside strings do not count).
    static func nests(_ b: UnsafeBufferPointer<UInt8>, within limit: Int) -> Bool {
        var depth = 0, inString = false, escaped = false
        for c in b {
            if inString {
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch c {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > limit { return false }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return true
    }
}

/// The `_rescued_data` cell of one row (evolution `rescue`): a JSON object of the values the table could not
/// take — columns it does not have, values that do not fit their column — by column name; NULL when none.
struct RescuedData {
    static let column = LineageColumn.rescuedData
    private var json: [UInt8] = []

    var isEmpty: Bool { json.isEmpty }

    mutating func reset() { json.removeAll(keepingCapacity: true) }

    /// A raw field (CSV): kept as a JSON string.
    mutating func add(_ name: String, text: UnsafeBufferPointer<UInt8>) {
        key(name)
        JSONText.appendString(text, to: &json)
    }

    /// A JSON value: kept as it was.
    mutating func add(_ name: String, value: JSONValue) {
        key(name)
        switch value {
        case .null: json += Array("null".utf8)
        case let .bool(b): json += Array((b ? "true" : "false").utf8)
        case let .number(text): json += text
        case let .string(s): var s = s; s.withUTF8 { JSONText.appendString($0, to: &json) }
        case let .nested(text): json += Array(text.utf8)
        }
    }

    private mutating func key(_ name: String) {
        json.append(json.isEmpty ? UInt8(ascii: "{") : UInt8(ascii: ","))
        var n = name
        n.withUTF8 { JSONText.appendString($0, to: &json) }
        json.append(UInt8(ascii: ":"))
    }

    func append(to batch: inout RowBatch) {
        if json.isEmpty { batch.cells.append(.null); return }
        (json + [UInt8(ascii: "}")]).withUnsafeBufferPointer { batch.appendText($0) }
    }
}
