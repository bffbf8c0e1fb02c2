import AutoloaderCore
import AutoloaderFormats

/// JSON records (NDJSON, one array, one object) → converted cells, keys matched to columns by name.
/// A key first seen after the detection sample has no column: that record is a bad row (reported, and
/// handled by the table's on_error policy), never silently dropped data.
final class JSONRowParser: RecordParser, @unchecked Sendable {
    let file: FileRecord
    let keyIndex: [String: Int]
    let converters: [Converter]
    let keys: [String]
    /// Evolution `rescue`: unknown keys, dropped columns and values that do not fit go to `_rescued_data`.
    let rescue: Bool
    let partValues: [String?]
    let columnCount: Int
    let rowsPerBatch: Int
    let options: TableOptions
    let loadID: Int64
    let source: any ByteReader
    let hashing: HashingReader

    init(file: FileRecord, keys: [String], converters: [Converter], rescue: Bool = false, partValues: [String?], columnCount: Int,
         rowsPerBatch: Int, options: TableOptions, loadID: Int64, source: any ByteReader, hashing: HashingReader) {
        self.file = file
        self.keys = keys
        self.rescue = rescue
        var index: [String: Int] = [:]
        for (i, k) in keys.enumerated() where index[k] == nil { index[k] = i }
        keyIndex = index
        self.converters = converters
        self.partValues = partValues
        self.columnCount = columnCount
        self.rowsPerBatch = rowsPerBatch
        self.options = options
        self.loadID = loadID
        self.source = source
        self.hashing = hashing
    }

    func run(into channel: BoundedChannel<Parsed>) {
        do {
            _ = channel.send(.done(try parse(channel)))
        } catch {
            _ = channel.send(.failed(error))
        }
    }

    /// Records one bad record; returns the file's failed outcome when the on_error policy says so.
    private func reject(reason: String, column: String, line: Int, errors: inout [LoadErrorRecord], outcome: inout Loader.FileOutcome,
                        _ channel: BoundedChannel<Parsed>) throws -> Loader.FileOutcome? {
        errors.append(LoadErrorRecord(loadID: loadID, file: file.key, line: line, column: column, rawText: "", reason: reason))
        outcome.rejected += 1
        guard options.failsFile(afterRejected: Int(outcome.rejected)) else { return nil }
        _ = channel.send(.rows(RowBatch(columnCount: columnCount), errors: errors))
        let located = AutoloaderError.badInput(SourceLocation(file: file.key, line: line, column: column), reason: reason).description
        return Loader.FileOutcome(state: .failed, rejected: outcome.rejected, sha256: try drainAndDigest(source, hashing),
                                  error: options.failureReason(file: file.key, lastError: located))
    }

    private func parse(_ channel: BoundedChannel<Parsed>) throws -> Loader.FileOutcome {
        let reader = JSONRecordReader(source: source)
        var batch = RowBatch(columnCount: columnCount, reservingRows: rowsPerBatch)
        var errors: [LoadErrorRecord] = []
        var outcome = Loader.FileOutcome(state: .loaded)
        var values = [JSONValue?](repeating: nil, count: converters.count)
        var key = file.key
        var rescued = RescuedData()
        while true {
            let record: [(String, JSONValue)]
            do {
                guard let r = try reader.next() else { break }
                record = r
            } catch let error as JSONSyntaxError {
                // Syntax errors end the file: there is no reliable next record to resume at.
                let located = AutoloaderError.badInput(SourceLocation(file: file.key, line: error.line), reason: error.reason).description
                errors.append(LoadErrorRecord(loadID: loadID, file: file.key, line: error.line, column: nil, rawText: "", reason: error.reason))
                _ = channel.send(.rows(RowBatch(columnCount: columnCount), errors: errors))
                return Loader.FileOutcome(state: .failed, rejected: outcome.rejected + 1, sha256: try drainAndDigest(source, hashing), error: located)
            }
            for i in values.indices { values[i] = nil }
            var unknown: String?
            rescued.reset()
            for (k, v) in record {
                if let i = keyIndex[k] {
                    values[i] = v
                    if rescue, converters[i].isDropped { rescued.add(k, value: v) }
                } else if case .null = v {
                } else if rescue {
                    rescued.add(k, value: v)
                } else {
                    unknown = k
                }
            }
            if let unknown {
                let reason = "key \"\(unknown)\" has no column (first seen after the detection sample)"
                if let failed = try reject(reason: reason, column: unknown, line: reader.recordLine, errors: &errors, outcome: &outcome, channel) { return failed }
                continue
            }
            let cellStart = batch.cells.count, arenaStart = batch.arena.count
            if rescue {
                for i in converters.indices where !converters[i].append(values[i], to: &batch) {
                    batch.cells.append(.null)
                    if let v = values[i] { rescued.add(keys[i], value: v) }
                }
                rescued.append(to: &batch)
            } else if let bad = converters.indices.first(where: { !converters[$0].append(values[$0], to: &batch) }) {
                batch.cells.removeSubrange(cellStart...)
                batch.arena.removeSubrange(arenaStart...)
                let name = keyIndex.first { $0.value == bad }?.key ?? "column \(bad + 1)"
                let reason = "value of \"\(name)\" does not fit its column (\(converters[bad].typeDescription))"
                if let failed = try reject(reason: reason, column: name, line: reader.recordLine, errors: &errors, outcome: &outcome, channel) { return failed }
                continue
            }
            for v in partValues { if let v { batch.appendText(v) } else { batch.cells.append(.null) } }
            key.withUTF8 { batch.appendText($0) }
            outcome.rows += 1
            if batch.rowCount >= rowsPerBatch {
                guard channel.send(.rows(batch, errors: errors)) else { throw CancellationError() }
                batch = RowBatch(columnCount: columnCount, reservingRows: rowsPerBatch)
                errors = []
            }
        }
        if batch.rowCount > 0 || !errors.isEmpty { guard channel.send(.rows(batch, errors: errors)) else { throw CancellationError() } }
        outcome.sha256 = try drainAndDigest(source, hashing)
        return outcome
    }
}
