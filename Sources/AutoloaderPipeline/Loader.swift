import AutoloaderCore
import Foundation
import AutoloaderDetection
import AutoloaderFormats

/// What one load did, for the service's log and `autoloader load`'s summary.
public struct LoadSummary: Sendable {
    public var loadID: Int64?
    public var table: String
    public var files: [(key: String, state: FileState, rows: Int64, error: String?)] = []
    public var rowsLoaded: Int64 = 0
    public var rowsRejected: Int64 = 0
    public var status: LoadStatus = .finished
    public var error: String?
    public init(loadID: Int64? = nil, table: String) {
        self.loadID = loadID
        self.table = table
    }
}

/// Loads one batch of a table's pending files in one warehouse transaction. Each file is a savepoint:
/// it loads whole, or (abort_file) not at all, and its catalog mark commits with its rows.
public struct Loader {
    public var store: any ObjectStore
    public var warehouse: any Warehouse
    public var catalog: any Catalog
    public var rowsPerInsert = 8192
    /// Called with the bytes read so far in the current file (progress bars).
    public var progress: (@Sendable (Int64) -> Void)?
    /// Checked between batches of rows: true rolls the load back at once (Ctrl-C during `autoloader load`).
    public var shouldStop: (@Sendable () -> Bool)?

    public init(store: any ObjectStore, warehouse: any Warehouse, catalog: any Catalog) {
        self.store = store
        self.warehouse = warehouse
        self.catalog = catalog
    }

    struct FileOutcome {
        var state: FileState
        var rows: Int64 = 0
        var rejected: Int64 = 0
        var sha256: String?
        var duplicateOf: Int64?
        var error: String?
        /// The rows of the key's earlier version were deleted for this one (overwrite policy `replace`).
        var replaces = false
    }

    public func load(table: String, files: [FileRecord]) throws -> LoadSummary {
        guard let record = try catalog.table(named: table) else { throw AutoloaderError.unknownTable(table) }
        var summary = LoadSummary(table: table)
        let statement = "INSERT INTO \(SQLIdentifier.quoted(table)) FROM \(files.count) file(s): CSV parsed and converted by autoloader"
        let tx = try warehouse.beginLoad(table: table, files: files, statement: statement)
        summary.loadID = tx.loadID
        var schema = record.schema
        var dialect = record.dialect
        var partitionColumns = record.partitionColumns
        var checkpoint: Int64?
        var statements: [String] = []  // what ran, for the load log: one line per distinct insert
        do {
            for file in files {
                try tx.beginFile(file)
                // What the table is before this file: a file whose savepoint rolls back (failed, duplicate, held) undoes
                // its DDL too, so the next file must not take the table as that file left it.
                let before = (schema, dialect, partitionColumns)
                var outcome: FileOutcome
                do {
                    outcome = try loadFile(file, table: table, options: record.options, tx: tx, schema: &schema,
                                           dialect: &dialect, partitionColumns: &partitionColumns, statements: &statements)
                } catch let error as AutoloaderError {
                    // A fault of the moment (source throttled, connection lost, disk full) is not the file's: the
                    // whole load rolls back and is retried with backoff. Only the file's own defect fails it.
                    if AutoloaderError.isTransient(error) { throw error }
                    outcome = FileOutcome(state: .failed, error: error.description)
                }
                try tx.endFile(file, state: outcome.state, sha256: outcome.sha256, rows: outcome.state.keepsRows ? outcome.rows : 0,
                               duplicateOf: outcome.duplicateOf, error: outcome.error)
                if !outcome.state.keepsRows { (schema, dialect, partitionColumns) = before }
                // The table holds the current content of every current file. A new version replaces its key's rows
                // even when its content is a duplicate of another file's (the file's savepoint, rolled back for a
                // duplicate, undid the delete: do it again), and files that were duplicates of the replaced
                // version now stand for nothing, so they go back to pending and load their own rows.
                if outcome.replaces, outcome.state.keepsRows || outcome.state == .duplicate {
                    if outcome.state == .duplicate { _ = try tx.deleteRows(table: table, key: file.key) }
                    try tx.log.replaced(key: file.key, by: file)
                }
                if outcome.state.keepsRows {
                    checkpoint = max(checkpoint ?? file.modifiedNanos, file.modifiedNanos)
                    summary.rowsLoaded += outcome.rows
                    summary.rowsRejected += outcome.rejected
                }
                summary.files.append((file.key, outcome.state, outcome.rows, outcome.error))
            }
            let failed = summary.files.filter { $0.state == .failed }
            summary.status = failed.isEmpty ? .finished : .failed
            summary.error = failed.isEmpty ? nil : failed.map { $0.error ?? $0.key }.joined(separator: "; ")
            if !statements.isEmpty { try tx.recordStatement(statements.joined(separator: "\n")) }
            try tx.commit(status: summary.status, rowsLoaded: summary.rowsLoaded, rowsRejected: summary.rowsRejected,
                          error: summary.error, schema: schema, dialect: dialect, partitionColumns: partitionColumns, checkpointNanos: checkpoint)
        } catch {
            tx.rollback(reason: "\(error)", transient: AutoloaderError.isTransient(error))
            throw error
        }
        return summary
    }

