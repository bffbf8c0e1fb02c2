import AutoloaderCore
import CSQLite
#if canImport(Glibc)
import Glibc
#endif

/// A thin, typed wrapper over libsqlite3: prepared statements reused on the hot path, errors carrying
/// SQLite's message. One connection per thread; SQLite's own locking (WAL + busy timeout) does the rest.
public final class SQLiteConnection {
    let db: OpaquePointer
    public let path: String
    /// The busy timeout this connection was opened with (a load's commit waits longer, then restores it).
    public let busyTimeoutMillis: Int32

    /// `busyTimeoutMillis`: how long a write waits for another connection's transaction. The service waits
    /// briefly and retries (its scheduler takes turns); the operations commands wait longer.
    public init(path: String, busyTimeoutMillis: Int32 = 30_000) throws {
        // A new database file is created readable by its owner only: it holds the catalog and the loaded rows.
        // (SQLite gives its -wal and -shm files the database file's permissions.)
        if path != ":memory:", access(path, F_OK) != 0 {
            let fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0o600)
            if fd >= 0 { close(fd) }
        }
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        guard sqlite3_open_v2(path, &handle, flags, nil) == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            throw AutoloaderError.warehouse(reason: "cannot open SQLite database \(path): \(message)", transient: false)
        }
        db = handle
        self.path = path
        self.busyTimeoutMillis = busyTimeoutMillis
        sqlite3_busy_timeout(db, busyTimeoutMillis)
        // WAL: readers (users' queries, `autoloader tables`) never block the loader and vice versa.
        // synchronous=NORMAL in WAL keeps every commit atomic; a power cut may lose the last commits, together
        // with their "loaded" marks, so exactly-once still holds.
        // 32 KB pages for a new database (an existing one keeps its own; WAL fixes it): a load writes its rows to
        // the WAL and the checkpoint copies them into the file, a system call per page each way, and 4 KB pages made
        // that a third of a 1M-row load. Larger pages cost the catalog's small commits more WAL bytes; measured with
        // benchmarks/formats and benchmarks/small-files, 32 KB was the balance (64 KB slowed 10,000 small files ~10 %).
        try execute("PRAGMA page_size=\(Self.pageSize)")
        try execute("PRAGMA journal_mode=WAL")
        try execute("PRAGMA synchronous=NORMAL")
        try execute("PRAGMA foreign_keys=ON")
    }

    static let pageSize = 32_768

    deinit { sqlite3_close_v2(db) }

    /// A dry run (`Enclosure`): from `enclose` on, nothing this connection does is committed; `discardEnclosure`
    /// undoes it all.
    public private(set) var enclosed = false

    public func enclose() throws {
        try execute("BEGIN")
        enclosed = true
    }

    public func discardEnclosure() throws {
        enclosed = false
        try execute("ROLLBACK")
    }

    @inline(__always) func enclosing(_ sql: String) -> String { enclosed ? Enclosure.statement(sql) : sql }

    /// How long a write waits for another connection's transaction (milliseconds).
    public func setBusyTimeout(_ millis: Int32) { sqlite3_busy_timeout(db, millis) }

    func error(_ code: Int32, _ sql: String? = nil) -> AutoloaderError {
        let message = String(cString: sqlite3_errmsg(db))
        if Self.isBusy(code) { return .contention("SQLite: \(message) (another connection is writing)") }
        return .warehouse(reason: "SQLite: \(message)" + (sql.map { " in: \($0.prefix(200))" } ?? ""), transient: Self.isTransient(code))
    }

    /// Faults of the moment, not of the data: another writer holds the lock, the disk is full or failing,
    /// memory ran out. SQLite rolls the whole transaction back on some of them, so the load is retried whole.
    static func isBusy(_ code: Int32) -> Bool { code & 0xFF == SQLITE_BUSY || code & 0xFF == SQLITE_LOCKED }

    static func isTransient(_ code: Int32) -> Bool {
        switch code & 0xFF {  // extended result codes keep the primary code in the low byte
        case SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM, SQLITE_CANTOPEN, SQLITE_PROTOCOL: return true
        default: return false
        }
    }

    public func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, enclosing(sql), nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "code \(rc)"
            sqlite3_free(message)
            if Self.isBusy(rc) { throw AutoloaderError.contention("SQLite: \(text) (another connection is writing)") }
            throw AutoloaderError.warehouse(reason: "SQLite: \(text) in: \(sql.prefix(200))", transient: Self.isTransient(rc))
        }
    }

    public func prepare(_ sql: String) throws -> Statement {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(db, enclosing(sql), -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error(rc, sql) }
        return Statement(stmt: stmt, connection: self)
    }

    /// Runs a statement with parameters and returns all rows (catalog queries only, not the hot path). Statements
    /// are kept prepared: parsing the catalog's SQL again for every file was a tenth of loading many small files.
    @discardableResult
    public func query(_ sql: String, _ params: [SQLValue] = []) throws -> [[SQLValue]] {
        let key = enclosing(sql)
        let stmt: Statement
        if let kept = prepared[key] {
            stmt = kept
        } else {
            stmt = try prepare(sql)
            if prepared.count >= 128 { prepared.removeAll() }
            prepared[key] = stmt
        }
        defer { sqlite3_reset(stmt.stmt) }  // a statement left mid-way would hold its read lock
        try stmt.bind(params)
        var rows: [[SQLValue]] = []
        while try stmt.step() { rows.append(stmt.row()) }
        return rows
    }
    private var prepared: [String: Statement] = [:]

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(db) }
    public var changes: Int64 { Int64(sqlite3_changes(db)) }

    /// Runs `body` in an IMMEDIATE transaction (takes the write lock up front, so it cannot deadlock later).
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}

