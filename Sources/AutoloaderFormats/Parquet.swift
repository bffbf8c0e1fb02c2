import AutoloaderCore
import CCompression

/// Parquet: the footer's Thrift metadata (schema, row groups) and the column chunks' values and levels (PLAIN,
/// dictionary, RLE booleans, DELTA and BYTE_STREAM_SPLIT encodings; data pages v1 and v2; uncompressed, Snappy, gzip,
/// zstd, LZ4 and Brotli pages). Nested fields are reassembled by `NestedFieldReader`.
public final class ParquetFile {
    public struct Node: Sendable {
        public var name: String
        public var physical: Int?        // BOOLEAN 0, INT32 1, INT64 2, INT96 3, FLOAT 4, DOUBLE 5, BYTE_ARRAY 6, FIXED_LEN 7
        public var typeLength: Int
        public var repetition: Int       // REQUIRED 0, OPTIONAL 1, REPEATED 2
        public var children: Int
        public var converted: Int?
        public var scale: Int?
        public var precision: Int?
        public var logical: ThriftValue?
    }

    /// A top-level field: a flat leaf (loaded as its type) or a group / repeated field (loaded as a JSON value).
    public struct Field: Sendable {
        public var name: String
        public var node: Node
        /// Its index in `nodes`.
        public var nodeIndex: Int
        public var nullable: Bool
        /// Index of the leaf column chunk, for flat fields.
        public var leaf: Int?
        /// Its leaf column chunks (one for a flat field).
        public var leaves: Range<Int>
        public var maxDefinition: Int
    }

    /// A primitive column (one column chunk per row group): where it sits in the schema, and its levels' ranges.
    public struct Leaf: Sendable {
        public var node: Int
        /// Node indexes from the top-level field down to this leaf.
        public var path: [Int]
        public var maxDefinition: Int
        public var maxRepetition: Int
    }

    public let name: String
    public let reader: any RandomAccessReader
    public let numRows: Int64
    public let createdBy: String?
    public let fields: [Field]
    /// The flattened schema (Thrift's depth-first list), each node's children, and the leaves in column-chunk order.
    public let nodes: [Node]
    public let children: [[Int]]
    public let leaves: [Leaf]
    /// Per row group: its rows and its column chunks' metadata (ColumnMetaData structs), by leaf index.
    public let rowGroups: [(rows: Int64, chunks: [ThriftValue])]
    public let codecs: Set<String>

    static let codecNames = [0: "uncompressed", 1: "snappy", 2: "gzip", 3: "lzo", 4: "brotli", 5: "lz4", 6: "zstd", 7: "lz4_raw"]

    public init(reader: any RandomAccessReader, name: String) throws {
        self.name = name
        self.reader = reader
        let size = reader.size
        func bad(_ why: String) -> AutoloaderError { .badInput(SourceLocation(file: name), reason: "not a readable Parquet file: \(why)") }
        guard size >= 12 else { throw bad("shorter than its header and footer") }
        let tail = try reader.read(at: size - 8, count: 8)
        guard tail[4...] == [0x50, 0x41, 0x52, 0x31] else { throw bad("no PAR1 at the end (truncated?)") }
        let footerLength = Int64(tail[0]) | Int64(tail[1]) << 8 | Int64(tail[2]) << 16 | Int64(tail[3]) << 24
        guard footerLength > 0, footerLength <= size - 12 else { throw bad("footer length \(footerLength) does not fit the file") }
        let footer = try reader.read(at: size - 8 - footerLength, count: Int(footerLength))
        let meta: ThriftValue
        do {
            meta = try footer.withUnsafeBytes { raw in var d = CompactDecoder(raw); return try d.readStruct() }
        } catch { throw bad("\(error)") }
        numRows = meta[3]?.int ?? 0
        createdBy = meta[6]?.string
        let nodes = meta[2]?.list.map { e in
            Node(name: e[4]?.string ?? "", physical: e[1]?.int.map(Int.init), typeLength: Int(e[2]?.int ?? 0), repetition: Int(e[3]?.int ?? 0),
                 children: Int(e[5]?.int ?? 0), converted: e[6]?.int.map(Int.init), scale: e[7]?.int.map(Int.init),
                 precision: e[8]?.int.map(Int.init), logical: e[10])
        } ?? []
        guard let root = nodes.first else { throw bad("empty schema") }
        // Walk the schema tree: top-level fields are the root's children; leaves are numbered in order. A file that
        // nests deeper than any writer does is refused rather than walked (the walk recurses).
        var fields: [Field] = []
        var children = [[Int]](repeating: [], count: nodes.count)
        var leaves: [Leaf] = []
        var index = 1
        func walk(path: [Int], definition: Int, repetition: Int) throws {
            guard index < nodes.count else { throw bad("the schema ends inside a group") }
            guard path.count < 64 else { throw bad("the schema nests more than 64 levels deep") }
            let me = index
            index += 1
            let node = nodes[me]
            let d = definition + (node.repetition == 0 ? 0 : 1), r = repetition + (node.repetition == 2 ? 1 : 0)
            if node.children == 0 {
                leaves.append(Leaf(node: me, path: path + [me], maxDefinition: d, maxRepetition: r))
                return
            }
            for _ in 0..<node.children {
                children[me].append(index)
                try walk(path: path + [me], definition: d, repetition: r)
            }
        }
        for _ in 0..<root.children {
            let me = index, first = leaves.count
            try walk(path: [], definition: 0, repetition: 0)
            let node = nodes[me]
            let flat = node.children == 0 && node.repetition != 2
            fields.append(Field(name: node.name, node: node, nodeIndex: me, nullable: node.repetition == 1, leaf: flat ? first : nil,
                                leaves: first..<leaves.count, maxDefinition: leaves[first].maxDefinition))
        }
        self.nodes = nodes
        self.children = children
        self.leaves = leaves
        self.fields = fields
        rowGroups = meta[4]?.list.map { rg in
            (rows: rg[3]?.int ?? 0, chunks: rg[1]?.list.map { $0[3] ?? .structure([:]) } ?? [])
        } ?? []
        var codecs = Set<String>()
        for rg in rowGroups { for c in rg.chunks { codecs.insert(Self.codecNames[Int(c[4]?.int ?? 0)] ?? "unknown") } }
        self.codecs = codecs
    }