    /// Files up to this size (decompressed), read whole by detection, are parsed on the loading thread.
    static let inlineBytes = 1 << 20

    func loadFile(_ file: FileRecord, table: String, options: TableOptions, tx: any LoadTransaction,
                  schema: inout TableSchema?, dialect: inout Dialect?, partitionColumns: inout [String],
                  statements: inout [String]) throws -> FileOutcome {
        // The key's loaded earlier version (an overwrite), unless this is a reload of the same version.
        let previous = file.rows == nil ? try catalog.loadedVersion(key: file.key, excludingID: file.id) : nil
        // A longer version that begins with the earlier version's bytes is the same file, still being written when
        // the earlier one was taken: its rows are replaced whatever the overwrite policy, so no partial rows stay.
        let grew = options.overwrite == .replace ? false : try previous.map { try startsWith(file, $0) } ?? false
        if options.overwrite == .ignore, previous != nil, !grew {
            return FileOutcome(state: .skipped, error: "overwritten, and the table's overwrite policy is 'ignore'")
        }
        // An empty file (a placeholder, a job that wrote nothing) is loaded with no rows, not failed; a later
        // version with content loads as usual.
        if file.size == 0, previous == nil {
            var nothing = SHA256()
            return FileOutcome(state: .loaded, sha256: nothing.finalizeHex(), error: Self.emptyFile)
        }
        let raw = try store.open(key: file.key)
        let hashing = HashingReader(raw)
        var detectOptions = DetectionOptions()
        detectOptions.forcedDelimiter = options.delimiter?.utf8.first
        detectOptions.forcedHeader = options.header
        detectOptions.forcedJSONPath = options.jsonPathKeys
        var parquet: ParquetFile?
        let detection: Detection
        var sample: [UInt8] = []
        var wholeInSample = false  // the sample holds the whole (decompressed) file
        var decoded: any ByteReader = hashing
        if let randomAccess = raw as? (any RandomAccessReader), try Detector.isParquet(randomAccess) {
            detection = ParquetDetection.detect(reader: randomAccess, name: file.key, options: detectOptions)
            if detection.error == nil {
                do {
                    parquet = try ParquetFile(reader: randomAccess, name: file.key)
                } catch let error where !AutoloaderError.isTransient(error) {
                    return FileOutcome(state: .failed, error: "\(error)")
                }
            }
        } else {
            let complete: Bool, compression: Compression
            do {
                (decoded, compression) = try Decompression.open(hashing, name: file.key)
                (sample, complete) = try readPrefix(decoded, maxBytes: detectOptions.sampleBytes)
            } catch let error as AutoloaderError where !AutoloaderError.isTransient(error) {
                return FileOutcome(state: .failed, error: error.description)
            }
            wholeInSample = complete
            detection = Detector.detect(sample: sample, complete: complete, compression: compression, name: file.key, options: detectOptions)
        }
        guard let detectedSchema = detection.schema, detection.error == nil else {
            let sha = try hashing.finish()
            let location = SourceLocation(file: file.key, line: detection.errorLine)
            return FileOutcome(state: .failed, sha256: sha, error: AutoloaderError.badInput(location, reason: detection.error ?? "not loadable").description)
        }

        // A table the catalog does not know yet may exist (users create the seed's tables themselves): the files'
        // columns map onto it.
        var adopted = false
        if schema == nil, let existing = try tx.existingTable(table) {
            schema = existing
            adopted = true
        }
        var fileSchema = detectedSchema
        let sourceNames = fileSchema.columns.map(\.name)  // as the file spells them (JSON is read by key)
        var partitions = file.partitions
        for rename in ColumnNames.fit(columns: &fileSchema.columns, partitions: &partitions, maxBytes: warehouse.capabilities.maxIdentifierBytes,
                                      existing: (schema?.columns.map(\.name) ?? []) + partitionColumns) {
            try tx.recordError(LoadErrorRecord(loadID: tx.loadID, file: file.key, line: nil, column: rename.from, rawText: "", reason: rename.reason))
        }
        fileSchema = options.applyingHints(to: fileSchema)  // hints win over detection
        let fileDialect = detection.dialect ?? Dialect()
        // Columns match by name when the file names them (a header, JSON keys), else by position.
        let named = detection.format != .csv || fileDialect.header
        // The table's schema: the first file's, then grown by later files' new columns (add_columns), or held
        // as it is (rescue, freeze) or defended (fail) once the table exists.
        let plan = SchemaEvolution.plan(table: schema, file: fileSchema, named: named, policy: options.evolution,
                                        spell: warehouse.capabilities.typeName, hinted: options.hints)
        var tableSchema = plan.table
        let columnIndex = plan.columnIndex.map { $0 ?? -1 }  // file column → table column; -1: not loaded (rescue/freeze)
        if plan.refused {
            let sha = try hashing.finish()
            return FileOutcome(state: .failed, sha256: sha, error: AutoloaderError.badInput(
                SourceLocation(file: file.key, line: named && detection.format == .csv ? 1 + fileDialect.skipLines : nil),
                reason: SchemaEvolution.refusal(plan)).description)
        }
        // schema_changes=hold: a file that would change an existing table waits for a user's approval.
        if let current = schema, options.schemaChanges == .hold, !file.approved {
            let changes = SchemaEvolution.changes(from: current, to: tableSchema, spell: warehouse.capabilities.typeName)
            if !changes.isEmpty {
                return FileOutcome(state: .held, sha256: try hashing.finish(), error: SchemaEvolution.holdReason(table: table, changes: changes))
            }
        }
        if schema != nil, options.evolution == .freeze {
            for (k, column) in fileSchema.columns.enumerated() where columnIndex[k] < 0 {
                try tx.recordError(LoadErrorRecord(loadID: tx.loadID, file: file.key, line: nil, column: column.name, rawText: "",
                                                   reason: "column not in the table: its values were dropped (evolution=freeze)"))
            }
        }
        let rescuing = options.evolution == .rescue
        if rescuing, tableSchema.index(of: RescuedData.column) == nil {
            tableSchema.columns.append(Column(name: RescuedData.column, type: ColumnType(kind: .json), nullable: true))
        }
        let fileParts = partitions.keys.sorted()
        var parts = partitionColumns
        for p in fileParts where !parts.contains(p) && tableSchema.index(of: p) == nil { parts.append(p) }
        let prepared = try tx.prepareTable(table, schema: tableSchema, partitionColumns: parts)
        tableSchema = prepared.schema
        schema = tableSchema
        partitionColumns = parts
        if dialect == nil, detection.format == .csv { dialect = fileDialect }
        if adopted, !prepared.lineage {
            try tx.recordError(LoadErrorRecord(loadID: tx.loadID, file: file.key, line: nil, column: nil, rawText: "", reason: Self.noLineage(table)))
        }

        // Replace: an overwritten (or reloaded) file's earlier rows go in the same savepoint as its new rows.
        // Checked first so that new files never pay for a scan of the table.
        var replaces = false
        if file.rows != nil || (previous != nil && (options.overwrite == .replace || grew)) {
            guard prepared.lineage else {
                let sha = try hashing.finish()
                return FileOutcome(state: .failed, sha256: sha, error: "\(file.key): " + Self.noLineage(table)
                    + "; this file replaces a loaded version (a new version, or reload), and its earlier rows cannot be told apart: nothing was loaded")
            }
            _ = try tx.deleteRows(table: table, key: file.key)
            replaces = true
            if grew, options.overwrite != .replace {
                try tx.recordError(LoadErrorRecord(loadID: tx.loadID, file: file.key, line: nil, column: nil, rawText: "",
                                                   reason: "the loaded version (\(previous?.size ?? 0) bytes) was this file while it was still being written: its rows are replaced, although overwrite=\(options.overwrite.rawValue); a longer settle_seconds or a marker keeps partial files out"))
            }
        }

        // Converters: the table column's type, with this file's date format when it detected the same kind.
        let converters = fileSchema.columns.enumerated().map { k, column in
            guard columnIndex[k] >= 0 else { return Converter.dropped }
            let target = tableSchema.columns[columnIndex[k]]
            return Converter(column: target, fileFormat: column.type.kind == target.type.kind ? column.type.format : nil,
                             strict: !warehouse.capabilities.storesAnyValue)
        }
        var insertColumns = columnIndex.filter { $0 >= 0 }.map { tableSchema.columns[$0].name }
        if rescuing { insertColumns.append(RescuedData.column) }
        let partValues = parts.map { partitions[$0] }
        insertColumns += parts
        if prepared.lineage { insertColumns.append(LineageColumn.sourceFile) }
        try tx.beginInsert(table: table, columns: insertColumns)
        let statement = tx.insertStatement(table: table, columns: insertColumns)
        if !statements.contains(statement) { statements.append(statement) }

        // Two threads: this one writes to the warehouse; a parser thread reads, hashes, parses and converts.
        // On two cores the SQLite inserts and the parsing overlap. Bad rows travel with the batches. A small file
        // already read whole is parsed here, first: two threads per file were most of loading many small ones.
        let inline = parquet == nil && wholeInSample && sample.count <= Self.inlineBytes
        let channel = BoundedChannel<Parsed>(capacity: inline ? Int.max : 4)
        let spec = RowSinkSpec(file: file, loadID: tx.loadID, options: options, partValues: partValues, columnCount: insertColumns.count,
                               rowsPerBatch: rowsPerInsert, lineage: prepared.lineage)
        let parser: any RecordParser
        if let parquet {
            parser = ParquetRowParser(spec: spec, parquet: parquet, types: fileSchema.columns.map(\.type), converters: converters, rescue: rescuing,
                                      hashing: hashing)
        } else {
            let source = PrefixedReader(prefix: sample, rest: inline ? decoded : ReadAheadReader(decoded))
            if detection.format == .avro {
                parser = AvroRowParser(spec: spec, source: source, types: fileSchema.columns.map(\.type), converters: converters, rescue: rescuing,
                                       hashing: hashing)
            } else if detection.format == .json {
                parser = JSONRowParser(spec: spec, keys: sourceNames, converters: converters, rescue: rescuing, source: source, hashing: hashing,
                                       path: detection.jsonPath ?? [])
            } else {
                parser = RowParser(spec: spec, dialect: fileDialect,
                                   columnNames: fileSchema.columns.enumerated().map { k, c in columnIndex[k] >= 0 ? tableSchema.columns[columnIndex[k]].name : c.name },
                                   converters: converters, rescue: rescuing, source: source, hashing: hashing)
            }
        }
        if inline {
            parser.run(into: channel)
        } else {
            let thread = Thread { parser.run(into: channel) }
            thread.stackSize = 1 << 20
            thread.start()
        }
        var outcome = FileOutcome(state: .loaded)
        outcome.replaces = replaces
        defer { channel.close() }
        loop: while let message = channel.receive() {
            switch message {
            case let .rows(batch, errors):
                for e in errors { try tx.recordError(e) }
                if batch.rowCount > 0 { try tx.insert(batch) }
                progress?(hashing.bytesRead)
                if shouldStop?() == true {
                    throw AutoloaderError.warehouse(reason: "stopped by a signal before commit; its files are pending again", transient: true)
                }
            case let .done(result):
                outcome = result
                outcome.replaces = replaces
                break loop
            case let .failed(error):
                throw error
            }
        }
        guard outcome.state == .loaded, let sha = outcome.sha256 else { return outcome }
        try tx.endInsert()
        if hashing.bytesRead != file.size {
            return FileOutcome(state: .failed, sha256: sha, error: "\(file.key): changed while loading (\(file.size) bytes listed, \(hashing.bytesRead) read); its new version loads next")
        }
        if let twin = try tx.loadedFile(withHash: sha, size: file.size, excludingID: file.id) {
            if twin.key == file.key {
                return FileOutcome(state: .skipped, sha256: sha, duplicateOf: twin.id, error: "same content as the loaded version; rows kept")
            }
            return FileOutcome(state: .duplicate, sha256: sha, duplicateOf: twin.id, error: "same bytes as \(twin.key), already loaded",
                               replaces: replaces)
        }
        // Never a silent success with nothing in it: a file whose every row is bad fails; one with a header and no
        // rows says so (a two-line file whose only row is data needs header=false).
        if outcome.rows == 0, outcome.rejected > 0 {
            return FileOutcome(state: .failed, sha256: sha, error: "\(file.key): every row is bad (\(outcome.rejected)); nothing was loaded")
        }
        if outcome.rows == 0, file.size > 0 {
            try tx.recordError(LoadErrorRecord(loadID: tx.loadID, file: file.key, line: nil, column: nil, rawText: "",
                                               reason: detection.format == .csv && fileDialect.header
                                                ? "no data rows: the file is a header alone; if its first line is data, set the table's header option to false"
                                                : "no data rows"))
            outcome.error = "no data rows"
        }
        if outcome.rejected > 0 {
            outcome.state = .loadedWithErrors
            outcome.error = "\(outcome.rejected) bad row(s) skipped and recorded (autoloader errors \(tx.loadID))"
        }
        return outcome
    }
}

