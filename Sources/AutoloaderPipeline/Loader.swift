import AutoloaderCore
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
        do {
            for file in files {
                try tx.beginFile(file)
                var outcome: FileOutcome
                do {
                    outcome = try loadFile(file, table: table, options: record.options, tx: tx, schema: &schema,
                                           dialect: &dialect, partitionColumns: &partitionColumns)
                } catch let error as AutoloaderError {
                    if case let .warehouse(_, transient) = error, transient { throw error }
                    outcome = FileOutcome(state: .failed, error: error.description)
                }
                try tx.endFile(file, state: outcome.state, sha256: outcome.sha256, rows: outcome.state == .loaded ? outcome.rows : 0,
                               duplicateOf: outcome.duplicateOf, error: outcome.error)
                if outcome.state == .loaded {
                    summary.rowsLoaded += outcome.rows
                    summary.rowsRejected += outcome.rejected
                }
                summary.files.append((file.key, outcome.state, outcome.rows, outcome.error))
            }
            let failed = summary.files.filter { $0.state == .failed }
            summary.status = failed.isEmpty ? .finished : .failed
            summary.error = failed.isEmpty ? nil : failed.map { $0.error ?? $0.key }.joined(separator: "; ")
            try tx.commit(status: summary.status, rowsLoaded: summary.rowsLoaded, rowsRejected: summary.rowsRejected,
                          error: summary.error, schema: schema, dialect: dialect, partitionColumns: partitionColumns)
        } catch {
            let transient: Bool
            if case let AutoloaderError.warehouse(_, t) = error { transient = t } else { transient = false }
            tx.rollback(reason: "\(error)", requeue: transient)
            throw error
        }
        return summary
    }

    func loadFile(_ file: FileRecord, table: String, options: TableOptions, tx: any LoadTransaction,
                  schema: inout TableSchema?, dialect: inout Dialect?, partitionColumns: inout [String]) throws -> FileOutcome {
        if options.overwrite == .ignore, file.rows == nil, try catalog.hasLoadedVersion(key: file.key, excludingID: file.id) {
            return FileOutcome(state: .skipped, error: "overwritten, and the table's overwrite policy is 'ignore'")
        }
        let hashing = HashingReader(try store.open(key: file.key))
        var detectOptions = DetectionOptions()
        detectOptions.forcedDelimiter = options.delimiter?.utf8.first
        detectOptions.forcedHeader = options.header
        let (sample, complete) = try readPrefix(hashing, maxBytes: detectOptions.sampleBytes)
        let detection = Detector.detect(sample: sample, complete: complete, name: file.key, options: detectOptions)
        guard let fileSchema = detection.schema, let fileDialect = detection.dialect, detection.error == nil else {
            let sha = try hashing.finish()
            let location = SourceLocation(file: file.key, line: detection.errorLine)
            return FileOutcome(state: .failed, sha256: sha, error: AutoloaderError.badInput(location, reason: detection.error ?? "not loadable").description)
        }

        // The table's schema: the first file's, then grown by later files' new columns (add_columns).
        var tableSchema = schema ?? TableSchema(columns: [])
        var columnIndex: [Int] = []  // file column → table column
        for (k, column) in fileSchema.columns.enumerated() {
            if fileDialect.header, let i = tableSchema.index(of: column.name) {
                tableSchema.columns[i].type = tableSchema.columns[i].type.joined(with: column.type)
                columnIndex.append(i)
            } else if !fileDialect.header, k < tableSchema.columns.count, schema != nil {
                columnIndex.append(k)
            } else {
                tableSchema.columns.append(column)
                columnIndex.append(tableSchema.columns.count - 1)
            }
        }
        let fileParts = file.partitions.keys.sorted()
        var parts = partitionColumns
        for p in fileParts where !parts.contains(p) && tableSchema.index(of: p) == nil { parts.append(p) }
        tableSchema = try tx.prepareTable(table, schema: tableSchema, partitionColumns: parts)
        schema = tableSchema
        partitionColumns = parts
        if dialect == nil { dialect = fileDialect }

        // Replace: an overwritten (or reloaded) file's earlier rows go in the same savepoint as its new rows.
        // Checked first so that new files never pay for a scan of the table.
        if options.overwrite == .replace || file.rows != nil,
           try file.rows != nil || catalog.hasLoadedVersion(key: file.key, excludingID: file.id) {
            _ = try tx.deleteRows(table: table, key: file.key)
        }

        // Converters: the table column's type, with this file's date format when it detected the same kind.
        let converters = fileSchema.columns.enumerated().map { k, column in
            let target = tableSchema.columns[columnIndex[k]]
            return Converter(column: target, fileFormat: column.type.kind == target.type.kind ? column.type.format : nil)
        }
        var insertColumns = columnIndex.map { tableSchema.columns[$0].name }
        let partValues = parts.map { file.partitions[$0] }
        insertColumns += parts
        insertColumns.append(LineageColumn.sourceFile)
        try tx.beginInsert(table: table, columns: insertColumns)

        var source: any ByteReader = PrefixedReader(prefix: sample, rest: hashing)
        if fileDialect.encoding == .latin1 { source = Latin1ToUTF8Reader(source) }
        let reader = CSVRecordReader(source: source, dialect: fileDialect)
        try reader.skipLines(fileDialect.skipLines)
        var batch = RowBatch(columnCount: insertColumns.count, reservingRows: rowsPerInsert)
        let expected = fileSchema.columns.count
        var outcome = FileOutcome(state: .loaded)
        var first = true
        var keyBytes = file.key
        while try reader.next() {
            if first {
                first = false
                if fileDialect.header { continue }
            }
            var n = reader.fieldCount
            if fileDialect.trailingDelimiter, n == expected + 1, reader.field(n - 1).isEmpty { n -= 1 }
            var reason: String?
            if n != expected {
                reason = "expected \(expected) fields, found \(n)"
            } else if let bad = reader.invalidUTF8Offset() {
                reason = "invalid UTF-8 at byte \(bad) of the record; re-export the file as UTF-8"
            }
            if let reason {
                let raw = String(decoding: reader.rawRecord.prefix(1024), as: UTF8.self)
                let located = AutoloaderError.badInput(SourceLocation(file: file.key, line: reader.line), reason: reason).description
                try tx.recordError(LoadErrorRecord(loadID: tx.loadID, file: file.key, line: reader.line, column: nil, rawText: raw, reason: reason))
                outcome.rejected += 1
                if options.onError == .abortFile {
                    return FileOutcome(state: .failed, rejected: outcome.rejected, sha256: try hashing.finish(),
                                       error: located + " (on_error=abort_file: nothing of this file was loaded)")
                }
                if outcome.rejected > options.maxErrors {
                    return FileOutcome(state: .failed, rejected: outcome.rejected, sha256: try hashing.finish(),
                                       error: "\(file.key): more than max_errors=\(options.maxErrors) bad rows; last: \(located)")
                }
                continue
            }
            for k in 0..<n { converters[k].append(reader.field(k), to: &batch) }
            for v in partValues { if let v { batch.appendText(v) } else { batch.cells.append(.null) } }
            keyBytes.withUTF8 { batch.appendText($0) }
            outcome.rows += 1
            if batch.rowCount >= rowsPerInsert {
                try tx.insert(batch)
                batch.removeAll()
                progress?(hashing.bytesRead)
            }
        }
        if batch.rowCount > 0 { try tx.insert(batch) }
        progress?(hashing.bytesRead)
        let sha = try hashing.finish()
        outcome.sha256 = sha
        if hashing.bytesRead != file.size {
            return FileOutcome(state: .failed, sha256: sha, error: "\(file.key): changed while loading (\(file.size) bytes listed, \(hashing.bytesRead) read); its new version loads next")
        }
        if let twin = try tx.loadedFile(withHash: sha, size: file.size, excludingID: file.id) {
            if twin.key == file.key {
                return FileOutcome(state: .skipped, sha256: sha, duplicateOf: twin.id, error: "same content as the loaded version; rows kept")
            }
            return FileOutcome(state: .duplicate, sha256: sha, duplicateOf: twin.id, error: "same bytes as \(twin.key), already loaded")
        }
        return outcome
    }
}