    // MARK: types

    /// The SQL type of a field, from the declared schema only (never the values).
    public func columnType(_ field: Field) -> ColumnType {
        let n = field.node
        if field.leaf == nil { return .json }
        // The logical (or legacy converted) type, read once by ScalarForm for loading too; integers by their width.
        let form = ScalarForm(n)
        switch form.kind {
        case .decimal: return .decimal(n.logical?[5]?[2]?.int.map(Int.init) ?? n.precision ?? 18, form.scale)
        case .timestamp: return ColumnType(kind: .timestamp)  // INT96 too: legacy Impala/Hive timestamps, no zone
        case .timestamptz: return ColumnType(kind: .timestamptz)
        case .date: return ColumnType(kind: .date)
        case .time: return ColumnType(kind: .time)
        case .json: return .json
        case .uuid: return .varchar(36)  // 16 bytes, loaded in its canonical text form
        case .float16: return .double
        case .unsigned, .binary, .plain: break
        }
        let logical = n.logical
        if let integer = logical?[10] {
            let bits = integer[1]?.int ?? 32, signed = integer[2]?.bool ?? true
            switch (bits, signed) {
            case (8, _), (16, true): return .smallint
            case (16, false), (32, true): return .integer
            case (32, false), (64, true): return .bigint
            default: return .decimal(20, 0)
            }
        }
        switch n.converted {
        case 15, 16, 11: return .smallint   // INT_8, INT_16, UINT_8
        case 12: return .integer            // UINT_16
        case 13: return .bigint             // UINT_32
        case 14: return .decimal(20, 0)     // UINT_64
        default: break
        }
        switch n.physical {
        case 0: return .boolean
        case 1: return .integer
        case 2: return .bigint
        case 4, 5: return .double
        default: return .varchar(0)
        }
    }

    // MARK: values

    public enum Value: Equatable, Sendable {
        case null, bool(Bool), int(Int64), double(Double), bytes([UInt8]), int96(nanosOfDay: Int64, julianDay: Int32)
    }

    /// One flat value as the reader holds it, lent to a closure (`ColumnReader.next(_:)`): a byte array is a view
    /// of the page, valid only inside the closure, so loading copies each value once, into the batch.
    public enum Cell {
        case null, bool(Bool), int(Int64), double(Double), bytes(UnsafeBufferPointer<UInt8>), int96(nanosOfDay: Int64, julianDay: Int32)

        /// The value, owned (a byte array copied).
        public var value: Value {
            switch self {
            case .null: return .null
            case let .bool(b): return .bool(b)
            case let .int(v): return .int(v)
            case let .double(d): return .double(d)
            case let .bytes(b): return .bytes(Array(b))
            case let .int96(nanos, julian): return .int96(nanosOfDay: nanos, julianDay: julian)
            }
        }
    }

    /// A page's (or a dictionary's) present values, unboxed: a value per cell boxed as `Value` cost an allocation
    /// per byte array and a retain/release per read. Fixed-width values are words (booleans 0/1, INT32 sign-extended,
    /// FLOAT widened to DOUBLE's bits, INT96's nanoseconds with its day in `days`); a byte array is a range of `heap`,
    /// which for PLAIN is the page's own bytes.
    struct PageValues {
        var words: [UInt64] = []
        var days: [Int32] = []
        var starts: [Int] = [], ends: [Int] = []
        var heap: [UInt8] = []
        private(set) var count = 0

