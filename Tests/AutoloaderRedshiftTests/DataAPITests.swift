import AutoloaderCore
import AutoloaderPostgres
import AutoloaderStores
import Foundation
@testable import AutoloaderRedshift
import AutoloaderTestSupport
import Testing

/// The Data API client and the warehouse against moto_server on loopback (scripts/moto starts it, with
/// moto's redshift-data made to finish statements: see scripts/moto_server.py). No Redshift runs here, so
/// these prove the protocol, polling, error paths and what is written to S3 — not what Redshift would do.
struct DataAPITests {
    /// A client of the moto_server scripts/test starts (the tests carry `.needsS3`).
    static func client() throws -> AWSClient {
        let endpoint = try Gate.requireS3()
        let aws = AWSClient(configuration: AWSConfiguration(environment: ["AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                                                                          "AWS_REGION": "us-east-1", "HOME": "/nonexistent"],
                                                            endpoint: endpoint))
        return aws
    }

    static let provisioned = DataAPITarget(endpoint: .cluster(identifier: "analytics", dbUser: "loader"), database: "dev")
    static let serverless = DataAPITarget(endpoint: .workgroup("etl"), database: "dev")

    @Test(.needsS3, arguments: [provisioned, serverless])
    func statementsArePolledToTheirEnd(target: DataAPITarget) throws {
        let aws = try Self.client()
        let api = RedshiftDataAPI(aws: aws, target: target)
        // One statement: submitted, polled until FINISHED.
        let id = try api.execute("SELECT 1")
        #expect(try api.describe(id).state == "STARTED")
        #expect(try api.wait(id).state == "FINISHED")
        // A batch (one transaction): its sub-statements' query ids are known, for error lookups.
        let batch = try api.wait(try api.executeBatch(["CREATE TABLE t (a INT)", "INSERT INTO t VALUES (1)"]))
        #expect(batch.state == "FINISHED")
        #expect(batch.queryIDs.count == 2)
        // FAILED carries Redshift's message; ABORTED (cancelled) is final too.
        let failed = try api.wait(try api.execute("COPY t FROM 's3://b/m' /* moto:FAILED */"))
        #expect(failed.state == "FAILED" && failed.error?.contains("sys_load_error_detail") == true)
        let cancelled = try api.execute("SELECT pg_sleep(60)")
        try api.cancel(cancelled)
        #expect(try api.wait(cancelled).state == "ABORTED")
        // A query that fails is an error naming the statement.
        #expect(throws: AutoloaderError.self) { try api.query("SELECT 1 /* moto:FAILED */") }
    }

    @Test(.needsS3) func copyWritesManifestsRunsOneBatchAndReadsLoadErrorsOnFailure() throws {
        let aws = try Self.client()
        let s3 = S3Client(aws: aws)
        let bucket = "rs-\(UUID().uuidString.lowercased().prefix(8))"
        try s3.createBucket(bucket)
        let sqlite = "/tmp/autoloader-rs-\(UUID().uuidString).sqlite"
        defer { try? FileManager.default.removeItem(atPath: sqlite) }
        func warehouse(role: String, errors: RedshiftSQL.LoadErrorsView = .sys) -> RedshiftWarehouse {
            RedshiftWarehouse(runner: DataAPIRunner(api: RedshiftDataAPI(aws: aws, target: errors == .sys ? Self.serverless : Self.provisioned)), s3: s3,
                              target: RedshiftSQL.Target(schema: "public", iamRole: role, manifestBucket: bucket, manifestPrefix: "manifests/",
                                                         loadErrors: errors),
                              bookkeeping: NoBookkeeping())
        }
        let files = [
            FileRecord(id: 1, table: "orders", key: "orders/region=eu/a.csv.gz", size: 120, modifiedNanos: 1, partitions: ["region": "eu"], state: .loading, discoveredAt: ""),
            FileRecord(id: 2, table: "orders", key: "orders/region=eu/b.csv.gz", size: 80, modifiedNanos: 2, partitions: ["region": "eu"], state: .loading, discoveredAt: ""),
        ]
        // b.csv.gz's URL is the one the test server's sys_load_error_detail names (scripts/moto_server.py).
        let group = CopyGroup(files: files, urls: [1: "s3://\(bucket)/in/orders/region=eu/a.csv.gz", 2: "s3://bucket/in/orders/bad.csv"],
                              format: .csv, compression: .gzip, dialect: Dialect(header: true), columns: ["id", "amount"], partitions: [("region", "eu")])
        let schema = TableSchema(columns: [Column(name: "id", type: .init(kind: .integer), nullable: false),
                                           Column(name: "amount", type: .init(kind: .decimal, precision: 8, scale: 2), nullable: true)])
        let ok = try warehouse(role: "arn:aws:iam::123456789012:role/loader")
            .copy(table: "orders", loadID: 7, schema: schema, previous: nil, groups: [group], options: TableOptions())
        #expect(ok.failure == nil)
        #expect(ok.statement.contains(#"COPY "stage_7_1" ("id", "amount")"#) && ok.statement.contains("GZIP") && ok.statement.contains("'eu', 7"))
        #expect(ok.statement.contains(#"INSERT INTO "public"."_autoloader_ledger""#))
        // The manifest is in S3, as Redshift will read it.
        let manifest = String(decoding: try s3.getObject(bucket: bucket, key: "manifests/orders/7.manifest"), as: UTF8.self)
        #expect(manifest.contains(#""url": "s3://\#(bucket)/in/orders/region=eu/a.csv.gz", "mandatory": true, "meta": {"content_length": 120}"#))

        // A failing COPY: the load fails and the rejected rows are read back, located in our file.
        let bad = try warehouse(role: "arn:aws:iam::123456789012:role/moto:FAILED")
            .copy(table: "orders", loadID: 8, schema: schema, previous: schema, groups: [group], options: TableOptions())
        #expect(bad.failure?.contains("sys_load_error_detail") == true)
        #expect(bad.errors.count >= 1)
        #expect(bad.errors.first.map { ($0.file, $0.line, $0.column, $0.reason.hasPrefix("Invalid digit")) } ?? ("", nil, nil, false)
            == ("orders/region=eu/b.csv.gz", 3, "amount", true))
        #expect(bad.errors.first?.rawText == "", "SYS_LOAD_ERROR_DETAIL has no raw line")
        // A provisioned cluster: STL_LOAD_ERRORS, which has the raw line.
        let provisioned = try warehouse(role: "arn:aws:iam::123456789012:role/moto:FAILED", errors: .stl)
            .copy(table: "orders", loadID: 9, schema: schema, previous: schema, groups: [group], options: TableOptions())
        #expect(provisioned.errors.first.map { ($0.file, $0.line, $0.rawText) } ?? ("", nil, "") == ("orders/region=eu/b.csv.gz", 3, "3,abc,2024-01-01"))
    }
}

