/// A value bound to, or read from, catalog SQL.
public enum DBValue: Sendable, Equatable {
    case null, int(Int64), text(String)

    public var int: Int64? {
        switch self {
        case let .int(v): return v
        case let .text(s): return Int64(s)
        case .null: return nil
        }
    }

    public var text: String? {
        switch self {
        case let .text(s): return s
        case let .int(v): return String(v)
        case .null: return nil
        }
    }
}

extension Optional where Wrapped == String {
    public var db: DBValue { map { .text($0) } ?? .null }
}

extension Optional where Wrapped == Int64 {
    public var db: DBValue { map { .int($0) } ?? .null }
}

/// The small connection protocol the one SQL catalog (`SQLCatalog`) runs over. SQLite and PostgreSQL
/// implement it; everything that differs between them is data in `dialect`, never a branch in the catalog.
public protocol CatalogConnection: AnyObject {
    var dialect: CatalogDialect { get }
    /// Runs one statement with positional parameters (`?1` or `$1`, as the dialect writes them) and returns
    /// its rows. Integers (and booleans, as 0/1) come back as `.int`, everything else as `.text`.
    @discardableResult
    func run(_ sql: String, _ binds: [DBValue]) throws -> [[DBValue]]
}

/// What differs between SQL catalogs, as data read by `SQLCatalog`.
public struct CatalogDialect: Sendable {
    public var name: String
    /// A catalog table as written in SQL: SQLite `"_autoloader_files"`, PostgreSQL `"autoloader"."files"`.
    public var table: @Sendable (String) -> String
    /// An index name in CREATE INDEX (SQLite's are global to the file; PostgreSQL's live in the table's schema).
    public var index: @Sendable (String) -> String
    /// Catalog SQL is written with `$1, $2…`; SQLite reads them as `?1, ?2…`.
    public var parameterPrefix: String
    /// DDL for a 64-bit key numbered by the database, and for a boolean column.
    public var serialKey: String
    public var boolean: String
    /// Statements that open a write transaction. Each bounds its lock waits, so a transaction that queues
    /// behind another fails (transiently) instead of waiting forever.
    public var begin: [String]
    /// One row, one column, 1 when this transaction now holds the lock named by `$1` until it ends, 0 when
    /// another transaction holds it. nil: the write transaction itself excludes every other writer (SQLite).
    public var tryLock: String?
    /// Like `tryLock`, but waits (bounded by the transaction's lock timeout).
    public var lock: String?
    /// Statements run before the first migration (the catalog's own schema).
    public var createNamespace: [String]
    /// One row when the catalog table named `$1` (its unqualified catalog name, e.g. `files`) exists.
    public var tableExists: String
    /// Column names of the catalog table named `$1` (unqualified).
    public var columnNames: String
    /// The larger of two values: MAX(a, b) in SQLite, GREATEST(a, b) in PostgreSQL.
    public var greatest: String

    public init(name: String, table: @escaping @Sendable (String) -> String, index: @escaping @Sendable (String) -> String,
                parameterPrefix: String, serialKey: String, boolean: String, begin: [String], tryLock: String?, lock: String?,
                createNamespace: [String], tableExists: String, columnNames: String, greatest: String) {
        self.name = name
        self.table = table
        self.index = index
        self.parameterPrefix = parameterPrefix
        self.serialKey = serialKey
        self.boolean = boolean
        self.begin = begin
        self.tryLock = tryLock
        self.lock = lock
        self.createNamespace = createNamespace
        self.tableExists = tableExists
        self.columnNames = columnNames
        self.greatest = greatest
    }
}

/// A dry run's connection: everything it does stays in one outer transaction that is never committed, and the
/// transactions of the code above become savepoints inside it (the same statements, so the same behaviour).
public enum Enclosure {
    /// A transaction statement as it runs inside the enclosure; any other statement as it is.
    public static func statement(_ sql: String) -> String {
        switch sql {
        case "BEGIN", "BEGIN IMMEDIATE": return "SAVEPOINT autoloader_tx"
        case "COMMIT": return "RELEASE SAVEPOINT autoloader_tx"
        case "ROLLBACK": return "ROLLBACK TO SAVEPOINT autoloader_tx"
        default: return sql
        }
    }
}
