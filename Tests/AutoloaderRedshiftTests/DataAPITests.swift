import AutoloaderCore
import AutoloaderPostgres
import AutoloaderStores
import Foundation
@testable import AutoloaderRedshift
import AutoloaderTestSupport
import Testing

/// The Data API client and the warehouse against the Redshift double (scripts/redshift_double.py behind moto_server):
/// statements run on the throwaway PostgreSQL under Redshift's documented rules, COPY reads the manifest and the
/// objects from moto's S3, and what Redshift would hold is looked at with psql. What the double does not model is
/// in README → Redshift.
struct DataAPITests {
    /// A client of the moto_server scripts/test starts (the tests carry `.needsS3, .needsPostgres`).
    static func client() throws -> AWSClient {
        let endpoint = try Gate.requireS3()
        return AWSClient(configuration: AWSConfiguration(environment: ["AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                                                                       "AWS_REGION": "us-east-1", "HOME": "/nonexistent"],
                                                         endpoint: endpoint))
    }

    /// A provisioned cluster (STL views too) or a Serverless workgroup (SYS views only), on a database of its own.
    static func target(serverless: Bool, database: String) -> DataAPITarget {
        serverless ? DataAPITarget(endpoint: .workgroup("etl"), database: database)
            : DataAPITarget(endpoint: .cluster(identifier: "analytics", dbUser: "loader"), database: database)
    }

    /// A bucket with the given objects, a warehouse on a fresh database of the double, and that database's name.
    struct Setup {
        let aws: AWSClient
        let s3: S3Client
        let bucket: String
        let database: String
        let serverless: Bool

        init(serverless: Bool = true) throws {
            aws = try DataAPITests.client()
            s3 = S3Client(aws: aws)
            bucket = "rs-\(UUID().uuidString.lowercased().prefix(8))"
            try s3.createBucket(bucket)
            database = RedshiftDouble.freshDatabase()
            self.serverless = serverless
        }

        var api: RedshiftDataAPI { RedshiftDataAPI(aws: aws, target: DataAPITests.target(serverless: serverless, database: database)) }

        func warehouse(role: String = "arn:aws:iam::123456789012:role/loader") -> RedshiftWarehouse {
            var target = RedshiftSQL.Target(schema: "public", iamRole: role, manifestBucket: bucket, manifestPrefix: "manifests/",
                                            loadErrors: serverless ? .sys : .stl)
            target.database = database
            return RedshiftWarehouse(runner: DataAPIRunner(api: api), s3: s3, target: target, bookkeeping: NoBookkeeping())
        }

        /// Puts an object under in/; returns its URL and a file record for it.
        func put(_ key: String, _ body: [UInt8], id: Int64, partitions: [String: String] = [:]) throws -> (String, FileRecord) {
            try s3.put(bucket: bucket, key: "in/\(key)", body: body)
            return ("s3://\(bucket)/in/\(key)", FileRecord(id: id, table: String(key.prefix { $0 != "/" }), key: key, size: Int64(body.count),
                                                          modifiedNanos: id, partitions: partitions, state: .loading, discoveredAt: ""))
        }

        func psql(_ sql: String) throws -> String { try RedshiftDouble.psql(database, sql) }
    }

    static func gzip(_ text: String) throws -> [UInt8] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gz-\(UUID().uuidString)")
        try Data(text.utf8).write(to: path)
        defer { try? FileManager.default.removeItem(atPath: path.path + ".gz") }
        #expect(try Subprocess.run("gzip", ["-f", path.path]).status == 0)
        return Array(try Data(contentsOf: URL(fileURLWithPath: path.path + ".gz")))
    }

    static let orders = TableSchema(columns: [Column(name: "id", type: .init(kind: .integer), nullable: true),
                                              Column(name: "amount", type: .init(kind: .decimal, precision: 8, scale: 2), nullable: true)])

    static func csvGroup(_ files: [(String, FileRecord)], compression: Compression = .none, partitions: [(String, String)] = []) -> CopyGroup {
        CopyGroup(files: files.map(\.1), urls: Dictionary(uniqueKeysWithValues: files.map { ($0.1.id, $0.0) }), format: .csv,
                  compression: compression, dialect: Dialect(header: true), columns: ["id", "amount"], partitions: partitions)
    }

