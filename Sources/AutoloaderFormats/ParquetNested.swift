import AutoloaderCore
import Foundation

extension ParquetFile {
    /// How a leaf's stored values read as SQL or JSON text: its logical (or legacy converted) type, worked out once.
    public struct ScalarForm: Sendable {
        public enum Kind: Sendable { case plain, decimal, date, time, timestamp, timestamptz, uuid, unsigned, json, binary, float16 }
        public var kind: Kind
        /// Digits after the point (decimals).
        public var scale = 0
        /// Temporal values: units per second of the stored integer.
        public var unitsPerSecond: Int64 = 1

        public init(_ n: Node) {
            let logical = n.logical
            if let decimal = logical?[5] {
                kind = .decimal
                scale = Int(decimal[1]?.int ?? Int64(n.scale ?? 0))
            } else if n.converted == 5 {
                kind = .decimal
                scale = n.scale ?? 0
            } else if n.physical == 3 {
                kind = .timestamp  // INT96: nanoseconds of the day and a Julian day, no zone
                unitsPerSecond = 1_000_000_000
            } else if let ts = logical?[8] {
                kind = ts[1]?.bool == true ? .timestamptz : .timestamp
                unitsPerSecond = Self.units(ts[2])
            } else if n.converted == 9 || n.converted == 10 {
                kind = .timestamptz  // legacy TIMESTAMP_MILLIS/MICROS are UTC
                unitsPerSecond = n.converted == 9 ? 1000 : 1_000_000
            } else if logical?[6] != nil || n.converted == 6 {
                kind = .date
            } else if let time = logical?[7] {
                kind = .time
                unitsPerSecond = Self.units(time[2])
            } else if n.converted == 7 || n.converted == 8 {
                kind = .time
                unitsPerSecond = n.converted == 7 ? 1000 : 1_000_000
            } else if logical?[14] != nil {
                kind = .uuid
            } else if logical?[15] != nil {
                kind = .float16
            } else if logical?[12] != nil || n.converted == 19 {
                kind = .json
            } else if let integer = logical?[10], integer[2]?.bool == false {
                kind = .unsigned
            } else if let c = n.converted, (11...14).contains(c) {
                kind = .unsigned  // UINT_8 … UINT_64
            } else if n.physical == 6 || n.physical == 7, logical?[1] == nil, logical?[4] == nil, n.converted != 0, n.converted != 4 {
                kind = .binary  // bytes that are not declared text
            } else {
                kind = .plain
            }
        }

        static func units(_ unit: ThriftValue?) -> Int64 {
            if unit?[1] != nil { return 1000 }
            if unit?[2] != nil { return 1_000_000 }
            if unit?[3] != nil { return 1_000_000_000 }
            return 1_000_000
        }

        /// FLOAT16: two little-endian bytes of IEEE 754 binary16.
        public static func half(_ b: [UInt8]) -> Double {
            guard b.count == 2 else { return .nan }
            let h = UInt16(b[0]) | UInt16(b[1]) << 8
            let sign: FloatingPointSign = h >> 15 == 0 ? .plus : .minus
            let exponent = Int(h >> 10 & 0x1F), fraction = Double(h & 0x3FF) / 1024
            switch exponent {
            case 0: return Double(sign: sign, exponent: -14, significand: fraction)  // subnormal
            case 31: return fraction == 0 ? (sign == .plus ? .infinity : -.infinity) : .nan
            default: return Double(sign: sign, exponent: exponent - 15, significand: 1 + fraction)
            }
        }

        /// An integer as stored, read with this form's sign: UINT_32 in an INT32 and UINT_64 in an INT64 use the top bit.
        @inline(__always) public func unsignedValue(_ v: Int64, physical: Int?) -> UInt64 {
            physical == 1 ? UInt64(UInt32(truncatingIfNeeded: v)) : UInt64(bitPattern: v)
        }
    }
}

