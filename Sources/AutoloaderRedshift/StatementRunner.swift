import AutoloaderCore
import AutoloaderPostgres
import AutoloaderStores
import Foundation

/// How statements reach Redshift: the Data API (SigV4 JSON over HTTPS) or the PostgreSQL wire protocol
/// (port 5439). The warehouse says what to run; a runner says how.
public protocol RedshiftStatementRunner: AnyObject {
    /// One statement, to completion; throws when it does not finish.
    func run(_ sql: String) throws
    func query(_ sql: String) throws -> [[String?]]
    /// The statements as ONE transaction: all or nothing. `name` labels it where the way in can (the Data API's
    /// StatementName); `submitted` hears its id as soon as it has one, before any waiting.
    func runTransaction(_ sqls: [String], name: String, submitted: (String) -> Void) throws -> TransactionResult
    /// Waits for transactions named `namePrefix…` that an earlier, interrupted load left running (a crash or a
    /// polling timeout between submit and commit): the ledger is read only once they have ended. Returns their ids.
    func awaitUnfinished(namePrefix: String) throws -> [String]
    /// Where rejected rows of a failed transaction's COPYs are (Redshift query ids).
    var describesItself: String { get }
}

public struct TransactionResult: Sendable {
    /// FINISHED, FAILED or ABORTED (the Data API's words, used for both ways in).
    public var state: String
    public var error: String?
    public var queryIDs: [Int64] = []
    /// Each statement's row count (nil where not known: the wire protocol does not report them here).
    public var statementRows: [Int64?] = []
    public var statementID: String?
    public var durationNanos: Int64?
}

/// The Data API: BatchExecuteStatement is one transaction; polled to its end.
public final class DataAPIRunner: RedshiftStatementRunner {
    public let api: RedshiftDataAPI
    public init(api: RedshiftDataAPI) { self.api = api }

    public var describesItself: String { "Data API" }

    public func run(_ sql: String) throws {
        let status = try api.wait(try api.execute(sql))
        guard status.state == "FINISHED" else {
            throw AutoloaderError.warehouse(reason: "Redshift \(status.state): \(status.error ?? "no error given") — in: \(sql.prefix(300))", transient: false)
        }
    }

    public func query(_ sql: String) throws -> [[String?]] { try api.query(sql) }

    public func runTransaction(_ sqls: [String], name: String, submitted: (String) -> Void) throws -> TransactionResult {
        // The token is the request itself: a retry of this submission (a lost answer, a timeout) is the same
        // statement, while a later load of the same files (new load id in its SQL) is a new one.
        var hash = SHA256()
        hash.update(Array(name.utf8))
        for sql in sqls { hash.update(Array(sql.utf8)); hash.update([0]) }
        let id = try api.executeBatch(sqls, name: name, clientToken: hash.finalizeHex())
        submitted(id)
        let status = try api.wait(id)
        return TransactionResult(state: status.state, error: status.error, queryIDs: status.queryIDs, statementRows: status.subRows,
                                 statementID: id, durationNanos: status.durationNanos)
    }

    public func awaitUnfinished(namePrefix: String) throws -> [String] {
        let ids = try api.unfinished(namePrefix: namePrefix)
        for id in ids { _ = try api.wait(id) }
        return ids
    }
}

/// The PostgreSQL wire protocol (Redshift speaks it on 5439), through the PostgreSQL warehouse's session:
/// BEGIN … COMMIT on one connection; after a failed COPY, `pg_last_copy_id()` names its query for the errors.
public final class PostgresWireRunner: RedshiftStatementRunner {
    public let session: PostgresSession
    public init(session: PostgresSession) { self.session = session }

    public var describesItself: String { "PostgreSQL wire (\(session.url.host):\(session.url.port))" }

    public func run(_ sql: String) throws { try session.execute(sql) }

    public func query(_ sql: String) throws -> [[String?]] { try session.query(sql) }

    /// A session that ends ends its transaction: nothing of an interrupted load can still be running here.
    public func awaitUnfinished(namePrefix: String) throws -> [String] { [] }

    public func runTransaction(_ sqls: [String], name: String, submitted: (String) -> Void) throws -> TransactionResult {
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            try session.execute("BEGIN")
            for sql in sqls { try session.execute(sql) }
            try session.execute("COMMIT")
            return TransactionResult(state: "FINISHED", durationNanos: Int64(DispatchTime.now().uptimeNanoseconds - start))
        } catch let error as AutoloaderError {
            if AutoloaderError.isTransient(error) { throw error }  // connection lost: retried by the service
            try session.execute("ROLLBACK")  // a session that cannot even roll back throws: retried on a new one
            // Redshift keeps the failed COPY's query id for the session (it names the rejected rows); a server
            // without pg_last_copy_id() leaves them to be found by file and time.
            var copyID: Int64?
            var note = ""
            do {
                copyID = try session.query("SELECT pg_last_copy_id()").first?.first.flatMap { $0.flatMap { Int64($0) } }
            } catch {
                note = " (no COPY query id: \(error))"
            }
            return TransactionResult(state: "FAILED", error: "\(error)\(note)", queryIDs: copyID.map { [$0] } ?? [],
                                     durationNanos: Int64(DispatchTime.now().uptimeNanoseconds - start))
        }
    }
}

/// A dry run: reads (the table's columns, the ledger, statements still running) go to Redshift; everything that
/// would change it is shown instead of run, and the transaction is taken as finished with unknown row counts.
public final class DryRunRunner: RedshiftStatementRunner {
    let reads: any RedshiftStatementRunner
    let show: @Sendable (String) -> Void
    public init(reads: any RedshiftStatementRunner, show: @escaping @Sendable (String) -> Void) {
        self.reads = reads
        self.show = show
    }

    public var describesItself: String { "dry run (nothing submitted)" }

    public func run(_ sql: String) throws { show("-- would run:\n\(sql);") }

    public func query(_ sql: String) throws -> [[String?]] { try reads.query(sql) }

    public func runTransaction(_ sqls: [String], name: String, submitted: (String) -> Void) throws -> TransactionResult {
        show("-- would submit as one transaction (\(sqls.count) statements, BatchExecuteStatement \(name)):\n"
             + sqls.joined(separator: ";\n") + ";")
        return TransactionResult(state: "FINISHED", statementRows: [])
    }

    public func awaitUnfinished(namePrefix: String) throws -> [String] { try reads.awaitUnfinished(namePrefix: namePrefix) }
}
