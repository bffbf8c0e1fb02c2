import AutoloaderTestSupport
import Foundation
import Testing

/// Redshift end to end through the CLI, on the Redshift double (statements run on PostgreSQL under Redshift's
/// rules; scripts/redshift_double.py): files as users land them, rows checked where Redshift would hold them.
struct RedshiftCLITests {
    func warehouse(_ w: Workdir, _ database: String) -> String {
        "redshift-serverless://etl/\(database)?iam_role=arn:aws:iam::123456789012:role/loader&catalog=sqlite:\(w.database.path)"
    }

    /// Issue 11, defects 7 and 8: what COPY cannot read as it is loads right — day-first next to month-first dates,
    /// several null spellings in a number column, backslash escapes, a trailing delimiter, Latin-1, a JSON file
    /// that is one top-level array.
    @Test(.needsS3, .needsPostgres) func filesCopyCannotReadAsTheyAreLoadRight() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let database = RedshiftDouble.freshDatabase()
        try s3.put(w, "dates/a.csv", "id,us,eu\n1,03/28/2024,28/03/2024\n2,12/31/1999,31/12/1999\n3,01/02/2003,13/01/2003\n")
        try s3.put(w, "nulls/a.csv", "id,n,note\n1,5,NA\n2,NA,x\n3,N/A,y\n4,7,\n")
        try s3.put(w, "escaped/a.csv", "id,text\n1,\"say \\\"hi\\\", ok\"\n2,\"back\\\\slash\"\n3,plain\n")
        try s3.put(w, "tail_delim/a.csv", "id,name,\n1,a,\n2,b,\n")
        let latin1 = w.url.appendingPathComponent("latin1.csv")
        try Data([UInt8]("id,name\n1,caf".utf8) + [0xE9] + [UInt8]("\n2,na".utf8) + [0xEF] + [UInt8]("ve\n".utf8)).write(to: latin1)
        #expect(s3.aws("s3 cp \(latin1.path) '\(s3.root)latin/a.csv'") == 0)
        try s3.put(w, "events/a.json", "[\n  {\"id\": 1, \"kind\": \"open\", \"tags\": [\"a\", \"b\"]},\n  {\"id\": 2, \"kind\": \"close\", \"tags\": []}\n]\n")
        try s3.put(w, "pages/a.json", #"{"count": 2, "results": [{"id": 1, "v": "x"}, {"id": 2, "v": "y"}], "next": null}"#)
        let load = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", warehouse(w, database)], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        func rows(_ sql: String) throws -> String { try RedshiftDouble.psql(database, sql) }
        #expect(try rows("SELECT id, us, eu FROM dates ORDER BY id") == "1|2024-03-28|2024-03-28\n2|1999-12-31|1999-12-31\n3|2003-01-02|2003-01-13")
        #expect(try rows("SELECT id, coalesce(n::text, 'NULL'), coalesce(note, 'NULL') FROM nulls ORDER BY id") == "1|5|NA\n2|NULL|x\n3|NULL|y\n4|7|NULL")
        #expect(try rows("SELECT id, text FROM escaped ORDER BY id") == "1|say \"hi\", ok\n2|back\\slash\n3|plain")
        #expect(try rows("SELECT id, name FROM tail_delim ORDER BY id") == "1|a\n2|b")
        #expect(try rows("SELECT id, name FROM latin ORDER BY id") == "1|café\n2|naïve")
        #expect(try rows("SELECT id, kind, tags::text FROM events ORDER BY id") == "1|open|[\"a\", \"b\"]\n2|close|[]")
        // Records in a wrapper object: rewritten one per line for COPY, like a top-level array.
        #expect(try rows("SELECT id, v FROM pages ORDER BY id") == "1|x\n2|y")
    }