        mutating func removeAll() {
            words.removeAll(keepingCapacity: true); days.removeAll(keepingCapacity: true)
            starts.removeAll(keepingCapacity: true); ends.removeAll(keepingCapacity: true)
            heap = []
            count = 0
        }

        /// A value decoded one at a time (the rarer encodings).
        mutating func append(_ value: Value) {
            switch value {
            case .null: words.append(0)
            case let .bool(b): words.append(b ? 1 : 0)
            case let .int(v): words.append(UInt64(bitPattern: v))
            case let .double(d): words.append(d.bitPattern)
            case let .int96(nanos, julian): words.append(UInt64(bitPattern: nanos)); days.append(julian)
            case let .bytes(b): appendBytes(b)
            }
            count += 1
        }

        mutating func appendBytes(_ b: some Collection<UInt8>) {
            starts.append(heap.count)
            heap.append(contentsOf: b)
            ends.append(heap.count)
        }

        /// `n` PLAIN-encoded values of a physical type, read straight from the buffer.
        mutating func decodePlain(_ bytes: [UInt8], count n: Int, physical: Int, typeLength: Int) throws {
            func short() -> ThriftError { ThriftError(description: "Parquet: value runs past its page") }
            // Every value takes at least a bit (n comes from the file: bounded first, so no product below overflows
            // and no reservation is absurd).
            guard n >= 0, n <= bytes.count * 8 || (physical == 7 && typeLength == 0) else { throw short() }
            let width: Int
            switch physical {
            case 1, 4: width = 4
            case 2, 5: width = 8
            case 3: width = 12
            default: width = 0
            }
            if width > 0, bytes.count < width * n { throw short() }
            switch physical {
            case 0:
                guard bytes.count * 8 >= n else { throw ThriftError(description: "Parquet: boolean past its page") }
                for i in 0..<n { words.append(UInt64(bytes[i >> 3] >> UInt8(i & 7) & 1)) }
            case 1, 2, 3, 4, 5:
                words.reserveCapacity(words.count + n)
                bytes.withUnsafeBytes { raw in
                    for i in 0..<n {
                        switch physical {
                        case 1: words.append(UInt64(bitPattern: Int64(Int32(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))))
                        case 4: words.append(Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))).bitPattern)
                        case 3:
                            words.append(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 12 * i, as: UInt64.self)))
                            days.append(Int32(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 12 * i + 8, as: UInt32.self))))
                        default: words.append(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
                        }
                    }
                }
            case 6:
                heap = bytes
                starts.reserveCapacity(starts.count + n); ends.reserveCapacity(ends.count + n)
                var pos = 0
                for _ in 0..<n {
                    guard pos + 4 <= bytes.count else { throw short() }
                    let length = Int(bytes[pos]) | Int(bytes[pos + 1]) << 8 | Int(bytes[pos + 2]) << 16 | Int(bytes[pos + 3]) << 24
                    guard pos + 4 + length <= bytes.count else { throw short() }
                    starts.append(pos + 4); ends.append(pos + 4 + length)
                    pos += 4 + length
                }
            default:
                let (total, overflow) = typeLength.multipliedReportingOverflow(by: n)
                guard typeLength >= 0, !overflow, bytes.count >= total else { throw short() }
                heap = bytes
                for i in 0..<n { starts.append(i * typeLength); ends.append((i + 1) * typeLength) }
            }
            count += n
        }

        /// The arrays as buffers, for a loop over a page's values that touches each array once, not per value.
        struct View {
            let words: UnsafeBufferPointer<UInt64>, days: UnsafeBufferPointer<Int32>
            let starts: UnsafeBufferPointer<Int>, ends: UnsafeBufferPointer<Int>, heap: UnsafeBufferPointer<UInt8>

            @inline(__always) func cell(_ i: Int, physical: Int) -> Cell {
                switch physical {
                case 0: return .bool(words[i] != 0)
                case 1, 2: return .int(Int64(bitPattern: words[i]))
                case 3: return .int96(nanosOfDay: Int64(bitPattern: words[i]), julianDay: days[i])
                case 4, 5: return .double(Double(bitPattern: words[i]))
                default: return .bytes(UnsafeBufferPointer(rebasing: heap[starts[i]..<ends[i]]))
                }
            }
        }

        func withView<R>(_ body: (View) throws -> R) rethrows -> R {
            try words.withUnsafeBufferPointer { words in
                try days.withUnsafeBufferPointer { days in
                    try starts.withUnsafeBufferPointer { starts in
                        try ends.withUnsafeBufferPointer { ends in
                            try heap.withUnsafeBufferPointer { heap in
                                try body(View(words: words, days: days, starts: starts, ends: ends, heap: heap))
                            }
                        }
                    }
                }
            }
        }

        /// Value `i` lent to `body`.
        @inline(__always) func lend(_ i: Int, physical: Int, _ body: (Cell) throws -> Void) rethrows {
            try withView { try body($0.cell(i, physical: physical)) }
        }
    }

    /// All values of one flat field in one row group (nulls included, one per row). Loading streams them with
    /// `ColumnReader` instead; this is for callers that want a small group whole.
    public func values(field: Field, rowGroup: Int) throws -> [Value] {
        let reader = try ColumnReader(file: self, field: field, rowGroup: rowGroup)
        var out: [Value] = []
        out.reserveCapacity(reader.count)
        for _ in 0..<reader.count { out.append(try reader.next()) }
        return out
    }

    /// One column chunk of one row group, read page by page: it holds one page's values and the dictionary, never
    /// the column chunk, so memory does not grow with the row group (pyarrow writes 1M rows as one group).
    /// A flat column gives a value per row (`next`); a leaf of a nested field gives its level entries (`nextEntry`).
    public final class ColumnReader {
        let file: ParquetFile
        let node: Node
        let column: String
        let codec: Int
        let physical: Int
        public let maxDefinition: Int
        public let maxRepetition: Int
        /// Level entries in the chunk (rows, for a flat column), and entries handed out so far.
        public let count: Int
        private var handed = 0
        /// The next page header's file offset, and where the chunk ends.
        private var pos: Int64
        private let end: Int64
        private var dictionary = PageValues()
        /// The current page: definition levels (empty when the column has no nulls), repetition levels (empty when
        /// nothing above it repeats) and its present values: its own (`pageValues`), or the dictionary's entries `indices`.
        private var levels: [Int] = []
        private var repetitions: [Int] = []
        private var pageValues = PageValues()
        private var indices: [Int] = []
        private var dictionaryEncoded = false
        private var present: Int { dictionaryEncoded ? indices.count : pageValues.count }
        private var levelIndex = 0, valueIndex = 0, pageRows = 0

        /// A flat field's column.
        public convenience init(file: ParquetFile, field: Field, rowGroup: Int) throws {
            guard let leaf = field.leaf else {
                throw AutoloaderError.badInput(SourceLocation(file: file.name, column: field.name), reason: "Parquet: a nested field has no single column to read")
            }
            try self.init(file: file, leaf: leaf, rowGroup: rowGroup)
        }

        public init(file: ParquetFile, leaf: Int, rowGroup: Int) throws {
            self.file = file
            let l = file.leaves[leaf]
            node = file.nodes[l.node]
            column = l.path.map { file.nodes[$0].name }.joined(separator: ".")
            maxDefinition = l.maxDefinition
            maxRepetition = l.maxRepetition
            let chunk = file.rowGroups[rowGroup].chunks[leaf]
            codec = Int(chunk[4]?.int ?? 0)
            physical = node.physical ?? 6
            let dataOffset = chunk[9]?.int ?? 0
            let dictOffset = chunk[11]?.int ?? 0
            pos = dictOffset > 0 && dictOffset < dataOffset ? dictOffset : dataOffset
            end = pos + (chunk[7]?.int ?? 0)
            count = Int(chunk[5]?.int ?? 0)
            guard pos >= 0, end <= file.reader.size else { throw bad("column chunk runs past the end of the file") }
        }

        func bad(_ why: String) -> AutoloaderError { .badInput(SourceLocation(file: file.name, column: column), reason: "Parquet: \(why)") }

        /// The next row's value (`.null` for a null), owned.
        public func next() throws -> Value {
            var value = Value.null
            try next { value = $0.value }
            return value
        }

        /// The next row's value lent to `body` (a byte array is not copied out of the page).
        public func next(_ body: (Cell) throws -> Void) throws {
            while levelIndex == pageRows {
                guard handed < count else { throw bad("column chunk holds \(handed) values, metadata says \(count)") }
                try readPage()
            }
            handed += 1
            defer { levelIndex += 1 }
            if !levels.isEmpty && levels[levelIndex] < maxDefinition { return try body(.null) }
            try lendNextPresent(body)
        }

        /// The next `n` rows' values lent to `body` with the row's offset (0..<n) and, for a value of a
        /// dictionary-encoded page, its entry in the column chunk's one dictionary (else -1: a caller may convert an
        /// entry once and reuse it). A page at a time: the loop borrows the page's arrays once, where `next` pays for
        /// it per value (loading a big file column by column).
        public func next(rows n: Int, _ body: (Int, Cell, Int) throws -> Void) throws {
            var row = 0
            while row < n {
                while levelIndex == pageRows {
                    guard handed < count else { throw bad("column chunk holds \(handed) values, metadata says \(count)") }
                    try readPage()
                }
                let take = min(n - row, pageRows - levelIndex)
                let values = dictionaryEncoded ? dictionary : pageValues
                let first = levelIndex, maxDefinition = maxDefinition, physical = physical, encoded = dictionaryEncoded
                var index = valueIndex
                let available = present
                defer { valueIndex = index }
                try levels.withUnsafeBufferPointer { levels in
                    try indices.withUnsafeBufferPointer { indices in
                        try values.withView { view in
                            for k in 0..<take {
                                if !levels.isEmpty && levels[first + k] < maxDefinition { try body(row + k, .null, -1); continue }
                                guard index < available else { throw bad("fewer values than levels") }
                                let i = encoded ? indices[index] : index
                                index += 1
                                try body(row + k, view.cell(i, physical: physical), encoded ? i : -1)
                            }
                        }
                    }
                }
                levelIndex += take
                handed += take
                row += take
            }
        }

        @inline(__always) private func lendNextPresent(_ body: (Cell) throws -> Void) throws {
            guard valueIndex < present else { throw bad("fewer values than levels") }
            let i = valueIndex
            valueIndex += 1
            if dictionaryEncoded {
                try dictionary.lend(indices[i], physical: physical, body)
            } else {
                try pageValues.lend(i, physical: physical, body)
            }
        }

        /// The next level entry's repetition level without taking it; nil once the chunk is read.
        public func peekRepetition() throws -> Int? {
            while levelIndex == pageRows {
                guard handed < count else { return nil }
                try readPage()
            }
            return repetitions.isEmpty ? 0 : repetitions[levelIndex]
        }

        /// The next level entry: where a value repeats, how deep it is defined, and the value when fully defined.
        public func nextEntry() throws -> (repetition: Int, definition: Int, value: Value) {
            guard try peekRepetition() != nil else { throw bad("column chunk holds \(handed) values, metadata says more rows") }
            handed += 1
            let r = repetitions.isEmpty ? 0 : repetitions[levelIndex]
            let d = levels.isEmpty ? maxDefinition : levels[levelIndex]
            levelIndex += 1
            if d < maxDefinition { return (r, d, .null) }
            var value = Value.null
            try lendNextPresent { value = $0.value }
            return (r, d, value)
        }

        /// Reads page headers until a data page: a dictionary page fills the dictionary, index pages are skipped.
        private func readPage() throws {
            while true {
                guard pos < end else { throw bad("column chunk holds \(handed) values, metadata says \(count)") }
                // Headers are small but carry statistics of any size: read a window, widen it when it was short.
                var window = min(Int(end - pos), 1024)
                var header: ThriftValue?
                var headerLength = 0
                while header == nil {
                    let bytes = try file.reader.read(at: pos, count: window)
                    do {
                        header = try bytes.withUnsafeBytes { raw in
                            var d = CompactDecoder(raw, at: 0)
                            let h = try d.readStruct()
                            headerLength = d.pos
                            return h
                        }
                    } catch {
                        guard window < Int(end - pos) else { throw bad("bad page header (\(error))") }
                        window = min(Int(end - pos), window * 4)
                    }
                }
                guard let header else { throw bad("bad page header") }
                let type = header[1]?.int ?? -1
                let uncompressedSize = Int(header[2]?.int ?? 0)
                let compressedSize = Int(header[3]?.int ?? 0)
                let start = pos + Int64(headerLength)
                guard compressedSize >= 0, uncompressedSize >= 0, start + Int64(compressedSize) <= end else { throw bad("page runs past its column chunk") }
                pos = start + Int64(compressedSize)
                switch type {
                case 2:  // dictionary page
                    let page = try file.reader.read(at: start, count: compressedSize)
                    let data = try file.decompress(page, codec: codec, size: uncompressedSize)
                    let n = Int(header[7]?[1]?.int ?? 0)
                    guard n >= 0 else { throw bad("dictionary page with \(n) values") }
                    dictionary.removeAll()
                    try dictionary.decodePlain(data, count: n, physical: physical, typeLength: node.typeLength)
                case 0, 3:
                    let page = try file.reader.read(at: start, count: compressedSize)
                    try decodeDataPage(page, header: header, v2: type == 3, uncompressedSize: uncompressedSize)
                    return
                default:
                    continue  // index pages
                }
            }
        }

        private func decodeDataPage(_ page: [UInt8], header: ThriftValue, v2: Bool, uncompressedSize: Int) throws {
            let h = v2 ? header[8] : header[5]
            let numValues = Int(h?[1]?.int ?? 0)
            let encoding = Int(h?[v2 ? 4 : 2]?.int ?? 0)
            let nullable = maxDefinition > 0, repeated = maxRepetition > 0
            let defWidth = Self.bitWidth(maxDefinition), repWidth = Self.bitWidth(maxRepetition)
            var valuesBytes: [UInt8]
            if v2 {
                let defLength = Int(h?[5]?.int ?? 0), repLength = Int(h?[6]?.int ?? 0)
                guard defLength >= 0, repLength >= 0, repLength + defLength <= page.count else { throw bad("levels longer than the page") }
                repetitions = repeated ? try RLEHybrid.decode(Array(page[0..<repLength]), bitWidth: repWidth, count: numValues) : []
                levels = nullable ? try RLEHybrid.decode(Array(page[repLength..<(repLength + defLength)]), bitWidth: defWidth, count: numValues) : []
                let rest = Array(page[(repLength + defLength)...])
                let compressed = h?[7]?.bool ?? true
                valuesBytes = compressed ? try file.decompress(rest, codec: codec, size: uncompressedSize - repLength - defLength) : rest
            } else {
                let data = try file.decompress(page, codec: codec, size: uncompressedSize)
                var offset = 0
                // v1: repetition levels, then definition levels, each behind its 4-byte length.
                func levelRun(width: Int) throws -> [Int] {
                    guard data.count >= offset + 4 else { throw bad("page too short for its levels") }
                    let length = Int(data[offset]) | Int(data[offset + 1]) << 8 | Int(data[offset + 2]) << 16 | Int(data[offset + 3]) << 24
                    guard offset + 4 + length <= data.count else { throw bad("levels longer than the page") }
                    defer { offset += 4 + length }
                    return try RLEHybrid.decode(Array(data[(offset + 4)..<(offset + 4 + length)]), bitWidth: width, count: numValues)
                }
                repetitions = repeated ? try levelRun(width: repWidth) : []
                levels = nullable ? try levelRun(width: defWidth) : []
                valuesBytes = offset == 0 ? data : Array(data[offset...])
            }
            let present = nullable ? levels.reduce(0) { $0 + ($1 == maxDefinition ? 1 : 0) } : numValues
            pageValues.removeAll()
            indices.removeAll(keepingCapacity: true)
            dictionaryEncoded = false
            switch encoding {
            case 0:
                try pageValues.decodePlain(valuesBytes, count: present, physical: physical, typeLength: node.typeLength)
            case 2, 8:
                dictionaryEncoded = true
                guard let width = valuesBytes.first else { if present == 0 { break }; throw bad("empty dictionary-encoded page") }
                indices = try RLEHybrid.decode(Array(valuesBytes.dropFirst()), bitWidth: Int(width), count: present)
                for i in indices where i >= dictionary.count { throw bad("dictionary index \(i) out of range") }
            case 3 where physical == 0:  // RLE booleans (data page v2 writes them so): a 4-byte length, then the runs
                guard valuesBytes.count >= 4 else { if present == 0 { break }; throw bad("RLE boolean page too short") }
                let length = Int(valuesBytes[0]) | Int(valuesBytes[1]) << 8 | Int(valuesBytes[2]) << 16 | Int(valuesBytes[3]) << 24
                guard 4 + length <= valuesBytes.count else { throw bad("RLE boolean runs longer than the page") }
                for b in try RLEHybrid.decode(Array(valuesBytes[4..<(4 + length)]), bitWidth: 1, count: present) { pageValues.append(.bool(b != 0)) }
            case 5:  // DELTA_BINARY_PACKED (INT32, INT64)
                var d = DeltaDecoder(valuesBytes)
                for v in try d.values(present) { pageValues.append(.int(physical == 1 ? Int64(Int32(truncatingIfNeeded: v)) : v)) }
            case 6:  // DELTA_LENGTH_BYTE_ARRAY
                var d = DeltaDecoder(valuesBytes)
                for v in try d.lengthPrefixedBytes(present) { pageValues.append(.bytes(v)) }
            case 7:  // DELTA_BYTE_ARRAY: each value shares a prefix with the one before
                var d = DeltaDecoder(valuesBytes)
                let prefixes = try d.values(present)
                let suffixes = try d.lengthPrefixedBytes(present)
                var previous: [UInt8] = []
                for (p, suffix) in zip(prefixes, suffixes) {
                    guard p >= 0, Int(p) <= previous.count else { throw bad("DELTA_BYTE_ARRAY prefix longer than the value before") }
                    previous = Array(previous[0..<Int(p)]) + suffix
                    pageValues.append(.bytes(previous))
                }
            case 9:  // BYTE_STREAM_SPLIT: byte k of every value, then byte k+1 of every value…
                let width = physical == 1 || physical == 4 ? 4 : physical == 2 || physical == 5 ? 8 : node.typeLength
                guard width > 0, valuesBytes.count >= width * present else { throw bad("BYTE_STREAM_SPLIT page shorter than its values") }
                // Put each value's bytes back together: then they are PLAIN.
                var plain = [UInt8](repeating: 0, count: width * present)
                for i in 0..<present {
                    for k in 0..<width { plain[i * width + k] = valuesBytes[k * present + i] }
                }
                try pageValues.decodePlain(plain, count: present, physical: physical, typeLength: width)
            default:
                throw bad("encoding \(encoding) is not supported (PLAIN, dictionary, RLE booleans, DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY and BYTE_STREAM_SPLIT are)")
            }
            pageRows = numValues
            levelIndex = 0
            valueIndex = 0
        }

        static func bitWidth(_ maxLevel: Int) -> Int { maxLevel == 0 ? 0 : Int.bitWidth - maxLevel.leadingZeroBitCount }
    }

    func decompress(_ page: [UInt8], codec: Int, size: Int) throws -> [UInt8] {
        try Self.decompress(page, codec: codec, size: size, name: name)
    }

    /// A page's bytes under its column chunk's codec; `size` is the uncompressed size its header states.
    static func decompress(_ page: [UInt8], codec: Int, size: Int, name: String) throws -> [UInt8] {
        switch codec {
        case 0: return page
        case 1: return try Snappy.decompress(page)
        case 2:
            return try readAll(GzipReader(BytesReader(page), name: name), sizeHint: size)
        case 6:
            var out = [UInt8](repeating: 0, count: max(size, 0))
            let n = out.withUnsafeMutableBytes { o in page.withUnsafeBytes { i in ZSTD_decompress(o.baseAddress, o.count, i.baseAddress, i.count) } }
            guard ZSTD_isError(n) == 0 else { throw AutoloaderError.badInput(SourceLocation(file: name), reason: "Parquet: corrupt zstd page") }
            out.removeSubrange(n...)
            return out
        case 7:
            return try lz4Block(page, size: size, name: name)
        case 5:
            // "LZ4" as Hadoop frames it: blocks of [uncompressed size][compressed size] (big-endian) and LZ4 data.
            // Some writers put a bare block under this codec: read it so when the framing does not add up.
            return try hadoopLZ4(page, size: size, name: name) ?? lz4Block(page, size: size, name: name)
        case 4:
            var out = [UInt8](repeating: 0, count: max(size, 1))
            var produced = out.count
            let status = out.withUnsafeMutableBufferPointer { o in
                page.withUnsafeBufferPointer { i in BrotliDecoderDecompress(i.count, i.baseAddress, &produced, o.baseAddress) }
            }
            guard status == BROTLI_DECODER_RESULT_SUCCESS, produced == size else {
                throw AutoloaderError.badInput(SourceLocation(file: name), reason: "Parquet: corrupt Brotli page")
            }
            out.removeSubrange(produced...)
            return out
        default:
            throw AutoloaderError.badInput(SourceLocation(file: name), reason: "Parquet codec \(Self.codecNames[codec] ?? "\(codec)") is not supported (uncompressed, snappy, gzip, zstd, lz4, lz4_raw and brotli are)")
        }
    }

    /// One LZ4 block (no frame) that decompresses to exactly `size` bytes.
    static func lz4Block(_ page: [UInt8], size: Int, name: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: max(size, 1))
        let n = out.withUnsafeMutableBufferPointer { o in
            page.withUnsafeBufferPointer { i in
                i.withMemoryRebound(to: CChar.self) { src in
                    o.withMemoryRebound(to: CChar.self) { dst in LZ4_decompress_safe(src.baseAddress, dst.baseAddress, Int32(src.count), Int32(dst.count)) }
                }
            }
        }
        guard n == size else { throw AutoloaderError.badInput(SourceLocation(file: name), reason: "Parquet: corrupt LZ4 page") }
        out.removeSubrange(Int(n)...)
        return out
    }

    /// Hadoop's LZ4 framing, or nil when the page is not framed so.
    static func hadoopLZ4(_ page: [UInt8], size: Int, name: String) throws -> [UInt8]? {
        func be32(_ at: Int) -> Int { Int(page[at]) << 24 | Int(page[at + 1]) << 16 | Int(page[at + 2]) << 8 | Int(page[at + 3]) }
        var out: [UInt8] = []
        out.reserveCapacity(size)
        var pos = 0
        while pos < page.count {
            guard pos + 8 <= page.count else { return nil }
            let expected = be32(pos), compressed = be32(pos + 4)
            pos += 8
            guard expected <= size - out.count, compressed <= page.count - pos else { return nil }
            // A block that does not decode to its stated size means the page is not Hadoop-framed: nil, and the caller
            // reads it as one bare block (which reports a corrupt page itself).
            do { out += try lz4Block(Array(page[pos..<(pos + compressed)]), size: expected, name: name) } catch { return nil }
            pos += compressed
        }
        return out.count == size ? out : nil
    }
}