    @Test(.needsS3, .needsPostgres, arguments: [false, true])
    func statementsArePolledToTheirEnd(serverless: Bool) throws {
        let setup = try Setup(serverless: serverless)
        let api = setup.api
        #expect(try api.wait(try api.execute("SELECT 1")).state == "FINISHED")
        // A batch (one transaction): each sub-statement's query id and row count.
        let batch = try api.wait(try api.executeBatch(["CREATE TABLE t (a INT)", "INSERT INTO t VALUES (1), (2)"]))
        #expect(batch.state == "FINISHED")
        #expect(batch.queryIDs.count == 2 && batch.subRows.last == 2)
        // FAILED carries Redshift's message; ABORTED (cancelled) is final too.
        let failed = try api.wait(try api.execute("SELECT * FROM no_such_table"))
        #expect(failed.state == "FAILED" && failed.error?.contains("does not exist") == true, "\(failed)")
        let cancelled = try api.execute("SELECT pg_sleep(60)")
        usleep(300_000)
        try api.cancel(cancelled)
        #expect(try api.wait(cancelled).state == "ABORTED")
        // A query that fails is an error naming the statement; a query's rows come back as text.
        #expect(throws: AutoloaderError.self) { try api.query("SELECT nope FROM t") }
        #expect(try api.query("SELECT a, a * 1.5, NULL FROM t ORDER BY a") == [["1", "1.5", nil], ["2", "3.0", nil]])
    }

    @Test(.needsS3, .needsPostgres) func copyLoadsRowsAndCountsOnlyTheInserts() throws {
        let setup = try Setup()
        let a = try setup.put("orders/region=eu/a.csv.gz", try Self.gzip("id,amount\n1,2.50\n2,3.75\n"), id: 1, partitions: ["region": "eu"])
        let b = try setup.put("orders/region=eu/b.csv.gz", try Self.gzip("id,amount\n3,1.00\n"), id: 2, partitions: ["region": "eu"])
        let ok = try setup.warehouse().copy(table: "orders", loadID: 7, schema: Self.orders, groups: [Self.csvGroup([a, b], compression: .gzip, partitions: [("region", "eu")])], options: TableOptions())
        #expect(ok.failure == nil, "\(ok.failure ?? "")")
        // Issue 11, defect 5: 3 rows, not the batch's ResultRows (staging COPY + INSERT + ledger rows = 8).
        #expect(ok.rows == 3)
        #expect(try setup.psql("SELECT id, amount, region, _autoloader_load_id FROM orders ORDER BY id") == "1|2.50|eu|7\n2|3.75|eu|7\n3|1.00|eu|7")
        #expect(try setup.psql("SELECT file_key, size, load_id FROM _autoloader_ledger ORDER BY file_key")
            == "orders/region=eu/a.csv.gz|\(a.1.size)|7\norders/region=eu/b.csv.gz|\(b.1.size)|7")
        let manifest = String(decoding: try setup.s3.getObject(bucket: setup.bucket, key: "manifests/orders/7.manifest"), as: UTF8.self)
        #expect(manifest.contains(#""url": "\#(a.0)", "mandatory": true, "meta": {"content_length": \#(a.1.size)}"#))
        // Loading the same files again: found in the ledger, nothing submitted.
        let again = try setup.warehouse().copy(table: "orders", loadID: 8, schema: Self.orders, groups: [Self.csvGroup([a, b], compression: .gzip, partitions: [("region", "eu")])], options: TableOptions())
        #expect(again.alreadyLoaded == [1, 2] && again.statement.isEmpty)
        #expect(try setup.psql("SELECT count(*) FROM orders") == "3")
    }

    /// Issue 11, defect 1 against the double: a bad value fails the COPY, nothing of the transaction stays, and the
    /// rejected row is read back from the deployment's view, located in our file.
    @Test(.needsS3, .needsPostgres, arguments: [false, true])
    func aRejectedRowIsReadBackFromTheDeploymentsView(serverless: Bool) throws {
        let setup = try Setup(serverless: serverless)
        let good = try setup.put("orders/a.csv", Array("id,amount\n1,2.50\n".utf8), id: 1)
        let bad = try setup.put("orders/bad.csv", Array("id,amount\n2,1.00\n3,abc\n".utf8), id: 2)
        let outcome = try setup.warehouse().copy(table: "orders", loadID: 9, schema: Self.orders, groups: [Self.csvGroup([good, bad])],
                                                 options: TableOptions(onError: .abortFile))
        #expect(outcome.failure?.contains(serverless ? "sys_load_error_detail" : "stl_load_errors") == true, "\(outcome.failure ?? "")")
        #expect(outcome.errors.map { "\($0.file):\($0.line ?? 0):\($0.column ?? "")" } == ["orders/bad.csv:3:amount"])
        #expect(outcome.errors.first?.reason.hasPrefix("Invalid digit, Value 'a'") == true)
        // STL_LOAD_ERRORS has the raw line; SYS_LOAD_ERROR_DETAIL has none.
        #expect(outcome.errors.first?.rawText == (serverless ? "" : "3,abc"))
        #expect(try setup.psql("SELECT count(*) FROM orders") == "0")
        #expect(try setup.psql("SELECT count(*) FROM _autoloader_ledger") == "0")
    }

    /// on_error=skip_rows becomes MAXERROR: the good rows load, the bad one is recorded, the file is loaded.
    @Test(.needsS3, .needsPostgres) func skipRowsBecomesMaxErrorAndRecordsTheRejectedRows() throws {
        let setup = try Setup(serverless: false)
        let file = try setup.put("orders/mixed.csv", Array("id,amount\n1,2.50\n2,x\n3,1.00\n".utf8), id: 1)
        var options = TableOptions()
        options.onError = .skipRows
        options.maxErrors = 5
        let outcome = try setup.warehouse().copy(table: "orders", loadID: 3, schema: Self.orders, groups: [Self.csvGroup([file])], options: options)
        #expect(outcome.failure == nil && outcome.rows == 2)
        #expect(outcome.statement.contains("MAXERROR 5"))
        #expect(outcome.errors.map { "\($0.line ?? 0):\($0.rawText)" } == ["3:2,x"])
        #expect(try setup.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM orders") == "1,3")
    }
}