    /// Issue 12: column and partition names are sanitised on the COPY path too; JSON 'auto ignorecase' still
    /// finds each key (its staging column is named as the file spells it, and the INSERT maps it).
    @Test(.needsS3, .needsPostgres) func namesAreSanitisedOnTheCopyPath() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let database = RedshiftDouble.freshDatabase()
        try s3.put(w, "orders/Region-Code=eu/a.csv", "Order Date,E-Mail\n2024-01-02,a@b.c\n")
        try s3.put(w, "orders/Region-Code=us/b.json", #"{"Order Date": "2024-01-03", "E-Mail": "d@e.f"}"# + "\n")
        let load = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", warehouse(w, database)], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        #expect(try RedshiftDouble.psql(database, "SELECT order_date, e_mail, region_code FROM orders ORDER BY e_mail")
                == "2024-01-02|a@b.c|eu\n2024-01-03|d@e.f|us")
    }

    /// The catalog no longer holds SQLite's one write lock while Redshift runs a COPY: a table whose COPY stalls
    /// does not hold up another table's load (before, the whole COPY ran inside the catalog's write transaction).
    @Test(.needsS3, .needsPostgres) func aStalledCopyDoesNotHoldUpOtherTables() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let database = RedshiftDouble.freshDatabase()
        // Every statement about the table `slow` waits 12 s before it starts, once.
        try RedshiftDouble.inject(.stall, database: database, match: #""slow""#, seconds: 12)
        try s3.put(w, "slow/a.csv", "id\n1\n")
        let log = w.url.appendingPathComponent("run.log")
        // debug: one line per discovered file, which is how this test knows `slow` was found.
        let run = try CLI.start(["run", "--source", s3.root, "--endpoint", s3.endpoint, "--warehouse", warehouse(w, database),
                                 "--reconcile", "0.5", "--log-level", "debug"], in: w.url, log: log)
        defer { run.interrupt(); run.waitUntilExit() }
        func count(_ table: String) -> String { (try? RedshiftDouble.psql(database, "SELECT count(*) FROM \(table)")) ?? "" }
        // `slow` is being loaded (its statement stalls); then `fast` lands and loads meanwhile.
        #expect(CLI.waitFor(seconds: 15) { ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains("slow") } != nil)
        usleep(500_000)
        try s3.put(w, "fast/a.csv", "id\n2\n")
        let fast = CLI.waitFor(seconds: 8) { count("fast") == "1" }
        #expect(fast != nil, "fast waited for slow's COPY: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        #expect(count("slow") != "1", "slow's COPY was still stalled when fast loaded")
        #expect(CLI.waitFor(seconds: 30) { count("slow") == "1" } != nil)
        #expect(CLI.waitFor(seconds: 5) { CLI.sqlite(w.database, "SELECT count(*) FROM _autoloader_files WHERE state = 'loaded'") == "2" } != nil)
    }

    /// catalog=postgres://: the catalog of a Redshift deployment in PostgreSQL (RDS), which outlives the loader's
    /// machine and serves several loaders; the rows and the ledger stay in Redshift.
    @Test(.needsS3, .needsPostgres) func theCatalogOfARedshiftDeploymentCanBePostgreSQL() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let db = try TestDatabase.make()
        let database = RedshiftDouble.freshDatabase()
        try s3.put(w, "orders/a.csv", "id,amount\n1,1.00\n2,2.00\n")
        let url = "redshift-serverless://etl/\(database)?iam_role=arn:aws:iam::123456789012:role/loader&catalog=\(db.url)"
        let load = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        #expect(try RedshiftDouble.psql(database, "SELECT count(*), sum(id) FROM orders") == "2|3")
        #expect(db.sql("SELECT key, state FROM autoloader.files") == "orders/a.csv|loaded")
        #expect(!FileManager.default.fileExists(atPath: w.database.path), "no SQLite catalog was made")
        let files = try CLI.run(["files", "--warehouse", url], in: w.url)
        #expect(files.status == 0 && files.stdout.contains("orders/a.csv"), "\(files.stdout)\(files.stderr)")
    }

    /// Issue 11, defect 10: a new version of a loaded file, and `reload`, replace exactly the rows the earlier
    /// version loaded (the ledger used to make reload a silent no-op, and a new version appended). COPY cannot say
    /// which row came from which file, so the earlier load's rows go whole and its other files are copied again, in
    /// the same transaction. append adds the new version, ignore skips it; a table without the load id refuses.
    @Test(.needsS3, .needsPostgres) func aNewVersionOrAReloadReplacesExactlyTheEarlierRows() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let database = RedshiftDouble.freshDatabase()
        let url = warehouse(w, database)
        func load() throws -> CLI.Result { try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url) }
        func rows(_ table: String = "orders") -> String { (try? RedshiftDouble.psql(database, "SELECT count(*), count(DISTINCT id), sum(id) FROM \(table)")) ?? "" }
        try s3.put(w, "orders/a.csv", "id\n1\n2\n")
        try s3.put(w, "orders/b.csv", "id\n10\n")
        #expect(try load().status == 0)
        #expect(rows() == "3|3|13")

        try s3.put(w, "orders/a.csv", "id\n1\n2\n30\n")
        let replaced = try load()
        #expect(replaced.status == 0, "\(replaced.stdout)\(replaced.stderr)")
        #expect(replaced.stderr.contains("1 other file(s) of those loads are copied again"), "\(replaced.stderr)")
        #expect(rows() == "4|4|43")
        #expect(try RedshiftDouble.psql(database, "SELECT count(*), count(DISTINCT load_id) FROM _autoloader_ledger") == "2|1")

        let reload = try CLI.run(["reload", "orders", "--since", "2000-01-01", "--warehouse", url], in: w.url)
        #expect(reload.status == 0, "\(reload.stdout)\(reload.stderr)")
        #expect(try load().status == 0)
        #expect(rows() == "4|4|43", "reloaded: the same rows, once")

        #expect(try CLI.run(["options", "orders", #"{"overwrite": "append"}"#, "--warehouse", url], in: w.url).status == 0)
        try s3.put(w, "orders/a.csv", "id\n100\n")
        #expect(try load().status == 0)
        #expect(rows() == "5|5|143")
        #expect(try CLI.run(["options", "orders", #"{"overwrite": "ignore"}"#, "--warehouse", url], in: w.url).status == 0)
        try s3.put(w, "orders/a.csv", "id\n1000\n")
        #expect(try load().status == 0)
        #expect(rows() == "5|5|143")
        #expect(CLI.sqlite(w.database, "SELECT state FROM _autoloader_files WHERE key = 'orders/a.csv' ORDER BY id DESC LIMIT 1") == "skipped")

        // A table created by hand without the load id column: its rows cannot be found again, so a replacement is
        // refused with what to do, and nothing changes.
        _ = try RedshiftDouble.psql(database, "CREATE TABLE public.manual (id BIGINT)")
        try s3.put(w, "manual/m.csv", "id\n7\n")
        #expect(try load().status == 0)
        try s3.put(w, "manual/m.csv", "id\n7\n8\n")
        let refused = try load()
        #expect(refused.status != 0)
        #expect(refused.stdout.contains("has no _autoloader_load_id column"), "\(refused.stdout)")
        #expect(rows("manual") == "1|1|7")
    }

    /// A replacement killed between submit and commit (SIGKILL while Redshift holds its transaction open): the next
    /// load waits for that transaction, finds the new version in the ledger, and the table holds each row once.
    @Test(.needsS3, .needsPostgres) func aReplacementKilledBeforeItsCommitLeavesEachRowOnce() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let database = RedshiftDouble.freshDatabase()
        let url = warehouse(w, database)
        try s3.put(w, "orders/a.csv", "id\n1\n2\n")
        try s3.put(w, "orders/b.csv", "id\n10\n")
        #expect(try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url).status == 0)
        try s3.put(w, "orders/a.csv", "id\n1\n2\n30\n")
        try RedshiftDouble.inject(.hold, database: database, match: "DELETE FROM", seconds: 6)
        let log = w.url.appendingPathComponent("first.log")
        let first = try CLI.start(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url, log: log)
        let submitted = CLI.waitFor(seconds: 30) { ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains("submitted statement") }
        #expect(submitted != nil)
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let again = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("waited for statement"), "\(again.stderr)")
        #expect(try RedshiftDouble.psql(database, "SELECT count(*), count(DISTINCT id), sum(id) FROM orders") == "4|4|43")
        #expect(CLI.sqlite(w.database, "SELECT count(*) FROM _autoloader_files WHERE state = 'loaded' AND NOT superseded") == "2")
    }

    /// Issue 11, "done when": the statement shapes the golden tests compare are also executed by the double, with
    /// real row counts — CSV gzip/bzip2/zstd, JSON, Parquet, and a table created by hand (other spelling, no load id).
    @Test(.needsS3, .needsPostgres) func everyStatementShapeRunsOnTheDouble() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let database = RedshiftDouble.freshDatabase()
        let csv = "id,amount\n1,1.50\n2,2.25\n3,3.00\n"
        for (table, tool, suffix) in [("gz", "gzip", "gz"), ("bz", "bzip2", "bz2"), ("zst", "zstd", "zst")] {
            let local = try w.file("upload/\(table).csv", csv)
            #expect(try Subprocess.run(tool, ["-f", "-q", local.path]).status == 0)
            #expect(s3.aws("s3 cp \(local.path).\(suffix) '\(s3.root)\(table)/a.csv.\(suffix)'") == 0)
        }
        try s3.put(w, "events/a.json", #"{"id": 1, "kind": "open"}"# + "\n" + #"{"id": 2, "kind": "close", "extra": 1.5}"# + "\n")
        let parquet = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("AutoloaderPipelineTests/Fixtures/parquet_flat.parquet")
        #expect(s3.aws("s3 cp \(parquet.path) '\(s3.root)flat/a.parquet'") == 0)
        _ = try RedshiftDouble.psql("postgres", "CREATE DATABASE \(database)")  // the double creates it on first use; here it comes first
        _ = try RedshiftDouble.psql(database, #"CREATE TABLE public.people ("ID" BIGINT, "Name" VARCHAR(20), joined DATE)"#)
        try s3.put(w, "people/a.csv", "id,name\n1,Ann\n2,Bob\n")

        let load = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", warehouse(w, database)], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        func rows(_ sql: String) -> String { (try? RedshiftDouble.psql(database, sql)) ?? "" }
        for table in ["gz", "bz", "zst"] { #expect(rows("SELECT count(*), sum(amount) FROM \(table)") == "3|6.75", "\(table)") }
        #expect(rows("SELECT id, kind, extra FROM events ORDER BY id") == "1|open|\n2|close|1.5")
        #expect(rows("SELECT count(*), sum(c_int32), count(c_decimal) FROM flat") == "8|33|6")
        #expect(rows(#"SELECT "ID", "Name", joined IS NULL FROM people ORDER BY 1"#) == "1|Ann|t\n2|Bob|t")
        // The statements that ran, as the load log keeps them: the shapes the golden tests compare.
        let statements = CLI.sqlite(w.database, "SELECT group_concat(statement, ' ') FROM _autoloader_loads WHERE status = 'finished'")
        for shape in ["GZIP", "BZIP2", "ZSTD", "FORMAT AS JSON 'auto ignorecase'", "FORMAT AS PARQUET", "STATUPDATE OFF", #"INSERT INTO "public"."people" ("ID", "Name")"#] {
            #expect(statements.contains(shape), "\(shape)")
        }
        #expect(!statements.contains(#"INSERT INTO "public"."people" ("ID", "Name", "_autoloader_load_id")"#))
    }

    /// Issue 16: nested Parquet columns COPY into SUPER (FORMAT AS PARQUET, data page v2, zstd); Avro is restaged as
    /// one JSON object per line by our decoder (logical types as text, decimals exact, nested values as JSON) and
    /// COPY'd with FORMAT AS JSON into SUPER columns for its records, arrays and maps.
    @Test(.needsS3, .needsPostgres) func nestedParquetAndAvroLoadIntoSuper() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let database = RedshiftDouble.freshDatabase()
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("AutoloaderPipelineTests/Fixtures")
        #expect(s3.aws("s3 cp \(fixtures.appendingPathComponent("parquet_nested_v2.parquet").path) '\(s3.root)nest/a.parquet'") == 0)
        #expect(s3.aws("s3 cp \(fixtures.appendingPathComponent("avro_deflate.avro").path) '\(s3.root)events/a.avro'") == 0)
        let load = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", warehouse(w, database)], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)\((try? CLI.run(["errors", "2", "--warehouse", warehouse(w, database)], in: w.url).stdout) ?? "")")
        func rows(_ sql: String) -> String { (try? RedshiftDouble.psql(database, sql)) ?? "" }
        #expect(rows("SELECT data_type FROM information_schema.columns WHERE table_name = 'nest' AND column_name = 'ls'") == "jsonb")  // SUPER
        #expect(rows("SELECT count(*), count(s), sum(jsonb_array_length(ls)) FROM nest") == "1500|1350|2250")
        #expect(rows("SELECT ls::text FROM nest WHERE id = 2") == #"[{"x": 0, "y": "2-0"}, {"x": 1, "y": null}]"#)
        #expect(rows("SELECT count(*), sum(price), sum(n), count(at_us) FROM events") == "1000|-14815.00|375000|858")
        #expect(rows("SELECT address::text || ' ' || items::text || ' ' || at_ms::text FROM events WHERE id = 2")
                == #"{"geo": {"lat": 0.02, "lon": -0.04}, "city": "City 2", "lines": ["2 Main St", "Apt \"2\""]} [{"qty": 0, "sku": "S-2-0", "when": "2020-02-29"}, {"qty": 1, "sku": "S-2-1", "when": "2020-03-01"}] 2024-03-01 02:00:00.246+00"#)
        let statements = CLI.sqlite(w.database, "SELECT group_concat(statement, ' ') FROM _autoloader_loads WHERE status = 'finished'")
        for shape in ["FORMAT AS PARQUET", "FORMAT AS JSON 'auto ignorecase'", #""address" SUPER"#] {
            #expect(statements.contains(shape), "\(shape)")
        }
    }

    /// Issue 11, defect 9: partition columns grow with the folders — a new key adds a column (in the load's
    /// transaction), a longer value widens the VARCHAR (before it) — and earlier rows keep their values.
    @Test(.needsS3, .needsPostgres) func partitionColumnsGrowWithTheFolders() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let database = RedshiftDouble.freshDatabase()
        func load() throws -> CLI.Result { try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", warehouse(w, database)], in: w.url) }
        func rows(_ sql: String) -> String { (try? RedshiftDouble.psql(database, sql)) ?? "" }
        try s3.put(w, "sales/region=eu/a.csv", "id\n1\n")
        #expect(try load().status == 0)
        let before = rows("SELECT character_maximum_length FROM information_schema.columns WHERE table_name = 'sales' AND column_name = 'region'")
        try s3.put(w, "sales/region=europe-west-and-then-some-more/b.csv", "id\n2\n")
        try s3.put(w, "sales/region=eu/zone=z1/c.csv", "id\n3\n")
        let grown = try load()
        #expect(grown.status == 0, "\(grown.stdout)\(grown.stderr)")
        let after = rows("SELECT character_maximum_length FROM information_schema.columns WHERE table_name = 'sales' AND column_name = 'region'")
        #expect((Int(after) ?? 0) >= 31 && (Int(after) ?? 0) > (Int(before) ?? 0), "region: \(before) → \(after)")
        #expect(rows("SELECT id, region, coalesce(zone, '-') FROM sales ORDER BY id")
            == "1|eu|-\n2|europe-west-and-then-some-more|-\n3|eu|z1")
    }
}
