import AutoloaderCore
import Foundation

/// The catalog as tables inside the warehouse's own SQLite file, so a load's rows and its files'
/// `loaded` marks share one transaction. Table names carry the reserved `_autoloader_` prefix.
public final class SQLiteCatalog: Catalog {
    public let connection: SQLiteConnection

    public init(connection: SQLiteConnection) { self.connection = connection }

    public convenience init(path: String) throws { try self.init(connection: SQLiteConnection(path: path)) }

    static let schemaSQL = """
    CREATE TABLE IF NOT EXISTS _autoloader_tables(
      name TEXT PRIMARY KEY, source_folder TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'active',
      options TEXT NOT NULL DEFAULT '{}', checkpoint_ns INTEGER, schema TEXT, dialect TEXT,
      partition_columns TEXT NOT NULL DEFAULT '[]', created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS _autoloader_files(
      id INTEGER PRIMARY KEY, table_name TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL,
      mtime_ns INTEGER NOT NULL, sha256 TEXT, partitions TEXT NOT NULL DEFAULT '{}', state TEXT NOT NULL,
      discovered_at TEXT NOT NULL, load_id INTEGER, duplicate_of INTEGER, rows INTEGER, error TEXT,
      superseded INTEGER NOT NULL DEFAULT 0, version TEXT NOT NULL DEFAULT '');
    CREATE UNIQUE INDEX IF NOT EXISTS _autoloader_files_identity ON _autoloader_files(key, size, mtime_ns, version);
    CREATE INDEX IF NOT EXISTS _autoloader_files_pending ON _autoloader_files(table_name, state, mtime_ns);
    CREATE INDEX IF NOT EXISTS _autoloader_files_hash ON _autoloader_files(sha256, size);
    CREATE INDEX IF NOT EXISTS _autoloader_files_key ON _autoloader_files(key);
    CREATE TABLE IF NOT EXISTS _autoloader_loads(
      id INTEGER PRIMARY KEY, table_name TEXT NOT NULL, files TEXT NOT NULL, statement TEXT NOT NULL,
      status TEXT NOT NULL, rows_loaded INTEGER NOT NULL DEFAULT 0, rows_rejected INTEGER NOT NULL DEFAULT 0,
      bytes INTEGER NOT NULL DEFAULT 0, started_at TEXT NOT NULL, finished_at TEXT, error TEXT);
    CREATE TABLE IF NOT EXISTS _autoloader_load_errors(
      id INTEGER PRIMARY KEY, load_id INTEGER NOT NULL, file TEXT NOT NULL, line INTEGER, column_name TEXT,
      raw_text TEXT NOT NULL, reason TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS _autoloader_load_errors_load ON _autoloader_load_errors(load_id);
    """

    public func prepare(recoverInterrupted: Bool) throws {
        try connection.transaction {
            // Catalogs from before `version` existed: add the column first (their old UNIQUE(key, size, mtime_ns)
            // stays, so there a same-second, same-size rewrite is still taken for the same file).
            let hasFiles = !(try connection.query("SELECT 1 FROM sqlite_master WHERE name='_autoloader_files'")).isEmpty
            if hasFiles, try connection.query("SELECT 1 FROM pragma_table_info('_autoloader_files') WHERE name='version'").isEmpty {
                try connection.execute("ALTER TABLE _autoloader_files ADD COLUMN version TEXT NOT NULL DEFAULT ''")
            }
            try connection.execute(Self.schemaSQL)
            if recoverInterrupted {
                // A crash between claim and commit: the rows never committed, so the files are simply pending again.
                try connection.query("UPDATE _autoloader_files SET state='pending', load_id=NULL WHERE state='loading'")
                try connection.query("UPDATE _autoloader_loads SET status='aborted', finished_at=?, error=COALESCE(error, 'interrupted before commit (crash or kill); its files are pending again') WHERE status IN ('running','queued')", [.text(WallClock.nowISO())])
            }
        }
    }

    public func ensureTable(name: String, sourceFolder: String) throws {
        let now = WallClock.nowISO()
        try connection.query("""
            INSERT INTO _autoloader_tables(name, source_folder, options, created_at, updated_at) VALUES (?,?,?,?,?)
            ON CONFLICT(name) DO NOTHING
            """, [.text(name), .text(sourceFolder), .text(TableOptions().jsonString()), .text(now), .text(now)])
    }

