import AutoloaderCore
import AutoloaderFormats
import NIOCore

/// COPY in PostgreSQL's binary format: each value as the type's wire form (`int4send`, `date_send`, …), so
/// the server stores it without parsing text. With text, the server spends most of a load in `strtod`,
/// `numeric_in` and date parsing: `psql \copy` of the benchmark's 1M rows takes 1.46 s as CSV, 0.78 s as binary.
///
/// Layout: an 11-byte signature, flags and extension length; per row a 16-bit field count and, per field, a
/// 32-bit length (-1 for NULL) and the bytes; a 16-bit -1 ends the data. Everything is big-endian.
enum CopyBinary {
    /// A column's type as the binary encoder writes it. Types not listed (uuid, inet, real, timestamp(3), …) have
    /// no encoder here: a COPY into such a table goes as text and the server parses the values.
    enum Kind: Equatable {
        case int2, int4, int8, bool, float8, numeric, date, time, timestamp, timestamptz, text, jsonb

        /// From the type as `format_type` spells it (what `information_schema` and `prepareTable` read).
        init?(formatType spelled: String) {
            let t = spelled.lowercased()
            switch t {
            case "smallint": self = .int2
            case "integer": self = .int4
            case "bigint": self = .int8
            case "boolean": self = .bool
            case "double precision": self = .float8
            case "date": self = .date
            case "time without time zone": self = .time
            case "timestamp without time zone": self = .timestamp
            case "timestamp with time zone": self = .timestamptz
            // json's binary form is its text; varchar(n) and char(n) check their length in recv as in input.
            case "text", "json", "character varying", "character": self = .text
            case "jsonb": self = .jsonb
            default:
                if t == "numeric" || t.hasPrefix("numeric(") { self = .numeric; return }
                if t.hasPrefix("character varying(") || t.hasPrefix("character(") { self = .text; return }
                return nil
            }
        }
    }

