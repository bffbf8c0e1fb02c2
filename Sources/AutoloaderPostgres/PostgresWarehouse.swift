import AutoloaderCore
import Foundation
import NIOCore

/// PostgreSQL as the warehouse: rows stream in with COPY FROM STDIN (binary format), each file in a
/// savepoint of the load's transaction, and the catalog marks commit in that same transaction, on the same
/// connection (one connection per load: nothing of a load ever waits on another connection of its own).
/// Several processes may share one database: a load holds a transaction-scoped advisory lock on its
/// table, so one load at a time per table, and a crashed process's work is simply still pending.
public final class PostgresWarehouse: Warehouse, @unchecked Sendable {
    let session: PostgresSession
    /// The one catalog writer, on the load's connection.
    public let catalog: SQLCatalog

    public init(session: PostgresSession) {
        self.session = session
        catalog = SQLCatalog(connection: session)
    }

    public static let postgresCapabilities = WarehouseCapabilities(name: "postgresql", transactionalCatalog: true, storesAnyValue: false,
                                                                   maxVarcharBytes: nil, maxIdentifierBytes: 63, schemas: true) { type in
        switch type.kind {
        case .decimal: return "NUMERIC(\(min(max(type.precision ?? 18, 1), 1000)),\(type.scale ?? 0))"
        // TEXT: PostgreSQL stores it exactly like VARCHAR(n) and a longer value can never fail a load.
        case .varchar: return "TEXT"
        default: return TypeSpelling.postgres.sql(type)
        }
    }

    public var capabilities: WarehouseCapabilities { Self.postgresCapabilities }

    public func beginLoad(table: String, files: [FileRecord], statement: String) throws -> any LoadTransaction {
        let loadID = try catalog.openLoad(table: table, files: files, statement: statement)
        return PostgresLoadTransaction(session: session, log: catalog, loadID: loadID, table: table, files: files)
    }
}

final class PostgresLoadTransaction: LoadTransaction, @unchecked Sendable {
    let session: PostgresSession
    let log: any LoadLog
    let loadID: Int64
    let table: String
    let files: [FileRecord]
    private var copy: CopyIn?
    private var copyBuffer = ByteBufferAllocator().buffer(capacity: 1 << 20)

    init(session: PostgresSession, log: any LoadLog, loadID: Int64, table: String, files: [FileRecord]) {
        self.session = session
        self.log = log
        self.loadID = loadID
        self.table = table
        self.files = files
    }
    /// A catalog table name in SQL: `schema.table` names its own schema, others are in the URL's `schema=`.
    func target(_ table: String) -> String { SQLIdentifier.qualified(table, defaultSchema: session.url.schema) }
    func place(_ table: String) -> (schema: String, name: String) {
        let (schema, name) = SQLIdentifier.split(table)
        return (schema ?? session.url.schema, name)
    }

    func prepareTable(_ table: String, schema: TableSchema, partitionColumns: [String]) throws -> PreparedTable {
        let typeName = PostgresWarehouse.postgresCapabilities.typeName
        // By lowercased name: the table's own spelling and type.
        let existing = Dictionary(try columns(of: table).map { ($0.name.lowercased(), $0) }, uniquingKeysWith: { a, _ in a })
        if existing.isEmpty {
            var defs = schema.columns.map { "\(SQLIdentifier.quoted($0.name)) \(typeName($0.type))" }
            defs += partitionColumns.map { "\(SQLIdentifier.quoted($0)) TEXT" }
            defs.append("\(SQLIdentifier.quoted(LineageColumn.sourceFile)) TEXT")
            try session.execute("CREATE SCHEMA IF NOT EXISTS \(SQLIdentifier.quoted(place(table).schema))")
            try change("CREATE TABLE \(target(table)) (\(defs.joined(separator: ", ")))")
            return PreparedTable(schema: schema, lineage: true)
        }
        // A table without `_source_file` was created by hand: its columns are the user's, matched by name whatever
        // their case, and never retyped; values are checked against their types. Ours evolve (add_columns): new
        // columns are added; an integer or numeric column whose values no longer fit is widened (SMALLINT →
        // INTEGER → BIGINT → NUMERIC). Text columns are TEXT and never need it.
        let lineage = existing[LineageColumn.sourceFile] != nil
        var prepared = schema
        for (k, column) in schema.columns.enumerated() {
            let wanted = typeName(column.type)
            guard let current = existing[column.name.lowercased()] else {
                try change("ALTER TABLE \(target(table)) ADD COLUMN \(SQLIdentifier.quoted(column.name)) \(wanted)")
                continue
            }
            prepared.columns[k].name = current.name
            if !lineage {
                if let type = Self.columnType(current.type) {
                    // The file's date layout still reads the file; the table's type decides what the value must be.
                    prepared.columns[k].type = type.kind == column.type.kind ? column.type : type
                }
            } else if Self.isWidening(from: current.type, to: wanted) {
                try change("ALTER TABLE \(target(table)) ALTER COLUMN \(SQLIdentifier.quoted(current.name)) TYPE \(wanted)")
            }
        }
        for p in partitionColumns where existing[p.lowercased()] == nil {
            try change("ALTER TABLE \(target(table)) ADD COLUMN \(SQLIdentifier.quoted(p)) TEXT")
        }
        return PreparedTable(schema: prepared, lineage: lineage)
    }

