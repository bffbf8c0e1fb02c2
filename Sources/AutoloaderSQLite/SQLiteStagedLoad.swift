import AutoloaderCore
import CSQLite
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A SQLite load that holds the database's one write lock only briefly. SQLite has one writer per file: a
/// load that wrote its rows into the table as it parsed held that lock for the whole parse, so one slow file
/// stalled every other table's loads and discovery itself. Here the rows go to a staging file of their own
/// (its own lock), and everything that touches the database — DDL, the claim, deletes, the rows, the marks —
/// is recorded in order and replayed at commit in ONE short IMMEDIATE transaction:
///
///     BEGIN IMMEDIATE · claim (SQLCatalog.startLoad) · per kept file: DDL, DELETE old rows,
///     INSERT … SELECT from the staging file, its mark · the load's end · COMMIT
///
/// The protocol is the direct one, so the exactly-once argument is unchanged: claim, rows and marks commit
/// together. A file that is not kept (failed, duplicate) has its recorded steps dropped, as a rolled-back
/// savepoint would. Two processes may stage the same files; the second claim finds them loaded and rolls back.
final class SQLiteStagedLoadTransaction: LoadTransaction {
    let connection: SQLiteConnection
    let catalog: SQLCatalog
    let loadID: Int64
    let table: String
    let files: [FileRecord]
    let stagePath: String
    private var stage: SQLiteConnection?
    private var inserter: RowInserter?
    private var staged = 0
    /// Steps to run at commit, in order; they get the main connection and its catalog.
    fileprivate var steps: [(SQLiteConnection, SQLCatalog) throws -> Void] = []
    /// Where the current file's steps begin (a file that is not kept drops them), and its staging table if it
    /// got as far as rows.
    private var fileStart = 0
    private var fileTable: String?
    /// Tables as the recorded DDL will leave them, columns in order (later files of the batch must not add them
    /// again, and a staging table mirrors its target).
    private var planned: [String: [SQLiteWarehouse.DeclaredColumn]] = [:]
    /// `planned` when the current file began: a file whose steps are dropped takes its DDL with it, so the next file
    /// of the batch must create (or add) what it had planned.
    private var plannedAtFileStart: [String: [SQLiteWarehouse.DeclaredColumn]] = [:]
    private lazy var deferred = DeferredLoadLog(owner: self)
    var log: any LoadLog { deferred }

    /// Longest wait for the write lock at commit: other loads hold it only to merge, so this is short in practice;
    /// giving up would throw away the staged work.
    static let commitBusyMillis: Int32 = 120_000

    init(connection: SQLiteConnection, catalog: SQLCatalog, loadID: Int64, table: String, files: [FileRecord]) throws {
        self.connection = connection
        self.catalog = catalog
        self.loadID = loadID
        self.table = table
        self.files = files
        stagePath = "\(connection.path).stage-\(getpid())-\(loadID)"
        let stage = try SQLiteConnection(path: stagePath, busyTimeoutMillis: 1_000)
        // Scratch: nothing in it outlives the load, so no journal and no syncs.
        try stage.execute("PRAGMA journal_mode=OFF")
        try stage.execute("PRAGMA synchronous=OFF")
        try stage.execute("BEGIN")
        self.stage = stage
    }

    deinit { removeStage() }

    private func removeStage() {
        inserter = nil
        stage = nil
        unlink(stagePath)
    }

    /// Staging files of processes that are gone (killed mid-load) are removed, once per process.
    static func removeStaleStages(of databasePath: String) {
        cleaned.withLock {
            guard !$0.contains(databasePath) else { return }
            $0.insert(databasePath)
            let url = URL(fileURLWithPath: databasePath)
            let prefix = url.lastPathComponent + ".stage-"
            let folder = url.deletingLastPathComponent().path
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.hasPrefix(prefix) {
                guard let pid = Int32(name.dropFirst(prefix.count).prefix { $0 != "-" }) else { continue }
                if kill(pid, 0) != 0 && errno == ESRCH { unlink(folder + "/" + name) }
            }
        }
    }

    private static let cleaned = Locked(Set<String>())

