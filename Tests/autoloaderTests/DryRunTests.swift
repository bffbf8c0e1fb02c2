import AutoloaderTestSupport
import Foundation
import Testing

/// `load --dry-run` (issue 11): the plan — files, detected schema, DDL, statements; for Redshift the manifests and
/// each whole batch — printed, every row checked, and nothing changed in the warehouse, the catalog or S3.
@Suite(.serialized) struct DryRunTests {
    @Test func aDryRunIntoSQLiteShowsThePlanAndLeavesNothing() throws {
        let w = try Workdir()
        try w.file("landing/orders/a.csv", "id,amount\n1,2.50\n2,x\n")
        let dry = try CLI.run(["load", "landing", "--dry-run"], in: w.url)
        #expect(dry.status == 0, "\(dry.stdout)\(dry.stderr)")
        #expect(dry.stdout.contains(#"CREATE TABLE "orders" ("id" INTEGER, "amount" TEXT, "_source_file" TEXT);"#), "\(dry.stdout)")
        #expect(dry.stdout.contains(#"INSERT INTO "orders" ("id", "amount", "_source_file")"#))
        #expect(dry.stdout.contains("orders/a.csv: loaded, 2 row(s)"))
        #expect(!FileManager.default.fileExists(atPath: w.database.path), "no database was left behind")
        // The real load afterwards does all of it.
        #expect(try CLI.run(["load", "landing"], in: w.url).status == 0)
        #expect(CLI.sqlite(w.database, "SELECT count(*) FROM orders") == "2")
    }

    /// On a catalog that already has loads: the new file's plan (an added column, a rejected row under the table's
    /// policy), and afterwards the table, the catalog and its load log are as they were.
    @Test(.needsPostgres) func aDryRunIntoPostgreSQLChangesNothing() throws {
        let db = try TestDatabase.make()
        let w = try Workdir()
        try w.file("landing/orders/a.csv", "id,amount\n1,2.50\n")
        #expect(try CLI.run(["options", "orders", #"{"on_error": "skip_rows"}"#, "--warehouse", db.url], in: w.url).status == 0)
        #expect(try CLI.run(["load", "landing", "--warehouse", db.url], in: w.url).status == 0)
        let before = db.sql("SELECT (SELECT count(*) FROM autoloader.files), (SELECT count(*) FROM autoloader.loads), (SELECT count(*) FROM autoloader.schema_history)")
        try w.file("landing/orders/b.csv", "id,amount,note\n2,3.50,new\n3,4,bad,extra\n4,5,ok\n")
        let dry = try CLI.run(["load", "landing", "--warehouse", db.url, "--dry-run"], in: w.url)
        #expect(dry.status == 2, "\(dry.stdout)\(dry.stderr)")
        #expect(dry.stdout.contains("orders/b.csv: loaded_with_errors, 2 row(s)"), "\(dry.stdout)")
        #expect(dry.stdout.contains(#"ALTER TABLE "public"."orders" ADD COLUMN "note" TEXT;"#), "\(dry.stdout)")
        #expect(dry.stdout.contains("rejected: orders/b.csv:3"), "\(dry.stdout)")
        #expect(db.sql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'note'") == "0")
        #expect(db.sql("SELECT data_type FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'amount'") == "numeric")
        #expect(db.sql("SELECT (SELECT count(*) FROM autoloader.files), (SELECT count(*) FROM autoloader.loads), (SELECT count(*) FROM autoloader.schema_history)") == before)
        #expect(db.sql("SELECT count(*) FROM orders") == "1")
    }

    @Test(.needsS3, .needsPostgres) func aDryRunIntoRedshiftShowsTheManifestAndTheBatchAndSubmitsNothing() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let database = RedshiftDouble.freshDatabase()
        try s3.put(w, "orders/a.csv", "id,amount\n1,1.00\n2,2.00\n")
        let url = "redshift-serverless://etl/\(database)?iam_role=arn:aws:iam::123456789012:role/loader&catalog=sqlite:\(w.database.path)"
        let dry = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url, "--dry-run"], in: w.url)
        #expect(dry.status == 0, "\(dry.stdout)\(dry.stderr)")
        for part in [#""mandatory": true"#, "-- would write s3://\(s3.bucket)/autoloader-manifests/orders/", "-- would submit as one transaction",
                     #"CREATE TABLE IF NOT EXISTS "public"."orders""#, "LOCK", "MANIFEST", #"INSERT INTO "public"."_autoloader_ledger""#] {
            #expect(dry.stdout.contains(part), "\(part)")
        }
        #expect(try RedshiftDouble.psql(database, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'") == "0")
        #expect(s3.aws("s3api head-object --bucket \(s3.bucket) --key autoloader-manifests/orders/1.manifest") != 0, "no manifest was written")
        #expect(!FileManager.default.fileExists(atPath: w.database.path))
        let load = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        #expect(try RedshiftDouble.psql(database, "SELECT count(*), sum(id) FROM orders") == "2|3")
    }
}
