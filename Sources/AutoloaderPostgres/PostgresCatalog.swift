import AutoloaderCore
import Foundation

/// The catalog inside the PostgreSQL warehouse (schema `autoloader` by default), so a load's rows and its
/// files' marks commit in one transaction, and several loader processes share one source of truth.
public final class PostgresCatalog: Catalog, @unchecked Sendable {
    public let session: PostgresSession
    let s: String  // quoted catalog schema

    public init(session: PostgresSession) {
        self.session = session
        s = SQLIdentifier.quoted(session.url.catalogSchema)
    }

    func t(_ name: String) -> String { "\(s).\(name)" }

    public func prepare(recoverInterrupted: Bool) throws {
        // One process at a time creates the catalog (CREATE … IF NOT EXISTS races otherwise).
        try session.execute("SELECT pg_advisory_lock(hashtext('autoloader.catalog'))")
        defer { _ = try? session.execute("SELECT pg_advisory_unlock(hashtext('autoloader.catalog'))") }
        for statement in [
            "CREATE SCHEMA IF NOT EXISTS \(s)",
            "CREATE SCHEMA IF NOT EXISTS \(SQLIdentifier.quoted(session.url.schema))",
            """
            CREATE TABLE IF NOT EXISTS \(t("tables"))(
              name TEXT PRIMARY KEY, source_folder TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'active',
              options TEXT NOT NULL DEFAULT '{}', checkpoint_ns BIGINT, schema TEXT, dialect TEXT,
              partition_columns TEXT NOT NULL DEFAULT '[]', created_at TEXT NOT NULL, updated_at TEXT NOT NULL)
            """,
            """
            CREATE TABLE IF NOT EXISTS \(t("files"))(
              id BIGSERIAL PRIMARY KEY, table_name TEXT NOT NULL, key TEXT NOT NULL, size BIGINT NOT NULL,
              mtime_ns BIGINT NOT NULL, sha256 TEXT, partitions TEXT NOT NULL DEFAULT '{}', state TEXT NOT NULL,
              discovered_at TEXT NOT NULL, load_id BIGINT, duplicate_of BIGINT, rows BIGINT, error TEXT,
              superseded BOOLEAN NOT NULL DEFAULT false, version TEXT NOT NULL DEFAULT '', UNIQUE(key, size, mtime_ns, version))
            """,
            // Catalogs from before `version` existed keep their UNIQUE(key, size, mtime_ns).
            "ALTER TABLE \(t("files")) ADD COLUMN IF NOT EXISTS version TEXT NOT NULL DEFAULT ''",
            "CREATE INDEX IF NOT EXISTS files_pending ON \(t("files"))(table_name, state, mtime_ns)",
            "CREATE INDEX IF NOT EXISTS files_hash ON \(t("files"))(sha256, size)",
            "CREATE INDEX IF NOT EXISTS files_key ON \(t("files"))(key)",
            """
            CREATE TABLE IF NOT EXISTS \(t("loads"))(
              id BIGSERIAL PRIMARY KEY, table_name TEXT NOT NULL, files TEXT NOT NULL, statement TEXT NOT NULL,
              status TEXT NOT NULL, rows_loaded BIGINT NOT NULL DEFAULT 0, rows_rejected BIGINT NOT NULL DEFAULT 0,
              bytes BIGINT NOT NULL DEFAULT 0, started_at TEXT NOT NULL, finished_at TEXT, error TEXT)
            """,
            """
            CREATE TABLE IF NOT EXISTS \(t("load_errors"))(
              id BIGSERIAL PRIMARY KEY, load_id BIGINT NOT NULL, file TEXT NOT NULL, line BIGINT, column_name TEXT,
              raw_text TEXT NOT NULL, reason TEXT NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS load_errors_load ON \(t("load_errors"))(load_id)",
            """
            CREATE TABLE IF NOT EXISTS \(t("schema_history"))(
              id BIGSERIAL PRIMARY KEY, table_name TEXT NOT NULL, load_id BIGINT, change TEXT NOT NULL, at TEXT NOT NULL)
            """,
        ] { try session.execute(statement) }
        // Interrupted loads need no repair here: a load's claim, rows and marks are one transaction, so a crash
        // leaves its files pending. Its `running` log line is closed by the next load of that table.
    }

    public func ensureTable(name: String, sourceFolder: String) throws {
        let now = WallClock.nowISO()
        try session.query("INSERT INTO \(t("tables"))(name, source_folder, options, created_at, updated_at) VALUES ($1,$2,$3,$4,$4) ON CONFLICT (name) DO NOTHING",
                          [name, sourceFolder, TableOptions().jsonString(), now])
    }

    public func record(object: ObjectInfo, as landing: LandingKey) throws -> RecordOutcome {
        try ensureTable(name: landing.table, sourceFolder: landing.sourceFolder)
        var partitions: [String: String] = [:]
        for p in landing.partitions { partitions[p.name] = p.value }
        let json = String(decoding: try JSONEncoder().encode(partitions), as: UTF8.self)
        let hadVersion = !(try session.query("SELECT 1 FROM \(t("files")) WHERE key=$1 LIMIT 1", [object.key])).isEmpty
        let inserted = try session.query("""
            INSERT INTO \(t("files"))(table_name, key, size, mtime_ns, partitions, state, discovered_at, version)
            VALUES ($1, $2, $3::bigint, $4::bigint, $5, 'pending', $6, $7) ON CONFLICT DO NOTHING RETURNING id::text
            """, [landing.table, object.key, String(object.size), String(object.modifiedNanos), json, WallClock.nowISO(), object.version])
        guard let cell = inserted.first?.first, let text = cell, let id = Int64(text), let file = try files(where: "id=$1::bigint", [String(id)]).first else {
            return .known
        }
        return hadVersion ? .newVersion(file) : .new(file)
    }

    static let tableColumns = "name, source_folder, status, options, checkpoint_ns::text, schema, dialect, partition_columns, created_at"

    func decodeTable(_ r: [String?]) -> TableRecord {
        let decoder = JSONDecoder()
        func json<T: Decodable>(_ v: String?, _ type: T.Type) -> T? { v.flatMap { try? decoder.decode(T.self, from: Data($0.utf8)) } }
        return TableRecord(name: r[0] ?? "", sourceFolder: r[1] ?? "", status: TableStatus(rawValue: r[2] ?? "") ?? .active,
                           options: json(r[3], TableOptions.self) ?? TableOptions(), checkpointNanos: r[4].flatMap { Int64($0) },
                           schema: json(r[5], TableSchema.self), dialect: json(r[6], Dialect.self),
                           partitionColumns: json(r[7], [String].self) ?? [], createdAt: r[8] ?? "")
    }

    public func tables() throws -> [TableRecord] {
        try session.query("SELECT \(Self.tableColumns) FROM \(t("tables")) ORDER BY name").map(decodeTable)
    }

    public func table(named name: String) throws -> TableRecord? {
        try session.query("SELECT \(Self.tableColumns) FROM \(t("tables")) WHERE name=$1", [name]).first.map(decodeTable)
    }

    public func setStatus(table: String, _ status: TableStatus) throws {
        let r = try session.query("UPDATE \(t("tables")) SET status=$1, updated_at=$2 WHERE name=$3 RETURNING name", [status.rawValue, WallClock.nowISO(), table])
        if r.isEmpty { throw AutoloaderError.unknownTable(table) }
    }

    public func setOptions(table: String, _ options: TableOptions) throws {
        let r = try session.query("UPDATE \(t("tables")) SET options=$1, updated_at=$2 WHERE name=$3 RETURNING name", [options.jsonString(), WallClock.nowISO(), table])
        if r.isEmpty { throw AutoloaderError.unknownTable(table) }
    }

    static let fileColumns = "id::text, table_name, key, size::text, mtime_ns::text, sha256, partitions, state, discovered_at, load_id::text, duplicate_of::text, rows::text, error, version"

    func files(where condition: String, _ binds: [String?]) throws -> [FileRecord] {
        try session.query("SELECT \(Self.fileColumns) FROM \(t("files")) WHERE \(condition) ORDER BY mtime_ns, key, id", binds).map { r in
            FileRecord(id: Int64(r[0] ?? "") ?? 0, table: r[1] ?? "", key: r[2] ?? "", size: Int64(r[3] ?? "") ?? 0, modifiedNanos: Int64(r[4] ?? "") ?? 0,
                       sha256: r[5], partitions: (try? JSONDecoder().decode([String: String].self, from: Data((r[6] ?? "{}").utf8))) ?? [:],
                       state: FileState(rawValue: r[7] ?? "") ?? .pending, discoveredAt: r[8] ?? "", loadID: r[9].flatMap { Int64($0) },
                       duplicateOf: r[10].flatMap { Int64($0) }, rows: r[11].flatMap { Int64($0) }, error: r[12], version: r[13] ?? "")
        }
    }

    public func files(table: String?, state: FileState?) throws -> [FileRecord] {
        try files(where: "($1::text IS NULL OR table_name=$1) AND ($2::text IS NULL OR state=$2)", [table, state?.rawValue])
    }

    static let loadColumns = "id::text, table_name, files, statement, status, rows_loaded::text, rows_rejected::text, bytes::text, started_at, finished_at, error"

    func decodeLoad(_ r: [String?]) -> LoadRecord {
        LoadRecord(id: Int64(r[0] ?? "") ?? 0, table: r[1] ?? "", files: (try? JSONDecoder().decode([String].self, from: Data((r[2] ?? "[]").utf8))) ?? [],
                   statement: r[3] ?? "", status: LoadStatus(rawValue: r[4] ?? "") ?? .failed, rowsLoaded: Int64(r[5] ?? "") ?? 0,
                   rowsRejected: Int64(r[6] ?? "") ?? 0, bytes: Int64(r[7] ?? "") ?? 0, startedAt: r[8] ?? "", finishedAt: r[9], error: r[10])
    }

    public func loads(table: String?, status: LoadStatus?) throws -> [LoadRecord] {
        try session.query("SELECT \(Self.loadColumns) FROM \(t("loads")) WHERE ($1::text IS NULL OR table_name=$1) AND ($2::text IS NULL OR status=$2) ORDER BY id",
                          [table, status?.rawValue]).map(decodeLoad)
    }

    public func load(id: Int64) throws -> LoadRecord? {
        try session.query("SELECT \(Self.loadColumns) FROM \(t("loads")) WHERE id=$1::bigint", [String(id)]).first.map(decodeLoad)
    }

    public func errors(loadID: Int64) throws -> [LoadErrorRecord] {
        try session.query("SELECT load_id::text, file, line::text, column_name, raw_text, reason FROM \(t("load_errors")) WHERE load_id=$1::bigint ORDER BY id",
                          [String(loadID)]).map { r in
            LoadErrorRecord(loadID: Int64(r[0] ?? "") ?? 0, file: r[1] ?? "", line: r[2].flatMap { Int($0) }, column: r[3], rawText: r[4] ?? "", reason: r[5] ?? "")
        }
    }

    public func tablesWithPendingFiles() throws -> [String] {
        try session.query("""
            SELECT f.table_name FROM \(t("files")) f JOIN \(t("tables")) tb ON tb.name = f.table_name
            WHERE f.state='pending' AND tb.status='active' GROUP BY f.table_name ORDER BY MIN(f.mtime_ns)
            """).compactMap { $0[0] }
    }

    public func nextBatch(table: String, maxFiles: Int, maxBytes: Int64) throws -> [FileRecord] {
        AutoloaderCore.nextBatch(of: try files(where: "table_name=$1 AND state='pending'", [table]), maxFiles: maxFiles, maxBytes: maxBytes)
    }

    public func hasLoadedVersion(key: String, excludingID: Int64) throws -> Bool {
        !(try session.query("SELECT 1 FROM \(t("files")) WHERE key=$1 AND id<>$2::bigint AND state='loaded' LIMIT 1", [key, String(excludingID)])).isEmpty
    }

    public func reload(table: String, sinceNanos: Int64) throws -> Int {
        guard try self.table(named: table) != nil else { throw AutoloaderError.unknownTable(table) }
        return try session.query("""
            UPDATE \(t("files")) SET state='pending', error=NULL
            WHERE table_name=$1 AND mtime_ns > $2::bigint AND NOT superseded AND state IN ('loaded','failed','skipped','duplicate') RETURNING id
            """, [table, String(sinceNanos)]).count
    }

    public func retry(loadID: Int64) throws -> Int {
        guard try load(id: loadID) != nil else { throw AutoloaderError.unknownLoad(loadID) }
        return try session.query("UPDATE \(t("files")) SET state='pending', error=NULL WHERE load_id=$1::bigint AND state='failed' RETURNING id", [String(loadID)]).count
    }
}