    func prepareTable(_ table: String, schema: TableSchema, partitionColumns: [String]) throws -> PreparedTable {
        // What the table will have once the recorded steps run: decides the DDL now, so that the batch's later
        // files see the columns earlier ones add. At commit the table is read again under the lock.
        let current = try layout(of: table)
        let existing = Set(current.map { $0.name.lowercased() })
        let new = SQLiteWarehouse.newColumns(schema: schema, partitionColumns: partitionColumns, existing: existing)
        if !new.isEmpty {
            planned[table] = current + new
            let load = loadID, owner = self.table
            steps.append { connection, catalog in
                let now = try SQLiteWarehouse.columns(of: table, in: connection)
                for ddl in SQLiteWarehouse.ddl(table: table, schema: schema, partitionColumns: partitionColumns, existing: now) {
                    try connection.execute(ddl)
                    try catalog.recordSchemaChange(table: owner, loadID: load, change: ddl)
                }
            }
        }
        return PreparedTable(schema: schema, lineage: existing.isEmpty || existing.contains(LineageColumn.sourceFile))
    }

    func existingTable(_ table: String) throws -> TableSchema? { try SQLiteWarehouse.existingTable(table, in: connection) }

    /// `table`'s columns once the recorded steps have run.
    private func layout(of table: String) throws -> [SQLiteWarehouse.DeclaredColumn] {
        if let planned = planned[table] { return planned }
        return try SQLiteWarehouse.declaredColumns(of: table, in: connection)
    }

    func beginFile(_ file: FileRecord) throws {
        fileStart = steps.count
        plannedAtFileStart = planned
        fileTable = nil
    }

    func deleteRows(table: String, key: String) throws -> Int64 {
        steps.append { connection, _ in
            try connection.query("DELETE FROM \(SQLIdentifier.quoted(table)) WHERE \(SQLIdentifier.quoted(LineageColumn.sourceFile)) = ?", [.text(key)])
        }
        return 0  // known at commit only; nothing reads it
    }

    func insertStatement(table: String, columns: [String]) -> String { SQLiteWarehouse.insertStatement(table: table, columns: columns) }

    func beginInsert(table: String, columns: [String]) throws {
        guard let stage else { throw AutoloaderError.warehouse(reason: "the load's staging file is closed", transient: true) }
        staged += 1
        let name = "f\(staged)"
        fileTable = name
        // The staging table is declared as its target will be: same columns, order and declared types (so the same
        // affinity applies as the rows are staged), which lets the merge be `INSERT … SELECT *`, which SQLite runs by
        // copying each record whole instead of decoding and re-encoding it (a third of the merge's time).
        let layout = try layout(of: table)
        try stage.execute("CREATE TABLE \(name) (\(layout.map(\.definition).joined(separator: ", ")))")
        inserter = try RowInserter(connection: stage, table: name, columns: columns)
        let quoted = "main.\(SQLIdentifier.quoted(table))"
        let named = columns.map(SQLIdentifier.quoted).joined(separator: ", ")
        // Whole records only when the file fills every column: a column it lacks must get the table's DEFAULT (a
        // table made by hand may have one), which only an INSERT that leaves the column out gives.
        let whole = Set(columns.map { $0.lowercased() }) == Set(layout.map { $0.name.lowercased() })
        steps.append { connection, _ in
            // Another process may have changed the table since it was staged: then by name.
            if try whole && SQLiteWarehouse.declaredColumns(of: table, in: connection) == layout {
                try connection.execute("INSERT INTO \(quoted) SELECT * FROM stage.\(name)")
            } else {
                try connection.execute("INSERT INTO \(quoted) (\(named)) SELECT \(named) FROM stage.\(name)")
            }
        }
    }

    func insert(_ batch: RowBatch) throws {
        guard let inserter else { throw AutoloaderError.warehouse(reason: "insert before beginInsert", transient: false) }
        try inserter.insert(batch)
    }

    func endSavepoint(keep: Bool) throws {
        inserter = nil
        if !keep {
            steps.removeSubrange(fileStart...)
            planned = plannedAtFileStart
            if let stage, let fileTable { try stage.execute("DELETE FROM \(fileTable)") }  // its rows will not be merged
        }
    }

