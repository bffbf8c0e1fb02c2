import AutoloaderTestSupport
import Foundation
import Testing

/// Issue 11, "the seed's own set-up must work": folders named `schema.table`, the seed's two root prefixes, and
/// tables users created themselves (no lineage columns), on every warehouse.
@Suite(.serialized) struct SeedSetupTests {
    @Test func aSchemaTableFolderIsOneTableInSQLite() throws {
        let w = try Workdir()
        try w.file("landing/sales.orders/a.csv", "id,amount\n1,2.5\n2,3.5\n")
        let load = try CLI.run(["load", "landing"], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        // SQLite has no schemas: the dot is a separator like any other.
        #expect(CLI.sqlite(w.database, "SELECT count(*), sum(amount) FROM sales_orders") == "2|6.0")
    }

    @Test(.needsPostgres) func aSchemaTableFolderLoadsIntoThatSchemaInPostgreSQL() throws {
        let db = try TestDatabase.make()
        let w = try Workdir()
        try w.file("landing/Sales.Orders/a.csv", "id,amount\n1,2.5\n2,3.5\n")
        try w.file("landing/plain/a.csv", "id\n7\n")
        let load = try CLI.run(["load", "landing", "--warehouse", db.url], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        #expect(db.sql("SELECT count(*), sum(amount) FROM sales.orders") == "2|6.0")
        #expect(db.sql("SELECT id FROM public.plain") == "7")
        #expect(db.sql("SELECT name FROM autoloader.tables ORDER BY name") == "plain\nsales.orders")
        // A second version of the file replaces its rows there too (lineage column in the schema's table).
        try w.file("landing/Sales.Orders/a.csv", "id,amount\n1,2.5\n2,3.5\n3,4.0\n")
        let again = try CLI.run(["load", "landing", "--warehouse", db.url], in: w.url)
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        #expect(db.sql("SELECT count(*), sum(amount) FROM sales.orders") == "3|10.0")
    }

    /// The seed's code wrote under `s3-redshift-loader-source/` (its README says `s3-to-redshift-loader-utility/`):
    /// `--source s3://bucket/` finds either, and `schema.table` folders load into their schema in Redshift.
    @Test(.needsS3, .needsPostgres) func theSeedsBucketLayoutLoadsIntoRedshiftAsItIs() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let database = RedshiftDouble.freshDatabase()
        for (key, text) in [("sales.orders/a.csv", "id,amount\n1,2.5\n2,3.5\n"), ("plain/a.csv", "id\n7\n")] {
            let local = try w.file("upload/\(UUID().uuidString)", text)
            #expect(s3.aws("s3 cp \(local.path) 's3://\(s3.bucket)/s3-redshift-loader-source/\(key)'") == 0)
        }
        let warehouse = "redshift-serverless://etl/\(database)?iam_role=arn:aws:iam::123456789012:role/loader&catalog=sqlite:\(w.database.path)"
        let load = try CLI.run(["load", "s3://\(s3.bucket)/", "--endpoint", s3.endpoint, "--warehouse", warehouse], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        #expect(load.stderr.contains("s3-redshift-loader-source/"), "the log says which root it chose")
        #expect(try RedshiftDouble.psql(database, "SELECT count(*), sum(amount) FROM sales.orders") == "2|6.0")
        #expect(try RedshiftDouble.psql(database, "SELECT id FROM public.plain") == "7")
    }

    /// The seed's prerequisite: users create the tables. Files map onto them by name whatever the case (or by
    /// position without a header); no lineage column is added to a user's table, the load says so once, and a
    /// new version of a loaded file is refused with what to do, never appended or dropped in silence.
    @Test func aTableCreatedByHandLoadsInSQLite() throws {
        let w = try Workdir()
        _ = CLI.sqlite(w.database, #"CREATE TABLE people ("ID" INTEGER, "Name" TEXT, joined DATE, note TEXT)"#)
        try w.file("landing/people/a.csv", "id,name,joined\n1,Ann,2024-01-02\n2,Bob,2024-02-03\n")
        try w.file("landing/people/b.csv", "3,Cy,2024-03-04\n4,Di,2024-04-05\n")
        let load = try CLI.run(["load", "landing"], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        #expect(CLI.sqlite(w.database, "SELECT ID, Name, joined, note IS NULL FROM people ORDER BY ID")
            == "1|Ann|2024-01-02|1\n2|Bob|2024-02-03|1\n3|Cy|2024-03-04|1\n4|Di|2024-04-05|1")
        #expect(CLI.sqlite(w.database, "SELECT group_concat(name) FROM pragma_table_info('people')") == "ID,Name,joined,note")
        #expect(CLI.sqlite(w.database, "SELECT count(*) FROM _autoloader_load_errors WHERE reason LIKE '%has no _source_file column%'") == "1")

        try w.file("landing/people/a.csv", "id,name,joined\n1,Ann,2024-01-02\n2,Bobby,2024-02-03\n5,Ed,2024-05-06\n")
        let again = try CLI.run(["load", "landing"], in: w.url)
        #expect(again.status != 0, "a refused file is not a success")
        #expect(CLI.sqlite(w.database, "SELECT state FROM _autoloader_files WHERE key='people/a.csv' ORDER BY id DESC LIMIT 1") == "failed")
        #expect(CLI.sqlite(w.database, "SELECT error LIKE '%overwrite=append%' FROM _autoloader_files WHERE key='people/a.csv' ORDER BY id DESC LIMIT 1") == "1")
        #expect(CLI.sqlite(w.database, "SELECT count(*) FROM people") == "4")
        // Told to append, the new version loads whole.
        #expect(try CLI.run(["options", "people", #"{"overwrite": "append"}"#], in: w.url).status == 0)
        let failedLoad = CLI.sqlite(w.database, "SELECT max(id) FROM _autoloader_loads WHERE status = 'failed'")
        #expect(try CLI.run(["retry", failedLoad], in: w.url).status == 0)
        let appended = try CLI.run(["load", "landing"], in: w.url)
        #expect(appended.status == 0, "\(appended.stdout)\(appended.stderr)")
        #expect(CLI.sqlite(w.database, "SELECT count(*), sum(ID) FROM people") == "7|18")
    }

    @Test(.needsPostgres) func aTableCreatedByHandLoadsInPostgreSQL() throws {
        let db = try TestDatabase.make()
        let w = try Workdir()
        _ = db.sql(#"CREATE SCHEMA sales; CREATE TABLE sales.people ("ID" integer, "Name" text, "Amount" numeric(10,2), joined date)"#)
        try w.file("landing/sales.people/a.csv", "id,name,amount,joined\n1,Ann,2.5,02/01/2024\n2,Bob,x,03/02/2024\n3,Cy,4,13/03/2024\n")
        try w.file("landing/sales.people/b.csv", "4,Di,1.25,2024-04-05\n5,Ed,2,2024-05-06\n")
        #expect(try CLI.run(["options", "sales.people", #"{"on_error": "skip_rows"}"#, "--warehouse", db.url], in: w.url).status == 0)
        let load = try CLI.run(["load", "landing", "--warehouse", db.url], in: w.url)
        #expect(load.status == 2, "a bad row was skipped: \(load.stdout)\(load.stderr)")
        // The table's types decide: "x" is not numeric(10,2), so that row is rejected with its location; day-first
        // dates read with the file's layout.
        #expect(db.sql(#"SELECT "ID", "Name", "Amount", joined FROM sales.people ORDER BY 1"#)
            == "1|Ann|2.50|2024-01-02\n3|Cy|4.00|2024-03-13\n4|Di|1.25|2024-04-05\n5|Ed|2.00|2024-05-06")
        #expect(db.sql("SELECT line, raw_text FROM autoloader.load_errors WHERE file = 'sales.people/a.csv' AND line IS NOT NULL") == "3|2,Bob,x,03/02/2024")
        #expect(db.sql("SELECT count(*) FROM information_schema.columns WHERE table_name='people' AND column_name='_source_file'") == "0")
        #expect(db.sql("SELECT count(*) FROM autoloader.load_errors WHERE reason LIKE '%has no _source_file column%'") == "1")
        try w.file("landing/sales.people/b.csv", "4,Di,1.25,2024-04-05\n5,Ed,2,2024-05-06\n6,Fa,3,2024-06-07\n")
        let again = try CLI.run(["load", "landing", "--warehouse", db.url], in: w.url)
        #expect(again.status != 0)
        #expect(db.sql("SELECT count(*) FROM sales.people") == "4")
        #expect(db.sql("SELECT error LIKE '%has no _source_file column%' FROM autoloader.files WHERE key='sales.people/b.csv' ORDER BY id DESC LIMIT 1") == "t")
    }
}
