import AutoloaderApp
import AutoloaderCore
import AutoloaderStores
import AutoloaderTestSupport
import Foundation
import Testing

/// The catalogs a Redshift deployment can keep its state in: SQLite beside the loader, PostgreSQL, DynamoDB (on
/// moto_server). The same contract for each, driven through `Catalog` and the bookkeeping `Warehouse` the CLI wires
/// (rows are Redshift's; here no COPY runs, only the catalog's part of a load).
enum CatalogKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres, dynamodb
    var testDescription: String { rawValue }

    static var testable: [CatalogKind] { [.sqlite] + (Gate.postgres ? [.postgres] : []) + (Gate.s3 ? [.dynamodb] : []) }
}

/// One catalog, and the loader processes sharing it: each `process()` has its own connections, as a second task would.
final class CatalogBox {
    let kind: CatalogKind
    let sandbox: Sandbox
    let dynamoTable = "catalog-" + UUID().uuidString.lowercased().prefix(12)
    /// Short, so that tests of a crashed process wait little; `lease` of a box may be longer.
    static let lease = 1.0
    let lease: Double

    init(_ kind: CatalogKind, lease: Double = CatalogBox.lease) throws {
        self.kind = kind
        self.lease = lease
        sandbox = try Sandbox(kind == .postgres ? .postgres : .sqlite)
    }