public enum SQLValue: Equatable, Sendable {
    case null, int(Int64), double(Double), text(String)
    public var int: Int64? {
        switch self {
        case let .int(v): return v
        case let .text(s): return Int64(s)
        default: return nil
        }
    }
    public var text: String? {
        switch self {
        case let .text(s): return s
        case let .int(v): return String(v)
        case let .double(v): return String(v)
        case .null: return nil
        }
    }
}

extension SQLiteConnection: CatalogConnection {
    /// The catalog as `_autoloader_*` tables in the warehouse's own file: rows and marks share a transaction.
    public static let catalogDialect = CatalogDialect(
        name: "sqlite",
        table: { SQLIdentifier.quoted("_autoloader_" + $0) },
        index: { SQLIdentifier.quoted("_autoloader_" + $0) },
        parameterPrefix: "?",
        serialKey: "INTEGER PRIMARY KEY",
        boolean: "INTEGER",
        // IMMEDIATE takes the write lock up front (a deferred transaction that upgrades later can deadlock);
        // waiting for it is bounded by the busy timeout.
        begin: ["BEGIN IMMEDIATE"],
        tryLock: nil,
        lock: nil,
        createNamespace: [],
        tableExists: "SELECT 1 FROM sqlite_master WHERE type='table' AND name='_autoloader_' || ?1",
        columnNames: "SELECT name FROM pragma_table_info('_autoloader_' || ?1)",
        greatest: "MAX"
    )

    public var dialect: CatalogDialect { Self.catalogDialect }

    public func run(_ sql: String, _ binds: [DBValue]) throws -> [[DBValue]] {
        try query(sql, binds.map { v -> SQLValue in
            switch v {
            case .null: return .null
            case let .int(i): return .int(i)
            case let .text(s): return .text(s)
            }
        }).map { row in
            row.map { v -> DBValue in
                switch v {
                case .null: return .null
                case let .int(i): return .int(i)
                case let .double(d): return .text(String(d))
                case let .text(s): return .text(s)
                }
            }
        }
    }
}

// SQLITE_TRANSIENT / SQLITE_STATIC are macros Swift cannot import.
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
let sqliteStatic = unsafeBitCast(0, to: sqlite3_destructor_type.self)

public final class Statement {
    let stmt: OpaquePointer
    unowned let connection: SQLiteConnection

    init(stmt: OpaquePointer, connection: SQLiteConnection) {
        self.stmt = stmt
        self.connection = connection
    }

    deinit { sqlite3_finalize(stmt) }

    public func bind(_ params: [SQLValue]) throws {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
        for (i, p) in params.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch p {
            case .null: rc = sqlite3_bind_null(stmt, index)
            case let .int(v): rc = sqlite3_bind_int64(stmt, index, v)
            case let .double(v): rc = sqlite3_bind_double(stmt, index, v)
            // By length: a value may hold a NUL (a rejected row's raw text), which -1 would cut at.
            case let .text(s): rc = sqlite3_bind_text(stmt, index, s, Int32(s.utf8.count), sqliteTransient)
            }
            if rc != SQLITE_OK { throw connection.error(rc) }
        }
    }

    /// true: a row is ready; false: done.
    public func step() throws -> Bool {
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw connection.error(rc)
    }

    func row() -> [SQLValue] {
        (0..<sqlite3_column_count(stmt)).map { i in
            switch sqlite3_column_type(stmt, i) {
            case SQLITE_INTEGER: return .int(sqlite3_column_int64(stmt, i))
            case SQLITE_FLOAT: return .double(sqlite3_column_double(stmt, i))
            case SQLITE_NULL: return .null
            default:
                // By length, not up to the first NUL: a rejected row's raw text may hold one.
                guard let text = sqlite3_column_text(stmt, i) else { return .text("") }
                return .text(String(decoding: UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(stmt, i))), as: UTF8.self))
            }
        }
    }
}
