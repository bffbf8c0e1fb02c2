/// What differs between warehouses, as data read by one planner (not `if sqlite` branches).
public struct WarehouseCapabilities: Sendable {
    public var name: String
    /// Rows and catalog marks can commit in one transaction (true for SQLite and PostgreSQL).
    public var transactionalCatalog: Bool
    /// Any value fits any column (SQLite): a value that does not parse as its column's type is stored as
    /// written. Otherwise (PostgreSQL) such a value is a bad row, handled by the table's on_error policy.
    public var storesAnyValue: Bool = false
    public var maxVarcharBytes: Int?
    /// Longest identifier (table or column name) in bytes; a longer one is renamed to fit, never truncated by the
    /// warehouse behind our back. nil: no limit that matters (SQLite).
    public var maxIdentifierBytes: Int?
    /// Tables live in schemas (PostgreSQL, Redshift): a folder `schema.table` is that table in that schema.
    /// SQLite has none: the folder is table `schema_table`.
    public var schemas: Bool
    /// SQL type for a column type in this warehouse's DDL.
    public var typeName: @Sendable (ColumnType) -> String
    public init(name: String, transactionalCatalog: Bool, storesAnyValue: Bool = false, maxVarcharBytes: Int?,
                maxIdentifierBytes: Int? = nil, schemas: Bool = false, typeName: @escaping @Sendable (ColumnType) -> String) {
        self.maxIdentifierBytes = maxIdentifierBytes
        self.schemas = schemas
        self.name = name
        self.transactionalCatalog = transactionalCatalog
        self.storesAnyValue = storesAnyValue
        self.maxVarcharBytes = maxVarcharBytes
        self.typeName = typeName
    }
}

/// A converted cell. Text points into the batch's byte arena, so no String is made per field.
public enum CellValue: Sendable, Equatable {
    case null
    case int(Int64)
    case double(Double)
    case text(start: Int32, count: Int32)
}

/// Rows ready for a warehouse, row-major, with their text bytes in one arena.
public struct RowBatch: Sendable {
    public let columnCount: Int
    public var cells: [CellValue] = []
    public var arena: [UInt8] = []
    public var rowCount: Int { columnCount == 0 ? 0 : cells.count / columnCount }

    public init(columnCount: Int, reservingRows rows: Int = 0) {
        self.columnCount = columnCount
        cells.reserveCapacity(rows * columnCount)
        arena.reserveCapacity(rows * columnCount * 8)
    }

    @inline(__always) public mutating func appendText(_ bytes: UnsafeBufferPointer<UInt8>) {
        let start = Int32(truncatingIfNeeded: arena.count)
        arena.append(contentsOf: bytes)
        cells.append(.text(start: start, count: Int32(truncatingIfNeeded: bytes.count)))
    }

    /// A text cell whose bytes `write` appends to the arena (formatted in place, no temporary array).
    @inline(__always) public mutating func appendText(writing write: (inout [UInt8]) throws -> Void) rethrows {
        let start = arena.count
        try write(&arena)
        cells.append(.text(start: Int32(truncatingIfNeeded: start), count: Int32(truncatingIfNeeded: arena.count - start)))
    }

    /// Sets cell `index` (laid out already, as a columnar format fills a batch column by column) to text.
    @inline(__always) public mutating func setText(at index: Int, _ bytes: UnsafeBufferPointer<UInt8>) {
        let start = Int32(truncatingIfNeeded: arena.count)
        arena.append(contentsOf: bytes)
        cells[index] = .text(start: start, count: Int32(truncatingIfNeeded: bytes.count))
    }

    @inline(__always) public mutating func setText(at index: Int, writing write: (inout [UInt8]) throws -> Void) rethrows {
        let start = arena.count
        try write(&arena)
        cells[index] = .text(start: Int32(truncatingIfNeeded: start), count: Int32(truncatingIfNeeded: arena.count - start))
    }

    public mutating func appendText(_ string: String) {
        var s = string
        s.withUTF8 { appendText($0) }
    }

    public mutating func removeAll() {
        cells.removeAll(keepingCapacity: true)
        arena.removeAll(keepingCapacity: true)
    }

    /// Drops the cells of a row being built (a rejected row) without touching earlier rows.
    public mutating func truncate(toCellCount count: Int) {
        cells.removeSubrange(count...)
    }
}