    /// What `columns(of:)` read for the current file, until DDL or the next file (whose savepoint may undo DDL)
    /// could change it: `prepareTable` and `beginInsert` both need it, once per file.
    private var columnsRead: (table: String, columns: [(name: String, type: String)])?

    /// The table's columns in order, with their types as `format_type` spells them; empty when there is no table.
    private func columns(of table: String) throws -> [(name: String, type: String)] {
        if let columnsRead, columnsRead.table == table { return columnsRead.columns }
        let columns = try session.query("""
            SELECT column_name, format_type(a.atttypid, a.atttypmod) FROM information_schema.columns i
            JOIN pg_attribute a ON a.attrelid = (quote_ident(i.table_schema) || '.' || quote_ident(i.table_name))::regclass AND a.attname = i.column_name
            WHERE i.table_schema=$1 AND i.table_name=$2 ORDER BY i.ordinal_position
            """, [place(table).schema, place(table).name]).map { (name: $0[0] ?? "", type: $0[1] ?? "") }
        columnsRead = (table, columns)
        return columns
    }

    func existingTable(_ table: String) throws -> TableSchema? {
        let columns = try columns(of: table).filter { !LineageColumn.reserved.contains($0.name.lowercased()) }
        if columns.isEmpty { return nil }
        return TableSchema(columns: columns.map { Column(name: $0.name, type: Self.columnType($0.type) ?? .varchar(), nullable: true) })
    }

    /// A PostgreSQL type (as `format_type` spells it) as a column type; nil for types we do not convert to (the
    /// server checks those values itself).
    static func columnType(_ spelled: String) -> ColumnType? {
        let t = spelled.lowercased()
        switch t {
        case "smallint": return .smallint
        case "integer": return .integer
        case "bigint": return .bigint
        case "double precision", "real": return .double
        case "boolean": return .boolean
        case "date": return ColumnType(kind: .date)
        case "time without time zone": return ColumnType(kind: .time)
        case "timestamp without time zone": return ColumnType(kind: .timestamp)
        case "timestamp with time zone": return ColumnType(kind: .timestamptz)
        case "text": return .varchar()
        case "json", "jsonb": return .json
        default: break
        }
        if t.hasPrefix("character varying") || t.hasPrefix("character(") { return .varchar() }
        if t.hasPrefix("numeric(") {
            let parts = t.dropFirst(8).dropLast().split(separator: ",").compactMap { Int($0) }
            if parts.count == 2 { return .decimal(parts[0], parts[1]) }
        }
        return nil
    }

    /// DDL in the load's transaction, recorded in the schema history with it.
    private func change(_ ddl: String) throws {
        columnsRead = nil
        try session.execute(ddl)
        try log.recordSchemaChange(table: table, loadID: loadID, change: ddl)
    }

    /// Widening PostgreSQL allows without losing values: up the integer ladder, to numeric, numeric to a wider numeric, anything to text.
    static func isWidening(from current: String, to wanted: String) -> Bool {
        let c = current.lowercased(), w = wanted.lowercased()
        if c == w { return false }
        let ladder = ["smallint", "integer", "bigint"]
        if let a = ladder.firstIndex(of: c), let b = ladder.firstIndex(of: w) { return b > a }
        if ladder.contains(c), w.hasPrefix("numeric") || w == "double precision" { return true }
        if c.hasPrefix("numeric"), w.hasPrefix("numeric") { return w != c }
        if w == "text", c != "jsonb" { return true }
        return false
    }

    func beginFile(_ file: FileRecord) throws {
        columnsRead = nil
        try session.execute("SAVEPOINT file")
    }

    func deleteRows(table: String, key: String) throws -> Int64 {
        Int64(try session.query("DELETE FROM \(target(table)) WHERE \(SQLIdentifier.quoted(LineageColumn.sourceFile)) = $1 RETURNING 1", [key]).count)
    }

    func insertStatement(table: String, columns: [String]) -> String {
        "COPY \(target(table)) (\(columns.map(SQLIdentifier.quoted).joined(separator: ", "))) FROM STDIN" + (binaryKinds != nil ? " WITH (FORMAT binary)" : "")
    }

    /// The binary encoder's column types for the COPY in progress; nil: it goes as text.
    private var binaryKinds: [CopyBinary.Kind]?
    private var insertColumns: [String] = []

