import AutoloaderCore
import CSQLite
import Foundation

/// SQLite as the warehouse: tables and catalog in one file; each load's claim, rows and marks commit in one
/// IMMEDIATE transaction. Dates and times are stored as ISO-8601 text (what SQLite's date functions read).
public final class SQLiteWarehouse: Warehouse {
    public let connection: SQLiteConnection
    /// The one catalog writer, on this connection.
    public let catalog: SQLCatalog
    /// Rows are staged outside the database's one write lock and merged in a short transaction (see
    /// `SQLiteStagedLoadTransaction`). Off for Redshift's bookkeeping, whose claim must precede the COPY.
    public let staging: Bool

    public init(connection: SQLiteConnection, staging: Bool = true) {
        self.connection = connection
        self.staging = staging
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
        guard staging else {
            let loadID = try catalog.openLoad(table: table, files: files, statement: statement)
            return SQLiteLoadTransaction(connection: connection, log: catalog, loadID: loadID, table: table, files: files)
        }
        SQLiteStagedLoadTransaction.removeStaleStages(of: connection.path)
        let loadID = try catalog.queueLoad(table: table, files: files, statement: statement)
        do {
            return try SQLiteStagedLoadTransaction(connection: connection, catalog: catalog, loadID: loadID, table: table, files: files)
        } catch {
            catalog.abandonLoad(loadID, files: files, reason: "\(error)", transient: AutoloaderError.isTransient(error))
            throw error
        }
    }

    /// A column as the table declares it: SQLite's type affinity comes from the declared type's text.
    struct DeclaredColumn: Equatable {
        var name: String
        var type: String
        var definition: String { "\(SQLIdentifier.quoted(name)) \(type)" }
    }

    /// The columns `table` must gain to hold `schema`, given the columns it has (lowercased; empty: no table yet):
    /// all of them, lineage last, for a new table; the missing ones, in order, for an existing one (SQLite stores any
    /// value in any column, so a column never needs widening).
    static func newColumns(schema: TableSchema, partitionColumns: [String], existing: Set<String>) -> [DeclaredColumn] {
        let typeName = sqliteCapabilities.typeName
        let columns = schema.columns.map { DeclaredColumn(name: $0.name, type: typeName($0.type)) }
            + partitionColumns.map { DeclaredColumn(name: $0, type: "TEXT") }
        if existing.isEmpty { return columns + [DeclaredColumn(name: LineageColumn.sourceFile, type: "TEXT")] }
        return columns.filter { !existing.contains($0.name.lowercased()) }
    }

    /// The DDL that makes `table` hold `schema`, given the columns it has: CREATE TABLE, or ADD COLUMN for each
    /// missing one.
    static func ddl(table: String, schema: TableSchema, partitionColumns: [String], existing: Set<String>) -> [String] {
        let quoted = SQLIdentifier.quoted(table)
        let columns = newColumns(schema: schema, partitionColumns: partitionColumns, existing: existing)
        if existing.isEmpty { return ["CREATE TABLE \(quoted) (\(columns.map(\.definition).joined(separator: ", ")))"] }
        return columns.map { "ALTER TABLE \(quoted) ADD COLUMN \($0.definition)" }
    }

    /// A table's columns in order, as declared (empty: no such table). Main's only: a staged load's merge has the
    /// staging file attached, whose tables must not be mistaken for a warehouse table of the same name.
    static func declaredColumns(of table: String, in connection: SQLiteConnection) throws -> [DeclaredColumn] {
        try connection.query("SELECT name, type FROM pragma_table_info(?, 'main') ORDER BY cid", [.text(table)]).map {
            DeclaredColumn(name: $0[0].text ?? "", type: $0[1].text ?? "")
        }
    }

    /// A table's columns and declared types (lineage columns left out); nil when there is no such table. Declared
    /// types we spell ourselves read back as theirs; any other is text (SQLite keeps values as written).
    static func existingTable(_ table: String, in connection: SQLiteConnection) throws -> TableSchema? {
        let columns = try declaredColumns(of: table, in: connection).compactMap { column -> Column? in
            let name = column.name
            guard !LineageColumn.reserved.contains(name.lowercased()) else { return nil }
            let declared = column.type.uppercased()
            let digits = declared.hasPrefix("DECIMAL(") ? declared.dropFirst(8).dropLast().split(separator: ",").compactMap { Int($0) } : []
            let type = digits.count == 2 ? .decimal(digits[0], digits[1])
                : TypeKind.allCases.map { ColumnType(kind: $0) }.first { sqliteCapabilities.typeName($0) == declared } ?? .varchar()
            return Column(name: name, type: type, nullable: true)
        }
        return columns.isEmpty ? nil : TableSchema(columns: columns)
    }

