import AutoloaderCore
import AutoloaderDetection
import AutoloaderFormats
import Foundation

/// Loads a batch into a warehouse that reads the files itself (Redshift COPY): detect each file from a
/// bounded sample, group the files that one COPY can read, let the warehouse copy them in one transaction,
/// then record the outcome in the catalog. Rows never pass through here.
public struct ManifestLoader {
    public var store: any ObjectStore
    public var warehouse: any CopyingWarehouse
    public var catalog: any Catalog

    public init(store: any ObjectStore, warehouse: any CopyingWarehouse, catalog: any Catalog) {
        self.store = store
        self.warehouse = warehouse
        self.catalog = catalog
    }

    public func load(table: String, files: [FileRecord]) throws -> LoadSummary {
        let record = try catalog.table(named: table)
        let options = record?.options ?? TableOptions()
        var detectOptions = DetectionOptions()
        detectOptions.forcedDelimiter = options.delimiter?.utf8.first
        detectOptions.forcedHeader = options.header
        detectOptions.forcedJSONPath = options.jsonPathKeys
        detectOptions.sampleBytes = 1 << 20  // only the schema is needed here; the warehouse reads the rest

        var evolving = record?.schema
        var partitionColumns = record?.partitionColumns ?? []
        var dialect = record?.dialect
        var groups: [String: CopyGroup] = [:]
        var order: [String] = []
        var failed: [Int64: String] = [:]
        var skipped: [Int64: String] = [:]
        var empty = Set<Int64>()
        var held: [Int64: String] = [:]  // schema_changes=hold: files that would change the table, with the change
        var renames: [LoadErrorRecord] = []  // columns loaded under another name than the file's, recorded with the load
        // A file into its COPY group (detected, checked against the table's evolution policy, rewritten where COPY
        // cannot read it); the reason when it cannot be loaded.
        func add(_ file: FileRecord, to groups: inout [String: CopyGroup], order: inout [String]) throws -> String? {
            guard let landedURL = store.url(for: file.key) else {
                throw AutoloaderError.usage("\(warehouse.capabilities.name) reads the files itself, from S3: use --source s3://bucket/prefix/")
            }
            let detection: Detection
            do {
                detection = try Detector.detect(reader: store.open(key: file.key), name: file.key, options: detectOptions)
            } catch {
                if AutoloaderError.isTransient(error) { throw error }  // the source's fault, not the file's: retried
                return "\(error)"
            }
            guard let detected = detection.schema, detection.error == nil else {
                return AutoloaderError.badInput(SourceLocation(file: file.key, line: detection.errorLine),
                                                reason: detection.error ?? "not loadable").description
            }
            var fileSchema = detected
            let sourceNames = fileSchema.columns.map(\.name)  // as the file spells them (COPY's JSON 'auto' matches keys by name)
            var filePartitions = file.partitions
            for rename in ColumnNames.fit(columns: &fileSchema.columns, partitions: &filePartitions, maxBytes: warehouse.capabilities.maxIdentifierBytes,
                                          existing: (evolving?.columns.map(\.name) ?? []) + partitionColumns) {
                renames.append(LoadErrorRecord(loadID: 0, file: file.key, line: nil, column: rename.from, rawText: "", reason: rename.reason))
            }
            fileSchema = options.applyingHints(to: fileSchema)
            // The same evolution plan as the row loader's. COPY cannot drop or rescue columns on the way in, so
            // under rescue or freeze a file that differs is refused before anything is submitted.
            let named = detection.format != .csv || (detection.dialect?.header ?? true)
            let plan = SchemaEvolution.plan(table: evolving, file: fileSchema, named: named, policy: options.evolution,
                                            spell: warehouse.capabilities.typeName, hinted: options.hints)
            if plan.refused || !plan.differences.isEmpty {
                let reason = plan.refused ? SchemaEvolution.refusal(plan)
                    : plan.differences.joined(separator: "; ") + " (evolution=\(options.evolution.rawValue) keeps the table as it is, and "
                        + "\(warehouse.capabilities.name)'s COPY cannot drop or rescue columns: set evolution to add_columns, or fix the file)"
                return AutoloaderError.badInput(SourceLocation(file: file.key), reason: reason).description
            }
            if let current = evolving, options.schemaChanges == .hold, !file.approved {
                let changes = SchemaEvolution.changes(from: current, to: plan.table, spell: warehouse.capabilities.typeName)
                if !changes.isEmpty {
                    held[file.id] = SchemaEvolution.holdReason(table: table, changes: changes)
                    return nil  // not grouped: it waits
                }
            }
            // What COPY cannot read is rewritten into what it can, next to the manifests.
            var (url, compression, fileDialect, length) = (landedURL, detection.compression, detection.dialect, Int64?.none)
            var format = detection.format
            if let kind = Restaging(detection) {
                format = kind.format(format)
                do {
                    let body = try kind.rewrite(Decompression.open(store.open(key: file.key), name: file.key).reader, name: file.key)
                    url = try warehouse.stage(table: table, name: "\(file.id)-\(file.modifiedNanos).\(kind.fileExtension)", body: body)
                    (compression, length) = (.none, Int64(body.count))
                    if case .utf8 = kind { fileDialect?.encoding = .utf8 }
                } catch {
                    if AutoloaderError.isTransient(error) { throw error }
                    return "\(error)"
                }
            }
            evolving = plan.table
            for p in filePartitions.keys.sorted() where !partitionColumns.contains(p) { partitionColumns.append(p) }
            if dialect == nil, detection.format == .csv { dialect = detection.dialect }
            let partitions = filePartitions.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            let names = fileSchema.columns.map(\.name)
            // One COPY per layout: the same columns, date layouts and null spellings, dialect, compression, partition values.
            let layout = zip(fileSchema.columns, sourceNames).map { "\($0.name)<\($1):\($0.type.format ?? ""):\($0.nullTokens)" }
            let key = "\(format)|\(compression)|\(String(describing: fileDialect))|\(layout)|\(partitions.map { "\($0.0)=\($0.1)" })"
            if groups[key] == nil {
                order.append(key)
                groups[key] = CopyGroup(files: [], urls: [:], format: format, compression: compression,
                                        dialect: detection.format == .csv ? fileDialect : nil, columns: names, partitions: partitions,
                                        fileColumns: fileSchema.columns, sourceColumns: sourceNames)
            }
            groups[key]?.files.append(file)
            groups[key]?.urls[file.id] = url
            if let length { groups[key]?.contentLengths[file.id] = length }
            return nil
        }

        for file in files {
            // A new version of a loaded file: overwrite=ignore leaves the table as it is; replace and append are the
            // warehouse's (it deletes the earlier rows by their load, from its ledger).
            if options.overwrite == .ignore, file.rows == nil, try catalog.loadedVersion(key: file.key, excludingID: file.id) != nil {
                skipped[file.id] = "overwritten, and the table's overwrite policy is 'ignore'"
                continue
            }
            if file.size == 0, file.rows == nil, try catalog.loadedVersion(key: file.key, excludingID: file.id) == nil {
                empty.insert(file.id)  // loaded with no rows, as by the row loader: nothing to copy
                continue
            }
            if let reason = try add(file, to: &groups, order: &order) { failed[file.id] = reason }
        }
        // Files a replacement must copy again (loaded in one COPY with a replaced file): the catalog's records of
        // those versions, grouped like the rest.
        func recopy(_ ledgerFiles: [LedgerFile]) throws -> [CopyGroup] {
            let loaded = try FileState.rowsKept.flatMap { try catalog.files(table: table, state: $0) }
            var groups: [String: CopyGroup] = [:], order: [String] = []
            for l in ledgerFiles {
                guard let file = loaded.first(where: { $0.key == l.key && $0.size == l.size && $0.modifiedNanos == l.modifiedNanos }) else {
                    throw AutoloaderError.badInput(SourceLocation(file: l.key), reason: "loaded in the same COPY as a replaced file, but no longer a loaded file of the catalog, so it cannot be copied again")
                }
                if let reason = try add(file, to: &groups, order: &order) ?? held[file.id] {
                    throw AutoloaderError.badInput(SourceLocation(file: l.key), reason: "loaded in the same COPY as a replaced file, and cannot be copied again: \(reason)")
                }
            }
            return order.compactMap { groups[$0] }
        }

        let schema = evolving ?? TableSchema(columns: [])
        let tx = try warehouse.beginLoad(table: table, files: files, statement: "COPY … MANIFEST (\(order.count) group(s); statement in the log)")
        var summary = LoadSummary(loadID: tx.loadID, table: table)
        do {
            var outcome = CopyOutcome()
            if !groups.isEmpty {
                outcome = try warehouse.copy(table: table, loadID: tx.loadID, schema: schema, groups: order.compactMap { groups[$0] }, options: options,
                                             reloads: Set(files.filter { $0.rows != nil }.map(\.id)), recopy: recopy)
            }
            if !outcome.statement.isEmpty {
                var note = outcome.statement
                if let id = outcome.statementID { note += "\n-- statement \(id)" }
                if !outcome.queryIDs.isEmpty { note += "\n-- query ids \(outcome.queryIDs.map(String.init).joined(separator: ", "))" }
                if let d = outcome.durationNanos { note += "\n-- \(d / 1_000_000) ms" }
                if let rows = outcome.rows { note += "\n-- \(rows) rows" }
                try tx.recordStatement(note)
            }
            for e in outcome.errors { try tx.recordError(e) }
            for var note in renames {
                note.loadID = tx.loadID
                try tx.recordError(note)
            }
            var loadedIDs = Set<Int64>()
            for file in files {
                let state: FileState, error: String?
                if let reason = failed[file.id] {
                    (state, error) = (.failed, reason)
                } else if let reason = held[file.id] {
                    (state, error) = (.held, reason)
                } else if let reason = skipped[file.id] {
                    (state, error) = (.skipped, reason)
                } else if empty.contains(file.id) {
                    (state, error) = (.loaded, Loader.emptyFile)
                } else if outcome.alreadyLoaded.contains(file.id) || outcome.failure == nil
                            || outcome.failedFiles.map({ !$0.contains(file.id) }) == true {
                    // Committed; rows MAXERROR let COPY skip are recorded, and the file says so.
                    let rejected = outcome.errors.filter { $0.file == file.key }.count
                    (state, error) = rejected == 0 ? (.loaded, nil)
                        : (.loadedWithErrors, "\(rejected) bad row(s) skipped and recorded (autoloader errors \(tx.loadID))")
                } else {
                    let own = outcome.errors.filter { $0.file == file.key }
                    (state, error) = (.failed, own.first.map { "\(SourceLocation(file: file.key, line: $0.line, column: $0.column)): \($0.reason)" }
                        ?? outcome.failure)
                }
                try tx.beginFile(file)
                try tx.endFile(file, state: state, sha256: nil, rows: 0, duplicateOf: nil, error: error)
                summary.files.append((file.key, state, 0, error))
                if state.keepsRows { loadedIDs.insert(file.id) }
            }
            summary.rowsLoaded = outcome.rows ?? 0
            summary.rowsRejected = Int64(outcome.errors.count)
            let bad = summary.files.filter { $0.state == .failed }
            summary.status = bad.isEmpty ? .finished : .failed
            summary.error = bad.isEmpty ? nil : (outcome.failure ?? bad.compactMap(\.error).joined(separator: "; "))
            try tx.commit(status: summary.status, rowsLoaded: summary.rowsLoaded, rowsRejected: summary.rowsRejected, error: summary.error,
                          schema: schema.columns.isEmpty ? nil : schema, dialect: dialect, partitionColumns: partitionColumns,
                          checkpointNanos: files.filter { loadedIDs.contains($0.id) }.map(\.modifiedNanos).max())
        } catch {
            tx.rollback(reason: "\(error)", transient: AutoloaderError.isTransient(error))
            throw error
        }
        return summary
    }
}

