import Foundation
import AutoloaderTestSupport
import Testing

/// The moto_server scripts/test starts (AUTOLOADER_TEST_S3_ENDPOINT), driven with the AWS CLI the way
/// users drop files. Without it: a failure under CI=true, a skip otherwise.
struct TestS3 {
    let endpoint: String
    let bucket: String
    let queue: String

    /// A fresh bucket and queue on the moto_server scripts/test starts (the test carries `.needsS3`).
    static func make() throws -> TestS3 {
        let endpoint = try Gate.requireS3()
        // moto accepts any key; the loader and the AWS CLI read the same variables.
        setenv("AWS_ACCESS_KEY_ID", "testing", 1)
        setenv("AWS_SECRET_ACCESS_KEY", "testing", 1)
        setenv("AWS_DEFAULT_REGION", "us-east-1", 1)
        unsetenv("AWS_PROFILE")
        let id = UUID().uuidString.lowercased().prefix(13).replacingOccurrences(of: "-", with: "")
        let s3 = TestS3(endpoint: endpoint, bucket: "landing-\(id)", queue: "events-\(id)")
        #expect(s3.aws("s3 mb s3://\(s3.bucket)") == 0)
        return s3
    }

    var root: String { "s3://\(bucket)/in/" }

    @discardableResult
    func aws(_ arguments: String) -> Int32 {
        shell("aws --endpoint-url \(endpoint) \(arguments) >/dev/null 2>&1")
    }

    func awsOutput(_ arguments: String) -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("aws-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        shell("aws --endpoint-url \(endpoint) \(arguments) >\(file.path) 2>&1")
        return (try? String(contentsOf: file, encoding: .utf8)) ?? ""
    }

    /// `aws s3 cp` of a local file to `root/key`.
    func put(_ w: Workdir, _ key: String, _ text: String) throws {
        let local = try w.file("upload/\(UUID().uuidString)", text)
        #expect(aws("s3 cp \(local.path) '\(root)\(key)'") == 0)
    }

    var queueURL: String { "\(endpoint)/123456789012/\(queue)" }

    /// The event S3 sends for an object, as a second copy of a real delivery would carry it.
    func eventBody(key: String, size: Int) -> String {
        #"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"\#(bucket)"},"object":{"key":"in/\#(key)","size":\#(size)}}}]}"#
    }
}

/// A warehouse the tests can count rows in.
struct CountingTarget {
    let url: String
    let query: (String) -> String

    static func sqlite(_ w: Workdir) -> CountingTarget {
        CountingTarget(url: "sqlite:\(w.database.path)") { CLI.sqlite(w.database, $0) }
    }

    static func postgres() throws -> CountingTarget {
        let db = try TestDatabase.make()
        return CountingTarget(url: db.url) { db.sql($0) }
    }
}