    /// Binary when every column has a binary encoder (all of ours do; a table created by hand may have a uuid).
    func beginInsert(table: String, columns: [String]) throws {
        let types = Dictionary(try self.columns(of: table).map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
        let kinds = columns.map { types[$0].flatMap(CopyBinary.Kind.init(formatType:)) }
        binaryKinds = kinds.contains(nil) || kinds.isEmpty ? nil : kinds.map { $0! }
        insertColumns = columns
        copy = session.beginCopy(schema: place(table).schema, table: place(table).name, columns: columns, binary: binaryKinds != nil)
        copyBuffer.clear()  // nothing of a file whose COPY failed may reach the next one's
        if binaryKinds != nil { copyBuffer.writeBytes(CopyBinary.header) }
    }

    func insert(_ batch: RowBatch) throws {
        guard let copy else { throw AutoloaderError.warehouse(reason: "insert before beginInsert", transient: false) }
        if let kinds = binaryKinds {
            do {
                try CopyBinary.encode(batch, kinds: kinds, into: &copyBuffer)
            } catch {
                throw AutoloaderError.warehouse(
                    reason: "column \(insertColumns[error.column]): the value '\(error.value)' is not a valid \(error.kind) for PostgreSQL; load this file into a text column or fix the value",
                    transient: false)
            }
        } else {
            CopyText.encode(batch, into: &copyBuffer)
        }
        try copy.write(copyBuffer)
        copyBuffer.clear()
    }

    func endInsert() throws {
        guard let copy else { return }
        self.copy = nil
        if binaryKinds != nil {
            copyBuffer.writeBytes(CopyBinary.trailer)
            try copy.write(copyBuffer)
            copyBuffer.clear()
        }
        try copy.finish()
    }

    func abandonInsert() {
        guard let copy else { return }
        self.copy = nil
        copy.abandon()
    }

    func endSavepoint(keep: Bool) throws {
        if !keep { try session.execute("ROLLBACK TO SAVEPOINT file") }
        try session.execute("RELEASE SAVEPOINT file")
    }
}

/// COPY text format: tab between columns, newline after rows, `\N` for NULL, and backslash, tab,
/// newline and carriage return escaped inside values.
enum CopyText {
    /// COPY text for a batch, written straight into the buffer's memory: one capacity check per batch instead of
    /// one per byte (this runs for every cell of every row).
    static func encode(_ batch: RowBatch, into buffer: inout ByteBuffer) {
        // Worst case: every text byte escaped (2 bytes), a number or \N in 32, a separator or newline per cell.
        let bound = batch.arena.count * 2 + batch.cells.count * 33 + 16
        batch.arena.withUnsafeBufferPointer { arena in
            batch.cells.withUnsafeBufferPointer { cells in
                buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { raw in
                    guard let out = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
                    var n = 0
                    var column = 0
                    @inline(__always) func put(_ b: UInt8) { out[n] = b; n += 1 }
                    for cell in cells {
                        if column > 0 { put(0x09) }
                        switch cell {
                        case .null: put(0x5C); put(UInt8(ascii: "N"))
                        case let .int(value):
                            if value == Int64.min {
                                for b in "-9223372036854775808".utf8 { put(b) }
                            } else {
                                var v = value
                                if v < 0 { put(UInt8(ascii: "-")); v = -v }
                                var digits = 1, t = v
                                while t >= 10 { t /= 10; digits += 1 }
                                var i = n + digits - 1
                                repeat { out[i] = UInt8(48 + v % 10); v /= 10; i -= 1 } while v > 0
                                n += digits
                            }
                        case let .double(d):
                            let text = d.isNaN ? "NaN" : d.isInfinite ? (d > 0 ? "Infinity" : "-Infinity") : "\(d)"
                            for b in text.utf8 { put(b) }
                        case let .text(start, count):
                            let bytes = UnsafeBufferPointer(rebasing: arena[Int(start)..<(Int(start) + Int(count))])
                            if !bytes.contains(where: { $0 == 0x5C || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }), let from = bytes.baseAddress {
                                (out + n).update(from: from, count: bytes.count)  // the common case: nothing to escape
                                n += bytes.count
                                break
                            }
                            for b in bytes {
                                switch b {
                                case 0x5C: put(0x5C); put(0x5C)
                                case 0x09: put(0x5C); put(UInt8(ascii: "t"))
                                case 0x0A: put(0x5C); put(UInt8(ascii: "n"))
                                case 0x0D: put(0x5C); put(UInt8(ascii: "r"))
                                default: put(b)
                                }
                            }
                        }
                        column += 1
                        if column == batch.columnCount {
                            put(0x0A)
                            column = 0
                        }
                    }
                    return n
                }
            }
        }
    }
}
