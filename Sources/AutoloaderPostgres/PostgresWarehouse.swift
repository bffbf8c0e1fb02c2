import AutoloaderCore
import Foundation
import NIOCore

/// PostgreSQL as the warehouse: rows stream in with COPY FROM STDIN (text format), each file in a
/// savepoint of the load's transaction, and the catalog marks commit in that same transaction.
/// Several processes may share one database: a load holds a transaction-scoped advisory lock on its
/// table, so one load at a time per table, and a crashed process's work is simply still pending.
public final class PostgresWarehouse: Warehouse, @unchecked Sendable {
    /// The load's transaction runs here.
    let session: PostgresSession
    /// Autocommit statements (the `running` load log line) run here.
    let log: PostgresSession

    public init(session: PostgresSession, log: PostgresSession) {
        self.session = session
        self.log = log
    }

    public static let postgresCapabilities = WarehouseCapabilities(name: "postgresql", transactionalCatalog: true, storesAnyValue: false,
                                                                   maxVarcharBytes: nil) { type in
        switch type.kind {
        case .decimal: return "NUMERIC(\(min(max(type.precision ?? 18, 1), 1000)),\(type.scale ?? 0))"
        // TEXT: PostgreSQL stores it exactly like VARCHAR(n) and a longer value can never fail a load.
        case .varchar: return "TEXT"
        default: return TypeSpelling.postgres.sql(type)
        }
    }

    public var capabilities: WarehouseCapabilities { Self.postgresCapabilities }

    var catalogSchema: String { SQLIdentifier.quoted(session.url.catalogSchema) }

    public func beginLoad(table: String, files: [FileRecord], statement: String) throws -> any LoadTransaction {
        try session.execute("BEGIN")
        do {
            let locked = try session.query("SELECT pg_try_advisory_xact_lock(hashtext($1))::text", ["autoloader.load." + session.url.catalogSchema + "." + table])
            guard locked.first?.first == "true" else {
                throw AutoloaderError.warehouse(reason: "table \(table) is being loaded by another process", transient: true)
            }
            // Holding the table's lock: any `running` load of this table is a crashed process's; its files never left pending.
            try log.query("UPDATE \(catalogSchema).loads SET status='aborted', finished_at=$1, error='interrupted before commit (crash or kill); its files are pending again' WHERE table_name=$2 AND status='running'",
                          [WallClock.nowISO(), table])
            let keys = String(decoding: try JSONEncoder().encode(files.map(\.key)), as: UTF8.self)
            let bytes = files.reduce(0) { $0 + $1.size }
            let inserted = try log.query("INSERT INTO \(catalogSchema).loads(table_name, files, statement, status, bytes, started_at) VALUES ($1,$2,$3,'running',$4::bigint,$5) RETURNING id::text",
                                         [table, keys, statement, String(bytes), WallClock.nowISO()])
            guard let idText = inserted.first?.first, let loadID = Int64(idText ?? "") else {
                throw AutoloaderError.warehouse(reason: "could not record the load", transient: true)
            }
            let ids = "{" + files.map { String($0.id) }.joined(separator: ",") + "}"
            let claimed = try session.query("UPDATE \(catalogSchema).files SET state='loading', load_id=$1::bigint WHERE id = ANY($2::bigint[]) AND state='pending' RETURNING id",
                                            [String(loadID), ids])
            guard claimed.count == files.count else {
                _ = try? log.query("UPDATE \(catalogSchema).loads SET status='aborted', finished_at=$1, error='its files were loaded elsewhere first' WHERE id=$2::bigint",
                               [WallClock.nowISO(), String(loadID)])
                throw AutoloaderError.warehouse(reason: "some files of the batch are no longer pending (loaded by another process)", transient: true)
            }
            return PostgresLoadTransaction(session: session, log: log, loadID: loadID, table: table, fileIDs: ids)
        } catch {
            _ = try? session.execute("ROLLBACK")
            throw error
        }
    }

}

final class PostgresLoadTransaction: LoadTransaction, @unchecked Sendable {
    let session: PostgresSession
    let log: PostgresSession
    let loadID: Int64
    let table: String
    /// `{1,2,3}`: the claimed files, for marking them failed after a rollback.
    let fileIDs: String
    private var copy: CopyIn?
    private var copyBuffer = ByteBufferAllocator().buffer(capacity: 1 << 20)
    private var pendingErrors: [LoadErrorRecord] = []
    private var open = true
    private var maxModified: Int64?
    private var schemaChanges: [String] = []

