import AutoloaderCore
import Foundation

/// Everything Redshift is told, as pure functions of what detection found: DDL, the manifest, COPY and
/// the ledger statements. Golden-tested; no I/O here.
public enum RedshiftSQL {
    /// Each row's load, so a load's rows can be found again (COPY cannot say which file a row came from).
    public static let loadIDColumn = "_autoloader_load_id"
    public static let ledgerTable = "_autoloader_ledger"

    public struct Target: Sendable, Equatable {
        public var schema: String
        public var iamRole: String
        /// `s3://bucket/prefix/` where manifests go (outside the landing root, so they are never data).
        public var manifestBucket: String
        public var manifestPrefix: String
        public var region: String?
        /// Where rejected rows are read: STL_LOAD_ERRORS on a provisioned cluster (it has the raw line),
        /// SYS_LOAD_ERROR_DETAIL on Serverless (no raw line).
        public var loadErrors: LoadErrorsView
        /// Where the schema lives (cluster or workgroup, and database): statement names carry it, because
        /// ListStatements lists every statement of the caller's role, whatever the database.
        public var database = ""
        public init(schema: String, iamRole: String, manifestBucket: String, manifestPrefix: String, region: String? = nil,
                    loadErrors: LoadErrorsView = .sys) {
            self.schema = schema
            self.iamRole = iamRole
            self.manifestBucket = manifestBucket
            self.manifestPrefix = manifestPrefix
            self.region = region
            self.loadErrors = loadErrors
        }

        /// Where a catalog table lives: `schema.table` (a folder named so, as the seed does) in its own schema,
        /// others in the target's. The ledger is always in the target's schema.
        public func place(_ table: String) -> (schema: String, name: String) {
            let (schema, name) = SQLIdentifier.split(table)
            return (schema ?? self.schema, name)
        }

        public func qualified(_ table: String) -> String { SQLIdentifier.qualified(table, defaultSchema: schema) }
    }

    public enum LoadErrorsView: Sendable, Equatable { case stl, sys }

    /// `IAM_ROLE default` is a bare keyword (the cluster's default role); an ARN is a quoted literal.
    static func iamRole(_ role: String) -> String {
        role.lowercased() == "default" ? "IAM_ROLE default" : "IAM_ROLE \(literal(role))"
    }

    /// The table as detection describes it, partition columns (VARCHAR sized from their values) and the load id.
    public static func createTable(_ target: Target, table: String, schema: TableSchema, partitions: [String: Int] = [:],
                                   varcharFactor: Int = TypeSpelling.defaultVarcharFactor) -> String {
        reconcile(target, table: table, actual: nil, schema: schema, partitions: partitions, varcharFactor: varcharFactor).create ?? ""
    }

    public static func createLedger(_ target: Target) -> String {
        """
        CREATE TABLE IF NOT EXISTS \(target.qualified(ledgerTable)) (
          "table_name" VARCHAR(127) NOT NULL,
          "file_key" VARCHAR(1024) NOT NULL,
          "size" BIGINT NOT NULL,
          "mtime_ns" BIGINT NOT NULL,
          "load_id" BIGINT NOT NULL,
          "loaded_at" TIMESTAMP
        )
        """
    }

    /// The table's columns as Redshift has them (SVV_COLUMNS), in order: evolution is decided from these, not from
    /// the catalog's copy, which drifts after a refused or half-applied change or when users create the table.
    public static func describeColumns(_ target: Target, table: String) -> String {
        "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale FROM svv_columns "
            + "WHERE table_schema = \(literal(target.place(table).schema)) AND table_name = \(literal(target.place(table).name)) ORDER BY ordinal_position"
    }

    /// A column as Redshift has it: its name and its type spelled as DDL spells it.
    public struct TableColumn: Sendable, Equatable {
        public var name: String
        public var type: String
        public init(name: String, type: String) {
            self.name = name
            self.type = type
        }