    func process() throws -> (warehouse: any Warehouse, catalog: any Catalog) {
        let pair: (warehouse: any Warehouse, catalog: any Catalog)
        switch kind {
        case .sqlite, .postgres:
            // As the CLI builds a Redshift deployment whose catalog is this one (nothing is sent to AWS here).
            let catalog = sandbox.configuration.warehouse.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let url = "redshift-serverless://etl/dev?iam_role=arn:aws:iam::123456789012:role/l&manifests=s3://b/m/&catalog=\(catalog)"
            let backend = try Build.backend(Configuration(warehouse: url, source: sandbox.landing.path))
            pair = (backend.warehouse, backend.catalog)
        case .dynamodb:
            let aws = AWSClient(configuration: AWSConfiguration(environment: ["AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "HOME": "/nonexistent"],
                                                                endpoint: try Gate.requireS3()))
            let catalog = DynamoDBCatalog(db: DynamoDBClient(aws: aws), table: dynamoTable, leaseSeconds: lease)
            pair = (catalog, catalog)
        }
        try pair.catalog.prepare(readOnly: false)
        return pair
    }

    /// What a crashed process leaves: for SQL its connection closes and the database rolls its transaction back;
    /// DynamoDB keeps the claims until the lease runs out.
    func afterCrash() { if kind == .dynamodb { usleep(UInt32((lease + 0.3) * 1_000_000)) } }
}

extension Catalog {
    func add(_ key: String, size: Int64 = 10, mtime: Int64, folder: String? = nil) throws -> RecordOutcome {
        let folder = folder ?? String(key.prefix { $0 != "/" })
        return try record(object: ObjectInfo(key: key, size: size, modifiedNanos: mtime),
                          as: LandingKey(table: SQLIdentifier.tableName(fromFolder: folder), sourceFolder: folder))
    }
}

/// Runs one load of `files` to its end, each file ending in `states[key]` (default loaded), with a rejected row
/// per file that loaded with errors and one schema change. Returns the load's id.
@discardableResult
func load(_ p: (warehouse: any Warehouse, catalog: any Catalog), table: String, _ files: [FileRecord],
          states: [String: FileState] = [:]) throws -> Int64 {
    let tx = try p.warehouse.beginLoad(table: table, files: files, statement: "COPY (test)")
    do {
        try tx.log.recordSchemaChange(table: table, loadID: tx.loadID, change: "ALTER TABLE \(table) ADD COLUMN c\(tx.loadID) BIGINT")
        for file in files {
            let state = states[file.key] ?? .loaded
            try tx.beginFile(file)
            if state == .loadedWithErrors {
                try tx.recordError(LoadErrorRecord(loadID: tx.loadID, file: file.key, line: 3, column: "amount", rawText: "x", reason: "not a number"))
            }
            try tx.endFile(file, state: state, sha256: nil, rows: state.keepsRows ? 2 : 0, duplicateOf: nil,
                           error: state == .failed ? "\(file.key):2: bad" : state == .held ? "adds column c" : nil)
        }
        let failed = files.contains { states[$0.key] == .failed }
        try tx.commit(status: failed ? .failed : .finished, rowsLoaded: 2, rowsRejected: 0, error: nil,
                      schema: TableSchema(columns: [Column(name: "id", type: .integer, nullable: false)]), dialect: nil,
                      partitionColumns: [], checkpointNanos: files.map(\.modifiedNanos).max())
        return tx.loadID
    } catch {
        tx.rollback(reason: "\(error)", transient: AutoloaderError.isTransient(error))
        throw error
    }
}

@Suite struct CatalogContractTests {
    /// Recording a listing is idempotent, from one process or two; a rewritten key is a new version; folders that
    /// sanitise alike get distinct tables; pending work is listed oldest first.
    @Test(arguments: CatalogKind.testable) func recordingIsIdempotentAndVersioned(kind: CatalogKind) throws {
        let box = try CatalogBox(kind)
        let one = try box.process(), two = try box.process()
        guard case let .new(a) = try one.catalog.add("orders/a.csv", mtime: 2_000) else { Issue.record("not new"); return }
        #expect(a.table == "orders" && a.state == .pending)
        #expect(try two.catalog.add("orders/a.csv", mtime: 2_000) == .known)
        guard case .newVersion = try two.catalog.add("orders/a.csv", size: 11, mtime: 3_000) else { Issue.record("not a new version"); return }
        _ = try one.catalog.add("Orders/b.csv", mtime: 1_000)
        _ = try two.catalog.add("items/c.csv", mtime: 5_000)
        #expect(try one.catalog.tables().map(\.name).sorted() == ["items", "orders", "orders_2"])
        #expect(try two.catalog.tables().first { $0.name == "orders_2" }?.sourceFolder == "Orders")
        #expect(try one.catalog.files(table: "orders", state: .pending).map(\.size) == [10, 11])
        #expect(try two.catalog.files(table: nil, state: nil).count == 4)
        #expect(try one.catalog.tablesWithPendingFiles() == ["orders_2", "orders", "items"])
        let backlog = try two.catalog.backlog()
        #expect(backlog.map(\.table) == ["items", "orders", "orders_2"] && backlog.map(\.files) == [1, 2, 1] && backlog[1].bytes == 21)
        // Two versions of one key never share a batch.
        #expect(try one.catalog.nextBatch(table: "orders", maxFiles: 10, maxBytes: 1 << 30).count == 1)
        try one.catalog.setStatus(table: "items", .paused)
        #expect(try two.catalog.tablesWithPendingFiles() == ["orders_2", "orders"])
        #expect(throws: AutoloaderError.unknownTable("nope")) { try one.catalog.setStatus(table: "nope", .paused) }
        var options = TableOptions()
        options.maxErrors = 7
        try two.catalog.setOptions(table: "future", options)
        #expect(try one.catalog.table(named: "future")?.options.maxErrors == 7)
        // A folder whose table's options were set before its first file loads into that table.
        guard case let .new(f) = try one.catalog.add("future/x.csv", mtime: 9_000) else { Issue.record("not new"); return }
        #expect(f.table == "future")
    }