/// Parquet's DELTA_BINARY_PACKED integers (and the lengths and prefixes of the DELTA byte-array encodings): a
/// header (block size, miniblocks per block, count, first value), then blocks of a minimum delta, one bit width
/// per miniblock, and the miniblocks' deltas bit-packed little-endian. Arithmetic wraps, as writers' does.
struct DeltaDecoder {
    let bytes: [UInt8]
    var pos = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func uleb() throws -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard pos < bytes.count, shift < 64 else { throw ThriftError(description: "Parquet: DELTA header runs past its page") }
            let b = bytes[pos]
            pos += 1
            v |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return v }
            shift += 7
        }
    }

    mutating func zigzag() throws -> Int64 {
        let u = try uleb()
        return Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1)
    }

    /// `expected` values (the page's present values); leaves `pos` after the last miniblock that holds any.
    mutating func values(_ expected: Int) throws -> [Int64] {
        let blockSize = Int(try uleb()), miniblocks = Int(try uleb()), total = Int(try uleb())
        var last = try zigzag()
        guard blockSize > 0, blockSize % 128 == 0, miniblocks > 0, blockSize % miniblocks == 0, (blockSize / miniblocks) % 32 == 0, total >= 0 else {
            throw ThriftError(description: "Parquet: bad DELTA_BINARY_PACKED header")
        }
        guard total == expected else { throw ThriftError(description: "Parquet: DELTA_BINARY_PACKED holds \(total) values, the page \(expected)") }
        var out: [Int64] = []
        out.reserveCapacity(total)
        if total > 0 { out.append(last) }
        let perMiniblock = blockSize / miniblocks
        while out.count < total {
            let minDelta = try zigzag()
            guard pos + miniblocks <= bytes.count else { throw ThriftError(description: "Parquet: DELTA block runs past its page") }
            let widths = Array(bytes[pos..<(pos + miniblocks)])
            pos += miniblocks
            for width in widths where out.count < total {
                let w = Int(width)
                guard w <= 64 else { throw ThriftError(description: "Parquet: DELTA bit width \(w)") }
                let length = perMiniblock * w / 8
                guard pos + length <= bytes.count else { throw ThriftError(description: "Parquet: DELTA miniblock runs past its page") }
                var bitPos = pos * 8
                for _ in 0..<perMiniblock {
                    var delta: UInt64 = 0
                    var got = 0
                    while got < w {
                        let byte = UInt64(bytes[bitPos >> 3]) >> UInt64(bitPos & 7)
                        let take = min(w - got, 8 - (bitPos & 7))
                        delta |= (byte & ((1 << UInt64(take)) - 1)) << UInt64(got)
                        got += take
                        bitPos += take
                    }
                    if out.count < total {
                        last = last &+ minDelta &+ Int64(bitPattern: delta)
                        out.append(last)
                    }
                }
                pos += length
            }
        }
        return out
    }

    /// DELTA_LENGTH_BYTE_ARRAY: the lengths (DELTA_BINARY_PACKED), then the bytes one after another.
    mutating func lengthPrefixedBytes(_ expected: Int) throws -> [[UInt8]] {
        let lengths = try values(expected)
        var out: [[UInt8]] = []
        out.reserveCapacity(lengths.count)
        for n in lengths {
            guard n >= 0, pos + Int(n) <= bytes.count else { throw ThriftError(description: "Parquet: byte array runs past its page") }
            out.append(Array(bytes[pos..<(pos + Int(n))]))
            pos += Int(n)
        }
        return out
    }
}

