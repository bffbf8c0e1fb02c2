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
}
