import Foundation

/// The catalog: the seed's three DynamoDB tables (table config, file metadata, load log) plus
/// load_errors, as SQL. Every operation a user can do is a method here, so the CLI and the service
/// share one implementation.
public struct TableRecord: Sendable, Codable, Equatable {
    public var name: String
    public var sourceFolder: String
    public var status: TableStatus
    public var options: TableOptions
    /// Latest modification time of a loaded file (nanoseconds); informational, never used to skip files.
    public var checkpointNanos: Int64?
    public var schema: TableSchema?
    public var dialect: Dialect?
    public var partitionColumns: [String]
    public var createdAt: String
    public init(name: String, sourceFolder: String, status: TableStatus = .active, options: TableOptions = .init(),
                checkpointNanos: Int64? = nil, schema: TableSchema? = nil, dialect: Dialect? = nil,
                partitionColumns: [String] = [], createdAt: String = "") {
        self.name = name
        self.sourceFolder = sourceFolder
        self.status = status
        self.options = options
        self.checkpointNanos = checkpointNanos
        self.schema = schema
        self.dialect = dialect
        self.partitionColumns = partitionColumns
        self.createdAt = createdAt
    }
}

public struct FileRecord: Sendable, Codable, Equatable {
    public var id: Int64
    public var table: String
    public var key: String
    public var size: Int64
    public var modifiedNanos: Int64
    public var sha256: String?
    /// JSON object of partition values from `name=value` folders.
    public var partitions: [String: String]
    public var state: FileState
    public var discoveredAt: String
    public var loadID: Int64?
    public var duplicateOf: Int64?
    public var rows: Int64?
    public var error: String?
    /// The store's version of the content (S3 ETag), "" for local files.
    public var version: String
    /// A user approved the schema change this file holds (`autoloader approve`): it loads even under schema_changes=hold.
    public var approved = false
    public init(id: Int64, table: String, key: String, size: Int64, modifiedNanos: Int64, sha256: String? = nil,
                partitions: [String: String] = [:], state: FileState = .pending, discoveredAt: String = "", loadID: Int64? = nil,
                duplicateOf: Int64? = nil, rows: Int64? = nil, error: String? = nil, version: String = "") {
        self.id = id; self.table = table; self.key = key; self.size = size; self.modifiedNanos = modifiedNanos; self.version = version
        self.sha256 = sha256; self.partitions = partitions; self.state = state; self.discoveredAt = discoveredAt
        self.loadID = loadID; self.duplicateOf = duplicateOf; self.rows = rows; self.error = error
    }
}

public struct LoadRecord: Sendable, Codable, Equatable {
    public var id: Int64
    public var table: String
    public var files: [String]
    public var statement: String
    public var status: LoadStatus
    public var rowsLoaded: Int64
    public var rowsRejected: Int64
    public var bytes: Int64
    public var startedAt: String
    public var finishedAt: String?
    public var error: String?
    public init(id: Int64, table: String, files: [String], statement: String, status: LoadStatus, rowsLoaded: Int64,
                rowsRejected: Int64, bytes: Int64, startedAt: String, finishedAt: String?, error: String?) {
        self.id = id; self.table = table; self.files = files; self.statement = statement; self.status = status
        self.rowsLoaded = rowsLoaded; self.rowsRejected = rowsRejected; self.bytes = bytes; self.startedAt = startedAt
        self.finishedAt = finishedAt; self.error = error
    }
}

public struct LoadErrorRecord: Sendable, Codable, Equatable {
    public var loadID: Int64
    public var file: String
    public var line: Int?
    public var column: String?
    public var rawText: String
    public var reason: String
    public init(loadID: Int64, file: String, line: Int?, column: String?, rawText: String, reason: String) {
        self.loadID = loadID
        self.file = file
        self.line = line
        self.column = column
        self.rawText = rawText
        self.reason = reason
    }
}

/// A table's pending work (the `/metrics` backlog gauges, the dashboard).
public struct Backlog: Sendable, Codable, Equatable {
    public var table: String
    public var files: Int64
    public var bytes: Int64
    /// When the oldest pending file was discovered (ISO 8601, UTC).
    public var oldestDiscoveredAt: String
    public init(table: String, files: Int64, bytes: Int64, oldestDiscoveredAt: String) {
        self.table = table; self.files = files; self.bytes = bytes; self.oldestDiscoveredAt = oldestDiscoveredAt
    }
}

/// One change to a table's schema: the DDL a load ran.
public struct SchemaChange: Sendable, Codable, Equatable {
    public var table: String
    public var loadID: Int64?
    public var change: String
    public var at: String
    public init(table: String, loadID: Int64?, change: String, at: String) {
        self.table = table; self.loadID = loadID; self.change = change; self.at = at
    }
}

/// What recording a listed object did.
public enum RecordOutcome: Sendable, Equatable {
    case new(FileRecord)
    /// Same key, size and modification time as a version already recorded.
    case known
    /// A new version of a key already recorded (overwritten file).
    case newVersion(FileRecord)
}

public protocol Catalog: AnyObject {
    /// Brings the catalog to this build's version: no DDL when it is current; migrations under a lock with a
    /// timeout when it is behind. `readOnly` (the operations commands that only read) never changes an
    /// existing catalog. Nothing needs repair after a crash: claims commit with the rows.
    func prepare(readOnly: Bool) throws

