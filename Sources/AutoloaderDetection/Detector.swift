import AutoloaderCore
import AutoloaderFormats

/// What detection decided about one file, and why. Codable: `autoloader detect --json` prints it.
public struct Detection: Codable, Sendable {
    public struct DetectedColumn: Codable, Sendable, Equatable {
        public var name: String
        public var type: String
        public var precision: Int?
        public var scale: Int?
        public var format: String?
        public var maxLength: Int?
        public var maxBytes: Int?
        public var nullable: Bool
        public var nullTokens: [String]
        public var sample: String?
    }
    public var file: String
    public var format: FileFormat
    public var compression: Compression
    public var encoding: String?
    public var delimiter: String?
    public var quote: String?
    public var escape: String?
    public var header: Bool?
    public var skipLines: Int?
    public var lineEnding: String?
    public var trailingDelimiter: Bool?
    public var quoteObserved: Bool?
    /// JSON only: ndjson, array or object.
    public var jsonLayout: String?
    /// JSON only: the records are the array at this path of keys (`{"data": [...]}` → ["data"]), detected or given.
    public var jsonPath: [String]?
    /// Parquet only: the column chunks' codecs (snappy, zstd, …).
    public var parquetCodec: String?
    /// Avro only: the blocks' codec (null, deflate, snappy, zstandard, bzip2).
    public var avroCodec: String?
    /// Data records seen in the sample; equals the file's rows when `sampleComplete`.
    public var rows: Int?
    public var sampleComplete: Bool?
    public var badRows: [Int]?
    public var columns: [DetectedColumn]?
    public var delimiterScores: [DialectSniffer.Candidate]?
    public var error: String?
    public var errorLine: Int?

    /// The parts the loader needs, when the file is loadable.
    public var schema: TableSchema?
    public var dialect: Dialect?
}

public struct DetectionOptions: Sendable {
    /// The sample is bounded in bytes and rows, so a 10 GB file costs what a 10 MB one does.
    public var sampleBytes = 8 << 20
    public var sampleRows = 100_000
    public var forcedDelimiter: UInt8?
    public var forcedHeader: Bool?
    /// JSON: where the records are (the table's json_path); [] for the top level, nil to detect.
    public var forcedJSONPath: [String]?
    public init() {}
}

/// The detection orchestrator: one short step after another, each result passed forward.
public enum Detector {
    public static func detect(path: String, options: DetectionOptions = .init()) -> Detection {
        do {
            return try detect(reader: FileByteReader(path: path), name: path, options: options)
        } catch {
            return Detection(file: path, format: .invalid, compression: .none, error: "\(error)")
        }
    }

    /// Step 1: undo compression (found from magic bytes), then detect on a bounded sample of the content.
    public static func detect(reader: any ByteReader, name: String, options: DetectionOptions = .init()) throws -> Detection {
        if let file = reader as? (any RandomAccessReader), try isParquet(file) {
            return ParquetDetection.detect(reader: file, name: name, options: options)
        }
        let (decoded, compression) = try Decompression.open(reader, name: name)
        let raw: [UInt8], complete: Bool
        do {
            (raw, complete) = try readPrefix(decoded, maxBytes: options.sampleBytes)
        } catch let error as AutoloaderError where AutoloaderError.isTransient(error) {
            throw error  // the source's fault of the moment (throttling), not the file's
        } catch {
            return Detection(file: name, format: .invalid, compression: compression, error: "\(error)")
        }
        return detect(sample: raw, complete: complete, compression: compression, name: name, options: options)
    }

    /// An error as `Detection.error`, which the loader locates itself: the file is named once, not twice.
    static func reason(_ error: any Error) -> String {
        guard case let .badInput(location, reason)? = error as? AutoloaderError else { return "\(error)" }
        return location.column.map { "column \($0): \(reason)" } ?? reason
    }

    /// Parquet is read by offset (its schema is in the footer), so it is told apart before any streaming.
    /// Throws when the first bytes cannot be read (a throttled source): guessing "not Parquet" then would
    /// read a Parquet file as text.
    public static func isParquet(_ file: any RandomAccessReader) throws -> Bool {
        try file.size >= 12 && file.read(at: 0, count: 4) == [0x50, 0x41, 0x52, 0x31]
    }

