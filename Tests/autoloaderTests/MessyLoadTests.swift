import AutoloaderTestSupport
import Foundation
import Testing

/// Issue 12 end to end: what a person would load, loaded, on every warehouse.
@Suite(.serialized) struct MessyLoadTests {
    static let scores = "id,score,flag\n1,10,Yes\n2,-,No\n3,?,Yes\n4,NR,No\n5,  ,Yes\n6,16\n7,17,No\n"

    /// Out of the box: human null spellings are NULL in the number column, the ragged row is skipped and recorded,
    /// the file is `loaded_with_errors`, `load` exits 2, and an empty file is loaded with no rows.
    @Test func outOfTheBoxIntoSQLite() throws {
        let w = try Workdir()
        try w.file("landing/scores/a.csv", Self.scores)
        try w.file("landing/scores/empty.csv", "")
        let load = try CLI.run(["load", "landing"], in: w.url)
        #expect(load.status == 2, "\(load.stdout)\(load.stderr)")
        #expect(load.stderr.contains("1 loaded with 1 bad row(s) skipped"), "\(load.stderr)")
        #expect(CLI.sqlite(w.database, "SELECT count(*), count(score), sum(score), sum(flag) FROM scores") == "6|2|27|3")
        #expect(CLI.sqlite(w.database, "SELECT key, state, rows FROM _autoloader_files ORDER BY key") == "scores/a.csv|loaded_with_errors|6\nscores/empty.csv|loaded|0")
        #expect(CLI.sqlite(w.database, "SELECT line, raw_text FROM _autoloader_load_errors WHERE line IS NOT NULL") == "7|6,16")
        let files = try CLI.run(["files"], in: w.url)
        #expect(files.stdout.contains("loaded_with_errors"))
    }

    @Test(.needsPostgres) func outOfTheBoxIntoPostgreSQL() throws {
        let db = try TestDatabase.make()
        let w = try Workdir()
        try w.file("landing/scores/a.csv", Self.scores)
        let load = try CLI.run(["load", "landing", "--warehouse", db.url], in: w.url)
        #expect(load.status == 2, "\(load.stdout)\(load.stderr)")
        #expect(db.sql("SELECT data_type FROM information_schema.columns WHERE table_name = 'scores' AND column_name = 'score'") == "integer")
        #expect(db.sql("SELECT count(*), count(score), sum(score), count(*) FILTER (WHERE flag) FROM scores") == "6|2|27|3")
    }

    /// Backslash escapes outside quotes (MySQL's `FIELDS ESCAPED BY '\\'`): `a\<tab>b` is one value; they were
    /// ragged rows. Loaded the same into SQLite and through Redshift's COPY (text mode, ESCAPE).
    static let escaped = "id\ttext\tn\n1\ta\\\tb\t3\n2\tc\\\\d\t4\n3\tplain\t5\n4\tx\\\ty\t6\n"

    @Test func backslashEscapesOutsideQuotesLoad() throws {
        let w = try Workdir()
        try w.file("landing/escaped/a.tsv", Self.escaped)
        let load = try CLI.run(["load", "landing"], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        #expect(CLI.sqlite(w.database, "SELECT group_concat(text, '|') FROM (SELECT text FROM escaped ORDER BY id)") == "a\tb|c\\d|plain|x\ty")
    }

    @Test(.needsS3, .needsPostgres) func backslashEscapesOutsideQuotesLoadIntoRedshift() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let database = RedshiftDouble.freshDatabase()
        try s3.put(w, "escaped/a.tsv", Self.escaped)
        let url = "redshift-serverless://etl/\(database)?iam_role=arn:aws:iam::123456789012:role/loader&catalog=sqlite:\(w.database.path)"
        let load = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        #expect(try RedshiftDouble.psql(database, "SELECT string_agg(text, '|' ORDER BY id) FROM escaped") == "a\tb|c\\d|plain|x\ty")
    }