extension Loader {
    static let emptyFile = "empty file (0 bytes): nothing to load"

    /// What a table created without `_source_file` cannot do (recorded with its first load, and why a replacement fails).
    static func noLineage(_ table: String) -> String {
        "table \(table) has no \(LineageColumn.sourceFile) column (it was created outside autoloader): its rows are loaded without "
            + "the file they came from, so a file's rows cannot be replaced; add the column (\(LineageColumn.sourceFile) TEXT) "
            + "or set overwrite=append"
    }

    /// Whether `file`'s content begins with `earlier`'s bytes (same hash over the first `earlier.size` bytes).
    func startsWith(_ file: FileRecord, _ earlier: FileRecord) throws -> Bool {
        guard let expected = earlier.sha256, earlier.size < file.size else { return false }
        let reader = try store.open(key: file.key)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
        defer { scratch.deallocate() }
        var hasher = SHA256()
        var left = earlier.size
        while left > 0 {
            let n = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<Int(min(Int64(scratch.count), left))]))
            if n == 0 { return false }
            hasher.update(UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
            left -= Int64(n)
        }
        return hasher.finalizeHex() == expected
    }
}

enum Parsed {
    case rows(RowBatch, errors: [LoadErrorRecord])
    case done(Loader.FileOutcome)
    case failed(any Error)
}