    /// COMMIT of the load: the recorded steps in one IMMEDIATE transaction.
    fileprivate func replay() throws {
        guard let stage else { throw AutoloaderError.warehouse(reason: "the load's staging file is closed", transient: true) }
        try stage.execute("COMMIT")
        try connection.query("ATTACH DATABASE ? AS stage", [.text(stagePath)])
        defer {
            // DETACH fails only if the connection is gone, and then there is nothing left to detach.
            do { try connection.execute("DETACH DATABASE stage") } catch {}
            removeStage()
        }
        connection.setBusyTimeout(Self.commitBusyMillis)
        defer { connection.setBusyTimeout(connection.busyTimeoutMillis) }
        try catalog.begin()
        do {
            try catalog.startLoad(loadID, table: table, files: files)
            for step in steps { try step(connection, catalog) }
            try catalog.commit()
        } catch {
            catalog.rollback()
            throw error
        }
        steps.removeAll()
    }

    fileprivate func discard() {
        steps.removeAll()
        removeStage()
    }
}

/// The catalog writes of a staged load: recorded as steps of its commit, except reads and the closing of a
/// load that rolled back (autocommit, as in the direct load).
final class DeferredLoadLog: LoadLog {
    unowned let owner: SQLiteStagedLoadTransaction
    private var errors: [LoadErrorRecord] = []
    /// Files this load will mark loaded: the batch's later files must see them as twins.
    private var loaded: [FileRecord] = []

    init(owner: SQLiteStagedLoadTransaction) { self.owner = owner }

    func bufferError(_ error: LoadErrorRecord) { errors.append(error) }

    func endFile(loadID: Int64, file: FileRecord, state: FileState, sha256: String?, rows: Int64, duplicateOf: Int64?, error: String?) throws {
        let errors = self.errors
        self.errors.removeAll()
        if state.keepsRows {
            var done = file
            done.sha256 = sha256
            loaded.append(done)
        }
        owner.steps.append { _, catalog in
            for e in errors { catalog.bufferError(e) }
            try catalog.endFile(loadID: loadID, file: file, state: state, sha256: sha256, rows: rows, duplicateOf: duplicateOf, error: error)
        }
    }

    func replaced(key: String, by file: FileRecord) throws {
        owner.steps.append { _, catalog in try catalog.replaced(key: key, by: file) }
    }

    func recordSchemaChange(table: String, loadID: Int64, change: String) throws {
        owner.steps.append { _, catalog in try catalog.recordSchemaChange(table: table, loadID: loadID, change: change) }
    }

    func recordStatement(loadID: Int64, statement: String) throws {
        owner.steps.append { _, catalog in try catalog.recordStatement(loadID: loadID, statement: statement) }
    }

    func loadedTwin(table: String, sha256: String, size: Int64, excludingID: Int64) throws -> FileRecord? {
        if let twin = loaded.first(where: { $0.table == table && $0.sha256 == sha256 && $0.size == size && $0.id != excludingID }) { return twin }
        return try owner.catalog.loadedTwin(table: table, sha256: sha256, size: size, excludingID: excludingID)
    }

    func finishLoad(_ id: Int64, table: String, status: LoadStatus, rowsLoaded: Int64, rowsRejected: Int64, error: String?,
                    schema: TableSchema?, dialect: Dialect?, partitionColumns: [String], checkpointNanos: Int64?) throws {
        owner.steps.append { _, catalog in
            try catalog.finishLoad(id, table: table, status: status, rowsLoaded: rowsLoaded, rowsRejected: rowsRejected, error: error,
                                   schema: schema, dialect: dialect, partitionColumns: partitionColumns, checkpointNanos: checkpointNanos)
        }
    }

    func commit() throws { try owner.replay() }

    func rollback() { owner.discard() }

    func abandonLoad(_ id: Int64, files: [FileRecord], reason: String, transient: Bool) {
        owner.catalog.abandonLoad(id, files: files, reason: reason, transient: transient)
    }
}

/// A value behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