    public func record(object: ObjectInfo, as landing: LandingKey) throws -> RecordOutcome {
        try connection.transaction {
            try ensureTable(name: landing.table, sourceFolder: landing.sourceFolder)
            let existing = try connection.query("SELECT id FROM _autoloader_files WHERE key=? AND size=? AND mtime_ns=? AND version=?",
                                                [.text(object.key), .int(object.size), .int(object.modifiedNanos), .text(object.version)])
            if !existing.isEmpty { return .known }
            let hadVersion = !(try connection.query("SELECT 1 FROM _autoloader_files WHERE key=? LIMIT 1", [.text(object.key)])).isEmpty
            var partitions: [String: String] = [:]
            for p in landing.partitions { partitions[p.name] = p.value }
            let partitionsJSON = String(decoding: try JSONEncoder().encode(partitions), as: UTF8.self)
            try connection.query("""
                INSERT OR IGNORE INTO _autoloader_files(table_name, key, size, mtime_ns, partitions, state, discovered_at, version)
                VALUES (?,?,?,?,?,'pending',?,?)
                """, [.text(landing.table), .text(object.key), .int(object.size), .int(object.modifiedNanos),
                      .text(partitionsJSON), .text(WallClock.nowISO()), .text(object.version)])
            if connection.changes == 0 { return .known }
            let id = connection.lastInsertRowID
            guard let file = try files(where: "id=?", [.int(id)]).first else { return .known }
            return hadVersion ? .newVersion(file) : .new(file)
        }
    }

    // MARK: reads

    static let tableColumns = "name, source_folder, status, options, checkpoint_ns, schema, dialect, partition_columns, created_at"

    func decodeTable(_ r: [SQLValue]) -> TableRecord {
        let decoder = JSONDecoder()
        func json<T: Decodable>(_ v: SQLValue, _ t: T.Type) -> T? { v.text.flatMap { try? decoder.decode(T.self, from: Data($0.utf8)) } }
        return TableRecord(name: r[0].text ?? "", sourceFolder: r[1].text ?? "", status: TableStatus(rawValue: r[2].text ?? "") ?? .active,
                           options: json(r[3], TableOptions.self) ?? TableOptions(), checkpointNanos: r[4].int,
                           schema: json(r[5], TableSchema.self), dialect: json(r[6], Dialect.self),
                           partitionColumns: json(r[7], [String].self) ?? [], createdAt: r[8].text ?? "")
    }

    public func tables() throws -> [TableRecord] {
        try connection.query("SELECT \(Self.tableColumns) FROM _autoloader_tables ORDER BY name").map(decodeTable)
    }

    public func table(named name: String) throws -> TableRecord? {
        try connection.query("SELECT \(Self.tableColumns) FROM _autoloader_tables WHERE name=?", [.text(name)]).first.map(decodeTable)
    }

    public func setStatus(table: String, _ status: TableStatus) throws {
        try connection.query("UPDATE _autoloader_tables SET status=?, updated_at=? WHERE name=?", [.text(status.rawValue), .text(WallClock.nowISO()), .text(table)])
        if connection.changes == 0 { throw AutoloaderError.unknownTable(table) }
    }

    public func setOptions(table: String, _ options: TableOptions) throws {
        try connection.query("UPDATE _autoloader_tables SET options=?, updated_at=? WHERE name=?", [.text(options.jsonString()), .text(WallClock.nowISO()), .text(table)])
        if connection.changes == 0 { throw AutoloaderError.unknownTable(table) }
    }

    static let fileColumns = "id, table_name, key, size, mtime_ns, sha256, partitions, state, discovered_at, load_id, duplicate_of, rows, error, version"

    func files(where condition: String, _ params: [SQLValue], order: String = "mtime_ns, key, id") throws -> [FileRecord] {
        try connection.query("SELECT \(Self.fileColumns) FROM _autoloader_files WHERE \(condition) ORDER BY \(order)", params).map { r in
            FileRecord(id: r[0].int ?? 0, table: r[1].text ?? "", key: r[2].text ?? "", size: r[3].int ?? 0, modifiedNanos: r[4].int ?? 0,
                       sha256: r[5].text, partitions: (try? JSONDecoder().decode([String: String].self, from: Data((r[6].text ?? "{}").utf8))) ?? [:],
                       state: FileState(rawValue: r[7].text ?? "") ?? .pending, discoveredAt: r[8].text ?? "", loadID: r[9].int,
                       duplicateOf: r[10].int, rows: r[11].int, error: r[12].text, version: r[13].text ?? "")
        }
    }