/// Exact text for Parquet's (and Avro's) stored numbers: decimals from their unscaled integers, UUIDs.
public enum ExactText {
    /// `-12345.678` from an unscaled magnitude and its sign: digits straight from the integer, no arrays made.
    public static func decimal(magnitude: UInt64, negative: Bool, scale: Int, into out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24 + scale) { buf in
            var m = magnitude, end = buf.count, k = 0
            repeat {
                if k == scale && scale > 0 { end -= 1; buf[end] = UInt8(ascii: ".") }
                end -= 1
                buf[end] = UInt8(ascii: "0") + UInt8(m % 10)
                m /= 10
                k += 1
            } while m > 0 || k <= scale
            if negative && magnitude != 0 { end -= 1; buf[end] = UInt8(ascii: "-") }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[end...]))
        }
    }

    /// A decimal from a big-endian two's complement unscaled value of any width (FIXED_LEN_BYTE_ARRAY(16) holds 38
    /// digits): through a Double it lost digits past 15 and wrapped past 18.
    public static func decimal(twosComplement b: [UInt8], scale: Int, into out: inout [UInt8]) {
        let negative = b.first.map { $0 & 0x80 != 0 } ?? false
        var n = b
        if negative {  // two's complement: invert and add one
            var carry = 1
            for i in n.indices.reversed() {
                let sum = Int(~n[i]) + carry
                n[i] = UInt8(truncatingIfNeeded: sum)
                carry = sum >> 8
            }
        }
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
        if negative && digits.contains(where: { $0 != UInt8(ascii: "0") }) { out.append(UInt8(ascii: "-")) }
        for (k, d) in digits.enumerated().reversed() {
            out.append(d)
            if k == scale && scale > 0 { out.append(UInt8(ascii: ".")) }
        }
    }

    /// 16 bytes as 8-4-4-4-12 lower-case hex digits.
    public static func uuid(_ b: [UInt8], into out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        for (i, byte) in b.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0xF)])
        }
    }

    /// A date, time or timestamp as ISO text (`TemporalFormat.writeISO`), without quotes.
    public static func temporal(_ value: TemporalFormat.Value, kind: TypeKind, into out: inout [UInt8]) {
        var v = value
        if kind == .time { v.year = 1970; v.month = 1; v.day = 1 }
        // A switch, not a dictionary: this runs per cell, and a lookup hashed the kind each time.
        switch kind {
        case .date: isoDate?.writeISO(v, into: &out)
        case .time: isoTime?.writeISO(v, into: &out)
        case .timestamp: isoTimestamp?.writeISO(v, into: &out)
        case .timestamptz: isoTimestamptz?.writeISO(v, into: &out)
        default: break
        }
    }

    static let isoDate = TemporalFormat("", kind: .date)
    static let isoTime = TemporalFormat("", kind: .time)
    static let isoTimestamp = TemporalFormat("", kind: .timestamp)
    static let isoTimestamptz = TemporalFormat("", kind: .timestamptz)

    /// A double as JSON: the shortest text that reads back the same; NaN and the infinities, which JSON lacks, as
    /// strings (as Spark and pandas write them).
    public static func jsonDouble(_ d: Double, into out: inout [UInt8]) {
        if d.isFinite {
            out.append(contentsOf: d.description.utf8)
        } else {
            out.append(contentsOf: (d.isNaN ? "\"NaN\"" : d > 0 ? "\"Infinity\"" : "\"-Infinity\"").utf8)
        }
    }
}

extension ParquetFile {
    /// One nested top-level field (struct, list, map, a repeated field, and any nesting of them) of one row group,
    /// a row at a time as a JSON value. Its leaves' level entries are reassembled (Dremel's record assembly):
    /// the repetition level says which list gets a new element, the definition level how deep a value exists,
    /// so a null list, an empty list and a list holding a null stay three different things.
    public final class NestedFieldReader {
        let file: ParquetFile
        let field: Field
        let readers: [ColumnReader]
        /// Per leaf, per depth from the field down: the node, whether it is repeated or optional, the definition
        /// level at which it exists, its repetition level, and its position among its parent's children.
        struct Step { var node: Int; var repetition: Int; var definedAt: Int; var repeatedAt: Int; var childPosition: Int }
        let steps: [[Step]]
        let forms: [Int: ScalarForm]
        /// Per depth: the element of the list at that depth the current entry goes into.
        private var indexes: [Int]

        indirect enum Slot { case absent, null, value(Value), group([Slot]), list([Slot]) }

        public init(file: ParquetFile, field: Field, rowGroup: Int) throws {
            self.file = file
            self.field = field
            readers = try field.leaves.map { try ColumnReader(file: file, leaf: $0, rowGroup: rowGroup) }
            var forms: [Int: ScalarForm] = [:]
            steps = field.leaves.map { leaf in
                var d = 0, r = 0, out: [Step] = []
                let path = file.leaves[leaf].path
                for (depth, n) in path.enumerated() {
                    let node = file.nodes[n]
                    if node.repetition != 0 { d += 1 }
                    if node.repetition == 2 { r += 1 }
                    let position = depth == 0 ? 0 : file.children[path[depth - 1]].firstIndex(of: n) ?? 0
                    out.append(Step(node: n, repetition: node.repetition, definedAt: d, repeatedAt: r, childPosition: position))
                }
                forms[file.leaves[leaf].node] = ScalarForm(file.nodes[file.leaves[leaf].node])
                return out
            }
            self.forms = forms
            indexes = Array(repeating: 0, count: steps.map(\.count).max() ?? 0)
        }

