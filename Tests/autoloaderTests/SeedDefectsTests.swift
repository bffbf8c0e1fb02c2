import Foundation
import AutoloaderTestSupport
import Testing

/// The seed (AWS's Redshift Auto Loader) had these defects; each is a test here, on S3 (moto) as the seed ran.
/// Two live in the larger S3 tests and are named there: duplicate loads on retried events
/// (`S3CLITests.scenario`, the same event delivered twice) and wiped bucket notifications
/// (`S3CLITests.setupEventsKeepsOtherNotifications`).
@Suite(.serialized) struct SeedDefectsTests {
    func load(_ s3: TestS3, _ w: Workdir, _ extra: [String] = []) throws -> CLI.Result {
        try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", "sqlite:\(w.database.path)"] + extra, in: w.url)
    }

    /// Seed: DATE columns were detected as VARCHAR. The seed's own sample (`3/8/1971`) becomes a DATE in the
    /// Redshift DDL, and its values arrive as ISO dates.
    @Test(.needsS3) func dateColumnsAreDetectedAsDates() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        try s3.put(w, "users/u.csv", "id,birthdate\n1,3/8/1971\n2,12/25/1980\n")
        let local = try w.file("u.csv", "id,birthdate\n1,3/8/1971\n2,12/25/1980\n")
        let ddl = try CLI.run(["detect", local.path], in: w.url)
        #expect(ddl.stdout.contains("\"birthdate\" DATE"), "\(ddl.stdout)")
        #expect(try load(s3, w).status == 0)
        #expect(CLI.sqlite(w.database, "SELECT birthdate FROM users ORDER BY id") == "1971-03-08\n1980-12-25")
    }

    /// Seed: a checkpoint by clock skipped files whose modification time was older than the last load.
    /// Here identity is (key, size, mtime): a late file with an old time is still new.
    @Test func lateFilesWithOldTimesAreLoaded() throws {
        let w = try Workdir()
        try w.file("landing/orders/b.csv", "id\n2\n")
        #expect(try CLI.run(["load", w.landing.path, "--warehouse", "sqlite:\(w.database.path)"], in: w.url).status == 0)
        let late = try w.file("landing/orders/a-late.csv", "id\n1\n")
        #expect(shell("touch -d '2001-01-01 00:00:00' \(late.path)") == 0)
        #expect(try CLI.run(["load", w.landing.path, "--warehouse", "sqlite:\(w.database.path)"], in: w.url).status == 0)
        #expect(CLI.sqlite(w.database, "SELECT group_concat(id) FROM (SELECT id FROM orders ORDER BY id)") == "1,2")
    }

    /// Seed: folder placeholder objects (`orders/`, `orders_$folder$`) crashed the Lambda. They are not data.
    @Test(.needsS3) func folderPlaceholdersAreIgnored() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        for key in ["in/orders/", "in/orders_$folder$", "in/orders/2024/", "in/"] {
            #expect(s3.aws("s3api put-object --bucket \(s3.bucket) --key '\(key)'") == 0)
        }
        try s3.put(w, "orders/2024/a.csv", "id\n1\n")
        let result = try load(s3, w)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(CLI.sqlite(w.database, "SELECT count(*) FROM orders") == "1")
        #expect(CLI.sqlite(w.database, "SELECT count(*) FROM _autoloader_files WHERE state != 'loaded'") == "0")
    }

    /// Seed: a new file arriving for a paused table set it back to active. Here it is recorded and waits.
    @Test(.needsS3) func pauseIsNotUndoneByNewFiles() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        try s3.put(w, "orders/a.csv", "id\n1\n")
        #expect(try load(s3, w).status == 0)
        #expect(try CLI.run(["pause", "orders", "--warehouse", "sqlite:\(w.database.path)"], in: w.url).status == 0)
        try s3.put(w, "orders/b.csv", "id\n2\n")
        #expect(try load(s3, w).status == 0)
        #expect(CLI.sqlite(w.database, "SELECT status FROM _autoloader_tables WHERE name='orders'") == "paused")
        #expect(CLI.sqlite(w.database, "SELECT state FROM _autoloader_files WHERE key='orders/b.csv'") == "pending")
        #expect(CLI.sqlite(w.database, "SELECT count(*) FROM orders") == "1")
        #expect(try CLI.run(["resume", "orders", "--warehouse", "sqlite:\(w.database.path)"], in: w.url).status == 0)
        #expect(try load(s3, w).status == 0)
        #expect(CLI.sqlite(w.database, "SELECT count(*) FROM orders") == "2")
    }

    /// Seed: gzip files were never detected (it looked at the name only, and not even that). Here the magic
    /// bytes decide: `.gz`, and gzip content under a `.csv` name, both load.
    @Test(.needsS3) func gzipFilesAreDetectedByContent() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let a = try w.file("a.csv", "id,name\n1,x\n")
        let b = try w.file("b.csv", "id,name\n2,y\n")
        #expect(shell("gzip -f \(a.path) && gzip -f \(b.path)") == 0)
        #expect(s3.aws("s3 cp \(a.path).gz '\(s3.root)events/a.csv.gz'") == 0)
        #expect(s3.aws("s3 cp \(b.path).gz '\(s3.root)events/b.csv'") == 0)  // gzip bytes, misleading name
        let result = try load(s3, w)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(CLI.sqlite(w.database, "SELECT group_concat(name) FROM (SELECT name FROM events ORDER BY id)") == "x,y")
    }
}
