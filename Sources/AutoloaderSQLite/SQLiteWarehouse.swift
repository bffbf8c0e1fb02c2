import AutoloaderCore
import CSQLite
import Foundation

/// SQLite as the warehouse: tables and catalog in one file, each load one IMMEDIATE transaction in which
/// every file is a savepoint. Dates and times are stored as ISO-8601 text (what SQLite's date functions read).
public final class SQLiteWarehouse: Warehouse {
    public let connection: SQLiteConnection
    /// The one catalog writer, on this connection.
    public let catalog: SQLCatalog

    public init(connection: SQLiteConnection) {
        self.connection = connection
        catalog = SQLCatalog(connection: connection)
    }

    public static let sqliteCapabilities = WarehouseCapabilities(name: "sqlite", transactionalCatalog: true, storesAnyValue: true, maxVarcharBytes: nil) { type in
        switch type.kind {
        case .boolean: return "BOOLEAN"
        case .smallint: return "SMALLINT"
        case .integer: return "INTEGER"
        case .bigint: return "BIGINT"
        case .decimal: return "DECIMAL(\(type.precision ?? 18),\(type.scale ?? 0))"
        case .double: return "DOUBLE"
        case .date: return "DATE"
        case .time: return "TIME"
        case .timestamp: return "TIMESTAMP"
        case .timestamptz: return "TIMESTAMPTZ"
        // TEXT affinity: JSON or digits-with-leading-zero must not be coerced to numbers.
        case .varchar, .json: return "TEXT"
        }
    }

    public var capabilities: WarehouseCapabilities { Self.sqliteCapabilities }

    public func beginLoad(table: String, files: [FileRecord], statement: String) throws -> any LoadTransaction {
        let loadID = try catalog.openLoad(table: table, files: files, statement: statement)
        return SQLiteLoadTransaction(connection: connection, log: catalog, loadID: loadID, table: table, files: files)
    }
}

final class SQLiteLoadTransaction: LoadTransaction {
    nonisolated(unsafe) private static let emptyText: UnsafeMutablePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        p.initialize(to: 0)
        return p
    }()
    let connection: SQLiteConnection
    let log: any LoadLog
    let loadID: Int64
    let table: String
    let files: [FileRecord]
    private var insert: Statement?
    private var insertMany: Statement?
    private var insertManyRows = 1
    private var insertColumns = 0

    init(connection: SQLiteConnection, log: any LoadLog, loadID: Int64, table: String, files: [FileRecord]) {
        self.connection = connection
        self.log = log
        self.loadID = loadID
        self.table = table
        self.files = files
    }

    func prepareTable(_ table: String, schema: TableSchema, partitionColumns: [String]) throws -> TableSchema {
        let typeName = SQLiteWarehouse.sqliteCapabilities.typeName
        let existing = try connection.query("SELECT name FROM pragma_table_info(?)", [.text(table)]).compactMap { $0[0].text?.lowercased() }
        if existing.isEmpty {
            var defs = schema.columns.map { "\(SQLIdentifier.quoted($0.name)) \(typeName($0.type))" }
            defs += partitionColumns.map { "\(SQLIdentifier.quoted($0)) TEXT" }
            defs.append("\(SQLIdentifier.quoted(LineageColumn.sourceFile)) TEXT")
            try change("CREATE TABLE \(SQLIdentifier.quoted(table)) (\(defs.joined(separator: ", ")))")
            return schema
        }
        // Evolution (add_columns): new columns are added; SQLite stores any value in any column, so no widening DDL.
        for column in schema.columns where !existing.contains(column.name.lowercased()) {
            try change("ALTER TABLE \(SQLIdentifier.quoted(table)) ADD COLUMN \(SQLIdentifier.quoted(column.name)) \(typeName(column.type))")
        }
        for p in partitionColumns where !existing.contains(p.lowercased()) {
            try change("ALTER TABLE \(SQLIdentifier.quoted(table)) ADD COLUMN \(SQLIdentifier.quoted(p)) TEXT")
        }
        return schema
    }

    /// DDL in the load's transaction, recorded in the schema history with it.
    private func change(_ ddl: String) throws {
        try connection.execute(ddl)
        try log.recordSchemaChange(table: table, loadID: loadID, change: ddl)
    }

    func beginFile(_ file: FileRecord) throws {
        try connection.execute("SAVEPOINT file")
    }

    func deleteRows(table: String, key: String) throws -> Int64 {
        try connection.query("DELETE FROM \(SQLIdentifier.quoted(table)) WHERE \(SQLIdentifier.quoted(LineageColumn.sourceFile)) = ?", [.text(key)])
        return connection.changes
    }

    /// Rows per multi-row INSERT: fewer statement steps per row, well under SQLite's parameter limit.
    private static let rowsPerStatement = 64

    func beginInsert(table: String, columns: [String]) throws {
        let names = columns.map(SQLIdentifier.quoted).joined(separator: ", ")
        let row = "(" + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
        let rowsPerStatement = max(1, min(Self.rowsPerStatement, 30_000 / max(1, columns.count)))
        let prefix = "INSERT INTO \(SQLIdentifier.quoted(table)) (\(names)) VALUES "
        insert = try connection.prepare(prefix + row)
        insertMany = try connection.prepare(prefix + Array(repeating: row, count: rowsPerStatement).joined(separator: ", "))
        insertManyRows = rowsPerStatement
        insertColumns = columns.count
    }

    func insert(_ batch: RowBatch) throws {
        guard let insert, let insertMany else { throw AutoloaderError.warehouse(reason: "insert before beginInsert", transient: false) }
        precondition(batch.columnCount == insertColumns, "batch shape must match the insert statement")
        try batch.arena.withUnsafeBufferPointer { arena in
            // An empty arena has no address; any valid pointer does for zero-length text.
            let base = UnsafeRawPointer(arena.baseAddress ?? UnsafePointer(Self.emptyText))
            try batch.cells.withUnsafeBufferPointer { cells in
                var row = 0
                let rows = batch.rowCount
                while row < rows {
                    let many = rows - row >= insertManyRows
                    let stmt = many ? insertMany.stmt : insert.stmt
                    let count = many ? insertManyRows : 1
                    var parameter: Int32 = 1
                    for cell in cells[(row * insertColumns)..<((row + count) * insertColumns)] {
                        let rc: Int32
                        switch cell {
                        case .null: rc = sqlite3_bind_null(stmt, parameter)
                        case let .int(v): rc = sqlite3_bind_int64(stmt, parameter, v)
                        case let .double(v): rc = sqlite3_bind_double(stmt, parameter, v)
                        case let .text(start, count):
                            // STATIC: the arena outlives this step, so SQLite need not copy.
                            rc = sqlite3_bind_text(stmt, parameter, (base + Int(start)).assumingMemoryBound(to: CChar.self), count, sqliteStatic)
                        }
                        if rc != SQLITE_OK { throw connection.error(rc) }
                        parameter += 1
                    }
                    let rc = sqlite3_step(stmt)
                    sqlite3_reset(stmt)
                    if rc != SQLITE_DONE { throw connection.error(rc) }
                    row += count
                }
            }
        }
    }

    func endInsert() throws {}

    func endSavepoint(keep: Bool) throws {
        insert = nil
        insertMany = nil
        if !keep { try connection.execute("ROLLBACK TO SAVEPOINT file") }
        try connection.execute("RELEASE SAVEPOINT file")
    }
}