        /// A row of `describeColumns`.
        public init?(row: [String?]) {
            guard row.count >= 5, let name = row[0], let dataType = row[1]?.lowercased() else { return nil }
            self.name = name
            switch dataType {
            case "character varying": type = "VARCHAR(\(row[2] ?? "256"))"
            case "character": type = "CHAR(\(row[2] ?? "1"))"
            case "numeric": type = "DECIMAL(\(row[3] ?? "18"),\(row[4] ?? "0"))"
            case "timestamp without time zone": type = "TIMESTAMP"
            case "timestamp with time zone": type = "TIMESTAMPTZ"
            case "time without time zone": type = "TIME"
            case "time with time zone": type = "TIMETZ"
            case "super", "jsonb": type = "SUPER"
            default: type = dataType.uppercased()
            }
        }
    }

    /// What must change before (and in) a load so that these files fit the table Redshift has.
    public struct Reconciliation: Sendable, Equatable {
        /// CREATE TABLE when there is none.
        public var create: String?
        /// ADD COLUMN: in the load's transaction, so a failed load adds nothing.
        public var addColumns: [String] = []
        /// ALTER COLUMN … TYPE (a longer VARCHAR): before the transaction, which may not hold one.
        public var widen: [String] = []
        /// Columns whose values the table cannot take, with why: the files are refused, nothing is submitted.
        public var refused: [String] = []
        /// The table's own spelling of each file column (matched case-insensitively) and its type.
        public var columns: [String: TableColumn] = [:]
        /// Whether the table has the load id column (tables users create may not: then rows cannot be traced to
        /// their load, and a replaced file's earlier rows cannot be found).
        public var hasLoadID = true
    }

    /// Compares the files' columns (`schema`, with partition columns of these longest values) with `actual` (nil: no
    /// table yet). New columns are added; a VARCHAR too short grows; a column of another type takes the values when it
    /// can hold them (a user's BIGINT takes integers, a VARCHAR takes anything short enough); otherwise it is refused.
    /// Never NOT NULL: a sample's absence of nulls says nothing about the next file.
    public static func reconcile(_ target: Target, table: String, actual: [TableColumn]?, schema: TableSchema, partitions: [String: Int],
                                 varcharFactor: Int = TypeSpelling.defaultVarcharFactor) -> Reconciliation {
        var r = Reconciliation()
        let name = target.qualified(table)
        var wanted = schema.columns.map { ($0.name, $0.type) }
        for (p, longest) in partitions.sorted(by: { $0.key < $1.key }) where schema.index(of: p) == nil {
            wanted.append((p, .varchar(longest, bytes: longest)))
        }
        guard let actual else {
            var defs = wanted.map { "  \(SQLIdentifier.quoted($0.0)) \(TypeSpelling.redshift.sql($0.1, varcharFactor: varcharFactor))" }
            defs.append("  \(SQLIdentifier.quoted(loadIDColumn)) BIGINT")
            r.create = "CREATE TABLE IF NOT EXISTS \(name) (\n\(defs.joined(separator: ",\n"))\n)"
            for (n, t) in wanted { r.columns[n] = TableColumn(name: n, type: TypeSpelling.redshift.sql(t, varcharFactor: varcharFactor)) }
            return r
        }
        r.hasLoadID = actual.contains { $0.name.lowercased() == loadIDColumn }
        for (n, type) in wanted {
            let spelled = TypeSpelling.redshift.sql(type, varcharFactor: varcharFactor)
            guard let have = actual.first(where: { $0.name.lowercased() == n.lowercased() }) else {
                r.addColumns.append("ALTER TABLE \(name) ADD COLUMN \(SQLIdentifier.quoted(n)) \(spelled)")
                r.columns[n] = TableColumn(name: n, type: spelled)
                continue
            }
            r.columns[n] = have
            switch holds(have.type, type) {
            case .yes: break
            case .longer:
                // ALTER keeps the table's size when it is already at least this long; otherwise the detected size.
                r.widen.append("ALTER TABLE \(name) ALTER COLUMN \(SQLIdentifier.quoted(have.name)) TYPE \(spelled)")
                r.columns[n] = TableColumn(name: have.name, type: spelled)
            case .no:
                r.refused.append("\(have.name): the table's \(have.type) cannot hold this file's \(spelled)")
            }
        }
        return r
    }