    public func files(table: String?, state: FileState?) throws -> [FileRecord] {
        try files(where: "(?1 IS NULL OR table_name=?1) AND (?2 IS NULL OR state=?2)", [table.sql, state.map { .text($0.rawValue) } ?? .null])
    }

    static let loadColumns = "id, table_name, files, statement, status, rows_loaded, rows_rejected, bytes, started_at, finished_at, error"

    func decodeLoad(_ r: [SQLValue]) -> LoadRecord {
        LoadRecord(id: r[0].int ?? 0, table: r[1].text ?? "",
                   files: (try? JSONDecoder().decode([String].self, from: Data((r[2].text ?? "[]").utf8))) ?? [],
                   statement: r[3].text ?? "", status: LoadStatus(rawValue: r[4].text ?? "") ?? .failed, rowsLoaded: r[5].int ?? 0,
                   rowsRejected: r[6].int ?? 0, bytes: r[7].int ?? 0, startedAt: r[8].text ?? "", finishedAt: r[9].text, error: r[10].text)
    }

    public func loads(table: String?, status: LoadStatus?) throws -> [LoadRecord] {
        try connection.query("SELECT \(Self.loadColumns) FROM _autoloader_loads WHERE (?1 IS NULL OR table_name=?1) AND (?2 IS NULL OR status=?2) ORDER BY id",
                             [table.sql, status.map { .text($0.rawValue) } ?? .null]).map(decodeLoad)
    }

    public func load(id: Int64) throws -> LoadRecord? {
        try connection.query("SELECT \(Self.loadColumns) FROM _autoloader_loads WHERE id=?", [.int(id)]).first.map(decodeLoad)
    }

    public func errors(loadID: Int64) throws -> [LoadErrorRecord] {
        try connection.query("SELECT load_id, file, line, column_name, raw_text, reason FROM _autoloader_load_errors WHERE load_id=? ORDER BY id", [.int(loadID)]).map { r in
            LoadErrorRecord(loadID: r[0].int ?? 0, file: r[1].text ?? "", line: r[2].int.map { Int($0) }, column: r[3].text, rawText: r[4].text ?? "", reason: r[5].text ?? "")
        }
    }

    public func tablesWithPendingFiles() throws -> [String] {
        try connection.query("""
            SELECT f.table_name FROM _autoloader_files f JOIN _autoloader_tables t ON t.name = f.table_name
            WHERE f.state='pending' AND t.status='active' GROUP BY f.table_name ORDER BY MIN(f.mtime_ns)
            """).compactMap { $0[0].text }
    }

    public func nextBatch(table: String, maxFiles: Int, maxBytes: Int64) throws -> [FileRecord] {
        AutoloaderCore.nextBatch(of: try files(where: "table_name=? AND state='pending'", [.text(table)]), maxFiles: maxFiles, maxBytes: maxBytes)
    }

    public func hasLoadedVersion(key: String, excludingID: Int64) throws -> Bool {
        !(try connection.query("SELECT 1 FROM _autoloader_files WHERE key=? AND id<>? AND state='loaded' LIMIT 1", [.text(key), .int(excludingID)])).isEmpty
    }

    public func reload(table: String, sinceNanos: Int64) throws -> Int {
        guard try self.table(named: table) != nil else { throw AutoloaderError.unknownTable(table) }
        return try connection.transaction {
            try connection.query("""
                UPDATE _autoloader_files SET state='pending', error=NULL
                WHERE table_name=? AND mtime_ns > ? AND superseded=0 AND state IN ('loaded','failed','skipped','duplicate')
                """, [.text(table), .int(sinceNanos)])
            return Int(connection.changes)
        }
    }

    public func retry(loadID: Int64) throws -> Int {
        guard try load(id: loadID) != nil else { throw AutoloaderError.unknownLoad(loadID) }
        try connection.query("UPDATE _autoloader_files SET state='pending', error=NULL WHERE load_id=? AND state='failed'", [.int(loadID)])
        return Int(connection.changes)
    }
}
