import Foundation

/// The catalog's SQL, written once for every SQL catalog (SQLite, PostgreSQL). What differs between them is
/// data (`CatalogDialect`); the connection is a small protocol both implement. Adding a catalog column
/// touches this file only (a migration and the statements that read or write it).
///
/// Every state change goes through the lifecycles in `Lifecycle.swift`: an event becomes
/// `UPDATE … SET state = <target> WHERE … AND state IN (<legal sources>)`, and the row count is checked.
///
/// One claim protocol (see ARCHITECTURE.md): a load is logged `queued` (autocommit), then, inside the
/// load's one transaction on the warehouse connection: the table's lock, `queued → running`, the files'
/// `pending → loading` claim, the rows, each file's end state, the load's end state; COMMIT. A crash at
/// any instant leaves the files `pending` and at most a `queued` log line, closed by the table's next load.
public final class SQLCatalog: Catalog, LoadLog {
    public let connection: any CatalogConnection
    public let dialect: CatalogDialect
    private var rewritten: [String: String] = [:]
    /// Landing folder → its table: assigned once and never changed, so asked of the database once per folder.
    private var tableOfFolder: [String: String] = [:]
    /// Rejected rows of the file in progress: written when the file ends, after its savepoint is released or
    /// rolled back, so they survive a file that loads nothing.
    private var pendingErrors: [LoadErrorRecord] = []

    public var newTableOptions = TableOptions()

    public init(connection: any CatalogConnection) {
        self.connection = connection
        dialect = connection.dialect
    }

    func t(_ name: String) -> String { dialect.table(name) }

    @discardableResult
    func q(_ sql: String, _ binds: [DBValue] = []) throws -> [[DBValue]] {
        try connection.run(placeholders(sql), binds)
    }

    /// `$1` → the dialect's spelling (SQLite `?1`). Catalog SQL never holds a `$` inside a literal.
    private func placeholders(_ sql: String) -> String {
        if dialect.parameterPrefix == "$" { return sql }
        if let done = rewritten[sql] { return done }
        var out = ""
        out.reserveCapacity(sql.utf8.count)
        var previous: Character = " "
        for c in sql {
            if previous == "$", c.isASCII, c.isNumber { out.removeLast(); out += dialect.parameterPrefix }
            out.append(c)
            previous = c
        }
        rewritten[sql] = out
        return out
    }

    private static func list(_ values: [some RawRepresentable<String>]) -> String {
        values.map { "'\($0.rawValue)'" }.joined(separator: ", ")
    }

    /// `$from, $from+1, …` for an IN list of `count` parameters.
    private static func parameters(from first: Int, count: Int) -> String {
        (first..<(first + count)).map { "$\($0)" }.joined(separator: ", ")
    }

    // MARK: transactions

