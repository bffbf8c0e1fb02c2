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
    /// The statements as ONE transaction: all or nothing.
    func runTransaction(_ sqls: [String]) throws -> TransactionResult
    /// Where rejected rows of a failed transaction's COPYs are (Redshift query ids).
    var describesItself: String { get }
}

public struct TransactionResult: Sendable {
    /// FINISHED, FAILED or ABORTED (the Data API's words, used for both ways in).
    public var state: String
    public var error: String?
    public var queryIDs: [Int64] = []
    public var rows: Int64?
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

    public func runTransaction(_ sqls: [String]) throws -> TransactionResult {
        let id = try api.executeBatch(sqls)
        let status = try api.wait(id)
        return TransactionResult(state: status.state, error: status.error, queryIDs: status.queryIDs,
                                 rows: status.resultRows.flatMap { $0 >= 0 ? $0 : nil }, statementID: id, durationNanos: status.durationNanos)
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

    public func runTransaction(_ sqls: [String]) throws -> TransactionResult {
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            try session.execute("BEGIN")
            for sql in sqls { try session.execute(sql) }
            try session.execute("COMMIT")
            return TransactionResult(state: "FINISHED", durationNanos: Int64(DispatchTime.now().uptimeNanoseconds - start))
        } catch let error as AutoloaderError {
            if AutoloaderError.isTransient(error) { throw error }  // connection lost: retried by the service
            try? session.execute("ROLLBACK")
            // Redshift keeps the failed COPY's query id for the session; PostgreSQL has no such function.
            let copyID = (try? session.query("SELECT pg_last_copy_id()"))?.first?.first.flatMap { $0.flatMap { Int64($0) } }
            return TransactionResult(state: "FAILED", error: "\(error)", queryIDs: copyID.map { [$0] } ?? [],
                                     durationNanos: Int64(DispatchTime.now().uptimeNanoseconds - start))
        }
    }
}