    /// Two processes, one batch: exactly one load commits it, the other is refused as contention (before or at
    /// its commit, as its catalog claims), and no load is left open.
    @Test(arguments: CatalogKind.testable) func twoProcessesOneBatchOneLoad(kind: CatalogKind) throws {
        let box = try CatalogBox(kind)
        let one = try box.process(), two = try box.process()
        for i in 0..<5 { _ = try one.catalog.add("t/\(i).csv", mtime: Int64(100 + i)) }
        let batch = try one.catalog.nextBatch(table: "t", maxFiles: 10, maxBytes: 1 << 30)
        #expect(batch.count == 5)
        let first = try one.warehouse.beginLoad(table: "t", files: batch, statement: "COPY (first)")
        var secondID: Int64?
        do {
            secondID = try load(two, table: "t", try two.catalog.files(table: "t", state: .pending))
        } catch {
            #expect(AutoloaderError.isContention(error) || AutoloaderError.isTransient(error), "\(error)")
        }
        var firstCommitted = true
        do {
            for file in batch {
                try first.beginFile(file)
                try first.endFile(file, state: .loaded, sha256: nil, rows: 1, duplicateOf: nil, error: nil)
            }
            try first.commit(status: .finished, rowsLoaded: 5, rowsRejected: 0, error: nil, schema: nil, dialect: nil, partitionColumns: [],
                             checkpointNanos: 104)
        } catch {
            firstCommitted = false
            first.rollback(reason: "\(error)", transient: true)
        }
        #expect(firstCommitted != (secondID != nil), "exactly one load commits the batch")
        let winner = firstCommitted ? first.loadID : secondID
        let files = try two.catalog.files(table: "t", state: nil)
        #expect(files.count == 5 && files.allSatisfy { $0.state == .loaded && $0.loadID == winner })
        let loads = try one.catalog.loads(table: "t", status: nil)
        #expect(loads.filter { $0.status == .finished }.map(\.id) == [winner].compactMap { $0 })
        #expect(loads.allSatisfy { $0.status != .queued && $0.status != .running }, "\(loads.map(\.status))")
        #expect(try one.catalog.tablesWithPendingFiles().isEmpty && one.catalog.backlog().isEmpty)
    }

    /// A process that dies inside a load (its claims made, nothing committed): the table's next load, by another
    /// process, closes the dead load and loads the files, once.
    @Test(arguments: CatalogKind.testable) func aLoadWhoseProcessDiedIsClosedAndItsFilesLoadOnce(kind: CatalogKind) throws {
        let box = try CatalogBox(kind)
        var dead: (warehouse: any Warehouse, catalog: any Catalog)? = try box.process()
        for i in 0..<3 { _ = try dead!.catalog.add("t/\(i).csv", mtime: Int64(100 + i)) }
        var tx: (any LoadTransaction)? = try dead!.warehouse.beginLoad(table: "t", files: try dead!.catalog.nextBatch(table: "t", maxFiles: 10, maxBytes: 1 << 30),
                                                                      statement: "COPY (dies)")
        let deadID = tx!.loadID
        tx = nil
        dead = nil  // its connections close
        box.afterCrash()
        let next = try box.process()
        #expect(try next.catalog.tablesWithPendingFiles() == ["t"])
        let batch = try next.catalog.nextBatch(table: "t", maxFiles: 10, maxBytes: 1 << 30)
        #expect(batch.count == 3)
        // As the scheduler does: contention is retried (PostgreSQL ends the dead session's transaction, and frees its
        // lock, a moment after the connection closes).
        var id: Int64 = 0
        for attempt in 1...50 {
            do {
                id = try load(next, table: "t", batch)
                break
            } catch where AutoloaderError.isContention(error) && attempt < 50 {
                usleep(200_000)
            }
        }
        #expect(try next.catalog.files(table: "t", state: .loaded).map(\.loadID) == [id, id, id])
        let closed = try #require(try next.catalog.load(id: deadID))
        #expect(closed.status == .aborted && closed.error?.contains("interrupted") == true, "\(closed)")
        #expect(try next.catalog.load(id: id)?.status == .finished)
    }