/// The parser side of a file load: bytes → records → converted cells, in batches.
/// Runs on its own thread; owns the reader and the hasher, never touches the warehouse.
protocol RecordParser: Sendable {
    /// Reads the whole file into the channel and says how it ended.
    func parse(_ channel: BoundedChannel<Parsed>) throws -> Loader.FileOutcome
    func run(into channel: BoundedChannel<Parsed>)
}

extension RecordParser {
    /// The end of the file (or the error that ended it) is the channel's last message.
    func run(into channel: BoundedChannel<Parsed>) {
        do {
            _ = channel.send(.done(try parse(channel)))
        } catch {
            _ = channel.send(.failed(error))
        }
    }
}

/// Reads what is left of `input` (so a read-ahead thread is done with the hasher), then returns the hash.
func drainAndDigest(_ input: any ByteReader, _ hashing: HashingReader) throws -> String {
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
    defer { scratch.deallocate() }
    while try input.read(into: scratch) > 0 {}
    return try hashing.finish()
}

/// Delimited text.
final class RowParser: RecordParser, @unchecked Sendable {
    let spec: RowSinkSpec
    let dialect: Dialect
    let columnNames: [String]
    let converters: [Converter]
    /// Evolution `rescue`: dropped columns and values that do not fit go to `_rescued_data` instead of failing the row.
    let rescue: Bool
    let source: any ByteReader
    let hashing: HashingReader