    /// Detection over a (decompressed) sample already read: the loader reads it once and replays it into the parser.
    public static func detect(sample raw: [UInt8], complete: Bool, compression: Compression, name: String,
                              options: DetectionOptions = .init()) -> Detection {
        if AvroDetection.isAvro(raw) {
            return AvroDetection.detect(sample: raw, complete: complete, compression: compression, name: name, options: options)
        }
        var result = Detection(file: name, format: .invalid, compression: compression)
        // UTF-16 is known by its byte-order mark; everything after works on the UTF-8 transcoding.
        var utf16: Dialect.Encoding?
        var raw = raw
        if raw.count >= 2, (raw[0] == 0xFF && raw[1] == 0xFE) || (raw[0] == 0xFE && raw[1] == 0xFF) {
            utf16 = raw[0] == 0xFF ? .utf16LE : .utf16BE
            raw = UTF16ToUTF8Reader.transcode(raw, littleEndian: utf16 == .utf16LE)
        } else if let order = EncodingSniffer.utf16WithoutBOM(raw) {
            // No byte-order mark, but the NULs of ASCII text in UTF-16 on one side of every pair.
            utf16 = order
            raw = UTF16ToUTF8Reader.transcode(raw, littleEndian: order == .utf16LE)
        }
        let (format, reason) = FormatSniffer.format(Array(raw.prefix(16384)))
        result.format = format
        if let reason {
            result.error = reason
            return result
        }
        guard format != .parquet else {
            result.error = "parquet is recognised but not loadable yet"
            return result
        }
        var encoding = EncodingSniffer.sniff(raw, complete: complete)
        let sample = EncodingSniffer.decode(raw, as: encoding)
        if let utf16 { encoding = utf16 }
        result.encoding = encoding.rawValue
        if format == .json {
            guard encoding.isUnicode else {
                result.format = .invalid
                result.error = "JSON must be UTF-8; this file is not valid UTF-8"
                return result
            }
            if utf16 != nil {
                result.format = .invalid
                result.error = "UTF-16 JSON is not supported; JSON must be UTF-8"
                return result
            }
            JSONDetection.detect(sample: raw, complete: complete, into: &result, options: options)
            return result
        }
        let sniffed = DialectSniffer.sniff(sample, complete: complete, encoding: encoding, forcedDelimiter: options.forcedDelimiter)
        var dialect = sniffed.dialect
        result.delimiterScores = sniffed.candidates
        result.quoteObserved = sniffed.quoteObserved

        // Step 4: split the sample into the header candidate, data rows and bad rows.
        let columns = sniffed.columns
        if columns > Limits.maxColumns {
            result.format = .invalid
            result.error = "\(columns) fields per record with delimiter \(String(UnicodeScalar(dialect.delimiter)).debugDescription): more than a table can hold (\(Limits.maxColumns)); is the delimiter right, or are the line ends missing?"
            result.errorLine = 1 + dialect.skipLines
            return result
        }
        var firstRow: [[UInt8]] = []
        var body = [ColumnStats](repeating: ColumnStats(), count: columns)
        var headerStats = [ColumnStats](repeating: ColumnStats(), count: columns)
        var badLines: [Int] = []
        var records = 0
        var bodyRows = 0
        sample.withUnsafeBufferPointer { buf in
            guard let base = buf.baseAddress else { return }
            var tokenizer = CSVTokenizer(dialect: dialect)
            var pos = 0
            var line = 1
            var scratch = [UInt8](repeating: 0, count: 1024)
            while pos < buf.count && bodyRows < options.sampleRows {
                guard let r = tokenizer.parseRecord(base, from: pos, to: buf.count, atEOF: complete) else { break }
                defer { line += 1 + r.embeddedNewlines; pos = r.next }
                if line <= dialect.skipLines { continue }
                var n = tokenizer.fieldCount
                if n == 1 && tokenizer.starts[0] == tokenizer.ends[0] && tokenizer.flags[0] == 0 { continue }
                if dialect.trailingDelimiter, n == columns + 1, tokenizer.starts[n - 1] == tokenizer.ends[n - 1] { n -= 1 }
                if records == 0, sniffed.headerExtraField, n == columns + 1 { n -= 1 }  // the data has no column for its last name
                records += 1
                if n != columns {
                    if records == 1 { firstRow = [] }
                    badLines.append(line)
                    continue
                }
                for k in 0..<n {
                    let length = tokenizer.ends[k] - tokenizer.starts[k]
                    if scratch.count < length { scratch = [UInt8](repeating: 0, count: length * 2) }
                    let field: UnsafeBufferPointer<UInt8> = scratch.withUnsafeMutableBufferPointer { s in
                        if tokenizer.flags[k] & CSVTokenizer.needsUnescapeFlag != 0 {
                            return UnsafeBufferPointer(start: s.baseAddress!, count: tokenizer.unescape(base, field: k, into: s.baseAddress!))
                        }
                        return UnsafeBufferPointer(start: base + tokenizer.starts[k], count: length)
                    }
                    if records == 1 {
                        firstRow.append(Array(field))
                        headerStats[k].add(field)
                    } else {
                        body[k].add(field)
                    }
                }
                if records > 1 { bodyRows += 1 }
            }
        }

        // Step 5: header, by comparing the first row with the body's types.
        let header: Bool
        if let forced = options.forcedHeader {
            header = forced
        } else if firstRow.isEmpty {
            header = false
        } else if sniffed.headerExtraField {
            header = true  // chosen as a header by its shape (one field more than the data)
        } else if bodyRows == 0 {
            header = true  // one line: a header with no rows
        } else {
            var typedColumns = 0
            var misfits = 0
            for k in 0..<columns where body[k].values > 0 && body[k].resolve().kind != .varchar {
                typedColumns += 1
                // A name is text: a first-row value that is itself a number or a date (1.25 over integers) is a
                // data row's wider value, not a header's name.
                if !firstRow[k].withUnsafeBufferPointer({ body[k].accepts($0) }), headerStats[k].values == 0 || headerStats[k].resolve().kind == .varchar {
                    misfits += 1
                }
            }
            header = typedColumns == 0 ? true : misfits > 0
        }
        dialect.header = header
        var stats = body
        if !header && !firstRow.isEmpty {
            for k in 0..<columns { firstRow[k].withUnsafeBufferPointer { stats[k].add($0) } }
        }
        let names: [String] = header && !firstRow.isEmpty
            ? firstRow.map { String(decoding: $0, as: UTF8.self) }
            : (0..<columns).map { "column\($0 + 1)" }

        // Step 6: types, from every sampled value.
        var detected: [Detection.DetectedColumn] = []
        var schemaColumns: [Column] = []
        for k in 0..<columns {
            let type = stats[k].resolve()
            detected.append(.init(name: names[k], type: type.kind.rawValue, precision: type.precision, scale: type.scale,
                                  format: type.format, maxLength: type.maxLength, maxBytes: type.maxBytes,
                                  nullable: stats[k].nullable, nullTokens: stats[k].nullTokens, sample: stats[k].sample))
            schemaColumns.append(Column(name: names[k], type: type, nullable: stats[k].nullable, nullTokens: stats[k].nullTokens))
        }

        result.delimiter = dialect.delimiterName == "\\t" ? "\t" : dialect.delimiterName
        result.quote = dialect.quote.map { String(UnicodeScalar($0)) }
        result.escape = dialect.escape.map { String(UnicodeScalar($0)) }
        result.header = header
        result.skipLines = dialect.skipLines
        result.lineEnding = dialect.lineEnding.rawValue
        result.trailingDelimiter = dialect.trailingDelimiter
        result.rows = header ? bodyRows : bodyRows + (firstRow.isEmpty ? 0 : 1)
        result.sampleComplete = complete && bodyRows < options.sampleRows
        result.badRows = badLines
        result.columns = detected
        result.schema = TableSchema(columns: schemaColumns)
        result.dialect = dialect
        return result
    }
}