/// The table a load writes into, as the warehouse has it.
public struct PreparedTable: Sendable {
    /// The file's columns as the table has them: the table's spelling (a table created by hand may say `ID` where
    /// the file says `id`) and, for a table created by hand, its types (values are checked against those).
    public var schema: TableSchema
    /// Whether the table has `_source_file`. Tables users create may not; their rows cannot be traced to their
    /// file, so the earlier rows of a replaced or reloaded file cannot be found, and such a replacement is refused.
    public var lineage: Bool
    public init(schema: TableSchema, lineage: Bool) {
        self.schema = schema
        self.lineage = lineage
    }
}

/// One load in progress: a warehouse transaction that holds the rows AND the catalog marks.
/// Invariant: rows and their file's `loaded` mark commit together or not at all.
/// A warehouse implements only the warehouse work (DDL, savepoints, rows); the catalog's part is `log`, the
/// one catalog writer on this same connection, and the steps below are written once in the extension.
public protocol LoadTransaction: AnyObject {
    var loadID: Int64 { get }
    var table: String { get }
    var files: [FileRecord] { get }
    var log: any LoadLog { get }
    /// The table's columns when the warehouse has it (created by hand, or before the catalog knew it), lineage
    /// columns left out: the first load maps the files' columns onto these (by name, or by position). nil: no table.
    func existingTable(_ table: String) throws -> TableSchema?
    /// Creates the table or adds missing columns; returns the table as it is after the change (each change
    /// recorded in the schema history through `log`).
    func prepareTable(_ table: String, schema: TableSchema, partitionColumns: [String]) throws -> PreparedTable
    /// Starts one file inside the load (a savepoint): its rows and outcome are undone together on abort.
    func beginFile(_ file: FileRecord) throws
    /// Ends the file's savepoint: keeps its rows, or undoes them.
    func endSavepoint(keep: Bool) throws
    /// Deletes the rows earlier versions of this key loaded (overwrite policy `replace`).
    func deleteRows(table: String, key: String) throws -> Int64
    /// Appends converted rows; column order is `columns` given to `beginInsert`.
    func beginInsert(table: String, columns: [String]) throws
    /// The statement `beginInsert` runs, as the load log (and a dry run) shows it.
    func insertStatement(table: String, columns: [String]) -> String
    func insert(_ batch: RowBatch) throws
    /// The file's rows are all sent (a streamed COPY completes here); queries may follow. Default: nothing to do.
    func endInsert() throws
    /// Abandons a streamed insert in progress (before the savepoint is rolled back).
    func abandonInsert()
}

extension LoadTransaction {
    public func abandonInsert() {}
    public func endInsert() throws {}

    /// For duplicate detection at commit time: a loaded file with the same content but another id.
    public func loadedFile(withHash sha256: String, size: Int64, excludingID: Int64) throws -> FileRecord? {
        try log.loadedTwin(table: table, sha256: sha256, size: size, excludingID: excludingID)
    }

    public func recordError(_ error: LoadErrorRecord) throws { log.bufferError(error) }

    /// Ends the current file: keeps its rows (`.loaded`) or undoes them (any other state), and records its state.
    public func endFile(_ file: FileRecord, state: FileState, sha256: String?, rows: Int64, duplicateOf: Int64?, error: String?) throws {
        abandonInsert()
        try endSavepoint(keep: state.keepsRows)
        try log.endFile(loadID: loadID, file: file, state: state, sha256: sha256, rows: rows, duplicateOf: duplicateOf, error: error)
    }

    public func commit(status: LoadStatus, rowsLoaded: Int64, rowsRejected: Int64, error: String?, schema: TableSchema?, dialect: Dialect?,
                       partitionColumns: [String], checkpointNanos: Int64?) throws {
        try log.finishLoad(loadID, table: table, status: status, rowsLoaded: rowsLoaded, rowsRejected: rowsRejected, error: error,
                           schema: schema, dialect: dialect, partitionColumns: partitionColumns, checkpointNanos: checkpointNanos)
        try log.commit()
    }

    /// Undoes everything; the load is logged aborted (transient: its files are pending again) or failed (its
    /// files fail with `reason`).
    public func rollback(reason: String, transient: Bool) {
        abandonInsert()
        log.rollback()
        log.abandonLoad(loadID, files: files, reason: reason, transient: transient)
    }