    @Test(.needsS3, .needsPostgres) func outOfTheBoxIntoRedshift() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let database = RedshiftDouble.freshDatabase()
        try s3.put(w, "scores/a.csv", Self.scores.replacingOccurrences(of: "6,16\n", with: "6,16,Yes\n"))
        try s3.put(w, "scores/empty.csv", "")
        let url = "redshift-serverless://etl/\(database)?iam_role=arn:aws:iam::123456789012:role/loader&catalog=sqlite:\(w.database.path)"
        let load = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        #expect(try RedshiftDouble.psql(database, "SELECT count(*), count(score), sum(score) FROM scores") == "7|3|43")
        #expect(CLI.sqlite(w.database, "SELECT state, rows FROM _autoloader_files WHERE key = 'scores/empty.csv'") == "loaded|0")
    }

    /// A stray word in a number column is a bad row, not a reason to make the column text (ordering by id kept
    /// sorting 1, 10, 100…); numbers get headroom (a DECIMAL(5,2) sample takes 1000.00 later); a later file's
    /// day-first dates keep a date column a date; a type hint may still make a column text, recorded.
    @Test(.needsPostgres) func aDirtyValueDoesNotRetypeAColumn() throws {
        let db = try TestDatabase.make()
        let w = try Workdir()
        func load() throws -> CLI.Result { try CLI.run(["load", "landing", "--warehouse", db.url], in: w.url) }
        try w.file("landing/orders/a.csv", "id,amount,day\n1,12.50,2024-01-02\n2,3.25,2024-01-03\n")
        #expect(try load().status == 0)
        try w.file("landing/orders/b.csv", "id,amount,day\n10,1000.00,13/01/2024\nabc,5.00,14/01/2024\n100,7.75,15/01/2024\n")
        let second = try load()
        #expect(second.status == 2, "\(second.stdout)\(second.stderr)")
        #expect(db.sql("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'orders' AND column_name <> '_source_file' ORDER BY ordinal_position")
            == "id|integer\namount|numeric\nday|date")
        #expect(db.sql("SELECT id, amount, day FROM orders ORDER BY id") == "1|12.50|2024-01-02\n2|3.25|2024-01-03\n10|1000.00|2024-01-13\n100|7.75|2024-01-15")
        #expect(db.sql("SELECT line, column_name, raw_text FROM autoloader.load_errors WHERE line IS NOT NULL") == "3|id|abc,5.00,14/01/2024")
        // Told so by a hint, the column becomes text, and the change is in the schema history.
        #expect(try CLI.run(["options", "orders", #"{"types": {"id": "varchar"}}"#, "--warehouse", db.url], in: w.url).status == 0)
        try w.file("landing/orders/c.csv", "id,amount,day\nA-7,1.00,2024-02-01\n")
        #expect(try load().status == 0)
        #expect(db.sql("SELECT data_type FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'id'") == "text")
        #expect(db.sql("SELECT count(*) FROM autoloader.schema_history WHERE change LIKE '%ALTER COLUMN \"id\" TYPE TEXT%'") == "1")
    }

    /// The dialect detection reports is the one the rows load with: stray `"` in a file read without quotes load
    /// as text, every row (the report used to say `"` and every row then failed).
    @Test func strayQuotesLoadAsText() throws {
        let w = try Workdir()
        var text = "id,size,label\n"
        for i in 1...12 { text += i == 3 ? "3,\"big,x\n" : "\(i),\(i)\",screen \(i)\n" }
        try w.file("landing/screens/a.csv", text)
        let load = try CLI.run(["load", "landing"], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        #expect(CLI.sqlite(w.database, "SELECT count(*), max(size) FROM screens") == "12|9\"")
        #expect(CLI.sqlite(w.database, "SELECT size FROM screens WHERE id = 3") == "\"big")
    }

    /// A Shift-JIS file (made with the system's iconv) loads as Japanese text, its encoding recorded.
    @Test func aShiftJISFileLoads() throws {
        let w = try Workdir()
        let utf8 = try w.file("upload/names.csv", "id,名前,都市\n1,やまだ たろう,東京\n2,すずき はなこ,大阪\n")
        try FileManager.default.createDirectory(at: w.url.appendingPathComponent("landing/names"), withIntermediateDirectories: true)
        let target = w.url.appendingPathComponent("landing/names/a.csv").path
        #expect(try Subprocess.run("iconv", ["-f", "UTF-8", "-t", "CP932", "-o", target, utf8.path]).status == 0)
        let load = try CLI.run(["load", "landing"], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        #expect(CLI.sqlite(w.database, "SELECT \"名前\", \"都市\" FROM names ORDER BY id") == "やまだ たろう|東京\nすずき はなこ|大阪")
        #expect(CLI.sqlite(w.database, "SELECT dialect LIKE '%shift_jis%' FROM _autoloader_tables WHERE name = 'names'") == "1")
    }
}