        func bad(_ why: String) -> AutoloaderError { .badInput(SourceLocation(file: file.name, column: field.name), reason: "Parquet: \(why)") }

        /// Appends the next row's value as JSON to `out`; false (nothing appended) when the field is null.
        public func next(into out: inout [UInt8]) throws -> Bool {
            var root = Slot.absent
            for (l, reader) in readers.enumerated() {
                var first = true
                while try first || (reader.peekRepetition() ?? 0) > 0 {
                    let entry = try reader.nextEntry()
                    if first && entry.repetition != 0 { throw bad("a row starts with repetition level \(entry.repetition)") }
                    first = false
                    for (i, step) in steps[l].enumerated() where step.repetition == 2 {
                        if step.repeatedAt == entry.repetition { indexes[i] += 1 } else if step.repeatedAt > entry.repetition { indexes[i] = 0 }
                    }
                    try place(&root, leaf: l, depth: 0, entry)
                }
            }
            if case .null = root { return false }
            render(root, node: field.nodeIndex, into: &out)
            return true
        }

        private func place(_ slot: inout Slot, leaf l: Int, depth i: Int, _ e: (repetition: Int, definition: Int, value: Value)) throws {
            let step = steps[l][i]
            if step.repetition != 0 && e.definition < step.definedAt {
                if case .absent = slot { slot = step.repetition == 2 ? .list([]) : .null }
                return
            }
            guard step.repetition == 2 else { return try placeElement(&slot, leaf: l, depth: i, e) }
            var items: [Slot] = []
            if case let .list(existing) = slot { items = existing }
            slot = .absent  // `items` is now the only reference: no copy per element
            let k = indexes[i]
            if k == items.count { items.append(.absent) }
            guard k < items.count else { throw bad("repetition levels skip a list element") }
            try placeElement(&items[k], leaf: l, depth: i, e)
            slot = .list(items)
        }

        private func placeElement(_ slot: inout Slot, leaf l: Int, depth i: Int, _ e: (repetition: Int, definition: Int, value: Value)) throws {
            if i == steps[l].count - 1 {
                slot = .value(e.value)
                return
            }
            var members: [Slot]
            if case let .group(existing) = slot { members = existing } else {
                members = Array(repeating: .absent, count: file.children[steps[l][i].node].count)
            }
            slot = .absent
            try place(&members[steps[l][i + 1].childPosition], leaf: l, depth: i + 1, e)
            slot = .group(members)
        }

        private func render(_ slot: Slot, node n: Int, into out: inout [UInt8]) {
            switch slot {
            case .absent, .null:
                out.append(contentsOf: "null".utf8)
            case let .value(v):
                Self.writeJSON(v, form: forms[n] ?? ScalarForm(file.nodes[n]), physical: file.nodes[n].physical, into: &out)
            case let .list(items):
                out.append(UInt8(ascii: "["))
                for (k, item) in items.enumerated() {
                    if k > 0 { out.append(UInt8(ascii: ",")) }
                    render(item, node: n, into: &out)
                }
                out.append(UInt8(ascii: "]"))
            case let .group(members):
                renderGroup(members, node: n, into: &out)
            }
        }

