import AutoloaderCore
import CSQLite
import Foundation

/// SQLite as the warehouse: tables and catalog in one file, each load one IMMEDIATE transaction in which
/// every file is a savepoint. Dates and times are stored as ISO-8601 text (what SQLite's date functions read).
public final class SQLiteWarehouse: Warehouse {
    public let connection: SQLiteConnection
    public let catalog: SQLiteCatalog

    public init(connection: SQLiteConnection) {
        self.connection = connection
        catalog = SQLiteCatalog(connection: connection)
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
        let keys = String(decoding: try JSONEncoder().encode(files.map(\.key)), as: UTF8.self)
        let bytes = files.reduce(0) { $0 + $1.size }
        let loadID: Int64 = try connection.transaction {
            try connection.query("INSERT INTO _autoloader_loads(table_name, files, statement, status, bytes, started_at) VALUES (?,?,?,?,?,?)",
                                 [.text(table), .text(keys), .text(statement), .text(LoadStatus.running.rawValue), .int(bytes), .text(WallClock.nowISO())])
            let id = connection.lastInsertRowID
            for f in files {
                try connection.query("UPDATE _autoloader_files SET state='loading', load_id=? WHERE id=? AND state='pending'", [.int(id), .int(f.id)])
                if connection.changes != 1 {
                    throw AutoloaderError.warehouse(reason: "file \(f.key) is no longer pending (claimed elsewhere)", transient: true)
                }
            }
            return id
        }
        try connection.execute("BEGIN IMMEDIATE")
        return SQLiteLoadTransaction(connection: connection, loadID: loadID, table: table)
    }

}