    init(spec: RowSinkSpec, dialect: Dialect, columnNames: [String], converters: [Converter], rescue: Bool = false,
         source: any ByteReader, hashing: HashingReader) {
        self.spec = spec
        self.dialect = dialect
        self.columnNames = columnNames
        self.converters = converters
        self.rescue = rescue
        self.source = source
        self.hashing = hashing
    }

    func run(into channel: BoundedChannel<Parsed>) {
        do {
            let result = try parse(channel)
            _ = channel.send(.done(result))
        } catch let AutoloaderError.badInput(location, reason) where location.file.isEmpty {
            // The tokenizer knows the line, not the file.
            _ = channel.send(.failed(AutoloaderError.badInput(SourceLocation(file: spec.file.key, line: location.line), reason: reason)))
        } catch {
            _ = channel.send(.failed(error))
        }
    }

    func parse(_ channel: BoundedChannel<Parsed>) throws -> Loader.FileOutcome {
        let input = try Transcoding.utf8Reader(source, from: dialect.encoding)
        let reader = CSVRecordReader(source: input, dialect: dialect)
        try reader.skipLines(dialect.skipLines)
        var sink = spec.sink(into: channel)
        let expected = converters.count
        var first = true
        var rescued = RescuedData()
        var converters = self.converters  // called in place (see Converter.append)
        while try reader.next() {
            if first {
                first = false
                if dialect.header { continue }
            }
            var n = reader.fieldCount
            if dialect.trailingDelimiter, n == expected + 1, reader.field(n - 1).isEmpty { n -= 1 }
            var reason: String?
            var column: String?
            if reader.tokenizer.overflowed {
                reason = "more than \(CSVTokenizer.maxFields) fields in one record (expected \(expected)): is the delimiter right?"
            } else if n != expected {
                reason = "expected \(expected) fields, found \(n)"
            } else if let bad = reader.invalidUTF8Offset() {
                reason = "invalid UTF-8 at byte \(bad) of the record; re-export the file as UTF-8"
            } else if let nul = reader.nulOffset() {
                reason = "NUL byte at byte \(nul) of the record: text cannot hold one; remove it, or re-export the file as UTF-8"
            } else {
                let mark = sink.mark
                rescued.reset()
                for k in 0..<n where !converters[k].append(reader.field(k), to: &sink.batch) || (rescue && converters[k].isDropped) {
                    if rescue {
                        let field = reader.field(k)
                        if !converters[k].isDropped { sink.batch.cells.append(.null) }
                        if !field.isEmpty { rescued.add(columnNames[k], text: field) }
                        continue
                    }
                    // A typed warehouse refused the value: undo the row's cells and report it.
                    sink.undo(to: mark)
                    column = columnNames[k]
                    reason = "value '\(String(decoding: reader.field(k).prefix(200), as: UTF8.self))' does not fit column \(columnNames[k]) (\(converters[k].typeDescription))"
                    break
                }
            }
            if let reason {
                let raw = String(decoding: reader.rawRecord.prefix(1024), as: UTF8.self)
                if let failure = sink.reject(line: reader.line, column: column, rawText: raw, reason: reason) {
                    return sink.failed(failure, sha256: try drainAndDigest(input, hashing))
                }
                continue
            }
            if rescue { rescued.append(to: &sink.batch) }
            try sink.endRow()
        }
        try sink.flush()
        return sink.loaded(sha256: try drainAndDigest(input, hashing))
    }
}