/// Parquet's RLE / bit-packed hybrid encoding (definition levels, dictionary indices).
enum RLEHybrid {
    static func decode(_ bytes: [UInt8], bitWidth: Int, count: Int) throws -> [Int] {
        guard bitWidth <= 32 else { throw ThriftError(description: "Parquet: bit width \(bitWidth)") }
        var out: [Int] = []
        out.reserveCapacity(count)
        var pos = 0
        let byteWidth = (bitWidth + 7) / 8
        while out.count < count {
            var header = 0, shift = 0
            while true {
                guard pos < bytes.count, shift < 35 else { throw ThriftError(description: "Parquet: levels end early") }
                let b = bytes[pos]; pos += 1
                header |= Int(b & 0x7F) << shift
                if b & 0x80 == 0 { break }
                shift += 7
            }
            if header & 1 == 0 {
                let run = header >> 1
                guard pos + byteWidth <= bytes.count else { throw ThriftError(description: "Parquet: RLE run past the end") }
                var v = 0
                for i in 0..<byteWidth { v |= Int(bytes[pos + i]) << (8 * i) }
                pos += byteWidth
                out.append(contentsOf: repeatElement(v, count: min(run, count - out.count)))
            } else {
                let values = (header >> 1) * 8
                let needed = (values * bitWidth + 7) / 8
                guard pos + needed <= bytes.count || out.count + values > count else { throw ThriftError(description: "Parquet: bit-packed run past the end") }
                // A value is at most 32 bits at any bit offset: one 64-bit little-endian load holds it. Near the end
                // the word is assembled from the bytes there are (a last run may stop short; missing bits are 0).
                let take = min(values, count - out.count)
                let mask = UInt64(1) << UInt64(bitWidth) &- 1
                bytes.withUnsafeBytes { raw in
                    for i in 0..<take {
                        let bit = i * bitWidth
                        let at = pos + bit >> 3
                        var word: UInt64 = 0
                        if at + 8 <= raw.count {
                            word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self))
                        } else {
                            for j in 0..<max(0, raw.count - at) { word |= UInt64(raw[at + j]) << UInt64(8 * j) }
                        }
                        out.append(Int(truncatingIfNeeded: word >> UInt64(bit & 7) & mask))
                    }
                }
                pos += needed
            }
        }
        return out
    }
}