    enum Holds { case yes, longer, no }

    /// Whether a column of Redshift type `have` takes the values detection typed as `want`.
    static func holds(_ have: String, _ want: ColumnType) -> Holds {
        let h = have.uppercased()
        let integerDigits: [String: Int] = ["SMALLINT": 4, "INTEGER": 9, "INT": 9, "BIGINT": 18]
        func decimal(_ t: String) -> (Int, Int)? {
            guard t.hasPrefix("DECIMAL("), t.hasSuffix(")") else { return nil }
            let parts = t.dropFirst(8).dropLast().split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            return parts.count == 2 ? (parts[0], parts[1]) : nil
        }
        func wantDigits() -> (Int, Int) {
            switch want.kind {
            case .smallint: return (5, 0)
            case .integer: return (10, 0)
            case .bigint: return (19, 0)
            default: return ((want.precision ?? 18) - (want.scale ?? 0), want.scale ?? 0)
            }
        }
        if h.hasPrefix("VARCHAR(") || h.hasPrefix("CHAR(") {
            let length = Int(h.drop { $0 != "(" }.dropFirst().dropLast()) ?? 0
            let needed: Int
            switch want.kind {
            case .varchar: needed = want.maxBytes ?? want.maxLength ?? 0
            case .json: needed = 65_535
            default: needed = 40  // numbers, dates and times as text
            }
            if needed <= length { return .yes }
            return h.hasPrefix("VARCHAR(") ? .longer : .no
        }
        switch h {
        case "SUPER": return .yes
        case "DOUBLE PRECISION", "REAL", "FLOAT", "FLOAT8", "FLOAT4":
            return [.smallint, .integer, .bigint, .decimal, .double].contains(want.kind) ? .yes : .no
        case "BOOLEAN", "BOOL": return want.kind == .boolean ? .yes : .no
        case "DATE": return want.kind == .date ? .yes : .no
        case "TIMESTAMP": return [.date, .timestamp].contains(want.kind) ? .yes : .no
        case "TIMESTAMPTZ": return [.date, .timestamp, .timestamptz].contains(want.kind) ? .yes : .no
        case "TIME", "TIMETZ": return want.kind == .time ? .yes : .no
        default: break
        }
        guard [.smallint, .integer, .bigint, .decimal].contains(want.kind) else { return .no }
        let rank: [TypeKind: Int] = [.smallint: 4, .integer: 9, .bigint: 18]
        if let digits = integerDigits[h], let wanted = rank[want.kind] { return wanted <= digits ? .yes : .no }
        let (whole, scale) = wantDigits()
        if let digits = integerDigits[h] { return scale == 0 && whole <= digits ? .yes : .no }
        if let (p, s) = decimal(h) { return whole <= p - s && scale <= s ? .yes : .no }
        return .no
    }

    public struct ManifestEntry: Sendable, Equatable {
        public var url: String
        public var contentLength: Int64
        public init(url: String, contentLength: Int64) {
            self.url = url
            self.contentLength = contentLength
        }
    }

    /// Redshift's manifest: every file mandatory (a missing one fails the COPY, never silently skips), with its
    /// length (required for Parquet, and a check for the rest).
    public static func manifest(_ entries: [ManifestEntry]) -> String {
        let lines = entries.map {
            "    {\"url\": \(JSONText.string($0.url)), \"mandatory\": true, \"meta\": {\"content_length\": \($0.contentLength)}}"
        }
        return "{\n  \"entries\": [\n" + lines.joined(separator: ",\n") + "\n  ]\n}\n"
    }

