import AutoloaderCore
import Foundation
@testable import AutoloaderRedshift
import Testing

/// The exact text Redshift is sent, for each format, compression and option combination.
struct GoldenSQLTests {
    static let target = RedshiftSQL.Target(schema: "analytics", iamRole: "arn:aws:iam::123456789012:role/loader",
                                           manifestBucket: "landing", manifestPrefix: "autoloader-manifests/")

    static func column(_ name: String, _ type: ColumnType, nullable: Bool = true) -> Column {
        Column(name: name, type: type, nullable: nullable)
    }

    static let allTypes = TableSchema(columns: [
        column("flag", .init(kind: .boolean)), column("small", .init(kind: .smallint)), column("id", .init(kind: .integer), nullable: false),
        column("big", .init(kind: .bigint)), column("price", .init(kind: .decimal, precision: 12, scale: 2)),
        column("huge", .init(kind: .decimal, precision: 60, scale: 4)), column("ratio", .init(kind: .double)),
        column("day", .init(kind: .date, format: "%m/%d/%Y")), column("at", .init(kind: .time, format: "%H:%M:%S")),
        column("seen", .init(kind: .timestamp, format: "%Y-%m-%d %H:%M:%S")), column("zoned", .init(kind: .timestamptz, format: "%Y-%m-%dT%H:%M:%S%z")),
        column("name", .varchar(4, bytes: 12)), column("long", .varchar(30_000, bytes: 30_000)), column("doc", .init(kind: .json)),
        column("select", .varchar(3, bytes: 3)),
    ])

