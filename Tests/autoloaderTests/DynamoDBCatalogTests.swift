import AutoloaderTestSupport
import Foundation
import Testing

/// catalog=dynamodb://TABLE: a Redshift deployment's catalog in DynamoDB (moto_server), rows in the Redshift double,
/// driven through the CLI as the CloudFormation stack's tasks run it.
@Suite(.serialized) struct DynamoDBCatalogTests {
    static func url(_ database: String, table: String, lease: Int = 2) -> String {
        "redshift-serverless://etl/\(database)?iam_role=arn:aws:iam::123456789012:role/loader&catalog=dynamodb://\(table)?lease_seconds=\(lease)"
    }

    static func table() -> String { "catalog-" + UUID().uuidString.lowercased().prefix(12) }

    /// Rows, once each: count, distinct ids and sum of every table, as written.
    static func expectRows(_ database: String, _ expected: [(String, Int, Int)]) {
        for (table, rows, sum) in expected {
            let found = (try? RedshiftDouble.psql(database, "SELECT count(*) || '|' || count(DISTINCT id) || '|' || sum(id) FROM \(table)")) ?? ""
            #expect(found == "\(rows)|\(rows)|\(sum)", "\(table)")
        }
    }

    /// An operations command: it finds the catalog's endpoint (moto) where a deployment would, in the environment.
    static func operate(_ arguments: [String], _ w: Workdir) throws -> CLI.Result {
        try CLI.run(arguments, in: w.url, environment: ["AUTOLOADER_ENDPOINT": try Gate.requireS3()])
    }

    static func loadedFiles(_ url: String, in w: Workdir) throws -> Int {
        let files = try Self.operate(["files", "--state", "loaded", "--warehouse", url, "--json"], w)
        #expect(files.status == 0, "\(files.stderr)")
        return (try? JSONSerialization.jsonObject(with: Data(files.stdout.utf8)) as? [Any])?.count ?? -1
    }

    /// Many small loads (so that two loaders, or a kill, meet one in progress): the table's options set before its
    /// first file, which the catalog keeps for the folder of that name.
    static func smallBatches(_ table: String, files: Int, url: String, in w: Workdir) throws {
        let set = try Self.operate(["options", table, "{\"max_files\": \(files)}", "--warehouse", url], w)
        #expect(set.status == 0, "\(set.stderr)")
    }

    /// Event files in S3 (`eventFiles` without the day column) under `table/`.
    static func putEvents(_ s3: TestS3, _ w: Workdir, table: String, files: Int, rowsPerFile: Int, firstID: Int) throws -> (rows: Int, sum: Int) {
        let events = eventFiles(files: files, rowsPerFile: rowsPerFile, firstID: firstID, day: false)
        for file in events.files { try s3.put(w, "\(table)/\(file.name)", file.text) }
        return (events.rows, events.sum)
    }