    /// Records listed objects in one transaction (one per object was most of discovering thousands of files).
    func record(objects: [(ObjectInfo, LandingKey)]) throws -> [RecordOutcome]

    func tables() throws -> [TableRecord]
    func table(named name: String) throws -> TableRecord?
    func setStatus(table: String, _ status: TableStatus) throws
    func setOptions(table: String, _ options: TableOptions) throws

    func files(table: String?, state: FileState?) throws -> [FileRecord]
    func loads(table: String?, status: LoadStatus?) throws -> [LoadRecord]
    func load(id: Int64) throws -> LoadRecord?
    func errors(loadID: Int64) throws -> [LoadErrorRecord]
    /// The DDL a load ran (its schema history), in order.
    func schemaChanges(loadID: Int64) throws -> [String]

    /// What a table the catalog creates for a new folder starts with (the configuration's table defaults).
    var newTableOptions: TableOptions { get set }
    /// Per table with pending files: how many, their bytes, and when the oldest was discovered.
    func backlog() throws -> [Backlog]
    /// Every schema change of a table (its DDL), oldest first.
    func schemaHistory(table: String) throws -> [SchemaChange]

    /// Active tables with pending files, the ones with the oldest pending file first.
    func tablesWithPendingFiles() throws -> [String]
    /// Pending files of one table, oldest first, cut to the batch limits (always at least one file).
    func nextBatch(table: String, maxFiles: Int, maxBytes: Int64) throws -> [FileRecord]

    /// Another version of `key` whose rows are loaded (an overwrite must replace them), the latest if several.
    func loadedVersion(key: String, excludingID: Int64) throws -> FileRecord?

    /// Files of `table` modified after `sinceNanos` become pending again; returns how many.
    func reload(table: String, sinceNanos: Int64) throws -> Int
    /// Failed files of a load become pending again; returns how many.
    func retry(loadID: Int64) throws -> Int
    /// Held files of a table become pending, approved: their schema change is applied when they load. Returns how many.
    func approve(table: String) throws -> Int
    /// Held files of a table fail with `reason` (the change they proposed is kept in it). Returns how many.
    func reject(table: String, reason: String) throws -> Int
}

/// Plan: a table's pending files, oldest first, cut into the next load's batch by count and bytes (always at
/// least one file, so a file larger than the byte limit still loads). Two versions of one key never share a
/// batch: the later one must replace the rows of the earlier.
public func nextBatch(of pending: [FileRecord], maxFiles: Int, maxBytes: Int64) -> [FileRecord] {
    var batch: [FileRecord] = []
    var bytes: Int64 = 0
    for file in pending {
        if !batch.isEmpty && (batch.count >= maxFiles || bytes + file.size > maxBytes) { break }
        if batch.contains(where: { $0.key == file.key }) { break }
        batch.append(file)
        bytes += file.size
    }
    return batch
}

/// The catalog writes a load makes, on the load's own connection and inside its transaction (so they commit
/// or roll back with the rows). `SQLCatalog` implements it for SQLite and PostgreSQL.
public protocol LoadLog: AnyObject {
    func bufferError(_ error: LoadErrorRecord)
    func endFile(loadID: Int64, file: FileRecord, state: FileState, sha256: String?, rows: Int64, duplicateOf: Int64?, error: String?) throws
    /// `file`, a new version of `key`, has replaced the rows of the key's earlier versions: they are superseded,
    /// and files that were duplicates of them are requeued (their twin's content is gone from the table).
    func replaced(key: String, by file: FileRecord) throws
    func recordSchemaChange(table: String, loadID: Int64, change: String) throws
    func recordStatement(loadID: Int64, statement: String) throws
    func loadedTwin(table: String, sha256: String, size: Int64, excludingID: Int64) throws -> FileRecord?
    func finishLoad(_ id: Int64, table: String, status: LoadStatus, rowsLoaded: Int64, rowsRejected: Int64, error: String?,
                    schema: TableSchema?, dialect: Dialect?, partitionColumns: [String], checkpointNanos: Int64?) throws
    func commit() throws
    /// Undoes the open transaction (a failed ROLLBACK means the connection already undid it).
    func rollback()
    func abandonLoad(_ id: Int64, files: [FileRecord], reason: String, transient: Bool)
}

extension Catalog {
    public func record(object: ObjectInfo, as landing: LandingKey) throws -> RecordOutcome {
        try record(objects: [(object, landing)])[0]
    }
}

/// How every catalog stores its structured columns (options, schema, dialect, partitions, a load's keys): JSON text.
public enum CatalogJSON {
    public static func text(_ value: some Encodable) -> String {
        // Encoding these value types (strings, arrays, dictionaries of strings, Codable models) cannot fail.
        String(decoding: (try? JSONEncoder().encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }

    /// nil for no text or text that is not a `T` (a column a newer version wrote differently reads as absent).
    public static func value<T: Decodable>(_ text: String?, _ type: T.Type) -> T? {
        // Most files have no partitions: `{}` without a JSONDecoder (one per file row was 4 % of loading small files).
        if text == "{}", let empty = [String: String]() as? T { return empty }
        if text == "[]", let empty = [String]() as? T { return empty }
        return text.flatMap { try? JSONDecoder().decode(T.self, from: Data($0.utf8)) }
    }
}