    public static func manifestKey(_ target: Target, table: String, loadID: Int64, part: Int? = nil) -> String {
        let prefix = target.manifestPrefix.isEmpty || target.manifestPrefix.hasSuffix("/") ? target.manifestPrefix : target.manifestPrefix + "/"
        return "\(prefix)\(table)/\(loadID)\(part.map { "-\($0)" } ?? "").manifest"
    }

    /// What COPY must be told about the files, from detection; `tableOptions` (the seed's CopyCommandOptions,
    /// per table) replaces the format part when set.
    /// `maxErrors`: rejected rows a COPY may skip (MAXERROR; text formats only). Staging COPYs never update
    /// statistics (STATUPDATE OFF: an automatic ANALYZE of a temporary table is wasted) nor sample compression.
    public static func copyOptions(format: FileFormat, dialect: Dialect?, compression: Compression, schema: TableSchema,
                                   tableOptions: String? = nil, maxErrors: Int = 0) -> [String] {
        // Columnar files take none of the text parameters (DATEFORMAT, TIMEFORMAT, EMPTYASNULL, DELIMITER,
        // compression, COMPUPDATE, MAXERROR…: "COPY from columnar data formats"): compression and types come from the file.
        if format == .parquet { return ["FORMAT AS PARQUET", "STATUPDATE OFF"] }
        var options: [String] = []
        // A table's copy_options (the seed's CopyCommandOptions, e.g. `delimiter '|' gzip`) describe delimited
        // text: a JSON file of the same table gets what JSON allows instead.
        if let custom = tableOptions, !custom.trimmingCharacters(in: .whitespaces).isEmpty, format != .json {
            options.append(custom)
        } else {
            switch format {
            case .parquet:
                break  // returned above
            case .json:
                options.append("FORMAT AS JSON 'auto ignorecase'")
            case .avro:
                options.append("FORMAT AS AVRO 'auto ignorecase'")  // what COPY would take; the loader restages Avro as JSON
            case .csv, .invalid:
                let d = dialect ?? Dialect()
                let delimiter = "DELIMITER " + (d.delimiter == UInt8(ascii: "\t") ? "'\\t'" : literal(String(UnicodeScalar(d.delimiter))))
                if d.escape != nil || d.quote == nil {
                    // Text mode: CSV mode forbids ESCAPE, and would take a `"` opening a never-quoted field for a quote.
                    // REMOVEQUOTES keeps delimiters inside double quotes; ESCAPE reads `\"`, `\\` and an escaped delimiter.
                    options.append(delimiter)
                    if d.escape != nil { options.append("ESCAPE") }
                    if d.quote != nil { options.append("REMOVEQUOTES") }
                } else {
                    options.append("FORMAT AS CSV")
                    options.append(delimiter)
                    if let q = d.quote { options.append("QUOTE AS \(literal(String(UnicodeScalar(q))))") }
                }
                let skip = d.skipLines + (d.header ? 1 : 0)
                if skip > 0 { options.append("IGNOREHEADER \(skip)") }
                if d.encoding == .utf16LE || d.encoding == .utf16BE { options.append("ENCODING \(d.encoding == .utf16LE ? "UTF16LE" : "UTF16BE")") }
            }
            switch compression {
            case .gzip: options.append("GZIP")
            case .bzip2: options.append("BZIP2")
            case .zstd: options.append("ZSTD")
            case .none: break
            }
        }
        let plan = stagingPlan(schema.columns, format: format)
        options.append("DATEFORMAT \(literal(plan.dateFormat))")
        options.append("TIMEFORMAT \(literal(plan.timeFormat))")
        options.append("EMPTYASNULL")
        if maxErrors > 0 { options.append("MAXERROR \(min(maxErrors, maxCopyErrors))") }
        options += ["STATUPDATE OFF", "COMPUPDATE OFF"]
        return options.map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// Why COPY cannot read files of this dialect (nil: it can), said before anything is submitted.
    public static func copyRefusal(format: FileFormat, dialect: Dialect?) -> String? {
        guard format == .csv, let d = dialect else { return nil }
        if let e = d.escape, e != UInt8(ascii: "\\") {
            return "Redshift's COPY escapes only with a backslash, and this file escapes with '\(String(UnicodeScalar(e)))'"
        }
        if d.escape != nil, let q = d.quote, q != UInt8(ascii: "\"") {
            return "a backslash-escaped file needs COPY's text mode, whose REMOVEQUOTES takes only double quotes, and this file quotes with '\(String(UnicodeScalar(q)))'"
        }
        if !d.encoding.isUnicode { return "Redshift's COPY reads UTF-8 and UTF-16 only, and this file is \(d.encoding.rawValue)" }
        return nil
    }

    /// The staging table's column that takes the empty field after a trailing delimiter (COPY counts it as a field).
    public static let trailingColumn = "_autoloader_trailing"

    /// How a group's file columns reach the table. One COPY takes one DATEFORMAT and one TIMEFORMAT: the first
    /// date (time) column's layout is COPY's, and a column laid out differently is staged as text and converted in
    /// the INSERT … SELECT with its own (TO_DATE / TO_TIMESTAMP): day-first and month-first columns in one file both
    /// load right. A typed column in which detection saw null spellings besides the empty field (`NA`, `N/A`,
    /// `NULL`, `\N`) is staged as text too, those spellings becoming NULL in the INSERT — not with COPY's NULL AS,
    /// which would apply to every column and turn a text column's "NA" into NULL (the other warehouses keep it).
    public struct StagingPlan: Sendable, Equatable {
        public struct Staged: Sendable, Equatable {
            public var name: String
            /// Its type in the staging table.
            public var type: String
            /// What the INSERT … SELECT takes from it.
            public var select: String
        }
        public var columns: [Staged]
        /// What COPY fills, in file order.
        public var copyColumns: [String]
        public var dateFormat: String
        public var timeFormat: String
    }

    /// `columns`: the file's columns with the table's types, each with the layout and null spellings detection saw
    /// in the file.
    /// `types`: the table's type of a column where it is not detection's (a table users created, or one widened).
    public static func stagingPlan(_ columns: [Column], format: FileFormat, trailingDelimiter: Bool = false,
                                   varcharFactor: Int = TypeSpelling.defaultVarcharFactor, types: [String: String] = [:]) -> StagingPlan {
        func layout(_ c: Column) -> String { c.type.format.flatMap(redshiftFormat) ?? "auto" }
        let dates = columns.filter { $0.type.kind == .date }, times = columns.filter { [.timestamp, .timestamptz].contains($0.type.kind) }
        let dateFormat = dates.first.map(layout) ?? "auto", timeFormat = times.first.map(layout) ?? "auto"
        var staged: [StagingPlan.Staged] = []
        for c in columns {
            let name = SQLIdentifier.quoted(c.name)
            let spelled = types[c.name] ?? TypeSpelling.redshift.sql(c.type, varcharFactor: varcharFactor)
            var converted: String?
            if format != .parquet {
                switch c.type.kind {
                case .date where layout(c) != dateFormat:
                    converted = layout(c) == "auto" ? "CAST(\(name) AS DATE)" : "TO_DATE(\(name), \(literal(layout(c))))"
                case .timestamp where layout(c) != timeFormat:
                    converted = layout(c) == "auto" ? "CAST(\(name) AS TIMESTAMP)" : "CAST(TO_TIMESTAMP(\(name), \(literal(layout(c)))) AS TIMESTAMP)"
                case .timestamptz where layout(c) != timeFormat:
                    converted = layout(c) == "auto" ? "CAST(\(name) AS TIMESTAMPTZ)" : "TO_TIMESTAMP(\(name), \(literal(layout(c))))"
                default: break
                }
                // Compared trimmed, so the whitespace-only token is ''.
                let spellings = c.nullTokens.filter { !$0.isEmpty }.map { $0 == " " ? "" : $0 }
                if !spellings.isEmpty, c.type.kind != .varchar, c.type.kind != .json {
                    let value = converted ?? "CAST(\(name) AS \(spelled))"
                    converted = "CASE WHEN TRIM(\(name)) IN (\(spellings.map(literal).joined(separator: ", "))) THEN NULL ELSE \(value) END"
                }
            }
            staged.append(converted.map { .init(name: c.name, type: "VARCHAR(256)", select: $0) } ?? .init(name: c.name, type: spelled, select: name))
        }
        var copyColumns = columns.map(\.name)
        if trailingDelimiter, format == .csv {
            staged.append(.init(name: trailingColumn, type: "VARCHAR(256)", select: ""))
            copyColumns.append(trailingColumn)
        }
        return StagingPlan(columns: staged, copyColumns: copyColumns, dateFormat: dateFormat, timeFormat: timeFormat)
    }

    /// `%m/%d/%Y` → `MM/DD/YYYY`. nil for anything COPY's format strings cannot say exactly.
    public static func redshiftFormat(_ strptime: String) -> String? {
        let map: [Character: String] = ["Y": "YYYY", "m": "MM", "d": "DD", "H": "HH24", "M": "MI", "S": "SS", "b": "MON", "I": "HH12", "p": "AM"]
        var out = ""
        var it = strptime.makeIterator()
        while let c = it.next() {
            if c == "%" {
                guard let d = it.next(), let m = map[d] else { return nil }
                out += m
            } else if c == "T" || c == "'" {
                return nil
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// COPY into the (temporary, unqualified) staging table from a manifest. Columnar files map by position,
    /// so no column list for Parquet.
    public static func copy(_ target: Target, staging: String, columns: [String], manifestURL: String, options: [String],
                            format: FileFormat) -> String {
        let list = format == .parquet ? "" : " (" + columns.map(SQLIdentifier.quoted).joined(separator: ", ") + ")"
        var sql = "COPY \(SQLIdentifier.quoted(staging))\(list)\nFROM \(literal(manifestURL))\n"
            + "\(iamRole(target.iamRole))\nMANIFEST"
        // REGION is refused for columnar formats (the bucket must be in the cluster's region).
        if let region = target.region, format != .parquet { sql += "\nREGION \(literal(region))" }
        return sql + "\n" + options.joined(separator: "\n")
    }

    /// The staging table: the plan's columns with their types spelled out (no read of the target, no partition
    /// columns: COPY cannot fill them). Temporary: it ends with the transaction's session.
    public static func createStaging(staging: String, plan: StagingPlan) -> String {
        "CREATE TEMP TABLE \(SQLIdentifier.quoted(staging)) ("
            + plan.columns.map { "\(SQLIdentifier.quoted($0.name)) \($0.type)" }.joined(separator: ", ")
            + ")"
    }

    /// How a load's transactions are named (the Data API's StatementName): a later load of the table finds
    /// those still running by this prefix and waits for them before it reads the ledger.
    public static func statementNamePrefix(_ target: Target, table: String) -> String {
        "autoloader:\(target.database.isEmpty ? "" : target.database + ".")\(target.schema).\(table):"
    }

    public static func statementName(_ target: Target, table: String, loadID: Int64, part: Int, of parts: Int) -> String {
        statementNamePrefix(target, table: table) + "load \(loadID)" + (parts > 1 ? " \(part)/\(parts)" : "")
    }

    /// The column whose NOT NULL refuses a transaction that would load a file the ledger already has; the
    /// loader recognises its name in the error and reads the ledger again.
    public static let alreadyLoadedMarker = "file_already_in_ledger"

    /// The head of every load transaction: the ledger locked (concurrent loads of any table wait here, so
    /// each sees the other's committed ledger rows), then a check that none of its files is in the ledger
    /// yet. With the lookup made before submitting, this makes a file load once even when an earlier
    /// transaction of the same files was still running (a crash, a timeout) or another loader got there first.
    public static func ledgerGuard(_ target: Target, table: String, files: [FileRecord]) -> [String] {
        let keys = files.map { literal("\($0.key)|\($0.size)|\($0.modifiedNanos)") }.joined(separator: ", ")
        return [
            "LOCK \(target.qualified(ledgerTable))",
            "CREATE TEMP TABLE \"_autoloader_guard\" (\"\(alreadyLoadedMarker)\" VARCHAR(1) NOT NULL)",
            "INSERT INTO \"_autoloader_guard\" SELECT NULL FROM \(target.qualified(ledgerTable)) WHERE \"table_name\" = \(literal(table)) "
                + "AND \"file_key\" || '|' || CAST(\"size\" AS VARCHAR(20)) || '|' || CAST(\"mtime_ns\" AS VARCHAR(20)) IN (\(keys))",
        ]
    }

    /// The ledger's files of the given loads: what a replacement must delete and copy again.
    public static func ledgerOfLoads(_ target: Target, table: String, loadIDs: [Int64]) -> String {
        "SELECT \"file_key\", \"size\", \"mtime_ns\" FROM \(target.qualified(ledgerTable)) WHERE \"table_name\" = \(literal(table)) "
            + "AND \"load_id\" IN (\(loadIDs.map(String.init).joined(separator: ", ")))"
    }

    /// Replacing files: the rows of the earlier loads that hold them go, with those loads' ledger rows (their
    /// other files are copied again in the same transaction). Runs after `ledgerGuard`'s LOCK and guard table:
    /// if the ledger no longer has exactly `expected` rows of those loads (another loader replaced them
    /// meanwhile), the guard's NOT NULL refuses the transaction and the load reads the ledger again.
    public static func replace(_ target: Target, table: String, loadIDs: [Int64], expected: Int) -> [String] {
        let ids = loadIDs.map(String.init).joined(separator: ", ")
        let ledger = target.qualified(ledgerTable)
        return [
            "INSERT INTO \"_autoloader_guard\" SELECT NULL WHERE (SELECT COUNT(*) FROM \(ledger) WHERE \"table_name\" = \(literal(table)) "
                + "AND \"load_id\" IN (\(ids))) <> \(expected)",
            "DELETE FROM \(target.qualified(table)) WHERE \(SQLIdentifier.quoted(loadIDColumn)) IN (\(ids))",
            "DELETE FROM \(ledger) WHERE \"table_name\" = \(literal(table)) AND \"load_id\" IN (\(ids))",
        ]
    }

    /// Staged rows into the table (converted as the plan says), with the partition values and the load id as
    /// constants. `names`: the table's spelling of a column where it differs; `loadID` nil: the table has no such column.
    public static func insertFromStaging(_ target: Target, table: String, staging: String, plan: StagingPlan,
                                         partitions: [(String, String)], loadID: Int64?, names tableNames: [String: String] = [:]) -> String {
        let loaded = plan.columns.filter { $0.name != trailingColumn }
        func column(_ name: String) -> String { SQLIdentifier.quoted(tableNames[name] ?? name) }
        let names = loaded.map { column($0.name) } + partitions.map { column($0.0) } + (loadID == nil ? [] : [SQLIdentifier.quoted(loadIDColumn)])
        let values = loaded.map(\.select) + partitions.map { literal($0.1) } + (loadID.map { [String($0)] } ?? [])
        return "INSERT INTO \(target.qualified(table)) (\(names.joined(separator: ", ")))\n"
            + "SELECT \(values.joined(separator: ", ")) FROM \(SQLIdentifier.quoted(staging))"
    }

    /// `at`: the load's time as `YYYY-MM-DD HH:MM:SS` (a literal: the same text works on Redshift and PostgreSQL).
    public static func ledgerInsert(_ target: Target, table: String, files: [FileRecord], loadID: Int64, at: String) -> String {
        let rows = files.map { "(\(literal(table)), \(literal($0.key)), \($0.size), \($0.modifiedNanos), \(loadID), \(literal(at)))" }
        return "INSERT INTO \(target.qualified(ledgerTable)) (\"table_name\", \"file_key\", \"size\", \"mtime_ns\", \"load_id\", \"loaded_at\") VALUES\n"
            + rows.joined(separator: ",\n")
    }

    /// Which of these files a committed load already has (consulted before every load: exactly once).
    public static func ledgerLookup(_ target: Target, table: String, keys: [String]) -> String {
        "SELECT \"file_key\", \"size\", \"mtime_ns\", \"load_id\" FROM \(target.qualified(ledgerTable)) WHERE \"table_name\" = \(literal(table)) AND \"file_key\" IN ("
            + keys.map(literal).joined(separator: ", ") + ")"
    }

    /// BatchExecuteStatement's limits (Data API reference): at most 40 statements, 100 KB of SQL.
    public static let maxBatchStatements = 40
    public static let maxBatchBytes = 100 * 1024
    /// MAXERROR's ceiling ("Data load parameters": larger values are replaced by 100,000).
    public static let maxCopyErrors = 100_000

    /// One transaction of a load: which groups, its statements, and which of them put rows into the table (their
    /// row counts are the rows loaded; the batch's own ResultRows also counts staging and ledger rows).
    public struct Batch: Sendable, Equatable {
        public var groups: [Int]
        public var sqls: [String]
        public var rowStatements: [Int]
    }

    /// Groups' statements cut into batches within the limits, each `head(its groups) + their statements +
    /// tail(its groups)`. A group is never split (its staging table lives in one session); the last statement of
    /// a group is the one that puts its rows into the table.
    public static func batches(_ groups: [[String]], head: ([Int]) -> [String] = { _ in [] }, tail: ([Int]) -> [String]) -> [Batch] {
        var out: [Batch] = []
        var current: [Int] = []
        func batch(_ indices: [Int]) -> Batch {
            let first = head(indices)
            var sqls = first, rows: [Int] = []
            for i in indices {
                sqls += groups[i]
                rows.append(sqls.count - 1)
            }
            return Batch(groups: indices, sqls: sqls + tail(indices), rowStatements: rows)
        }
        func fits(_ indices: [Int]) -> Bool {
            let all = batch(indices).sqls
            return all.count <= maxBatchStatements && all.reduce(0) { $0 + $1.utf8.count + 2 } <= maxBatchBytes
        }
        for i in groups.indices {
            if !current.isEmpty, !fits(current + [i]) {
                out.append(batch(current))
                current = []
            }
            current.append(i)
        }
        if !current.isEmpty { out.append(batch(current)) }
        return out
    }

    /// Rejected rows of a failed load: rows of the view for the load's files since it started (by file and
    /// time rather than query id: on a provisioned cluster the Data API's query id is not the COPY's). Every
    /// row is file, line, column, raw line ('' where the view has none), reason.
    public static func loadErrors(_ view: LoadErrorsView, urls: [String], since: String) -> String {
        let files = urls.map(literal).joined(separator: ", ")
        switch view {
        case .stl:
            return "SELECT TRIM(filename), line_number, TRIM(colname), TRIM(raw_line), TRIM(err_reason) FROM stl_load_errors "
                + "WHERE TRIM(filename) IN (\(files)) AND starttime >= \(literal(since)) ORDER BY starttime, line_number LIMIT 1000"
        case .sys:
            return "SELECT TRIM(file_name), line_number, TRIM(column_name), '', TRIM(error_message) FROM sys_load_error_detail "
                + "WHERE TRIM(file_name) IN (\(files)) AND start_time >= \(literal(since)) ORDER BY start_time, line_number LIMIT 1000"
        }
    }

    /// Errors worth running the same transaction again for: a serializable isolation violation (1023: another
    /// transaction wrote the same tables) and the cluster's limits on concurrent statements and connections.
    public static func isTransient(_ error: String) -> Bool {
        let e = error.lowercased()
        return e.contains("serializable isolation violation") || e.contains("too many active statements")
            || e.contains("connection limit") || e.contains("cluster is being resized")
    }

    /// Redshift string literals read backslash escapes: both `'` and `\\` are doubled.
    public static func literal(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "''") + "'"
    }
}