/// A file a warehouse's reader cannot read as it is, rewritten into one it can (Redshift COPY: JSON 'auto' reads
/// objects one after another, not a top-level array; COPY reads UTF-8 and UTF-16, not Latin-1; Avro is read by our
/// decoder, whose rules for logical types, bytes and nested values are the row loaders').
enum Restaging: Equatable {
    /// Avro records → one JSON object per line, values as the row loaders write them (dates and times ISO, decimals
    /// exact, bytes base64, records, arrays and maps as JSON for SUPER columns).
    case avroToJSON
    /// A top-level JSON array, or the records' array in a wrapper object (at `path`) → one object per line.
    case ndjson(path: [String])
    /// Text in an encoding COPY cannot read (Latin-1, Windows-1252, UTF-8 with Windows-1252 bytes in it,
    /// Shift-JIS, GB18030…) → UTF-8.
    case utf8(from: Dialect.Encoding)

    init?(_ detection: Detection) {
        if detection.format == .json, detection.jsonLayout == JSONLayout.array.rawValue { self = .ndjson(path: detection.jsonPath ?? []); return }
        if detection.format == .avro { self = .avroToJSON; return }
        if detection.format == .csv, let encoding = detection.dialect?.encoding, !encoding.isUnicode { self = .utf8(from: encoding); return }
        return nil
    }