    init(session: PostgresSession, log: PostgresSession, loadID: Int64, table: String, fileIDs: String) {
        self.session = session
        self.log = log
        self.loadID = loadID
        self.table = table
        self.fileIDs = fileIDs
    }

    deinit { if open { copy?.abandon(); _ = try? session.execute("ROLLBACK") } }

    var c: String { SQLIdentifier.quoted(session.url.catalogSchema) }
    func target(_ table: String) -> String { SQLIdentifier.quoted(session.url.schema) + "." + SQLIdentifier.quoted(table) }

    func prepareTable(_ table: String, schema: TableSchema, partitionColumns: [String]) throws -> TableSchema {
        let typeName = PostgresWarehouse.postgresCapabilities.typeName
        let existing = Dictionary(try session.query("""
            SELECT column_name, format_type(a.atttypid, a.atttypmod) FROM information_schema.columns i
            JOIN pg_attribute a ON a.attrelid = (quote_ident(i.table_schema) || '.' || quote_ident(i.table_name))::regclass AND a.attname = i.column_name
            WHERE i.table_schema=$1 AND i.table_name=$2
            """, [session.url.schema, table]).map { (($0[0] ?? "").lowercased(), ($0[1] ?? "")) }, uniquingKeysWith: { a, _ in a })
        if existing.isEmpty {
            var defs = schema.columns.map { "\(SQLIdentifier.quoted($0.name)) \(typeName($0.type))" }
            defs += partitionColumns.map { "\(SQLIdentifier.quoted($0)) TEXT" }
            defs.append("\(SQLIdentifier.quoted(LineageColumn.sourceFile)) TEXT")
            let ddl = "CREATE TABLE \(target(table)) (\(defs.joined(separator: ", ")))"
            try session.execute(ddl)
            schemaChanges.append(ddl)
            return schema
        }
        // Evolution (add_columns): new columns are added; an integer or numeric column whose values no longer fit
        // is widened (SMALLINT → INTEGER → BIGINT → NUMERIC). Text columns are TEXT and never need it.
        for column in schema.columns {
            let wanted = typeName(column.type)
            guard let current = existing[column.name.lowercased()] else {
                let ddl = "ALTER TABLE \(target(table)) ADD COLUMN \(SQLIdentifier.quoted(column.name)) \(wanted)"
                try session.execute(ddl)
                schemaChanges.append(ddl)
                continue
            }
            if Self.isWidening(from: current, to: wanted) {
                let ddl = "ALTER TABLE \(target(table)) ALTER COLUMN \(SQLIdentifier.quoted(column.name)) TYPE \(wanted)"
                try session.execute(ddl)
                schemaChanges.append(ddl)
            }
        }
        for p in partitionColumns where existing[p.lowercased()] == nil {
            let ddl = "ALTER TABLE \(target(table)) ADD COLUMN \(SQLIdentifier.quoted(p)) TEXT"
            try session.execute(ddl)
            schemaChanges.append(ddl)
        }
        return schema
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
        try session.execute("SAVEPOINT file")
    }

    func deleteRows(table: String, key: String) throws -> Int64 {
        Int64(try session.query("DELETE FROM \(target(table)) WHERE \(SQLIdentifier.quoted(LineageColumn.sourceFile)) = $1 RETURNING 1", [key]).count)
    }

    func beginInsert(table: String, columns: [String]) throws {
        copy = session.beginCopy(schema: session.url.schema, table: table, columns: columns)
    }

    func insert(_ batch: RowBatch) throws {
        guard let copy else { throw AutoloaderError.warehouse(reason: "insert before beginInsert", transient: false) }
        copyBuffer.clear()
        CopyText.encode(batch, into: &copyBuffer)
        try copy.write(copyBuffer)
    }

    func endInsert() throws {
        guard let copy else { return }
        self.copy = nil
        try copy.finish()
    }