    static let header: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]
    static let trailer: [UInt8] = [0xFF, 0xFF]

    /// A value the column's binary form cannot hold. Converters check values before they reach a batch, so this
    /// is a value that came by another road (a Parquet string into a table created by hand with a date column).
    struct Unencodable: Error {
        var column: Int
        var kind: Kind
        var value: String
    }

    /// Appends the batch's rows. `kinds` has one entry per batch column.
    static func encode(_ batch: RowBatch, kinds: [Kind], into buffer: inout ByteBuffer) throws(Unencodable) {
        precondition(kinds.count == batch.columnCount)
        // Worst case per cell: length word + 8-byte number or a numeric's header and groups; text at most once
        // more (a numeric from text takes under its length + 14, jsonb one byte more).
        let bound = batch.arena.count * 2 + batch.cells.count * 40 + batch.rowCount * 2 + 16
        var failure: Unencodable?
        batch.arena.withUnsafeBufferPointer { arena in
            batch.cells.withUnsafeBufferPointer { cells in
                buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { raw in
                    guard let out = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
                    var w = Writer(out: out)
                    var column = 0
                    for cell in cells {
                        if column == 0 { w.put16(UInt16(truncatingIfNeeded: batch.columnCount)) }
                        if !w.cell(cell, kind: kinds[column], arena: arena) {
                            failure = Unencodable(column: column, kind: kinds[column], value: describe(cell, arena: arena))
                            return 0
                        }
                        column += 1
                        if column == batch.columnCount { column = 0 }
                    }
                    return w.n
                }
            }
        }
        if let failure { throw failure }
    }

    private static func describe(_ cell: CellValue, arena: UnsafeBufferPointer<UInt8>) -> String {
        switch cell {
        case .null: return "NULL"
        case let .int(v): return String(v)
        case let .double(d): return "\(d)"
        case let .text(start, count): return String(decoding: arena[Int(start)..<Int(start + count)], as: UTF8.self)
        }
    }

    /// Microseconds from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
    static let epochDays = 10_957

    struct Writer {
        let out: UnsafeMutablePointer<UInt8>
        var n = 0

        @inline(__always) mutating func put16(_ v: UInt16) {
            out[n] = UInt8(v >> 8); out[n + 1] = UInt8(v & 0xFF); n += 2
        }
        @inline(__always) mutating func put32(_ v: UInt32) {
            UnsafeMutableRawPointer(out + n).storeBytes(of: v.bigEndian, as: UInt32.self)
            n += 4
        }
        @inline(__always) mutating func put64(_ v: UInt64) {
            UnsafeMutableRawPointer(out + n).storeBytes(of: v.bigEndian, as: UInt64.self)
            n += 8
        }
        @inline(__always) mutating func bytes(_ b: UnsafeBufferPointer<UInt8>) {
            if let from = b.baseAddress { (out + n).update(from: from, count: b.count) }
            n += b.count
        }

        /// One field: false when the value does not fit the column's binary form (nothing useful is written).
        @inline(__always) mutating func cell(_ cell: CellValue, kind: Kind, arena: UnsafeBufferPointer<UInt8>) -> Bool {
            let text: UnsafeBufferPointer<UInt8>
            switch cell {
            case .null:
                put32(UInt32.max)
                return true
            case let .int(v):
                switch kind {
                case .int2: guard let x = Int16(exactly: v) else { return false }; put32(2); put16(UInt16(bitPattern: x))
                case .int4: guard let x = Int32(exactly: v) else { return false }; put32(4); put32(UInt32(bitPattern: x))
                case .int8: put32(8); put64(UInt64(bitPattern: v))
                case .bool: guard v == 0 || v == 1 else { return false }; put32(1); out[n] = UInt8(v); n += 1
                case .float8: put32(8); put64(Double(v).bitPattern)
                case .numeric, .text, .jsonb:
                    var s = String(v)
                    return s.withUTF8 { self.cell(fromText: $0, kind: kind) }
                default: return false
                }
                return true
            case let .double(d):
                switch kind {
                case .float8: put32(8); put64(d.bitPattern)
                case .numeric, .text, .jsonb:
                    guard d.isFinite else { return false }
                    var s = "\(d)"
                    return s.withUTF8 { self.cell(fromText: $0, kind: kind) }
                default: return false
                }
                return true
            case let .text(start, count):
                text = UnsafeBufferPointer(rebasing: arena[Int(start)..<(Int(start) + Int(count))])
            }
            return self.cell(fromText: text, kind: kind)
        }

        @inline(__always) mutating func cell(fromText text: UnsafeBufferPointer<UInt8>, kind: Kind) -> Bool {
            switch kind {
            case .text:
                put32(UInt32(text.count)); bytes(text)
            case .jsonb:
                put32(UInt32(text.count + 1)); out[n] = 1; n += 1; bytes(text)  // jsonb's wire form: version 1, then text
            case .numeric:
                return numeric(text)
            case .int2, .int4, .int8:
                guard let v = Values.int64(text) else { return false }
                return cell(.int(v), kind: kind, arena: text)
            case .float8:
                guard let d = Values.double(text) else { return false }
                put32(8); put64(d.bitPattern)
            case .bool:
                guard let b = Values.boolean(text) else { return false }
                put32(1); out[n] = b ? 1 : 0; n += 1
            case .date:
                guard let t = ISOStamp(text, date: true, time: false), t.offsetMinutes == nil else { return false }
                put32(4); put32(UInt32(bitPattern: Int32(t.days - epochDays)))
            case .time:
                guard let t = ISOStamp(text, date: false, time: true), t.offsetMinutes == nil else { return false }
                put32(8); put64(UInt64(bitPattern: t.micros))
            case .timestamp, .timestamptz:
                guard let t = ISOStamp(text, date: true, time: true) else { return false }
                // Without a zone the wall-clock reading is kept and an offset ignored, as PostgreSQL's input does;
                // with a zone the instant (no offset: UTC, which is what converters write, with a `Z`).
                let offset = kind == .timestamptz ? Int64(t.offsetMinutes ?? 0) : 0
                let micros = Int64(t.days - epochDays) * 86_400_000_000 + t.micros - offset * 60_000_000
                put32(8); put64(UInt64(bitPattern: micros))
            }
            return true
        }

        /// `numeric_send`'s form from decimal text (`-12.340`, `1e-05`): digit count, weight of the first base-10000
        /// group, sign, display scale, then the groups without leading or trailing zero groups. The server rounds
        /// to the column's scale and checks its precision on receipt, as it does for text. Reads the text in
        /// place: this runs for every decimal cell.
        mutating func numeric(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
            let end = b.count
            var i = 0
            var negative = false
            if i < end && (b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+")) { negative = b[i] == UInt8(ascii: "-"); i += 1 }
            let digitStart = i
            var digitCount = 0
            var dotDigits = -1  // digits before the point, when there is one
            while i < end {
                let c = b[i]
                if c &- 48 < 10 { digitCount += 1 } else if c == UInt8(ascii: "."), dotDigits < 0 { dotDigits = digitCount } else { break }
                i += 1
            }
            guard digitCount > 0 else { return false }
            let written = dotDigits < 0 ? digitCount : dotDigits
            var exponent = 0
            if i < end {
                guard b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") else { return false }
                i += 1
                var expNegative = false
                if i < end && (b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+")) { expNegative = b[i] == UInt8(ascii: "-"); i += 1 }
                guard i < end else { return false }
                while i < end {
                    let d = b[i] &- 48
                    guard d < 10, exponent < 100_000 else { return false }
                    exponent = exponent * 10 + Int(d)
                    i += 1
                }
                if expNegative { exponent = -exponent }
            }
            // As numeric_in: the display scale is the digits written after the point, less the exponent.
            let dscale = max(0, digitCount - written - exponent)
            let point = written + exponent  // digits before the point once the exponent is applied
            // numeric_in refuses exponents past ±1000; weights are 16-bit.
            guard abs(exponent) <= 1000, dscale <= 0x3FFF, abs(point) < 100_000 else { return false }
            @inline(__always) func digit(_ k: Int) -> Int {
                Int(b[digitStart + k + (dotDigits >= 0 && k >= dotDigits ? 1 : 0)] &- 48)
            }
            var lead = 0, trail = digitCount - 1
            while lead < digitCount && digit(lead) == 0 { lead += 1 }
            if lead == digitCount {  // zero: no groups, positive
                put32(8); put16(0); put16(0); put16(0); put16(UInt16(dscale))
                return true
            }
            while digit(trail) == 0 { trail -= 1 }
            // Digit k sits at decimal position point-1-k (0 = units); group g covers positions 4g…4g+3.
            @inline(__always) func group(_ p: Int) -> Int { p >= 0 ? p / 4 : -((-p + 3) / 4) }
            let top = group(point - 1 - lead), bottom = group(point - 1 - trail)
            let count = top - bottom + 1
            put32(UInt32(8 + 2 * count))
            put16(UInt16(count))
            put16(UInt16(bitPattern: Int16(top)))
            put16(negative ? 0x4000 : 0)
            put16(UInt16(dscale))
            var g = top
            while g >= bottom {
                var value = 0
                for p in stride(from: g * 4 + 3, through: g * 4, by: -1) {
                    let k = point - 1 - p
                    value = value * 10 + (k >= lead && k <= trail ? digit(k) : 0)
                }
                put16(UInt16(value))
                g -= 1
            }
            return true
        }
    }
}

/// An ISO 8601 date, time or both as `TemporalFormat.writeISO` writes them (`2024-03-05`, `07:55:29.5`,
/// `2024-03-05 07:55:29.5`, with `Z` for timestamptz), also with `T` and a `±HH[:MM]` offset. Fractions past
/// microseconds are rounded to microseconds as PostgreSQL rounds them.
struct ISOStamp {
    var days = 0
    var micros: Int64 = 0
    var offsetMinutes: Int?

    init?(_ b: UnsafeBufferPointer<UInt8>, date: Bool, time: Bool) {
        let n = b.count
        var i = 0
        @inline(__always) func number(_ width: Int) -> Int? {
            guard i + width <= n else { return nil }
            var v = 0
            for k in i..<(i + width) {
                let d = b[k] &- 48
                guard d < 10 else { return nil }
                v = v * 10 + Int(d)
            }
            i += width
            return v
        }
        @inline(__always) func expect(_ c: UInt8) -> Bool {
            guard i < n, b[i] == c else { return false }
            i += 1
            return true
        }
        if date {
            // Year 0 does not exist for PostgreSQL's input; it is refused here too, not stored as 1 BC.
            guard let y = number(4), y >= 1, expect(UInt8(ascii: "-")), let m = number(2), (1...12).contains(m),
                  expect(UInt8(ascii: "-")), let d = number(2), d >= 1, d <= TemporalFormat.daysIn(month: m, year: y) else { return nil }
            days = TemporalFormat.daysFromCivil(y, m, d)
            if !time { if i != n { return nil }; return }
            guard i < n, b[i] == UInt8(ascii: " ") || b[i] == UInt8(ascii: "T") else { return nil }
            i += 1
        }
        guard let h = number(2), h <= 24, expect(UInt8(ascii: ":")), let mi = number(2), mi <= 59,
              expect(UInt8(ascii: ":")), let s = number(2), s <= 60 else { return nil }
        var fraction: Int64 = 0
        if i < n, b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < n, b[i] &- 48 < 10, i - start < 18 { fraction = fraction * 10 + Int64(b[i] - 48); i += 1 }
            let digits = i - start
            guard digits > 0 else { return nil }
            if digits <= 6 {
                for _ in digits..<6 { fraction *= 10 }
            } else {
                // As PostgreSQL does: the fraction as a double, times 10⁶, rounded half to even (`rint`).
                var scale = 1.0
                for _ in 0..<digits { scale *= 10 }
                fraction = Int64((Double(fraction) / scale * 1_000_000).rounded(.toNearestOrEven))
            }
        }
        micros = (Int64(h) * 3600 + Int64(mi) * 60 + Int64(s)) * 1_000_000 + fraction
        guard micros <= 86_400_000_000 else { return nil }
        if i < n {
            if b[i] == UInt8(ascii: "Z") {
                i += 1
                offsetMinutes = 0
            } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
                i += 1
                guard let oh = number(2), oh <= 15 else { return nil }
                var om = 0
                if i < n {
                    _ = expect(UInt8(ascii: ":"))
                    guard let m = number(2), m <= 59 else { return nil }
                    om = m
                }
                offsetMinutes = sign * (oh * 60 + om)
            }
        }
        guard i == n else { return nil }
    }
}