final class SQLiteLoadTransaction: LoadTransaction {
    nonisolated(unsafe) private static let emptyText: UnsafeMutablePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        p.initialize(to: 0)
        return p
    }()
    let connection: SQLiteConnection
    let loadID: Int64
    let table: String
    private var insert: Statement?
    private var insertMany: Statement?
    private var insertManyRows = 1
    private var insertColumns = 0
    private var pendingErrors: [LoadErrorRecord] = []
    private var open = true
    private var maxModified: Int64?

    init(connection: SQLiteConnection, loadID: Int64, table: String) {
        self.connection = connection
        self.loadID = loadID
        self.table = table
    }

    deinit { if open { try? connection.execute("ROLLBACK") } }

    func prepareTable(_ table: String, schema: TableSchema, partitionColumns: [String]) throws -> TableSchema {
        let typeName = SQLiteWarehouse.sqliteCapabilities.typeName
        let existing = try connection.query("SELECT name FROM pragma_table_info(?)", [.text(table)]).compactMap { $0[0].text?.lowercased() }
        if existing.isEmpty {
            var defs = schema.columns.map { "\(SQLIdentifier.quoted($0.name)) \(typeName($0.type))" }
            defs += partitionColumns.map { "\(SQLIdentifier.quoted($0)) TEXT" }
            defs.append("\(SQLIdentifier.quoted(LineageColumn.sourceFile)) TEXT")
            try connection.execute("CREATE TABLE \(SQLIdentifier.quoted(table)) (\(defs.joined(separator: ", ")))")
            return schema
        }
        // Evolution (add_columns): new columns are added; SQLite stores any value in any column, so no widening DDL.
        for column in schema.columns where !existing.contains(column.name.lowercased()) {
            try connection.execute("ALTER TABLE \(SQLIdentifier.quoted(table)) ADD COLUMN \(SQLIdentifier.quoted(column.name)) \(typeName(column.type))")
        }
        for p in partitionColumns where !existing.contains(p.lowercased()) {
            try connection.execute("ALTER TABLE \(SQLIdentifier.quoted(table)) ADD COLUMN \(SQLIdentifier.quoted(p)) TEXT")
        }
        return schema
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

    func loadedFile(withHash sha256: String, size: Int64, excludingID: Int64) throws -> FileRecord? {
        try SQLiteCatalog(connection: connection).files(where: "table_name=? AND sha256=? AND size=? AND id<>? AND state='loaded'",
                                                                [.text(table), .text(sha256), .int(size), .int(excludingID)]).first
    }

    func recordError(_ error: LoadErrorRecord) throws {
        pendingErrors.append(error)
    }

    func endFile(_ file: FileRecord, state: FileState, sha256: String?, rows: Int64, duplicateOf: Int64?, error: String?) throws {
        insert = nil
        insertMany = nil
        if state == .loaded {
            try connection.execute("RELEASE SAVEPOINT file")
            try connection.query("UPDATE _autoloader_files SET superseded=1 WHERE key=? AND id<>?", [.text(file.key), .int(file.id)])
            maxModified = max(maxModified ?? file.modifiedNanos, file.modifiedNanos)
        } else {
            try connection.execute("ROLLBACK TO SAVEPOINT file")
            try connection.execute("RELEASE SAVEPOINT file")
        }
        try connection.query("UPDATE _autoloader_files SET state=?, sha256=?, rows=?, duplicate_of=?, error=?, load_id=? WHERE id=?",
                             [.text(state.rawValue), sha256.sql, .int(rows), duplicateOf.sql, error.sql, .int(loadID), .int(file.id)])
        let stmt = try connection.prepare("INSERT INTO _autoloader_load_errors(load_id, file, line, column_name, raw_text, reason) VALUES (?,?,?,?,?,?)")
        for e in pendingErrors {
            try stmt.bind([.int(e.loadID), .text(e.file), e.line.map { .int(Int64($0)) } ?? .null, e.column.sql, .text(e.rawText), .text(e.reason)])
            _ = try stmt.step()
        }
        pendingErrors.removeAll()
    }

    func commit(status: LoadStatus, rowsLoaded: Int64, rowsRejected: Int64, error: String?, schema: TableSchema?, dialect: Dialect?, partitionColumns: [String]) throws {
        let encoder = JSONEncoder()
        try connection.query("UPDATE _autoloader_loads SET status=?, rows_loaded=?, rows_rejected=?, finished_at=?, error=? WHERE id=?",
                             [.text(status.rawValue), .int(rowsLoaded), .int(rowsRejected), .text(WallClock.nowISO()), error.sql, .int(loadID)])
        if let schema {
            try connection.query("UPDATE _autoloader_tables SET schema=?, dialect=COALESCE(?, dialect), partition_columns=?, updated_at=? WHERE name=?",
                                 [.text(String(decoding: try encoder.encode(schema), as: UTF8.self)),
                                  dialect.map { .text(String(decoding: (try? encoder.encode($0)) ?? Data(), as: UTF8.self)) } ?? .null,
                                  .text(String(decoding: try encoder.encode(partitionColumns), as: UTF8.self)), .text(WallClock.nowISO()), .text(table)])
        }
        if let maxModified {
            try connection.query("UPDATE _autoloader_tables SET checkpoint_ns=MAX(COALESCE(checkpoint_ns, 0), ?) WHERE name=?", [.int(maxModified), .text(table)])
        }
        try connection.execute("COMMIT")
        open = false
    }

    func recordStatement(_ statement: String) throws {
        try connection.query("UPDATE _autoloader_loads SET statement=? WHERE id=?", [.text(statement), .int(loadID)])
    }

    func rollback(reason: String, requeue: Bool) {
        guard open else { return }
        open = false
        insert = nil
        try? connection.execute("ROLLBACK")
        try? connection.transaction {
            try connection.query("UPDATE _autoloader_loads SET status='failed', finished_at=?, error=? WHERE id=?", [.text(WallClock.nowISO()), .text(reason), .int(loadID)])
            try connection.query("UPDATE _autoloader_files SET state=?, error=? WHERE load_id=? AND state='loading'",
                                 [.text(requeue ? "pending" : "failed"), requeue ? .null : .text(reason), .int(loadID)])
        }
    }

}