    /// The table is created on first use, files load once, operations commands read it, and a second `load`
    /// finds nothing to do.
    @Test(.needsS3, .needsPostgres) func aRedshiftDeploymentKeepsItsCatalogInDynamoDB() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let database = RedshiftDouble.freshDatabase()
        let url = Self.url(database, table: Self.table())
        try s3.put(w, "orders/a.csv", "id,amount\n1,1.00\n2,2.00\n")
        try s3.put(w, "orders/b.csv", "id,amount\n3,3.00\n")
        try s3.put(w, "items/a.json", #"{"id": 7, "tags": ["x"]}"# + "\n")
        let load = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        Self.expectRows(database, [("orders", 3, 6), ("items", 1, 7)])
        #expect(try Self.loadedFiles(url, in: w) == 3)
        #expect(!FileManager.default.fileExists(atPath: w.url.appendingPathComponent("autoloader.sqlite").path), "no SQLite catalog was made")
        let loads = try Self.operate(["loads", "--warehouse", url], w)
        #expect(loads.status == 0 && loads.stdout.contains("finished"), "\(loads.stdout)\(loads.stderr)")
        let again = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url)
        #expect(again.status == 0 && !again.stderr.contains("BatchExecuteStatement"), "\(again.stderr)")
        Self.expectRows(database, [("orders", 3, 6), ("items", 1, 7)])
        // A new version replaces its rows, through the ledger, as with the SQL catalogs.
        try s3.put(w, "orders/b.csv", "id,amount\n3,3.00\n4,4.00\n")
        #expect(try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url).status == 0)
        Self.expectRows(database, [("orders", 4, 10)])
        // DynamoDB is a catalog, not a warehouse; and a dry run would write it.
        let refused = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", "dynamodb://x"], in: w.url)
        #expect(refused.status != 0 && refused.stderr.contains("holds a catalog, not rows"), "\(refused.stderr)")
        let dry = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url, "--dry-run"], in: w.url)
        #expect(dry.status != 0 && dry.stderr.contains("would write the catalog"), "\(dry.stderr)")
    }

    /// Two loader processes (two tasks of the service) on one catalog: every file loaded once, by one of them.
    @Test(.needsS3, .needsPostgres) func twoLoadersShareOneCatalog() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let database = RedshiftDouble.freshDatabase()
        let url = Self.url(database, table: Self.table())
        let a = try Self.putEvents(s3, w, table: "events", files: 12, rowsPerFile: 200, firstID: 1)
        let b = try Self.putEvents(s3, w, table: "clicks", files: 12, rowsPerFile: 200, firstID: 100_001)
        for table in ["events", "clicks"] { try Self.smallBatches(table, files: 3, url: url, in: w) }
        let arguments = ["run", "--source", s3.root, "--endpoint", s3.endpoint, "--warehouse", url, "--reconcile", "0.5"]
        let one = try CLI.start(arguments, in: w.url, log: w.url.appendingPathComponent("one.log"))
        let two = try CLI.start(arguments, in: w.url, log: w.url.appendingPathComponent("two.log"))
        defer {
            for run in [one, two] { run.interrupt(); run.waitUntilExit() }
        }
        #expect(CLI.waitFor(seconds: 120) { (try? Self.loadedFiles(url, in: w)) == 24 } != nil,
                "\(logTail(w.url.appendingPathComponent("one.log")))\(logTail(w.url.appendingPathComponent("two.log")))")
        Self.expectRows(database, [("events", a.rows, a.sum), ("clicks", b.rows, b.sum)])
        #expect(try RedshiftDouble.psql(database, "SELECT count(*) FROM _autoloader_ledger") == "24")
    }

    /// SIGKILL at random moments while files load (a lease of 2 s: a killed loader's claims come back after it);
    /// after restarts every row is present once (count, distinct ids, sum) and every file is loaded.
    @Test(.needsS3, .needsPostgres) func sigkillLoopWithADynamoDBCatalog() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let database = RedshiftDouble.freshDatabase()
        let url = Self.url(database, table: Self.table())
        let events = try Self.putEvents(s3, w, table: "events", files: 20, rowsPerFile: 500, firstID: 1)
        let log = w.url.appendingPathComponent("run.log")
        try Self.smallBatches("events", files: 2, url: url, in: w)
        let arguments = ["run", "--source", s3.root, "--endpoint", s3.endpoint, "--warehouse", url, "--reconcile", "0.5"]
        var kills = 0
        for _ in 0..<6 {
            let run = try CLI.start(arguments, in: w.url, log: log)
            usleep(UInt32.random(in: 500_000...2_500_000))
            if run.isRunning { kill(run.processIdentifier, SIGKILL); kills += 1 }
            run.waitUntilExit()
        }
        let final = try CLI.start(arguments, in: w.url, log: log)
        defer { final.interrupt(); final.waitUntilExit() }
        #expect(CLI.waitFor(seconds: 180) { (try? Self.loadedFiles(url, in: w)) == 20 } != nil, "\(logTail(log))")
        #expect(kills > 0)
        Self.expectRows(database, [("events", events.rows, events.sum)])
        let aborted = try Self.operate(["loads", "--status", "aborted", "--warehouse", url, "--json"], w)
        print("dynamodb sigkill test: \(kills) kills, \((try? JSONSerialization.jsonObject(with: Data(aborted.stdout.utf8)) as? [Any])?.count ?? -1) loads aborted")
    }

    /// Switching from the seed: its state (three DynamoDB tables in its shapes, its manifests in S3) imported, then
    /// the loader run. Nothing the seed loaded is loaded again; what it failed to load (a FAILED and an ABORTED COPY)
    /// and what came after its checkpoint is loaded once; its paused table stays paused; running the import again adds
    /// nothing; an import while a seed COPY is still running is refused.
    @Test(.needsS3, .needsPostgres) func theSeedsStateImportsAndNothingItLoadedLoadsAgain() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let database = RedshiftDouble.freshDatabase()
        let url = Self.url(database, table: Self.table())
        let csv = ["a": "id,amount\n1,1.00\n2,2.00\n", "b": "id,amount\n3,3.00\n", "c": "id,amount\n4,4.00\n", "d": "id,amount\n5,5.00\n"]
        for (name, text) in csv { try s3.put(w, "orders/\(name).csv", text) }
        try s3.put(w, "events/e.json", #"{"id": 10}"# + "\n")
        try s3.put(w, "events/f.json", #"{"id": 20}"# + "\n")
        // What the seed's COPYs put in Redshift: orders a and c, events e (the tables as its detection made them).
        _ = try RedshiftDouble.psql("postgres", "CREATE DATABASE \(database)")
        _ = try RedshiftDouble.psql(database, "CREATE TABLE public.orders (id BIGINT, amount NUMERIC(18,2)); INSERT INTO public.orders VALUES (1, 1.00), (2, 2.00), (4, 4.00)")
        _ = try RedshiftDouble.psql(database, "CREATE TABLE public.events (id BIGINT); INSERT INTO public.events VALUES (10)")
        func size(_ key: String) -> Int { key.hasSuffix(".json") ? 11 : csv[String(key.dropFirst(7).prefix(1))]!.utf8.count }
        func file(_ folder: String, _ at: String, _ key: String) -> String {
            #"{"folder": "\#(folder)", "recorded": "\#(at)", "key": "in/\#(key)", "size": \#(size(key))}"#
        }
        func spec(extra: String = "") -> String {
            """
            {"tables": [{"folder": "orders", "options": "csv ignoreheader 1", "checkpoint": "2024-05-01 10:00:00.000000"},
                        {"folder": "events", "status": "Inactive", "options": "format as json 'auto'", "checkpoint": "2024-05-01 09:00:00.000000"}],
             "files": [\(file("orders", "2024-05-01 09:00:00.000001", "orders/a.csv")), \(file("orders", "2024-05-01 09:30:00.000000", "orders/b.csv")),
                       \(file("orders", "2024-05-01 10:00:00.000000", "orders/c.csv")), \(file("orders", "2024-05-01 10:00:00.000001", "orders/d.csv")),
                       {"folder": "orders", "recorded": "2024-04-30 00:00:00.000000", "key": "in/orders/", "size": 0},
                       \(file("events", "2024-05-01 08:00:00.000000", "events/e.json")), \(file("events", "2024-05-01 08:30:00.000000", "events/f.json"))],
             "copies": [{"id": "q1", "folder": "orders", "status": "FINISHED", "keys": ["in/orders/a.csv"]},
                        {"id": "q2", "folder": "orders", "status": "FAILED", "keys": ["in/orders/b.csv"]},
                        {"id": "q3", "folder": "orders", "status": "FINISHED", "keys": ["in/orders/c.csv"]},
                        {"id": "q4", "folder": "events", "status": "FINISHED", "keys": ["in/events/e.json"]},
                        {"id": "q5", "folder": "events", "status": "ABORTED", "keys": ["in/events/f.json"]}\(extra)]}
            """
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/seed_state.py").path
        let specFile = try w.file("seed.json", spec())
        #expect(shell("python3 \(script) \(s3.endpoint) \(s3.bucket) < \(specFile.path)") == 0)

        let importing = ["import-seed-state", "--source", s3.root, "--endpoint", s3.endpoint, "--warehouse", url]
        let imported = try CLI.run(importing, in: w.url)
        #expect(imported.status == 0, "\(imported.stdout)\(imported.stderr)")
        #expect(imported.stdout.contains("3 file(s) recorded as loaded (0 recorded before) in 2 table(s)"), "\(imported.stdout)")
        #expect(imported.stdout.contains("paused, as in the seed: events"), "\(imported.stdout)")
        #expect(imported.stdout.contains("left for the loader: 3 file(s)"), "\(imported.stdout)")
        #expect(try RedshiftDouble.psql(database, "SELECT file_key FROM _autoloader_ledger ORDER BY file_key") == "events/e.json\norders/a.csv\norders/c.csv")
        let options = try Self.operate(["tables", "--warehouse", url, "--json"], w)
        #expect(options.stdout.contains("csv ignoreheader 1") && options.stdout.contains("paused"), "\(options.stdout)")

        // The loader: b (FAILED COPY) and d (after the checkpoint) load; a and c do not load again; events waits.
        let load = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        Self.expectRows(database, [("orders", 5, 15), ("events", 1, 10)])
        #expect(try Self.operate(["resume", "events", "--warehouse", url], w).status == 0)
        #expect(try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", url], in: w.url).status == 0)
        Self.expectRows(database, [("orders", 5, 15), ("events", 2, 30)])
        #expect(try Self.loadedFiles(url, in: w) == 6)

        let again = try CLI.run(importing, in: w.url)
        #expect(again.status == 0 && again.stdout.contains("0 file(s) recorded as loaded (3 recorded before)"), "\(again.stdout)\(again.stderr)")
        Self.expectRows(database, [("orders", 5, 15), ("events", 2, 30)])

        // A seed COPY still running: its files' fate is unknown, so the import refuses.
        let running = try w.file("running.json", spec(extra: #", {"id": "q6", "folder": "orders", "status": "Execution", "keys": ["in/orders/d.csv"]}"#))
        #expect(shell("python3 \(script) \(s3.endpoint) \(s3.bucket) < \(running.path)") == 0)
        let refused = try CLI.run(importing, in: w.url)
        #expect(refused.status != 0 && refused.stderr.contains("q6: Execution") && refused.stderr.contains("disable its schedules"), "\(refused.stderr)")
    }
}