    @Test func createTableWithEveryTypeAndPartitions() {
        #expect(RedshiftSQL.createTable(Self.target, table: "orders", schema: Self.allTypes, partitions: ["region": 2, "day_part": 10]) == """
            CREATE TABLE IF NOT EXISTS "analytics"."orders" (
              "flag" BOOLEAN,
              "small" SMALLINT,
              "id" INTEGER,
              "big" BIGINT,
              "price" DECIMAL(12,2),
              "huge" VARCHAR(186),
              "ratio" DOUBLE PRECISION,
              "day" DATE,
              "at" TIME,
              "seen" TIMESTAMP,
              "zoned" TIMESTAMPTZ,
              "name" VARCHAR(36),
              "long" VARCHAR(65535),
              "doc" SUPER,
              "select" VARCHAR(9),
              "day_part" VARCHAR(30),
              "region" VARCHAR(6),
              "_autoloader_load_id" BIGINT
            )
            """)
    }

    @Test func csvWithHeaderGzipAndADetectedDateFormat() {
        let schema = TableSchema(columns: [Self.column("id", .init(kind: .integer)), Self.column("born", .init(kind: .date, format: "%m/%d/%Y")),
                                           Self.column("seen", .init(kind: .timestamp, format: "%Y-%m-%d %H:%M:%S"))])
        let options = RedshiftSQL.copyOptions(format: .csv, dialect: Dialect(header: true), compression: .gzip, schema: schema)
        #expect(RedshiftSQL.copy(Self.target, staging: "stage_7_1", columns: ["id", "born", "seen"],
                                 manifestURL: "s3://landing/autoloader-manifests/users/7.manifest", options: options, format: .csv) == """
            COPY "stage_7_1" ("id", "born", "seen")
            FROM 's3://landing/autoloader-manifests/users/7.manifest'
            IAM_ROLE 'arn:aws:iam::123456789012:role/loader'
            MANIFEST
            FORMAT AS CSV
            DELIMITER ','
            QUOTE AS '"'
            IGNOREHEADER 1
            GZIP
            DATEFORMAT 'MM/DD/YYYY'
            TIMEFORMAT 'YYYY-MM-DD HH24:MI:SS'
            EMPTYASNULL
            STATUPDATE OFF
            COMPUPDATE OFF
            """)
    }

    @Test(arguments: [
        (Dialect(delimiter: UInt8(ascii: "\t"), header: false), Compression.bzip2,
         ["FORMAT AS CSV", "DELIMITER '\\t'", "QUOTE AS '\"'", "BZIP2", "DATEFORMAT 'auto'", "TIMEFORMAT 'auto'", "EMPTYASNULL", "STATUPDATE OFF", "COMPUPDATE OFF"]),
        (Dialect(delimiter: UInt8(ascii: "|"), quote: UInt8(ascii: "'"), header: true, skipLines: 2), Compression.zstd,
         ["FORMAT AS CSV", "DELIMITER '|'", "QUOTE AS ''''", "IGNOREHEADER 3", "ZSTD", "DATEFORMAT 'auto'", "TIMEFORMAT 'auto'", "EMPTYASNULL", "STATUPDATE OFF", "COMPUPDATE OFF"]),
        (Dialect(delimiter: UInt8(ascii: ";"), quote: nil, header: true), Compression.none,
         ["DELIMITER ';'", "IGNOREHEADER 1", "DATEFORMAT 'auto'", "TIMEFORMAT 'auto'", "EMPTYASNULL", "STATUPDATE OFF", "COMPUPDATE OFF"]),
    ])
    func delimitedDialectsAndCompressions(dialect: Dialect, compression: Compression, expected: [String]) {
        let schema = TableSchema(columns: [Self.column("a", .init(kind: .integer))])
        #expect(RedshiftSQL.copyOptions(format: .csv, dialect: dialect, compression: compression, schema: schema) == expected)
    }

    @Test func jsonParquetAndTheTablesOwnCopyOptions() {
        let schema = TableSchema(columns: [Self.column("id", .init(kind: .integer)), Self.column("when", .init(kind: .timestamptz, format: "%Y-%m-%dT%H:%M:%S%z"))])
        #expect(RedshiftSQL.copyOptions(format: .json, dialect: nil, compression: .gzip, schema: schema)
            == ["FORMAT AS JSON 'auto ignorecase'", "GZIP", "DATEFORMAT 'auto'", "TIMEFORMAT 'auto'", "EMPTYASNULL", "STATUPDATE OFF", "COMPUPDATE OFF"])
        let parquet = RedshiftSQL.copyOptions(format: .parquet, dialect: nil, compression: .none, schema: schema)
        #expect(parquet == ["FORMAT AS PARQUET", "STATUPDATE OFF"])
        #expect(RedshiftSQL.copy(Self.target, staging: "s", columns: ["id", "when"], manifestURL: "s3://b/m", options: parquet, format: .parquet) == """
            COPY "s"
            FROM 's3://b/m'
            IAM_ROLE 'arn:aws:iam::123456789012:role/loader'
            MANIFEST
            FORMAT AS PARQUET
            STATUPDATE OFF
            """)
        // The seed's CopyCommandOptions, set per table, replace what detection implies.
        #expect(RedshiftSQL.copyOptions(format: .csv, dialect: Dialect(), compression: .gzip, schema: schema, tableOptions: "delimiter '|' gzip")
            == ["delimiter '|' gzip", "DATEFORMAT 'auto'", "TIMEFORMAT 'auto'", "EMPTYASNULL", "STATUPDATE OFF", "COMPUPDATE OFF"])
    }

    /// Issue 11, defect 2: columnar COPY takes none of the text parameters and no REGION; a table's text-format
    /// copy_options never reach a Parquet or JSON file.
    @Test func columnarAndJSONCopyTakeOnlyWhatTheyAllow() {
        let schema = TableSchema(columns: [Self.column("d", .init(kind: .date, format: "%d/%m/%Y"))])
        #expect(RedshiftSQL.copyOptions(format: .parquet, dialect: nil, compression: .none, schema: schema, tableOptions: "delimiter '|' gzip")
            == ["FORMAT AS PARQUET", "STATUPDATE OFF"])
        #expect(RedshiftSQL.copyOptions(format: .json, dialect: nil, compression: .none, schema: schema, tableOptions: "delimiter '|' gzip")
            == ["FORMAT AS JSON 'auto ignorecase'", "DATEFORMAT 'DD/MM/YYYY'", "TIMEFORMAT 'auto'", "EMPTYASNULL", "STATUPDATE OFF", "COMPUPDATE OFF"])
        var target = Self.target
        target.region = "eu-west-1"
        let parquet = RedshiftSQL.copy(target, staging: "s", columns: ["d"], manifestURL: "s3://b/m", options: ["FORMAT AS PARQUET"], format: .parquet)
        #expect(!parquet.contains("REGION"))
        let csv = RedshiftSQL.copy(target, staging: "s", columns: ["d"], manifestURL: "s3://b/m", options: ["FORMAT AS CSV"], format: .csv)
        #expect(csv.contains("REGION 'eu-west-1'"))
    }

    /// Issue 11, defect 6: `iam_role=default` is the bare keyword.
    @Test func theDefaultRoleIsAKeyword() {
        var target = Self.target
        target.iamRole = "default"
        #expect(RedshiftSQL.copy(target, staging: "s", columns: ["a"], manifestURL: "s3://b/m", options: [], format: .csv).contains("\nIAM_ROLE default\n"))
        #expect(RedshiftSQL.copy(Self.target, staging: "s", columns: ["a"], manifestURL: "s3://b/m", options: [], format: .csv)
            .contains("IAM_ROLE 'arn:aws:iam::123456789012:role/loader'"))
    }

    /// Issue 11, defect 1: each view's documented columns (SYS_LOAD_ERROR_DETAIL has no raw_line), by the load's
    /// files and start time.
    @Test func loadErrorsUseEachViewsRealColumns() {
        let sys = RedshiftSQL.loadErrors(.sys, urls: ["s3://b/in/a.csv"], since: "2026-12-01 07:00:00")
        #expect(sys == "SELECT TRIM(file_name), line_number, TRIM(column_name), '', TRIM(error_message) FROM sys_load_error_detail "
            + "WHERE TRIM(file_name) IN ('s3://b/in/a.csv') AND start_time >= '2026-12-01 07:00:00' ORDER BY start_time, line_number LIMIT 1000")
        #expect(!sys.contains("raw_line"))
        let stl = RedshiftSQL.loadErrors(.stl, urls: ["s3://b/in/a.csv", "s3://b/in/b.csv"], since: "2026-12-01 07:00:00")
        #expect(stl.contains("TRIM(raw_line)") && stl.contains("FROM stl_load_errors") && stl.contains("TRIM(filename) IN ('s3://b/in/a.csv', 's3://b/in/b.csv')"))
        #expect(stl.contains("starttime >= '2026-12-01 07:00:00'"))
    }

    /// Issue 11, defect 3: a batch holds at most 40 statements and 100 KB; groups are never split.
    @Test func batchesStayWithinTheDataAPILimits() {
        let groups = (0..<60).map { i in ["CREATE \(i)", "COPY \(i)", "INSERT \(i)"] }
        let batches = RedshiftSQL.batches(groups, head: { ["LOCK", "GUARD \($0)"] }) { ["LEDGER \($0)"] }
        #expect(batches.map(\.groups.count) == [12, 12, 12, 12, 12])
        #expect(batches.allSatisfy { $0.sqls.count <= 40 && $0.sqls.first == "LOCK" && $0.sqls.last?.hasPrefix("LEDGER") == true })
        #expect(batches.flatMap(\.groups) == Array(0..<60))
        // Rows loaded are the INSERTs' counts: each group's last statement, after the head.
        #expect(batches[0].rowStatements == (0..<12).map { 2 + 3 * $0 + 2 })
        #expect(batches[0].rowStatements.allSatisfy { batches[0].sqls[$0].hasPrefix("INSERT") })
        let big = (0..<5).map { i in [String(repeating: "x", count: 40_000) + "\(i)"] }
        #expect(RedshiftSQL.batches(big) { _ in ["L"] }.map(\.groups.count) == [2, 2, 1])
    }

    @Test func dateFormatsMapOrFallBackToAuto() {
        #expect(RedshiftSQL.redshiftFormat("%d.%m.%Y") == "DD.MM.YYYY")
        #expect(RedshiftSQL.redshiftFormat("%Y/%m/%d %H:%M") == "YYYY/MM/DD HH24:MI")
        #expect(RedshiftSQL.redshiftFormat("%Y-%m-%dT%H:%M:%S") == nil)
        #expect(RedshiftSQL.redshiftFormat("%H:%M:%S.%f") == nil)
    }

    /// Issue 11, defect 8: one DATEFORMAT per COPY. Month-first and day-first columns in one file: the first is
    /// COPY's, the second is staged as text and converted with its own layout; a typed column with null spellings
    /// (`NA`, `N/A`) is staged as text and those spellings become NULL (text columns keep them, as elsewhere).
    @Test func columnsWhoseLayoutsDifferAreConvertedInTheInsert() {
        let columns = [Self.column("us", .init(kind: .date, format: "%m/%d/%Y")), Self.column("eu", .init(kind: .date, format: "%d/%m/%Y")),
                       Self.column("seen", .init(kind: .timestamp, format: "%Y-%m-%d %H:%M:%S")),
                       Column(name: "n", type: .init(kind: .integer), nullable: true, nullTokens: ["", "NA", "N/A"]),
                       Column(name: "note", type: .varchar(3, bytes: 3), nullable: true, nullTokens: ["NA"])]
        let plan = RedshiftSQL.stagingPlan(columns, format: .csv, trailingDelimiter: true)
        #expect(plan.dateFormat == "MM/DD/YYYY" && plan.timeFormat == "YYYY-MM-DD HH24:MI:SS")
        #expect(plan.copyColumns == ["us", "eu", "seen", "n", "note", "_autoloader_trailing"])
        #expect(RedshiftSQL.createStaging(staging: "s", plan: plan)
            == #"CREATE TEMP TABLE "s" ("us" DATE, "eu" VARCHAR(256), "seen" TIMESTAMP, "n" VARCHAR(256), "note" VARCHAR(9), "_autoloader_trailing" VARCHAR(256))"#)
        #expect(RedshiftSQL.insertFromStaging(Self.target, table: "t", staging: "s", plan: plan, partitions: [], loadID: 3) == """
            INSERT INTO "analytics"."t" ("us", "eu", "seen", "n", "note", "_autoloader_load_id")
            SELECT "us", TO_DATE("eu", 'DD/MM/YYYY'), "seen", CASE WHEN TRIM("n") IN ('NA', 'N/A') THEN NULL ELSE CAST("n" AS INTEGER) END, "note", 3 FROM "s"
            """)
        #expect(RedshiftSQL.copyOptions(format: .csv, dialect: Dialect(), compression: .none, schema: TableSchema(columns: columns))
            .contains("DATEFORMAT 'MM/DD/YYYY'"))
        // Parquet carries its own types: nothing is converted.
        #expect(RedshiftSQL.stagingPlan(columns, format: .parquet).columns.allSatisfy { $0.select.hasPrefix("\"") })
    }

    /// Issue 11, defect 7: backslash-escaped and never-quoted files are read in COPY's text mode (CSV mode forbids
    /// ESCAPE, and would take a `"` opening a never-quoted field for a quote); what COPY cannot read is refused
    /// before anything is submitted.
    @Test func textModeForEscapedAndNeverQuotedFilesAndClearRefusals() {
        let schema = TableSchema(columns: [Self.column("a", .init(kind: .integer))])
        #expect(RedshiftSQL.copyOptions(format: .csv, dialect: Dialect(escape: UInt8(ascii: "\\")), compression: .none, schema: schema)
            == ["DELIMITER ','", "ESCAPE", "REMOVEQUOTES", "IGNOREHEADER 1", "DATEFORMAT 'auto'", "TIMEFORMAT 'auto'", "EMPTYASNULL", "STATUPDATE OFF", "COMPUPDATE OFF"])
        #expect(RedshiftSQL.copyOptions(format: .csv, dialect: Dialect(delimiter: UInt8(ascii: "|"), quote: nil, header: false), compression: .none, schema: schema)
            == ["DELIMITER '|'", "DATEFORMAT 'auto'", "TIMEFORMAT 'auto'", "EMPTYASNULL", "STATUPDATE OFF", "COMPUPDATE OFF"])
        #expect(RedshiftSQL.copyRefusal(format: .csv, dialect: Dialect()) == nil)
        #expect(RedshiftSQL.copyRefusal(format: .csv, dialect: Dialect(escape: UInt8(ascii: "~")))?.contains("only with a backslash") == true)
        #expect(RedshiftSQL.copyRefusal(format: .csv, dialect: Dialect(quote: UInt8(ascii: "'"), escape: UInt8(ascii: "\\")))?.contains("REMOVEQUOTES") == true)
        #expect(RedshiftSQL.copyRefusal(format: .csv, dialect: Dialect(encoding: .latin1))?.contains("UTF-8 and UTF-16 only") == true)
    }

    @Test func manifestStagingInsertAndLedger() {
        #expect(RedshiftSQL.manifestKey(Self.target, table: "orders", loadID: 42) == "autoloader-manifests/orders/42.manifest")
        #expect(RedshiftSQL.manifestKey(Self.target, table: "orders", loadID: 42, part: 2) == "autoloader-manifests/orders/42-2.manifest")
        #expect(RedshiftSQL.manifest([.init(url: "s3://landing/in/orders/a \"x\".csv.gz", contentLength: 1234),
                                      .init(url: "s3://landing/in/orders/b.csv.gz", contentLength: 99)]) == """
            {
              "entries": [
                {"url": "s3://landing/in/orders/a \\"x\\".csv.gz", "mandatory": true, "meta": {"content_length": 1234}},
                {"url": "s3://landing/in/orders/b.csv.gz", "mandatory": true, "meta": {"content_length": 99}}
              ]
            }

            """)
        let plan = RedshiftSQL.stagingPlan([Self.column("id", .init(kind: .integer)), Self.column("item", .varchar(4, bytes: 6))], format: .csv)
        #expect(RedshiftSQL.createStaging(staging: "stage_42_1", plan: plan) == #"CREATE TEMP TABLE "stage_42_1" ("id" INTEGER, "item" VARCHAR(18))"#)
        #expect(RedshiftSQL.ledgerGuard(Self.target, table: "orders", files: [
            FileRecord(id: 1, table: "orders", key: "orders/a.csv", size: 10, modifiedNanos: 5, partitions: [:], state: .loading, discoveredAt: ""),
        ]) == [
            #"LOCK "analytics"."_autoloader_ledger""#,
            #"CREATE TEMP TABLE "_autoloader_guard" ("file_already_in_ledger" VARCHAR(1) NOT NULL)"#,
            #"INSERT INTO "_autoloader_guard" SELECT NULL FROM "analytics"."_autoloader_ledger" WHERE "table_name" = 'orders' AND "file_key" || '|' || CAST("size" AS VARCHAR(20)) || '|' || CAST("mtime_ns" AS VARCHAR(20)) IN ('orders/a.csv|10|5')"#,
        ])
        #expect(RedshiftSQL.insertFromStaging(Self.target, table: "orders", staging: "stage_42_1", plan: plan,
                                              partitions: [("region", "o'neil")], loadID: 42) == """
            INSERT INTO "analytics"."orders" ("id", "item", "region", "_autoloader_load_id")
            SELECT "id", "item", 'o''neil', 42 FROM "stage_42_1"
            """)
        let file = FileRecord(id: 1, table: "orders", key: "orders/a.csv", size: 10, modifiedNanos: 5, partitions: [:], state: .loading, discoveredAt: "")
        #expect(RedshiftSQL.ledgerInsert(Self.target, table: "orders", files: [file], loadID: 42, at: "2026-11-26 14:00:00") == """
            INSERT INTO "analytics"."_autoloader_ledger" ("table_name", "file_key", "size", "mtime_ns", "load_id", "loaded_at") VALUES
            ('orders', 'orders/a.csv', 10, 5, 42, '2026-11-26 14:00:00')
            """)
        #expect(RedshiftSQL.ledgerLookup(Self.target, table: "orders", keys: ["orders/a.csv", "orders/b\\c.csv"])
            == #"SELECT "file_key", "size", "mtime_ns", "load_id" FROM "analytics"."_autoloader_ledger" WHERE "table_name" = 'orders' AND "file_key" IN ('orders/a.csv', 'orders/b\\c.csv')"#)
    }

    /// Issue 11, defect 9: evolution is decided from the table Redshift has (SVV_COLUMNS): new columns and new
    /// partition keys are added (in the load's transaction), a VARCHAR too short grows (outside it), a column of
    /// another type takes values it can hold (a table users created), and the rest is refused with the reason.
    @Test func reconcilingWithTheTableRedshiftHas() {
        let actual = [RedshiftSQL.TableColumn(name: "ID", type: "BIGINT"), RedshiftSQL.TableColumn(name: "name", type: "VARCHAR(15)"),
                      RedshiftSQL.TableColumn(name: "price", type: "DECIMAL(10,2)"), RedshiftSQL.TableColumn(name: "region", type: "VARCHAR(6)")]
        let file = TableSchema(columns: [Self.column("id", .init(kind: .integer)), Self.column("name", .varchar(50, bytes: 60)),
                                         Self.column("price", .init(kind: .decimal, precision: 6, scale: 2)), Self.column("note", .varchar(10, bytes: 10))])
        let r = RedshiftSQL.reconcile(Self.target, table: "t", actual: actual, schema: file, partitions: ["region": 2, "day": 10])
        #expect(r.create == nil && !r.hasLoadID && r.refused.isEmpty)
        #expect(r.widen == [#"ALTER TABLE "analytics"."t" ALTER COLUMN "name" TYPE VARCHAR(180)"#])
        #expect(r.addColumns == [#"ALTER TABLE "analytics"."t" ADD COLUMN "note" VARCHAR(30)"#, #"ALTER TABLE "analytics"."t" ADD COLUMN "day" VARCHAR(30)"#])
        #expect(r.columns["id"] == RedshiftSQL.TableColumn(name: "ID", type: "BIGINT"))
        // Values the table cannot hold: refused, naming the column.
        let tooPrecise = TableSchema(columns: [Self.column("price", .init(kind: .decimal, precision: 12, scale: 3))])
        #expect(RedshiftSQL.reconcile(Self.target, table: "t", actual: actual, schema: tooPrecise, partitions: [:]).refused
            == ["price: the table's DECIMAL(10,2) cannot hold this file's DECIMAL(12,3)"])
        let text = TableSchema(columns: [Self.column("ID", .varchar(3, bytes: 3))])
        #expect(RedshiftSQL.reconcile(Self.target, table: "t", actual: actual, schema: text, partitions: [:]).refused.count == 1)
        // DECIMAL edges: scale 38 and (19,0) are DECIMALs; more than 38 digits are kept as text.
        #expect(TypeSpelling.redshift.sql(.init(kind: .decimal, precision: 38, scale: 38)) == "DECIMAL(38,38)")
        #expect(TypeSpelling.redshift.sql(.init(kind: .decimal, precision: 19, scale: 0)) == "DECIMAL(19,0)")
        #expect(TypeSpelling.redshift.sql(.init(kind: .decimal, precision: 40, scale: 2)) == "VARCHAR(126)")
        #expect(TypeSpelling.postgres.sql(.init(kind: .decimal, precision: 40, scale: 2)) == "DECIMAL(40,2)")
        // Rows of SVV_COLUMNS as Redshift answers them.
        #expect(RedshiftSQL.TableColumn(row: ["amount", "numeric", nil, "12", "2"]) == RedshiftSQL.TableColumn(name: "amount", type: "DECIMAL(12,2)"))
        #expect(RedshiftSQL.TableColumn(row: ["name", "character varying", "256", nil, nil])?.type == "VARCHAR(256)")
        #expect(RedshiftSQL.TableColumn(row: ["at", "timestamp without time zone", nil, nil, nil])?.type == "TIMESTAMP")
    }

    @Test func provisionedAndServerlessTargets() throws {
        let provisioned = try RedshiftURL("redshift://analytics-cluster/dev?db_user=loader&iam_role=arn:aws:iam::1:role/r&schema=raw")
        #expect(provisioned.target.fields.asText == ["ClusterIdentifier": "analytics-cluster", "Database": "dev", "DbUser": "loader"])
        #expect(provisioned.schema == "raw")
        let secret = try RedshiftURL("redshift://c/dev?secret_arn=arn:aws:secretsmanager:us-east-1:1:secret:s&iam_role=arn:aws:iam::1:role/r")
        #expect(secret.target.fields.asText == ["ClusterIdentifier": "c", "Database": "dev", "SecretArn": "arn:aws:secretsmanager:us-east-1:1:secret:s"])
        // user:password@host:port — the PostgreSQL wire protocol (5439 when no port is given).
        let wire = try RedshiftURL("redshift://loader:s3cret@cluster.abc.us-east-1.redshift.amazonaws.com/dev?iam_role=arn:aws:iam::1:role/r&sslmode=require")
        #expect(wire.wire == "postgres://loader:s3cret@cluster.abc.us-east-1.redshift.amazonaws.com:5439/dev?sslmode=require")
        #expect(try RedshiftURL("redshift://analytics-cluster/dev?db_user=u&iam_role=arn:aws:iam::1:role/r").wire == nil)
        let serverless = try RedshiftURL("redshift-serverless://etl-wg/warehouse?iam_role=arn:aws:iam::1:role/r")
        #expect(serverless.target.fields.asText == ["WorkgroupName": "etl-wg", "Database": "warehouse"])
        #expect(serverless.catalog == "sqlite:./autoloader.sqlite")
        #expect(throws: AutoloaderError.self) { try RedshiftURL("redshift://c/dev?iam_role=arn") }  // neither db_user nor secret
        #expect(throws: AutoloaderError.self) { try RedshiftURL("redshift://c/dev?db_user=u") }  // no role for COPY
    }
}

extension Dictionary where Key == String, Value == Any {
    /// The request fields as text, to compare with a literal.
    var asText: [String: String] { mapValues { "\($0)" } }
}