@Suite(.serialized) struct S3CLITests {
    @Test(.needsS3) func eventsReconciliationDuplicatesAndOverwriteIntoSQLite() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        try scenario(s3, w, CountingTarget.sqlite(w))
    }

    @Test(.needsS3, .needsPostgres) func eventsReconciliationDuplicatesAndOverwriteIntoPostgres() throws {
        try scenario(try TestS3.make(), try Workdir(), try CountingTarget.postgres())
    }

    func scenario(_ s3: TestS3, _ w: Workdir, _ target: CountingTarget) throws {
        let setup = try CLI.run(["setup-events", "--source", s3.root, "--queue", s3.queue, "--endpoint", s3.endpoint], in: w.url)
        #expect(setup.status == 0, "\(setup.stderr)")
        try s3.put(w, "orders/z.csv", "id,item\n100,zeta\n")
        let count = { target.query("SELECT count(*) FROM orders") }
        let sum = { target.query("SELECT sum(id) FROM orders") }

        // Phase 1, events: full listing only at start. A key sorting before the last one listed is invisible
        // to the incremental listing, so only its event can bring it in quickly.
        let log = w.url.appendingPathComponent("run1.log")
        var run = try CLI.start(["run", "--source", s3.root, "--queue", s3.queue, "--endpoint", s3.endpoint, "--warehouse", target.url,
                                 "--reconcile", "1", "--full-listing", "600"], in: w.url, log: log)
        #expect(CLI.waitFor(seconds: 20) { count() == "1" } != nil, "z.csv not loaded at start: \(logTail(log))")
        try s3.put(w, "orders/a.csv", "id,item\n1,apple\n2,pear\n3,plum\n")
        let latency = CLI.waitFor(seconds: 10) { count() == "4" }
        #expect(latency != nil, "a.csv not loaded through its event: \(logTail(log))")

        // The same event delivered twice more (SQS is at-least-once): nothing is loaded again.
        let body = s3.eventBody(key: "orders/a.csv", size: 30)
        for _ in 0..<2 { #expect(s3.aws("sqs send-message --queue-url \(s3.queueURL) --message-body '\(body)'") == 0) }
        usleep(2_500_000)
        #expect(count() == "4")
        #expect(target.query("SELECT count(*) FROM orders WHERE _source_file = 'orders/a.csv'") == "3")

        // Overwritten object: its earlier rows are replaced, not added to.
        usleep(1_100_000)  // a new Last-Modified second
        try s3.put(w, "orders/a.csv", "id,item\n10,fig\n11,kiwi\n")
        #expect(CLI.waitFor(seconds: 10) { count() == "3" && sum() == "121" } != nil, "overwrite not applied: \(count()) rows, \(logTail(log))")
        run.interrupt()
        run.waitUntilExit()
        #expect(run.terminationStatus == 0)

        // Phase 2, a lost event: the notification is removed while a file lands, and whatever the queue held is
        // deleted. The reconciliation listing behind the events still loads it.
        #expect(try CLI.run(["setup-events", "--source", s3.root, "--queue", s3.queue, "--endpoint", s3.endpoint, "--remove"], in: w.url).status == 0)
        try s3.put(w, "orders/0-lost.csv", "id,item\n1000,lost\n")
        #expect(s3.aws("sqs purge-queue --queue-url \(s3.queueURL)") == 0)
        #expect(try CLI.run(["setup-events", "--source", s3.root, "--queue", s3.queue, "--endpoint", s3.endpoint], in: w.url).status == 0)
        let log2 = w.url.appendingPathComponent("run2.log")
        // At start-up the first (full) listing finds it; a second lost file, sorting first too, needs the
        // periodic full listing while running.
        run = try CLI.start(["run", "--source", s3.root, "--queue", s3.queue, "--endpoint", s3.endpoint, "--warehouse", target.url,
                             "--reconcile", "1", "--full-listing", "3"], in: w.url, log: log2)
        #expect(CLI.waitFor(seconds: 20) { count() == "4" } != nil, "0-lost.csv not loaded by the start-up listing: \(logTail(log2))")
        #expect(try CLI.run(["setup-events", "--source", s3.root, "--queue", s3.queue, "--endpoint", s3.endpoint, "--remove"], in: w.url).status == 0)
        try s3.put(w, "orders/0-lost-too.csv", "id,item\n2000,lost too\n")
        #expect(CLI.waitFor(seconds: 20) { count() == "5" } != nil, "0-lost-too.csv not loaded by reconciliation: \(logTail(log2))")
        run.interrupt()
        run.waitUntilExit()
        #expect(target.query("SELECT count(*) FROM orders WHERE id IN (1000, 2000)") == "2")
    }

    @Test(.needsS3) func setupEventsKeepsOtherNotifications() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        #expect(s3.aws("sqs create-queue --queue-name other-\(s3.queue)") == 0)
        let theirs = #"{"QueueConfigurations":[{"Id":"theirs","QueueArn":"arn:aws:sqs:us-east-1:123456789012:other-\#(s3.queue)","Events":["s3:ObjectCreated:*"],"Filter":{"Key":{"FilterRules":[{"Name":"prefix","Value":"elsewhere/"}]}}}]}"#
        #expect(s3.aws("s3api put-bucket-notification-configuration --bucket \(s3.bucket) --notification-configuration '\(theirs)'") == 0)
        let setup = try CLI.run(["setup-events", "--source", s3.root, "--queue", s3.queue, "--endpoint", s3.endpoint], in: w.url)
        #expect(setup.status == 0, "\(setup.stderr)")
        var config = s3.awsOutput("s3api get-bucket-notification-configuration --bucket \(s3.bucket)")
        #expect(config.contains("\"theirs\"") && config.contains("elsewhere/"))
        #expect(config.contains("autoloader-\(s3.queue)") && config.contains("\"in/\""))
        // Idempotent: a second run replaces ours, adds nothing.
        #expect(try CLI.run(["setup-events", "--source", s3.root, "--queue", s3.queue, "--endpoint", s3.endpoint], in: w.url).status == 0)
        config = s3.awsOutput("s3api get-bucket-notification-configuration --bucket \(s3.bucket)")
        #expect(config.components(separatedBy: "autoloader-\(s3.queue)").count == 2)
        #expect(try CLI.run(["setup-events", "--source", s3.root, "--queue", s3.queue, "--endpoint", s3.endpoint, "--remove"], in: w.url).status == 0)
        config = s3.awsOutput("s3api get-bucket-notification-configuration --bucket \(s3.bucket)")
        #expect(config.contains("\"theirs\"") && !config.contains("autoloader-"))
    }

    @Test(.needsS3) func oneShotLoadFromABucketWithPartitionsMarkersAndTempNames() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        try s3.put(w, "sales/region=eu/part-1.csv", "id,amount\n1,2.5\n2,3.5\n")
        try s3.put(w, "sales/region=us/part-1.csv.gz", "")  // replaced below by a real gzip file
        let gz = try w.file("g.csv", "id,amount\n3,4.5\n")
        #expect(shell("gzip -f \(gz.path)") == 0)
        #expect(s3.aws("s3 cp \(gz.path).gz '\(s3.root)sales/region=us/part-1.csv.gz'") == 0)
        #expect(s3.aws("s3api put-object --bucket \(s3.bucket) --key in/sales/") == 0)  // a folder placeholder
        try s3.put(w, "sales/.part-2.csv.tmp", "not,data\n")
        try s3.put(w, "README.txt", "a file at the root is not a table\n")
        let load = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", "sqlite:\(w.database.path)"], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        #expect(CLI.sqlite(w.database, "SELECT region, count(*), sum(amount) FROM sales GROUP BY region ORDER BY region") == "eu|2|6.0\nus|1|4.5")
        // Loading again finds nothing new.
        let again = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", "sqlite:\(w.database.path)"], in: w.url)
        #expect(again.status == 0)
        #expect(CLI.sqlite(w.database, "SELECT count(*) FROM sales") == "3")
        // A bucket that does not exist: a clear, final error.
        let missing = try CLI.run(["load", "s3://no-such-bucket-\(s3.queue)/", "--endpoint", s3.endpoint, "--warehouse", "sqlite:\(w.database.path)"], in: w.url)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no such bucket"), "\(missing.stderr)")
    }

    /// Redshift through the Data API, on the Redshift double (statements run on PostgreSQL under Redshift's rules):
    /// the CLI detects from S3, writes a manifest next to the data, submits one batch, and records the files as
    /// loaded in its catalog; the rows are in the table with their partition values.
    @Test(.needsS3, .needsPostgres) func loadIntoRedshiftWritesManifestsAndRecordsTheLoad() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        try s3.put(w, "orders/region=eu/a.csv", "id,amount,day\n1,2.50,03/08/1971\n2,3.75,12/31/1999\n")
        let gz = try w.file("b.csv", "id,amount,day\n3,1.00,01/01/2000\n")
        #expect(shell("gzip -f \(gz.path)") == 0)
        #expect(s3.aws("s3 cp \(gz.path).gz '\(s3.root)orders/region=us/b.csv.gz'") == 0)
        let database = RedshiftDouble.freshDatabase()
        let url = "redshift-serverless://etl/\(database)?iam_role=arn:aws:iam::123456789012:role/loader&catalog=sqlite:\(w.database.path)"
        let load = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        #expect(load.stderr.contains("DATEFORMAT 'MM/DD/YYYY'") && load.stderr.contains("GZIP"), "\(load.stderr)")
        #expect(try RedshiftDouble.psql(database, "SELECT id, amount, day, region FROM orders ORDER BY id")
            == "1|2.50|1971-03-08|eu\n2|3.75|1999-12-31|eu\n3|1.00|2000-01-01|us")
        // The load log holds the batch as submitted, with the statement id and Redshift query ids.
        let statement = CLI.sqlite(w.database, "SELECT statement FROM _autoloader_loads ORDER BY id LIMIT 1")
        #expect(statement.contains("COPY \"stage_") && statement.contains("-- statement ") && statement.contains("-- query ids "), "\(statement)")
        let files = try CLI.run(["files", "--warehouse", url, "--json"], in: w.url)
        #expect(files.stdout.components(separatedBy: "\"loaded\"").count == 3, "\(files.stdout)")
        let manifests = s3.awsOutput("s3 ls --recursive s3://\(s3.bucket)/autoloader-manifests/orders/")
        #expect(manifests.components(separatedBy: ".manifest").count == 3, "one manifest per partition: \(manifests)")
        // Nothing new: nothing submitted again.
        let again = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url)
        #expect(again.status == 0 && !again.stderr.contains("BatchExecuteStatement"))
    }

    /// Issue 11, defect 4: the loader is killed (SIGKILL) after submitting its transaction and before Redshift
    /// commits it. The next load finds the transaction by its name, waits for it to end, reads the ledger, and
    /// loads nothing twice: each row once (count, distinct ids, sum).
    @Test(.needsS3, .needsPostgres) func aLoaderKilledBetweenSubmitAndCommitLoadsEachFileOnce() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        try s3.put(w, "orders/a.csv", "id,amount\n1,1.00\n2,2.00\n3,3.00\n")
        try s3.put(w, "orders/b.csv", "id,amount\n4,4.00\n5,5.00\n")
        let database = RedshiftDouble.freshDatabase()
        let url = "redshift-serverless://etl/\(database)?iam_role=arn:aws:iam::123456789012:role/loader&catalog=sqlite:\(w.database.path)"
        // The transaction holding the ledger rows waits 6 s before its COMMIT.
        try RedshiftDouble.inject(.hold, database: database, match: #""_autoloader_ledger" ("table_name""#, seconds: 6)
        let log = w.url.appendingPathComponent("first.log")
        let first = try CLI.start(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url, log: log)
        let submitted = CLI.waitFor(seconds: 30) { ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains("submitted statement") }
        #expect(submitted != nil, "\(logTail(log))")
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        // Its transaction is still open in "Redshift" (its ledger lock would block a read of the ledger until it ends).
        let open = CLI.waitFor(seconds: 4) {
            (try? RedshiftDouble.psql("postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = '\(database)' AND state = 'idle in transaction'")) == "1"
        }
        #expect(open != nil, "\(logTail(log))")

        let again = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("waited for statement"), "\(again.stderr)")
        #expect(try RedshiftDouble.psql(database, "SELECT count(*), count(DISTINCT id), sum(id) FROM orders") == "5|5|15")
        #expect(try RedshiftDouble.psql(database, "SELECT count(*) FROM _autoloader_ledger") == "2")
        #expect(CLI.sqlite(w.database, "SELECT count(*) FROM _autoloader_files WHERE state = 'loaded'") == "2")
    }

    /// The manifest path follows the table's evolution policy (it used to ignore it and always add columns):
    /// under `fail`, a file that differs is refused before anything is submitted.
    @Test(.needsS3, .needsPostgres) func redshiftHonoursTheEvolutionPolicy() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let url = "redshift-serverless://etl/\(RedshiftDouble.freshDatabase())?iam_role=arn:aws:iam::123456789012:role/loader&catalog=sqlite:\(w.database.path)"
        try s3.put(w, "orders/a.csv", "id,amount\n1,2.50\n")
        #expect(try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url).status == 0)
        #expect(try CLI.run(["options", "orders", #"{"evolution": "fail"}"#, "--warehouse", url], in: w.url).status == 0)
        try s3.put(w, "orders/b.csv", "id,amount,note\n2,1.00,new\n")
        let load = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url)
        #expect(load.status == 1)
        #expect(!load.stderr.contains("ALTER TABLE"), "\(load.stderr)")
        let error = CLI.sqlite(w.database, "SELECT error FROM _autoloader_files WHERE key='orders/b.csv'")
        #expect(error.contains("column note is not in the table") && error.contains("evolution=fail"), "\(error)")
    }
}