extension DataAPITests {
    /// Issue 11, defect 3: a table with 60 partition folders (60 COPY groups) needs more than the 40 statements
    /// one BatchExecuteStatement takes (the double refuses such a batch, as the Data API does): it loads in
    /// several transactions, each with the ledger rows of its own files.
    @Test(.needsS3) func sixtyPartitionsLoadInSeveralTransactions() throws {
        let aws = try Self.client()
        let s3 = S3Client(aws: aws)
        let bucket = "rs-\(UUID().uuidString.lowercased().prefix(8))"
        try s3.createBucket(bucket)
        let warehouse = RedshiftWarehouse(runner: DataAPIRunner(api: RedshiftDataAPI(aws: aws, target: Self.serverless)), s3: s3,
                                          target: RedshiftSQL.Target(schema: "public", iamRole: "default", manifestBucket: bucket, manifestPrefix: "m/"),
                                          bookkeeping: NoBookkeeping())
        let groups = (1...60).map { i in
            CopyGroup(files: [FileRecord(id: Int64(i), table: "t", key: "t/day=\(i)/a.csv", size: 10, modifiedNanos: 1, partitions: ["day": "\(i)"],
                                         state: .loading, discoveredAt: "")],
                      urls: [Int64(i): "s3://\(bucket)/in/t/day=\(i)/a.csv"], format: .csv, compression: .none, dialect: Dialect(header: true),
                      columns: ["id"], partitions: [("day", "\(i)")])
        }
        let schema = TableSchema(columns: [Column(name: "id", type: .init(kind: .integer), nullable: true)])
        let outcome = try warehouse.copy(table: "t", loadID: 11, schema: schema, previous: nil, groups: groups, options: TableOptions())
        #expect(outcome.failure == nil, "\(outcome.failure ?? "")")
        #expect(outcome.statement.contains("-- transaction 5 of 5"))
        #expect(outcome.statement.components(separatedBy: #"INSERT INTO "public"."_autoloader_ledger""#).count == 6)
        #expect(!outcome.statement.contains("DROP TABLE"))
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
        try runner.run(RedshiftSQL.createLedger(target))
        try runner.run(RedshiftSQL.createTable(target, table: "orders", schema: columns))
        try runner.run(RedshiftSQL.ledgerInsert(target, table: "orders", files: [a], loadID: 1, at: "2026-11-26 12:00:00"))

        // Only a.csv: found in the ledger, nothing submitted.
        let only = try warehouse.copy(table: "orders", loadID: 2, schema: columns, previous: columns, groups: [group([a])], options: TableOptions())
        #expect(only.alreadyLoaded == [1] && only.statement.isEmpty && only.failure == nil)

        // a.csv and b.csv: a.csv is skipped, b.csv is submitted; PostgreSQL refuses Redshift's COPY, so the
        // transaction fails as a whole and the ledger still holds a.csv alone.
        let both = try warehouse.copy(table: "orders", loadID: 3, schema: columns, previous: columns, groups: [group([a, b])], options: TableOptions())
        #expect(both.alreadyLoaded == [1])
        #expect(both.statement.contains("'orders/b.csv'") && !both.statement.contains("'orders/a.csv', 10"))
        #expect(both.failure != nil)
        #expect(try runner.query("SELECT file_key FROM \(schema)._autoloader_ledger ORDER BY file_key").map { $0.first ?? nil } == ["orders/a.csv"])
        #expect(try runner.query("SELECT count(*) FROM \(schema).orders").first?.first == "0")
        // The manifest for b.csv was written all the same.
        #expect(String(decoding: try s3.getObject(bucket: bucket, key: "m/orders/3.manifest"), as: UTF8.self).contains("orders/b.csv"))
    }
}