    /// Runs `body` in one write transaction of this connection.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try begin()
        do {
            let value = try body()
            try q("COMMIT")
            return value
        } catch {
            rollback()
            throw error
        }
    }

    public func begin() throws {
        for statement in dialect.begin { try q(statement) }
    }

    public func commit() throws { try q("COMMIT") }

    /// Ends the open transaction, undoing it. A ROLLBACK that fails has nothing left to undo: the connection
    /// is gone and the server rolled the transaction back when it went.
    public func rollback() {
        do { try q("ROLLBACK") } catch {}
    }

    // MARK: versions

    /// This build's catalog version: the number of migrations.
    public static var currentVersion: Int { migrations.count }

    /// Each migration brings the catalog from version `index` to `index + 1`. Never edit one that has shipped:
    /// add the next.
    static let migrations: [@Sendable (SQLCatalog) throws -> Void] = [
        // 1: the baseline. Catalogs from before versioning already hold most of it, hence IF NOT EXISTS.
        { c in
            let d = c.dialect
            try c.q("""
                CREATE TABLE IF NOT EXISTS \(c.t("tables"))(
                  name TEXT PRIMARY KEY, source_folder TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'active',
                  options TEXT NOT NULL DEFAULT '{}', checkpoint_ns BIGINT, schema TEXT, dialect TEXT,
                  partition_columns TEXT NOT NULL DEFAULT '[]', created_at TEXT NOT NULL, updated_at TEXT NOT NULL)
                """)
            try c.q("""
                CREATE TABLE IF NOT EXISTS \(c.t("files"))(
                  id \(d.serialKey), table_name TEXT NOT NULL, key TEXT NOT NULL, size BIGINT NOT NULL,
                  mtime_ns BIGINT NOT NULL, sha256 TEXT, partitions TEXT NOT NULL DEFAULT '{}', state TEXT NOT NULL,
                  discovered_at TEXT NOT NULL, load_id BIGINT, duplicate_of BIGINT, rows BIGINT, error TEXT,
                  superseded \(d.boolean) NOT NULL DEFAULT FALSE, version TEXT NOT NULL DEFAULT '')
                """)
            // Catalogs from before `version` existed: add it (their old UNIQUE(key, size, mtime_ns) stays).
            if try !c.q(d.columnNames, [.text("files")]).contains(where: { $0.first?.text == "version" }) {
                try c.q("ALTER TABLE \(c.t("files")) ADD COLUMN version TEXT NOT NULL DEFAULT ''")
            }
            try c.q("CREATE UNIQUE INDEX IF NOT EXISTS \(d.index("files_identity")) ON \(c.t("files"))(key, size, mtime_ns, version)")
            try c.q("CREATE INDEX IF NOT EXISTS \(d.index("files_pending")) ON \(c.t("files"))(table_name, state, mtime_ns)")
            try c.q("CREATE INDEX IF NOT EXISTS \(d.index("files_hash")) ON \(c.t("files"))(sha256, size)")
            try c.q("CREATE INDEX IF NOT EXISTS \(d.index("files_key")) ON \(c.t("files"))(key)")
            try c.q("""
                CREATE TABLE IF NOT EXISTS \(c.t("loads"))(
                  id \(d.serialKey), table_name TEXT NOT NULL, files TEXT NOT NULL, statement TEXT NOT NULL,
                  status TEXT NOT NULL, rows_loaded BIGINT NOT NULL DEFAULT 0, rows_rejected BIGINT NOT NULL DEFAULT 0,
                  bytes BIGINT NOT NULL DEFAULT 0, started_at TEXT NOT NULL, finished_at TEXT, error TEXT)
                """)
            try c.q("CREATE INDEX IF NOT EXISTS \(d.index("loads_table")) ON \(c.t("loads"))(table_name, status)")
            try c.q("CREATE INDEX IF NOT EXISTS \(d.index("tables_folder")) ON \(c.t("tables"))(source_folder)")
            try c.q("""
                CREATE TABLE IF NOT EXISTS \(c.t("load_errors"))(
                  id \(d.serialKey), load_id BIGINT NOT NULL, file TEXT NOT NULL, line BIGINT, column_name TEXT,
                  raw_text TEXT NOT NULL, reason TEXT NOT NULL)
                """)
            try c.q("CREATE INDEX IF NOT EXISTS \(d.index("load_errors_load")) ON \(c.t("load_errors"))(load_id)")
            try c.q("""
                CREATE TABLE IF NOT EXISTS \(c.t("schema_history"))(
                  id \(d.serialKey), table_name TEXT NOT NULL, load_id BIGINT, change TEXT NOT NULL, at TEXT NOT NULL)
                """)
        },
        // 2: schema_changes=hold — a held file's change approved by a user. Checked first, as in 1: a catalog whose
        // version row was lost has the column already.
        { c in
            if try !c.q(c.dialect.columnNames, [.text("files")]).contains(where: { $0.first?.text == "approved" }) {
                try c.q("ALTER TABLE \(c.t("files")) ADD COLUMN approved \(c.dialect.boolean) NOT NULL DEFAULT FALSE")
            }
        },
    ]

    /// The catalog's version: 0 when it does not exist yet (or predates versioning). Reads only.
    public func version() throws -> Int {
        guard try !q(dialect.tableExists, [.text("schema_version")]).isEmpty else { return 0 }
        return Int(try q("SELECT MAX(version) FROM \(t("schema_version"))").first?.first?.int ?? 0)
    }

    /// Brings the catalog to this build's version. When it is current (every start but the first after an
    /// upgrade) this is one read and no DDL, so it never queues behind a running load. When it is behind, the
    /// migrations run in one transaction under the catalog's lock, with a lock timeout: a migration that
    /// would wait on a load fails (transiently) instead of blocking it. `readOnly`: an existing catalog is
    /// never changed; a missing one is created (nothing can be loading into a catalog that does not exist).
    public func prepare(readOnly: Bool) throws {
        let found = try version()
        if found == Self.currentVersion { return }
        if found > Self.currentVersion {
            throw AutoloaderError.warehouse(reason: "the catalog is at version \(found), newer than this autoloader (\(Self.currentVersion)): upgrade autoloader", transient: false)
        }
        if readOnly, try found > 0 || !q(dialect.tableExists, [.text("files")]).isEmpty {
            throw AutoloaderError.warehouse(reason: "the catalog is at version \(found) and this autoloader needs \(Self.currentVersion): start `autoloader run` once (it migrates the catalog); read-only commands never change it", transient: false)
        }
        try transaction {
            if let lock = dialect.lock { try q(lock, [.text("autoloader.catalog")]) }
            for statement in dialect.createNamespace { try q(statement) }
            var v = try version()  // again, under the lock: another process may have migrated meanwhile
            while v < Self.currentVersion {
                try Self.migrations[v](self)
                v += 1
            }
            try q("CREATE TABLE IF NOT EXISTS \(t("schema_version"))(version INTEGER NOT NULL)")
            try q("DELETE FROM \(t("schema_version"))")
            try q("INSERT INTO \(t("schema_version"))(version) VALUES ($1)", [.int(Int64(v))])
        }
    }

    // MARK: discovery

    /// The table a landing folder loads into. Folders whose names sanitise alike (`Order` and `order`, `my table`
    /// and `my-table`, two all-non-ASCII names) get distinct tables: the first keeps the name, later ones
    /// `name_2`, `name_3`…, each recorded with its folder (`autoloader tables` shows it).
    func tableName(for landing: LandingKey) throws -> String {
        if let known = tableOfFolder[landing.sourceFolder] { return known }
        let name = try assignTable(landing)
        tableOfFolder[landing.sourceFolder] = name
        return name
    }

    private func assignTable(_ landing: LandingKey) throws -> String {
        if let known = try q("SELECT name FROM \(t("tables")) WHERE source_folder=$1", [.text(landing.sourceFolder)]).first?.first?.text {
            return known
        }
        var candidate = landing.table, n = 1
        while true {
            let now = WallClock.nowISO()
            let inserted = try q("""
                INSERT INTO \(t("tables"))(name, source_folder, options, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
                ON CONFLICT(name) DO NOTHING RETURNING name
                """, [.text(candidate), .text(landing.sourceFolder), .text(newTableOptions.jsonString()), .text(now)])
            if !inserted.isEmpty { return candidate }
            // Taken: by this folder (another process was first), or by another folder that sanitises alike.
            if try q("SELECT source_folder FROM \(t("tables")) WHERE name=$1", [.text(candidate)]).first?.first?.text == landing.sourceFolder {
                return candidate
            }
            n += 1
            candidate = SQLIdentifier.numbered(landing.table, n)
        }
    }

    public func record(objects: [(ObjectInfo, LandingKey)]) throws -> [RecordOutcome] {
        try transaction { try objects.map { try recordOne(object: $0.0, as: $0.1) } }
    }

    private func recordOne(object: ObjectInfo, as landing: LandingKey) throws -> RecordOutcome {
        let table = try tableName(for: landing)
        let known = try q("SELECT id FROM \(t("files")) WHERE key=$1 AND size=$2 AND mtime_ns=$3 AND version=$4",
                          [.text(object.key), .int(object.size), .int(object.modifiedNanos), .text(object.version)])
        if !known.isEmpty { return .known }
        let hadVersion = try !q("SELECT 1 FROM \(t("files")) WHERE key=$1 LIMIT 1", [.text(object.key)]).isEmpty
        var partitions: [String: String] = [:]
        for p in landing.partitions { partitions[p.name] = p.value }
        let inserted = try q("""
            INSERT INTO \(t("files"))(table_name, key, size, mtime_ns, partitions, state, discovered_at, version)
            VALUES ($1, $2, $3, $4, $5, '\(FileState.pending.rawValue)', $6, $7) ON CONFLICT DO NOTHING RETURNING id
            """, [.text(table), .text(object.key), .int(object.size), .int(object.modifiedNanos),
                  .text(partitions.isEmpty ? "{}" : Self.json(partitions)), .text(WallClock.nowISO()), .text(object.version)])
        guard let id = inserted.first?.first?.int, let file = try files(where: "id=$1", [.int(id)]).first else { return .known }
        return hadVersion ? .newVersion(file) : .new(file)
    }

    // MARK: reads

    static func json(_ value: some Encodable) -> String { CatalogJSON.text(value) }

    static func decode<T: Decodable>(_ value: DBValue, _ type: T.Type) -> T? { CatalogJSON.value(value.text, type) }

    static let tableColumns = "name, source_folder, status, options, checkpoint_ns, schema, dialect, partition_columns, created_at"

    static func decodeTable(_ r: [DBValue]) -> TableRecord {
        TableRecord(name: r[0].text ?? "", sourceFolder: r[1].text ?? "", status: TableStatus(rawValue: r[2].text ?? "") ?? .active,
                    options: decode(r[3], TableOptions.self) ?? TableOptions(), checkpointNanos: r[4].int,
                    schema: decode(r[5], TableSchema.self), dialect: decode(r[6], Dialect.self),
                    partitionColumns: decode(r[7], [String].self) ?? [], createdAt: r[8].text ?? "")
    }

    public func tables() throws -> [TableRecord] {
        try q("SELECT \(Self.tableColumns) FROM \(t("tables")) ORDER BY name").map(Self.decodeTable)
    }

    public func table(named name: String) throws -> TableRecord? {
        try q("SELECT \(Self.tableColumns) FROM \(t("tables")) WHERE name=$1", [.text(name)]).first.map(Self.decodeTable)
    }

    public func setStatus(table: String, _ status: TableStatus) throws {
        let r = try q("UPDATE \(t("tables")) SET status=$1, updated_at=$2 WHERE name=$3 RETURNING name", [.text(status.rawValue), .text(WallClock.nowISO()), .text(table)])
        if r.isEmpty { throw AutoloaderError.unknownTable(table) }
    }

    /// Options of a table that has no files yet are kept too (for the landing folder of the same name), so that
    /// `marker`, `settle_seconds` and hints apply from its first file.
    public func setOptions(table: String, _ options: TableOptions) throws {
        let now = WallClock.nowISO()
        try q("""
            INSERT INTO \(t("tables"))(name, source_folder, options, created_at, updated_at) VALUES ($1, $1, $2, $3, $3)
            ON CONFLICT(name) DO UPDATE SET options=$2, updated_at=$3
            """, [.text(table), .text(options.jsonString()), .text(now)])
    }

    static let fileColumns = "id, table_name, key, size, mtime_ns, sha256, partitions, state, discovered_at, load_id, duplicate_of, rows, error, version, CASE WHEN approved THEN 1 ELSE 0 END"

    func files(where condition: String, _ binds: [DBValue], limit: Int? = nil) throws -> [FileRecord] {
        try q("SELECT \(Self.fileColumns) FROM \(t("files")) WHERE \(condition) ORDER BY mtime_ns, key, id\(limit.map { " LIMIT \($0)" } ?? "")", binds).map { r in
            var record = FileRecord(id: r[0].int ?? 0, table: r[1].text ?? "", key: r[2].text ?? "", size: r[3].int ?? 0, modifiedNanos: r[4].int ?? 0,
                       sha256: r[5].text, partitions: Self.decode(r[6], [String: String].self) ?? [:],
                       state: FileState(rawValue: r[7].text ?? "") ?? .pending, discoveredAt: r[8].text ?? "", loadID: r[9].int,
                       duplicateOf: r[10].int, rows: r[11].int, error: r[12].text, version: r[13].text ?? "")
            record.approved = r[14].int == 1
            return record
        }
    }

    public func files(table: String?, state: FileState?) throws -> [FileRecord] {
        var conditions = ["1=1"], binds: [DBValue] = []
        if let table { binds.append(.text(table)); conditions.append("table_name=$\(binds.count)") }
        if let state { binds.append(.text(state.rawValue)); conditions.append("state=$\(binds.count)") }
        return try files(where: conditions.joined(separator: " AND "), binds)
    }

    static let loadColumns = "id, table_name, files, statement, status, rows_loaded, rows_rejected, bytes, started_at, finished_at, error"

    static func decodeLoad(_ r: [DBValue]) -> LoadRecord {
        LoadRecord(id: r[0].int ?? 0, table: r[1].text ?? "", files: decode(r[2], [String].self) ?? [], statement: r[3].text ?? "",
                   status: LoadStatus(rawValue: r[4].text ?? "") ?? .failed, rowsLoaded: r[5].int ?? 0, rowsRejected: r[6].int ?? 0,
                   bytes: r[7].int ?? 0, startedAt: r[8].text ?? "", finishedAt: r[9].text, error: r[10].text)
    }

    public func loads(table: String?, status: LoadStatus?) throws -> [LoadRecord] {
        var conditions = ["1=1"], binds: [DBValue] = []
        if let table { binds.append(.text(table)); conditions.append("table_name=$\(binds.count)") }
        if let status { binds.append(.text(status.rawValue)); conditions.append("status=$\(binds.count)") }
        return try q("SELECT \(Self.loadColumns) FROM \(t("loads")) WHERE \(conditions.joined(separator: " AND ")) ORDER BY id", binds).map(Self.decodeLoad)
    }

    public func load(id: Int64) throws -> LoadRecord? {
        try q("SELECT \(Self.loadColumns) FROM \(t("loads")) WHERE id=$1", [.int(id)]).first.map(Self.decodeLoad)
    }

    public func schemaChanges(loadID: Int64) throws -> [String] {
        try q("SELECT change FROM \(t("schema_history")) WHERE load_id=$1 ORDER BY id", [.int(loadID)]).compactMap { $0.first?.text }
    }

    public func errors(loadID: Int64) throws -> [LoadErrorRecord] {
        try q("SELECT load_id, file, line, column_name, raw_text, reason FROM \(t("load_errors")) WHERE load_id=$1 ORDER BY id", [.int(loadID)]).map { r in
            LoadErrorRecord(loadID: r[0].int ?? 0, file: r[1].text ?? "", line: r[2].int.map { Int($0) }, column: r[3].text, rawText: r[4].text ?? "", reason: r[5].text ?? "")
        }
    }

    public func backlog() throws -> [Backlog] {
        try q("""
            SELECT table_name, COUNT(*), CAST(SUM(size) AS BIGINT), MIN(discovered_at) FROM \(t("files"))
            WHERE state='\(FileState.pending.rawValue)' GROUP BY table_name ORDER BY table_name
            """).map { r in Backlog(table: r[0].text ?? "", files: r[1].int ?? 0, bytes: r[2].int ?? 0, oldestDiscoveredAt: r[3].text ?? "") }
    }

    public func schemaHistory(table: String) throws -> [SchemaChange] {
        try q("SELECT table_name, load_id, change, at FROM \(t("schema_history")) WHERE table_name=$1 ORDER BY id", [.text(table)]).map { r in
            SchemaChange(table: r[0].text ?? "", loadID: r[1].int, change: r[2].text ?? "", at: r[3].text ?? "")
        }
    }

    public func tablesWithPendingFiles() throws -> [String] {
        // Per table, the oldest pending file by index seek (table_name, state, mtime_ns): asked on every wake-up of
        // the service, it grouped every pending file before (thousands, while a folder is being copied in).
        try q("""
            SELECT name FROM (
              SELECT tb.name, (SELECT MIN(f.mtime_ns) FROM \(t("files")) f
                               WHERE f.table_name = tb.name AND f.state='\(FileState.pending.rawValue)') AS oldest
              FROM \(t("tables")) tb WHERE tb.status='\(TableStatus.active.rawValue)'
            ) pending WHERE oldest IS NOT NULL ORDER BY oldest, name
            """).compactMap { $0[0].text }
    }

    public func nextBatch(table: String, maxFiles: Int, maxBytes: Int64) throws -> [FileRecord] {
        // A batch never holds more than maxFiles, so no more are read (a backlog of thousands was read per batch).
        AutoloaderCore.nextBatch(of: try files(where: "table_name=$1 AND state='\(FileState.pending.rawValue)'", [.text(table)], limit: max(1, maxFiles)),
                                 maxFiles: maxFiles, maxBytes: maxBytes)
    }

    public func loadedVersion(key: String, excludingID: Int64) throws -> FileRecord? {
        try files(where: "key=$1 AND id<>$2 AND state IN (\(Self.list(FileState.rowsKept)))", [.text(key), .int(excludingID)]).last
    }

    // MARK: state changes (the only UPDATEs of `state` and `status`)

    /// Moves the files matching `condition` by `event`: only from the machine's legal sources (or the subset
    /// `from`), to its target. Returns how many moved; the caller checks that against what it expected.
    @discardableResult
    func moveFiles(_ event: FileState.Event, from subset: [FileState]? = nil, set: String = "", where condition: String, _ binds: [DBValue]) throws -> Int {
        let (legal, target) = FileState.transition(event)
        let from = subset ?? legal
        assert(from.allSatisfy(legal.contains), "\(from) ⊄ legal sources of \(event)")
        return try q("""
            UPDATE \(t("files")) SET state='\(target.rawValue)'\(set.isEmpty ? "" : ", " + set)
            WHERE (\(condition)) AND state IN (\(Self.list(from))) RETURNING id
            """, binds).count
    }

    @discardableResult
    func moveLoads(_ event: LoadStatus.Event, set: String = "", where condition: String, _ binds: [DBValue]) throws -> Int {
        let (from, target) = LoadStatus.transition(event)
        return try q("""
            UPDATE \(t("loads")) SET status='\(target.rawValue)'\(set.isEmpty ? "" : ", " + set)
            WHERE (\(condition)) AND status IN (\(Self.list(from))) RETURNING id
            """, binds).count
    }

    public func reload(table: String, sinceNanos: Int64) throws -> Int {
        guard try self.table(named: table) != nil else { throw AutoloaderError.unknownTable(table) }
        return try transaction {
            try moveFiles(.requeue, set: "error=NULL", where: "table_name=$1 AND mtime_ns > $2 AND NOT superseded", [.text(table), .int(sinceNanos)])
        }
    }

    public func retry(loadID: Int64) throws -> Int {
        guard try load(id: loadID) != nil else { throw AutoloaderError.unknownLoad(loadID) }
        return try transaction {
            try moveFiles(.requeue, from: [.failed], set: "error=NULL", where: "load_id=$1", [.int(loadID)])
        }
    }

    public func approve(table: String) throws -> Int {
        guard try self.table(named: table) != nil else { throw AutoloaderError.unknownTable(table) }
        return try transaction {
            try moveFiles(.approve, set: "approved=TRUE", where: "table_name=$1", [.text(table)])
        }
    }

    public func reject(table: String, reason: String) throws -> Int {
        guard try self.table(named: table) != nil else { throw AutoloaderError.unknownTable(table) }
        return try transaction {
            // The held reason names the proposed change: keep it after the user's.
            try moveFiles(.reject, set: "error=CAST($2 AS TEXT) || ' — ' || COALESCE(error, '')", where: "table_name=$1", [.text(table), .text(reason)])
        }
    }

    // MARK: the load protocol (LoadLog)

    /// Opens a load on this connection: logs it `queued` (autocommit, so it has an id and shows up), opens
    /// the write transaction, takes the table's lock, closes loads of the table that died before committing,
    /// starts this one and claims its files. Everything after the log line is in the transaction, so a
    /// failure here leaves the files pending.
    public func openLoad(table: String, files: [FileRecord], statement: String) throws -> Int64 {
        let id = try queueLoad(table: table, files: files, statement: statement)
        do {
            try begin()
            do {
                try startLoad(id, table: table, files: files)
            } catch {
                rollback()
                throw error
            }
        } catch {
            abandonLoad(id, files: files, reason: "\(error)", transient: AutoloaderError.isTransient(error))
            throw error
        }
        return id
    }

    /// The first half of `openLoad` (autocommit): the load's `queued` log line. A warehouse that prepares its
    /// rows before it takes the lock (SQLite's staged loads) calls the halves itself.
    public func queueLoad(table: String, files: [FileRecord], statement: String) throws -> Int64 {
        // Another process loading this table is the common contention: ask first (outside a transaction the
        // lock is released at once), so that waiting for it is not logged as a load. The real claim follows.
        if let tryLock = dialect.tryLock, try q(tryLock, [.text(lockKey(table))]).first?.first?.int != 1 {
            throw AutoloaderError.contention("table \(table) is being loaded by another process")
        }
        let inserted = try q("""
            INSERT INTO \(t("loads"))(table_name, files, statement, status, bytes, started_at) VALUES ($1, $2, $3, '\(LoadStatus.queued.rawValue)', $4, $5) RETURNING id
            """, [.text(table), .text(Self.json(files.map(\.key))), .text(statement), .int(files.reduce(0) { $0 + $1.size }), .text(WallClock.nowISO())])
        guard let id = inserted.first?.first?.int else {
            throw AutoloaderError.warehouse(reason: "the catalog did not return the new load's id", transient: true)
        }
        return id
    }

    private func lockKey(_ table: String) -> String { "autoloader.load.\(t(table))" }

    /// The second half (inside the open write transaction): the table's lock, dead loads closed, this one
    /// started, its files claimed.
    public func startLoad(_ id: Int64, table: String, files: [FileRecord]) throws {
        if let tryLock = dialect.tryLock, try q(tryLock, [.text(lockKey(table))]).first?.first?.int != 1 {
            throw AutoloaderError.contention("table \(table) is being loaded by another process")
        }
        // Holding the table's lock: another load of this table still queued or running has died (a live one
        // would hold the lock). One that is merely slow to start fails its own `start` below and retries.
        try moveLoads(.interrupted, set: "finished_at=$1, error=$2", where: "table_name=$3 AND id<>$4",
                      [.text(WallClock.nowISO()), .text("interrupted before commit (crash, kill or lost connection); its files are pending again"),
                       .text(table), .int(id)])
        guard try moveLoads(.start, where: "id=$1", [.int(id)]) == 1 else {
            throw AutoloaderError.contention("load \(id) was closed by another process before it started")
        }
        let claimed = try moveFiles(.claim, set: "load_id=$1", where: "id IN (\(Self.parameters(from: 2, count: files.count)))",
                                    [.int(id)] + files.map { .int($0.id) })
        guard claimed == files.count else {
            throw AutoloaderError.contention("\(files.count - claimed) file(s) of the batch are no longer pending (loaded by another process)")
        }
    }

    public func bufferError(_ error: LoadErrorRecord) { pendingErrors.append(error) }

    /// Ends a file's turn in the load (inside its transaction): its state, what it loaded, its rejected rows;
    /// a loaded file's earlier versions are superseded (a reload never brings them back).
    public func endFile(loadID: Int64, file: FileRecord, state: FileState, sha256: String?, rows: Int64, duplicateOf: Int64?, error: String?) throws {
        let moved = try moveFiles(FileState.endEvent(for: state), set: "sha256=$1, rows=$2, duplicate_of=$3, error=$4, load_id=$5", where: "id=$6",
                                  // rows only for a loaded file: a requeued file with rows is a reload of loaded rows.
                                  [sha256.db, state.keepsRows ? .int(rows) : .null, duplicateOf.db, error.db, .int(loadID), .int(file.id)])
        guard moved == 1 else {
            throw AutoloaderError.warehouse(reason: "\(file.key) is no longer claimed by load \(loadID)", transient: true)
        }
        if state.keepsRows {
            try q("UPDATE \(t("files")) SET superseded=TRUE WHERE key=$1 AND id<>$2", [.text(file.key), .int(file.id)])
        }
        for e in pendingErrors {
            try q("INSERT INTO \(t("load_errors"))(load_id, file, line, column_name, raw_text, reason) VALUES ($1, $2, $3, $4, $5, $6)",
                  [.int(e.loadID), .text(e.file), e.line.map { .int(Int64($0)) } ?? .null, e.column.db, .text(e.rawText), .text(e.reason)])
        }
        pendingErrors.removeAll()
    }

    public func replaced(key: String, by file: FileRecord) throws {
        try moveFiles(.requeue, from: [.duplicate], set: "duplicate_of=NULL, error=NULL",
                      where: "duplicate_of IN (SELECT id FROM \(t("files")) WHERE key=$1 AND id<>$2)", [.text(key), .int(file.id)])
        try q("UPDATE \(t("files")) SET superseded=TRUE WHERE key=$1 AND id<>$2", [.text(key), .int(file.id)])
    }

    public func recordSchemaChange(table: String, loadID: Int64, change: String) throws {
        try q("INSERT INTO \(t("schema_history"))(table_name, load_id, change, at) VALUES ($1, $2, $3, $4)",
              [.text(table), .int(loadID), .text(change), .text(WallClock.nowISO())])
    }

    public func recordStatement(loadID: Int64, statement: String) throws {
        try q("UPDATE \(t("loads")) SET statement=$1 WHERE id=$2", [.text(statement), .int(loadID)])
    }

    /// A loaded file of `table` with the same content (for duplicates), read inside the load's transaction.
    public func loadedTwin(table: String, sha256: String, size: Int64, excludingID: Int64) throws -> FileRecord? {
        try files(where: "table_name=$1 AND sha256=$2 AND size=$3 AND id<>$4 AND state IN (\(Self.list(FileState.rowsKept))) AND NOT superseded",
                  [.text(table), .text(sha256), .int(size), .int(excludingID)]).first
    }

    /// The load's end (inside its transaction, just before COMMIT): its status and counts, the table's schema,
    /// dialect and checkpoint.
    public func finishLoad(_ id: Int64, table: String, status: LoadStatus, rowsLoaded: Int64, rowsRejected: Int64, error: String?,
                           schema: TableSchema?, dialect fileDialect: Dialect?, partitionColumns: [String], checkpointNanos: Int64?) throws {
        let event: LoadStatus.Event = status == .finished ? .succeeded : .someFilesFailed
        guard try moveLoads(event, set: "rows_loaded=$1, rows_rejected=$2, finished_at=$3, error=$4", where: "id=$5",
                            [.int(rowsLoaded), .int(rowsRejected), .text(WallClock.nowISO()), error.db, .int(id)]) == 1 else {
            throw AutoloaderError.warehouse(reason: "load \(id) is no longer running (closed by another process)", transient: true)
        }
        if let schema {
            try q("UPDATE \(t("tables")) SET schema=$1, dialect=COALESCE($2, dialect), partition_columns=$3, updated_at=$4 WHERE name=$5",
                  [.text(Self.json(schema)), fileDialect.map { .text(Self.json($0)) } ?? .null, .text(Self.json(partitionColumns)),
                   .text(WallClock.nowISO()), .text(table)])
        }
        if let checkpointNanos {
            try q("UPDATE \(t("tables")) SET checkpoint_ns=\(dialect.greatest)(COALESCE(checkpoint_ns, 0), $1) WHERE name=$2", [.int(checkpointNanos), .text(table)])
        }
    }

    /// After the load's transaction rolled back (autocommit): the log line is closed, and a terminal error fails
    /// the files (a transient one leaves them pending, to be retried with backoff). If the connection is gone
    /// this records nothing: the files are pending anyway, and the table's next load closes the log line.
    public func abandonLoad(_ id: Int64, files: [FileRecord], reason: String, transient: Bool) {
        do {
            try moveLoads(transient ? .interrupted : .refused, set: "finished_at=$1, error=$2", where: "id=$3",
                          [.text(WallClock.nowISO()), .text(reason), .int(id)])
            if !transient, !files.isEmpty {
                try moveFiles(.abandon, set: "error=$1, load_id=$2", where: "id IN (\(Self.parameters(from: 3, count: files.count)))",
                              [.text(reason), .int(id)] + files.map { .int($0.id) })
            }
        } catch {}
        pendingErrors.removeAll()
    }
}