    var fileExtension: String { if case .utf8 = self { return "csv" } else { return "json" } }

    /// The format COPY reads the rewritten file as.
    func format(_ original: FileFormat) -> FileFormat { self == .avroToJSON ? .json : original }

    func rewrite(_ reader: any ByteReader, name: String) throws -> [UInt8] {
        var out: [UInt8] = []
        let (what, instead) = switch self {
        case .ndjson: ("JSON records in an array", "one object per line")
        case .utf8: ("text that is not UTF-8", "UTF-8")
        case .avroToJSON: ("Avro, read by our decoder", "several smaller files")
        }
        func check() throws {
            if out.count > Limits.maxRestageBytes {
                throw AutoloaderError.badInput(SourceLocation(file: name), reason: "the file must be rewritten for COPY (\(what)) "
                    + "and is larger than \(Limits.maxRestageBytes >> 20) MiB: land it as \(instead) instead")
            }
        }
        switch self {
        case .avroToJSON:
            let container = try AvroContainer(source: reader, name: name)
            let schema = container.schema
            _ = try schema.columns(file: name)
            while try container.nextBlock() {
                do {
                    try container.block.withUnsafeBytes { raw in
                        var c = AvroCursor(raw)
                        for _ in 0..<container.blockRecords {
                            try schema.writeJSON(schema.root, &c, into: &out)
                            out.append(0x0A)
                        }
                    }
                } catch let failure as AvroCursor.Failure {
                    throw AutoloaderError.badInput(SourceLocation(file: name), reason: "Avro block \(container.blocks): \(failure.reason)")
                }
                try check()
            }
        case let .utf8(encoding):
            let utf8 = try Transcoding.utf8Reader(reader, from: encoding)
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = try chunk.withUnsafeMutableBytes { try utf8.read(into: $0) }
                if n == 0 { break }
                out += chunk[0..<n]
                try check()
            }
        case let .ndjson(path):
            let records = JSONRecordReader(source: reader, path: path)
            do {
                while let record = try records.next() {
                    out.append(UInt8(ascii: "{"))
                    for (i, (key, value)) in record.enumerated() {
                        if i > 0 { out.append(UInt8(ascii: ",")) }
                        out += Array(JSONText.string(key).utf8)
                        out.append(UInt8(ascii: ":"))
                        switch value {
                        case .null: out += Array("null".utf8)
                        case let .bool(b): out += Array((b ? "true" : "false").utf8)
                        case let .number(text): out += text
                        case let .string(s): out += Array(JSONText.string(s).utf8)
                        case let .nested(text): out += Array(text.utf8)
                        }
                    }
                    out += [UInt8(ascii: "}"), 0x0A]
                    try check()
                }
            } catch let error as JSONSyntaxError {
                throw AutoloaderError.badInput(SourceLocation(file: name, line: error.line), reason: error.reason)
            }
        }
        return out
    }
}