    func loadedFile(withHash sha256: String, size: Int64, excludingID: Int64) throws -> FileRecord? {
        guard let r = try session.query("SELECT id::text, key FROM \(c).files WHERE table_name=$4 AND sha256=$1 AND size=$2::bigint AND id<>$3::bigint AND state='loaded' LIMIT 1",
                                        [sha256, String(size), String(excludingID), table]).first else { return nil }
        return FileRecord(id: Int64(r[0] ?? "") ?? 0, table: table, key: r[1] ?? "", size: size, modifiedNanos: 0, state: .loaded)
    }

    func recordError(_ error: LoadErrorRecord) throws {
        pendingErrors.append(error)
    }

    func endFile(_ file: FileRecord, state: FileState, sha256: String?, rows: Int64, duplicateOf: Int64?, error: String?) throws {
        if let copy {
            self.copy = nil
            copy.abandon()
        }
        if state == .loaded {
            try session.execute("RELEASE SAVEPOINT file")
            try session.query("UPDATE \(c).files SET superseded=true WHERE key=$1 AND id<>$2::bigint", [file.key, String(file.id)])
            maxModified = max(maxModified ?? file.modifiedNanos, file.modifiedNanos)
        } else {
            try session.execute("ROLLBACK TO SAVEPOINT file")
            try session.execute("RELEASE SAVEPOINT file")
        }
        try session.query("UPDATE \(c).files SET state=$1, sha256=$2, rows=$3::bigint, duplicate_of=$4::bigint, error=$5, load_id=$6::bigint WHERE id=$7::bigint",
                          [state.rawValue, sha256, String(rows), duplicateOf.map(String.init), error, String(loadID), String(file.id)])
        for e in pendingErrors {
            try session.query("INSERT INTO \(c).load_errors(load_id, file, line, column_name, raw_text, reason) VALUES ($1::bigint,$2,$3::bigint,$4,$5,$6)",
                              [String(e.loadID), e.file, e.line.map(String.init), e.column, e.rawText, e.reason])
        }
        pendingErrors.removeAll()
    }

    func commit(status: LoadStatus, rowsLoaded: Int64, rowsRejected: Int64, error: String?, schema: TableSchema?, dialect: Dialect?, partitionColumns: [String]) throws {
        let encoder = JSONEncoder()
        try session.query("UPDATE \(c).loads SET status=$1, rows_loaded=$2::bigint, rows_rejected=$3::bigint, finished_at=$4, error=$5 WHERE id=$6::bigint",
                          [status.rawValue, String(rowsLoaded), String(rowsRejected), WallClock.nowISO(), error, String(loadID)])
        if let schema {
            try session.query("UPDATE \(c).tables SET schema=$1, dialect=COALESCE($2, dialect), partition_columns=$3, updated_at=$4 WHERE name=$5",
                              [String(decoding: try encoder.encode(schema), as: UTF8.self), dialect.flatMap { try? String(decoding: encoder.encode($0), as: UTF8.self) },
                               String(decoding: try encoder.encode(partitionColumns), as: UTF8.self), WallClock.nowISO(), table])
        }
        for change in schemaChanges {
            try session.query("INSERT INTO \(c).schema_history(table_name, load_id, change, at) VALUES ($1, $2::bigint, $3, $4)", [table, String(loadID), change, WallClock.nowISO()])
        }
        if let maxModified {
            try session.query("UPDATE \(c).tables SET checkpoint_ns=GREATEST(COALESCE(checkpoint_ns, 0), $1::bigint) WHERE name=$2", [String(maxModified), table])
        }
        try session.execute("COMMIT")
        open = false
    }

    func rollback(reason: String, requeue: Bool) {
        guard open else { return }
        open = false
        copy?.abandon()
        copy = nil
        _ = try? session.execute("ROLLBACK")
        // The claim rolled back with everything else: the files are pending again. Only the log line remains.
        _ = try? log.query("UPDATE \(c).loads SET status='failed', finished_at=$1, error=$2 WHERE id=$3::bigint", [WallClock.nowISO(), reason, String(loadID)])
        if !requeue {
            // A terminal error (not a lost connection): the files fail with it instead of being retried forever.
            _ = try? log.query("UPDATE \(c).files SET state='failed', error=$1, load_id=$2::bigint WHERE id = ANY($3::bigint[]) AND state='pending'",
                               [reason, String(loadID), fileIDs])
        }
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