extension DataAPITests {
    /// Issue 11, defect 3: a table with 60 partition folders (60 COPY groups) needs more than the 40 statements
    /// one BatchExecuteStatement takes (the double refuses such a batch, as the Data API does): it loads in
    /// several transactions, each with the ledger rows of its own files.
    @Test(.needsS3, .needsPostgres) func sixtyPartitionsLoadInSeveralTransactions() throws {
        let setup = try Setup()
        var groups: [CopyGroup] = []
        for i in 1...60 {
            let file = try setup.put("t/day=\(i)/a.csv", Array("id,amount\n\(i),1.00\n".utf8), id: Int64(i), partitions: ["day": "\(i)"])
            groups.append(Self.csvGroup([file], partitions: [("day", "\(i)")]))
        }
        let outcome = try setup.warehouse().copy(table: "t", loadID: 11, schema: Self.orders, groups: groups, options: TableOptions())
        #expect(outcome.failure == nil, "\(outcome.failure ?? "")")
        #expect(outcome.statement.contains("-- transaction 5 of 5"))
        #expect(outcome.rows == 60)
        #expect(try setup.psql("SELECT count(*), count(DISTINCT id), sum(id), count(DISTINCT day) FROM t") == "60|60|1830|60")
        #expect(try setup.psql("SELECT count(*) FROM _autoloader_ledger") == "60")
    }

    /// Issue 11, defect 4: a submission whose answer is lost (the client times out and the AWS client sends it
    /// again) is one statement, because the request carries a ClientToken.
    @Test(.needsS3, .needsPostgres) func aRetriedSubmissionRunsOnce() throws {
        let setup = try Setup()
        let api = setup.api
        #expect(try api.wait(try api.execute("CREATE TABLE t (a INT)")).state == "FINISHED")
        try RedshiftDouble.inject(.slowSubmit, database: setup.database, match: "INSERT INTO t", seconds: 3)
        api.requestTimeoutSeconds = 1
        let runner = DataAPIRunner(api: api)
        var heard: [String] = []
        let result = try runner.runTransaction(["INSERT INTO t VALUES (1)"], name: "autoloader:test:retried") { heard.append($0) }
        #expect(result.state == "FINISHED" && heard == [result.statementID ?? ""])
        #expect(try setup.psql("SELECT count(*) FROM t") == "1")
        // The same request again is the same statement; nothing runs twice.
        let again = try runner.runTransaction(["INSERT INTO t VALUES (1)"], name: "autoloader:test:retried") { _ in }
        #expect(again.statementID == result.statementID)
        #expect(try setup.psql("SELECT count(*) FROM t") == "1")
    }

