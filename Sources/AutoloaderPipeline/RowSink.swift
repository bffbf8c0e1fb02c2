import AutoloaderCore

/// What a sink needs to know of its file and table: built by the loader, handed to the format's parser.
struct RowSinkSpec: @unchecked Sendable {
    var file: FileRecord
    var loadID: Int64
    var options: TableOptions
    var partValues: [String?]
    var columnCount: Int
    var rowsPerBatch: Int
    /// Each row ends with its file's key (`_source_file`); false for a table created without that column.
    var lineage = true

    func sink(into channel: BoundedChannel<Parsed>) -> RowSink { RowSink(spec: self, channel: channel) }
}

/// Where a parser's rows go, the same for every format: converted cells into batches for the warehouse
/// thread, each row completed with its partition values and its lineage (`_source_file`), rejected rows
/// recorded with their location and counted against the table's on_error policy. A parser only reads its
/// format and converts values; the skeleton around that is here once.
struct RowSink {
    let spec: RowSinkSpec
    let channel: BoundedChannel<Parsed>
    /// The batch being filled; a converter appends the current row's cells to it.
    var batch: RowBatch
    private var errors: [LoadErrorRecord] = []
    private(set) var rows: Int64 = 0
    private(set) var rejected: Int64 = 0
    private var key: String
    private var file: FileRecord { spec.file }

    init(spec: RowSinkSpec, channel: BoundedChannel<Parsed>) {
        self.spec = spec
        self.channel = channel
        batch = RowBatch(columnCount: spec.columnCount, reservingRows: spec.rowsPerBatch)
        key = spec.file.key
    }

    /// Where the current row starts, to undo it when one of its values is refused.
    var mark: (cells: Int, arena: Int) { (batch.cells.count, batch.arena.count) }

    mutating func undo(to mark: (cells: Int, arena: Int)) {
        batch.cells.removeSubrange(mark.cells...)
        batch.arena.removeSubrange(mark.arena...)
    }

    /// Ends a row: partition values and lineage appended; a full batch goes to the warehouse.
    mutating func endRow() throws {
        for v in spec.partValues { if let v { batch.appendText(v) } else { batch.cells.append(.null) } }
        if spec.lineage { key.withUTF8 { batch.appendText($0) } }
        rows += 1
        if batch.rowCount >= spec.rowsPerBatch { try send() }
    }

    /// Ends `n` rows a columnar format fills column by column: their cells are laid out (null) first, `fill` sets
    /// the file's columns (cell `base + row * columnCount + column`), then each row gets its partition values and
    /// lineage as `endRow` gives them. No row can be rejected on this road.
    mutating func appendRows(_ n: Int, fill: (inout RowBatch, _ base: Int) throws -> Void) throws {
        let base = batch.cells.count, stride = spec.columnCount
        batch.cells.append(contentsOf: repeatElement(.null, count: n * stride))
        try fill(&batch, base)
        let tail = spec.partValues.count + (spec.lineage ? 1 : 0)
        if tail > 0 {
            for r in 0..<n {
                var i = base + (r + 1) * stride - tail
                for v in spec.partValues {
                    if var v { v.withUTF8 { batch.setText(at: i, $0) } }
                    i += 1
                }
                if spec.lineage { key.withUTF8 { batch.setText(at: i, $0) } }
            }
        }
        rows += Int64(n)
        if batch.rowCount >= spec.rowsPerBatch { try send() }
    }

    /// Records a bad row. Returns the file's failure when the on_error policy says the whole file fails (its
    /// errors are sent, its rows no longer matter); nil when the row is skipped and loading goes on.
    mutating func reject(line: Int?, column: String?, rawText: String, reason: String, locatedColumn: Bool = false) -> String? {
        errors.append(LoadErrorRecord(loadID: spec.loadID, file: file.key, line: line, column: column, rawText: rawText, reason: reason))
        rejected += 1
        guard spec.options.failsFile(afterRejected: Int(rejected), rowsRead: Int(rows + rejected)) else { return nil }
        _ = channel.send(.rows(RowBatch(columnCount: spec.columnCount), errors: errors))
        errors.removeAll()
        let located = AutoloaderError.badInput(SourceLocation(file: file.key, line: line, column: locatedColumn ? column : nil), reason: reason).description
        return spec.options.failureReason(file: file.key, lastError: located)
    }

    /// A defect that ends the file at once whatever the policy (a JSON syntax error: nowhere to resume).
    mutating func fatal(line: Int?, reason: String) -> String {
        errors.append(LoadErrorRecord(loadID: spec.loadID, file: file.key, line: line, column: nil, rawText: "", reason: reason))
        rejected += 1
        _ = channel.send(.rows(RowBatch(columnCount: spec.columnCount), errors: errors))
        errors.removeAll()
        return AutoloaderError.badInput(SourceLocation(file: file.key, line: line), reason: reason).description
    }

    /// Sends what is left: the last rows and errors.
    mutating func flush() throws {
        if batch.rowCount > 0 || !errors.isEmpty { try send() }
    }

    private mutating func send() throws {
        guard channel.send(.rows(batch, errors: errors)) else { throw CancellationError() }
        batch = RowBatch(columnCount: spec.columnCount, reservingRows: spec.rowsPerBatch)
        errors = []
    }

    func loaded(sha256: String) -> Loader.FileOutcome {
        Loader.FileOutcome(state: .loaded, rows: rows, rejected: rejected, sha256: sha256)
    }

    func failed(_ reason: String, sha256: String) -> Loader.FileOutcome {
        Loader.FileOutcome(state: .failed, rejected: rejected, sha256: sha256, error: reason)
    }
}