    static func insertStatement(table: String, columns: [String]) -> String {
        "INSERT INTO \(SQLIdentifier.quoted(table)) (\(columns.map(SQLIdentifier.quoted).joined(separator: ", "))) VALUES ("
            + Array(repeating: "?", count: columns.count).joined(separator: ", ") + "), …"
    }

    /// A table's column names, lowercased (SQLite matches names whatever their case).
    static func columns(of table: String, in connection: SQLiteConnection) throws -> Set<String> {
        Set(try declaredColumns(of: table, in: connection).map { $0.name.lowercased() })
    }
}

/// Converted rows into a table with multi-row INSERTs (prepared once per file): the hot path of a SQLite load.
final class RowInserter {
    nonisolated(unsafe) private static let emptyText: UnsafeMutablePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        p.initialize(to: 0)
        return p
    }()
    /// Rows per multi-row INSERT: fewer statement steps per row, well under SQLite's parameter limit.
    private static let rowsPerStatement = 64
    let connection: SQLiteConnection
    private let insert: Statement
    private let insertMany: Statement
    private let insertManyRows: Int
    private let insertColumns: Int

    init(connection: SQLiteConnection, table: String, columns: [String]) throws {
        self.connection = connection
        let names = columns.map(SQLIdentifier.quoted).joined(separator: ", ")
        let row = "(" + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
        let rowsPerStatement = max(1, min(Self.rowsPerStatement, 30_000 / max(1, columns.count)))
        let prefix = "INSERT INTO \(table) (\(names)) VALUES "
        insert = try connection.prepare(prefix + row)
        insertMany = try connection.prepare(prefix + Array(repeating: row, count: rowsPerStatement).joined(separator: ", "))
        insertManyRows = rowsPerStatement
        insertColumns = columns.count
    }

    func insert(_ batch: RowBatch) throws {
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
}

/// The direct load: one IMMEDIATE transaction from claim to commit, rows written into the table as they come.
/// Used where the claim must come first (Redshift's bookkeeping: the COPY runs while it is held).
final class SQLiteLoadTransaction: LoadTransaction {
    let connection: SQLiteConnection
    let log: any LoadLog
    let loadID: Int64
    let table: String
    let files: [FileRecord]
    private var inserter: RowInserter?

    init(connection: SQLiteConnection, log: any LoadLog, loadID: Int64, table: String, files: [FileRecord]) {
        self.connection = connection
        self.log = log
        self.loadID = loadID
        self.table = table
        self.files = files
    }

    func prepareTable(_ table: String, schema: TableSchema, partitionColumns: [String]) throws -> PreparedTable {
        let existing = try SQLiteWarehouse.columns(of: table, in: connection)
        for ddl in SQLiteWarehouse.ddl(table: table, schema: schema, partitionColumns: partitionColumns, existing: existing) {
            try connection.execute(ddl)
            try log.recordSchemaChange(table: self.table, loadID: loadID, change: ddl)
        }
        // SQLite matches column names whatever their case and stores any value in any column: only lineage differs.
        return PreparedTable(schema: schema, lineage: existing.isEmpty || existing.contains(LineageColumn.sourceFile))
    }

    func existingTable(_ table: String) throws -> TableSchema? { try SQLiteWarehouse.existingTable(table, in: connection) }

    func beginFile(_ file: FileRecord) throws {
        try connection.execute("SAVEPOINT file")
    }

    func deleteRows(table: String, key: String) throws -> Int64 {
        try connection.query("DELETE FROM \(SQLIdentifier.quoted(table)) WHERE \(SQLIdentifier.quoted(LineageColumn.sourceFile)) = ?", [.text(key)])
        return connection.changes
    }

    func insertStatement(table: String, columns: [String]) -> String { SQLiteWarehouse.insertStatement(table: table, columns: columns) }

    func beginInsert(table: String, columns: [String]) throws {
        inserter = try RowInserter(connection: connection, table: SQLIdentifier.quoted(table), columns: columns)
    }

    func insert(_ batch: RowBatch) throws {
        guard let inserter else { throw AutoloaderError.warehouse(reason: "insert before beginInsert", transient: false) }
        try inserter.insert(batch)
    }

    func endSavepoint(keep: Bool) throws {
        inserter = nil
        if !keep { try connection.execute("ROLLBACK TO SAVEPOINT file") }
        try connection.execute("RELEASE SAVEPOINT file")
    }
}