    /// Issue 11, defect 4: a transaction of an earlier load still running (its loader died, or stopped polling) is
    /// waited for before the ledger is read, so its files are not loaded again. (The CLI test kills a real loader.)
    @Test(.needsS3, .needsPostgres) func aLoadWaitsForAnEarlierTransactionStillRunning() throws {
        let setup = try Setup()
        let file = try setup.put("orders/a.csv", Array("id,amount\n1,2.50\n2,3.75\n".utf8), id: 1)
        // Held long enough that the second load's own set-up statements (each a Data API round trip) end first
        // even on a busy machine: at 3 s it sometimes found the transaction already over.
        try RedshiftDouble.inject(.hold, database: setup.database, match: "INSERT INTO \"public\".\"_autoloader_ledger\"", seconds: 8)
        // The earlier load, on its own thread: it submits, and its transaction is held before COMMIT.
        let earlier = Thread {
            _ = try? setup.warehouse().copy(table: "orders", loadID: 1, schema: Self.orders, groups: [Self.csvGroup([file])],
                                            options: TableOptions())
        }
        earlier.start()
        let prefix = RedshiftSQL.statementNamePrefix(setup.warehouse().target, table: "orders")
        var running: [String] = []
        for _ in 0..<100 where running.isEmpty {
            usleep(50_000)
            running = try setup.api.unfinished(namePrefix: prefix).filter { _ in true }
            if !running.isEmpty, try setup.api.describe(running[0]).state != "STARTED" { running = [] }
        }
        #expect(running.count == 1, "the earlier load's transaction is running")
        let second = setup.warehouse()
        let lines = Locked<[String]>([])
        second.log = { line in lines.withLock { $0.append(line) } }
        let outcome = try second.copy(table: "orders", loadID: 2, schema: Self.orders, groups: [Self.csvGroup([file])],
                                      options: TableOptions())
        let logged = lines.withLock { $0 }
        #expect(outcome.alreadyLoaded == [1] && outcome.failure == nil, "\(outcome)")
        #expect(logged.contains { $0.contains("waited for statement \(running.first ?? "?")") }, "\(logged)")
        #expect(try setup.psql("SELECT count(*), count(DISTINCT id), sum(id) FROM orders") == "2|2|3")
    }

    /// Two loads of the same files racing (both read an empty ledger): the ledger lock and guard let one commit;
    /// the other is refused as contention (retried: it then finds the files in the ledger).
    @Test(.needsS3, .needsPostgres) func twoLoadsOfTheSameFilesCommitOnce() throws {
        let setup = try Setup()
        let file = try setup.put("orders/a.csv", Array("id,amount\n1,2.50\n".utf8), id: 1)
        let first = setup.warehouse()
        try first.run(RedshiftSQL.createLedger(first.target))
        try first.run(RedshiftSQL.createTable(first.target, table: "orders", schema: Self.orders))
        // Both transactions wait a second before starting, and both reads of the ledger too, so that each load has
        // read the empty ledger before the other submits (else the later one finds the earlier's statement running,
        // waits for it, and rightly skips the file: no race left to test).
        try RedshiftDouble.inject(.stall, database: setup.database, match: "LOCK", seconds: 1.5, times: 2)
        try RedshiftDouble.inject(.stall, database: setup.database, match: "SELECT \"file_key\"", seconds: 1.5, times: 2)
        let results = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            do {
                let o = try setup.warehouse().copy(table: "orders", loadID: Int64(10 + i), schema: Self.orders, groups: [Self.csvGroup([file])], options: TableOptions())
                results.withLock { $0.append(o.failure ?? "committed") }
            } catch let error as AutoloaderError {
                if case .contention = error { results.withLock { $0.append("contention") } } else { results.withLock { $0.append("\(error)") } }
            } catch {
                results.withLock { $0.append("\(error)") }
            }
        }
        #expect(results.withLock { $0.sorted() } == ["committed", "contention"])
        #expect(try setup.psql("SELECT count(*) FROM orders") == "1")
        #expect(try setup.psql("SELECT count(*) FROM _autoloader_ledger") == "1")
    }

    /// Issue 11, defect 11: a serializable isolation violation (1023) is transient: nothing is committed and the
    /// load is retried, not failed for good.
    @Test(.needsS3, .needsPostgres) func aSerializableIsolationViolationIsRetried() throws {
        let setup = try Setup()
        let file = try setup.put("orders/a.csv", Array("id,amount\n1,2.50\n".utf8), id: 1)
        try RedshiftDouble.inject(.serializable, database: setup.database, match: "LOCK")
        do {
            _ = try setup.warehouse().copy(table: "orders", loadID: 1, schema: Self.orders, groups: [Self.csvGroup([file])], options: TableOptions())
            Issue.record("the violation was not reported")
        } catch {
            #expect(AutoloaderError.isTransient(error), "\(error)")
        }
        let retried = try setup.warehouse().copy(table: "orders", loadID: 2, schema: Self.orders, groups: [Self.csvGroup([file])], options: TableOptions())
        #expect(retried.failure == nil && retried.rows == 1)
    }
}