    /// Replaces the load's recorded statement with what was really run (a warehouse that builds its statement
    /// after the load has an id: Redshift's COPY batch, its statement id, query ids and duration).
    public func recordStatement(_ statement: String) throws {
        try log.recordStatement(loadID: loadID, statement: statement)
    }
}

public protocol Warehouse: AnyObject {
    var capabilities: WarehouseCapabilities { get }
    /// Starts a load of `files` into `table`: records the load as running and claims the files.
    func beginLoad(table: String, files: [FileRecord], statement: String) throws -> any LoadTransaction
}

/// One COPY: files of one table that share format, compression, dialect and partition values.
public struct CopyGroup: Sendable {
    public var files: [FileRecord]
    /// The object's URL, per file id (the warehouse reads the files itself).
    public var urls: [Int64: String]
    public var format: FileFormat
    public var compression: Compression
    public var dialect: Dialect?
    /// The files' columns, in file order (COPY maps CSV by position, JSON and Parquet by name/position).
    public var columns: [String]
    public var partitions: [(String, String)]
    /// The columns as detected in these files (their date layouts and null spellings; types are the table's).
    public var fileColumns: [Column]
    /// The length of what COPY reads where it is not the file's (a file rewritten into what COPY can read).
    public var contentLengths: [Int64: Int64]
    /// `columns` as the files spell them (`Order Date` for `order_date`): JSON is matched by key.
    public var sourceColumns: [String]
    public init(files: [FileRecord], urls: [Int64: String], format: FileFormat, compression: Compression, dialect: Dialect?,
                columns: [String], partitions: [(String, String)], fileColumns: [Column] = [], contentLengths: [Int64: Int64] = [:],
                sourceColumns: [String]? = nil) {
        self.files = files
        self.urls = urls
        self.format = format
        self.compression = compression
        self.dialect = dialect
        self.columns = columns
        self.partitions = partitions
        self.fileColumns = fileColumns
        self.contentLengths = contentLengths
        self.sourceColumns = sourceColumns ?? columns
    }
}

public struct CopyOutcome: Sendable {
    /// Files a committed load already has (found in the warehouse's ledger): not copied again.
    public var alreadyLoaded: [Int64] = []
    public var rows: Int64?
    /// nil when the COPY committed.
    public var failure: String?
    /// The files `failure` is about when only some of the load failed (its other transactions committed);
    /// nil: all of them.
    public var failedFiles: Set<Int64>?
    public var errors: [LoadErrorRecord] = []
    /// The statement as submitted (for the load log), its id and the warehouse's query ids.
    public var statement = ""
    public var statementID: String?
    public var queryIDs: [Int64] = []
    public var durationNanos: Int64?
    public init() {}
}

/// A warehouse that reads the files itself from the store (Redshift: COPY from an S3 manifest), so rows
/// never pass through the loader. `copy` commits the rows and the warehouse-side ledger of files in one
/// transaction; the catalog's marks follow, and the ledger makes a crash between the two harmless.
/// A file version as a warehouse's ledger of loaded files holds it.
public struct LedgerFile: Sendable, Hashable {
    public var key: String
    public var size: Int64
    public var modifiedNanos: Int64
    public init(key: String, size: Int64, modifiedNanos: Int64) {
        self.key = key
        self.size = size
        self.modifiedNanos = modifiedNanos
    }
}

public protocol CopyingWarehouse: Warehouse {
    /// `reloads`: files whose loaded rows this load replaces (`reload`); a new version of a loaded file replaces
    /// its earlier rows under overwrite=replace. COPY cannot tell which row came from which file, so the rows of
    /// the earlier loads go whole and their other files are copied again: `recopy` groups those.
    func copy(table: String, loadID: Int64, schema: TableSchema, groups: [CopyGroup], options: TableOptions,
              reloads: Set<Int64>, recopy: ([LedgerFile]) throws -> [CopyGroup]) throws -> CopyOutcome
    /// Puts a rewritten copy of a file where the warehouse's reader can read it (never under the landing root);
    /// returns its URL. `name` is unique per file version, so a retry overwrites the same object.
    func stage(table: String, name: String, body: [UInt8]) throws -> String
}