        /// A group as JSON: a LIST-annotated group is an array of its elements, a MAP an object, any other an object
        /// of its fields (in schema order).
        private func renderGroup(_ members: [Slot], node n: Int, into out: inout [UInt8]) {
            let node = file.nodes[n], kids = file.children[n]
            let isList = node.converted == 3 || node.logical?[3] != nil
            let isMap = node.converted == 1 || node.converted == 2 || node.logical?[2] != nil
            if (isList || isMap), kids.count == 1, file.nodes[kids[0]].repetition == 2 {
                let repeated = kids[0], inner = file.children[repeated]
                var items: [Slot] = []
                if case let .list(list) = members[0] { items = list }
                if isMap, inner.count == 1 || inner.count == 2 {
                    out.append(UInt8(ascii: "{"))
                    for (k, item) in items.enumerated() {
                        guard case let .group(pair) = item else { continue }
                        if k > 0 { out.append(UInt8(ascii: ",")) }
                        writeKey(pair[0], node: inner[0], into: &out)
                        out.append(UInt8(ascii: ":"))
                        if inner.count == 2 { render(pair[1], node: inner[1], into: &out) } else { out.append(contentsOf: "null".utf8) }
                    }
                    out.append(UInt8(ascii: "}"))
                    return
                }
                if isList {
                    // The spec's backward-compatibility rule: a repeated group of one field is the three-level form
                    // (its field is the element) unless it is named `array` or `<list>_tuple` (the element is the group).
                    let name = file.nodes[repeated].name
                    let threeLevel = inner.count == 1 && name != "array" && name != node.name + "_tuple"
                    out.append(UInt8(ascii: "["))
                    for (k, item) in items.enumerated() {
                        if k > 0 { out.append(UInt8(ascii: ",")) }
                        if threeLevel, case let .group(element) = item {
                            render(element[0], node: inner[0], into: &out)
                        } else {
                            render(item, node: repeated, into: &out)
                        }
                    }
                    out.append(UInt8(ascii: "]"))
                    return
                }
            }
            out.append(UInt8(ascii: "{"))
            for (k, child) in kids.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                var name = file.nodes[child].name
                name.withUTF8 { JSONText.appendString($0, to: &out) }
                out.append(UInt8(ascii: ":"))
                render(k < members.count ? members[k] : .absent, node: child, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }

        /// A map key as a JSON object key: strings as they are, other scalars as their JSON text in quotes.
        private func writeKey(_ slot: Slot, node n: Int, into out: inout [UInt8]) {
            var text: [UInt8] = []
            render(slot, node: n, into: &text)
            if text.first == UInt8(ascii: "\"") {
                out.append(contentsOf: text)
            } else {
                text.withUnsafeBufferPointer { JSONText.appendString($0, to: &out) }
            }
        }

        /// One stored value as JSON: numbers as numbers (decimals exact), dates and times as ISO text, bytes as strings.
        static func writeJSON(_ v: Value, form: ScalarForm, physical: Int?, into out: inout [UInt8]) {
            func quotedTemporal(_ value: TemporalFormat.Value, _ kind: TypeKind) {
                out.append(UInt8(ascii: "\""))
                ExactText.temporal(value, kind: kind, into: &out)
                out.append(UInt8(ascii: "\""))
            }
            switch v {
            case .null: out.append(contentsOf: "null".utf8)
            case let .bool(b): out.append(contentsOf: (b ? "true" : "false").utf8)
            case let .double(d): ExactText.jsonDouble(d, into: &out)
            case let .int96(nanos, julian):
                quotedTemporal(TemporalFormat.Value(sinceEpoch: (Int64(julian) - 2_440_588) * 86_400_000_000_000 + nanos, unitsPerSecond: 1_000_000_000), .timestamp)
            case let .int(x):
                switch form.kind {
                case .decimal: ExactText.decimal(magnitude: x.magnitude, negative: x < 0, scale: form.scale, into: &out)
                case .date: quotedTemporal(TemporalFormat.Value(sinceEpoch: x * 86400, unitsPerSecond: 1), .date)
                case .time: quotedTemporal(TemporalFormat.Value(sinceEpoch: x, unitsPerSecond: form.unitsPerSecond), .time)
                case .timestamp: quotedTemporal(TemporalFormat.Value(sinceEpoch: x, unitsPerSecond: form.unitsPerSecond), .timestamp)
                case .timestamptz: quotedTemporal(TemporalFormat.Value(sinceEpoch: x, unitsPerSecond: form.unitsPerSecond), .timestamptz)
                case .unsigned: out.append(contentsOf: String(form.unsignedValue(x, physical: physical)).utf8)
                default: out.append(contentsOf: String(x).utf8)
                }
            case let .bytes(b):
                switch form.kind {
                case .decimal: ExactText.decimal(twosComplement: b, scale: form.scale, into: &out)
                case .uuid where b.count == 16:
                    out.append(UInt8(ascii: "\""))
                    ExactText.uuid(b, into: &out)
                    out.append(UInt8(ascii: "\""))
                case .float16: ExactText.jsonDouble(ScalarForm.half(b), into: &out)
                case .binary:
                    // JSON has no bytes: base64, as Spark's to_json and BigQuery write them.
                    out.append(UInt8(ascii: "\""))
                    out.append(contentsOf: Data(b).base64EncodedString().utf8)
                    out.append(UInt8(ascii: "\""))
                default:
                    // Text as text; bytes that are not UTF-8 are made valid (a JSON document must be).
                    var s = String(decoding: b, as: UTF8.self)
                    s.withUTF8 { JSONText.appendString($0, to: &out) }
                }
            }
        }
    }
}