    /// What users do after loads: errors and schema history are kept per load; retry, reload, approve and reject
    /// move exactly the files they name; a loaded file's earlier versions are superseded.
    @Test(arguments: CatalogKind.testable) func operationsMoveExactlyTheirFiles(kind: CatalogKind) throws {
        let box = try CatalogBox(kind)
        let p = try box.process()
        for name in ["ok", "bad", "held", "rows"] { _ = try p.catalog.add("t/\(name).csv", mtime: 1_000) }
        let batch = try p.catalog.nextBatch(table: "t", maxFiles: 10, maxBytes: 1 << 30)
        let id = try load(p, table: "t", batch, states: ["t/bad.csv": .failed, "t/held.csv": .held, "t/rows.csv": .loadedWithErrors])
        func state(_ key: String) throws -> FileState? { try p.catalog.files(table: "t", state: nil).last { $0.key == key }?.state }
        #expect(try p.catalog.load(id: id)?.status == .failed)
        #expect(try p.catalog.errors(loadID: id).map(\.file) == ["t/rows.csv"])
        #expect(try p.catalog.errors(loadID: id).first?.line == 3)
        #expect(try p.catalog.schemaChanges(loadID: id) == ["ALTER TABLE t ADD COLUMN c\(id) BIGINT"])
        #expect(try p.catalog.schemaHistory(table: "t").map(\.loadID) == [id])
        #expect(try p.catalog.table(named: "t")?.schema?.columns.map(\.name) == ["id"])
        #expect(try p.catalog.table(named: "t")?.checkpointNanos == 1_000)

        #expect(try p.catalog.retry(loadID: id) == 1)
        #expect(try state("t/bad.csv") == .pending)
        #expect(throws: AutoloaderError.unknownLoad(999_999)) { try p.catalog.retry(loadID: 999_999) }
        #expect(try p.catalog.reject(table: "t", reason: "no") == 1)
        #expect(try p.catalog.files(table: "t", state: .failed).first?.error?.hasPrefix("no — adds column c") == true)
        #expect(try p.catalog.approve(table: "t") == 0)
        #expect(try p.catalog.reload(table: "t", sinceNanos: 0) == 3, "ok, rows and the rejected file; bad is pending already")

        // A new version of a loaded key: once it loads, the earlier one is superseded and a reload leaves it.
        let second = try load(p, table: "t", try p.catalog.nextBatch(table: "t", maxFiles: 10, maxBytes: 1 << 30))
        #expect(try p.catalog.files(table: "t", state: .loaded).count == 4)
        guard case let .newVersion(v2) = try p.catalog.add("t/ok.csv", size: 99, mtime: 2_000) else { Issue.record("not a new version"); return }
        #expect(try p.catalog.loadedVersion(key: "t/ok.csv", excludingID: v2.id)?.loadID == second)
        try load(p, table: "t", [v2])
        #expect(try p.catalog.reload(table: "t", sinceNanos: 0) == 4, "every loaded file but the superseded version")
        #expect(try p.catalog.files(table: "t", state: .loaded).map(\.key) == ["t/ok.csv"])
    }

    /// DynamoDB's lock is a lease, renewed while its load lives: a load that runs three leases long (a slow COPY)
    /// keeps its table — another process meets contention meanwhile — and commits. A 4 s lease: with 1 s, a renewal
    /// answered late by moto, busy with the suites running beside it, let the lease lapse (a CI run failed so).
    @Test(arguments: CatalogKind.testable.filter { $0 == .dynamodb }) func aLiveLoadKeepsItsLeaseHoweverLongItRuns(kind: CatalogKind) throws {
        let box = try CatalogBox(kind, lease: 4)
        let one = try box.process(), two = try box.process()
        for i in 0..<3 { _ = try one.catalog.add("t/\(i).csv", mtime: Int64(100 + i)) }
        let batch = try one.catalog.nextBatch(table: "t", maxFiles: 10, maxBytes: 1 << 30)
        let slow = try one.warehouse.beginLoad(table: "t", files: batch, statement: "COPY (slow)")
        usleep(UInt32(box.lease * 3 * 1_000_000))
        #expect(try two.catalog.nextBatch(table: "t", maxFiles: 10, maxBytes: 1 << 30).isEmpty, "its files are still claimed")
        do {
            try load(two, table: "t", batch)
            Issue.record("a second load took the table over from a live one")
        } catch {
            #expect(AutoloaderError.isContention(error), "\(error)")
        }
        for file in batch {
            try slow.beginFile(file)
            try slow.endFile(file, state: .loaded, sha256: nil, rows: 1, duplicateOf: nil, error: nil)
        }
        try slow.commit(status: .finished, rowsLoaded: 3, rowsRejected: 0, error: nil, schema: nil, dialect: nil, partitionColumns: [], checkpointNanos: 102)
        #expect(try two.catalog.files(table: "t", state: .loaded).map(\.loadID) == [slow.loadID, slow.loadID, slow.loadID])
        #expect(try two.catalog.load(id: slow.loadID)?.status == .finished)
    }
}