/// A value shared between threads of a test.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

/// The catalog side is not under test here.
final class NoBookkeeping: Warehouse {
    var capabilities: WarehouseCapabilities { WarehouseCapabilities(name: "none", transactionalCatalog: false, maxVarcharBytes: nil) { _ in "" } }
    func beginLoad(table: String, files: [FileRecord], statement: String) throws -> any LoadTransaction {
        throw AutoloaderError.usage("not used")
    }
}

/// The PostgreSQL-wire way in, against the throwaway PostgreSQL standing in for Redshift's endpoint. PostgreSQL
/// runs the ledger for real; it cannot run Redshift's COPY, which is what makes the failure path testable.
struct PostgresWireTests {
    @Test(.needsS3, .needsPostgres) func theLedgerIsConsultedAndAFailedTransactionLeavesNothing() throws {
        let aws = try DataAPITests.client()
        let server = try Gate.requirePostgres()
        let s3 = S3Client(aws: aws)
        let bucket = "wire-\(UUID().uuidString.lowercased().prefix(8))"
        try s3.createBucket(bucket)
        let schema = "rs_\(UUID().uuidString.lowercased().prefix(8))"
        let session = try PostgresSession(url: try PostgresURL(server))
        defer { try? session.execute("DROP SCHEMA \(schema) CASCADE") }
        let runner = PostgresWireRunner(session: session)
        let target = RedshiftSQL.Target(schema: schema, iamRole: "arn:aws:iam::123456789012:role/loader", manifestBucket: bucket, manifestPrefix: "m/")
        let warehouse = RedshiftWarehouse(runner: runner, s3: s3, target: target, bookkeeping: NoBookkeeping())
        let columns = TableSchema(columns: [Column(name: "id", type: .init(kind: .integer), nullable: true)])
        let a = FileRecord(id: 1, table: "orders", key: "orders/a.csv", size: 10, modifiedNanos: 100, state: .loading, discoveredAt: "")
        let b = FileRecord(id: 2, table: "orders", key: "orders/b.csv", size: 20, modifiedNanos: 200, state: .loading, discoveredAt: "")
        func group(_ files: [FileRecord]) -> CopyGroup {
            CopyGroup(files: files, urls: Dictionary(uniqueKeysWithValues: files.map { ($0.id, "s3://\(bucket)/in/\($0.key)") }),
                      format: .csv, compression: .none, dialect: Dialect(header: true), columns: ["id"], partitions: [])
        }
        // A load that committed in Redshift before the catalog heard of it: a.csv is in the ledger.
        try runner.run("CREATE SCHEMA IF NOT EXISTS \(schema)")
        // Redshift's SVV_COLUMNS, which evolution reads, as a view of PostgreSQL's information schema.
        try runner.run("CREATE VIEW \(schema).svv_columns AS SELECT * FROM information_schema.columns")
        try runner.run("SET search_path TO \(schema), public")
        try runner.run(RedshiftSQL.createLedger(target))
        try runner.run(RedshiftSQL.createTable(target, table: "orders", schema: columns))
        try runner.run(RedshiftSQL.ledgerInsert(target, table: "orders", files: [a], loadID: 1, at: "2026-11-26 12:00:00"))

        // Only a.csv: found in the ledger, nothing submitted.
        let only = try warehouse.copy(table: "orders", loadID: 2, schema: columns, groups: [group([a])], options: TableOptions())
        #expect(only.alreadyLoaded == [1] && only.statement.isEmpty && only.failure == nil)

        // a.csv and b.csv: a.csv is skipped, b.csv is submitted; PostgreSQL refuses Redshift's COPY, so the
        // transaction fails as a whole and the ledger still holds a.csv alone.
        let both = try warehouse.copy(table: "orders", loadID: 3, schema: columns, groups: [group([a, b])], options: TableOptions())
        #expect(both.alreadyLoaded == [1])
        #expect(both.statement.contains("'orders/b.csv', 20") && !both.statement.contains("'orders/a.csv', 10"))
        #expect(both.failure != nil)
        #expect(try runner.query("SELECT file_key FROM \(schema)._autoloader_ledger ORDER BY file_key").map { $0.first ?? nil } == ["orders/a.csv"])
        #expect(try runner.query("SELECT count(*) FROM \(schema).orders").first?.first == "0")
        // The manifest for b.csv was written all the same.
        #expect(String(decoding: try s3.getObject(bucket: bucket, key: "m/orders/3.manifest"), as: UTF8.self).contains("orders/b.csv"))
    }
}
