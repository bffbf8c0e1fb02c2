import AutoloaderCore
import AutoloaderStores
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which Redshift, and how to get in through the Data API: a provisioned cluster (ClusterIdentifier with
/// DbUser or SecretArn) or a Serverless workgroup (WorkgroupName, optionally SecretArn).
public struct DataAPITarget: Sendable, Equatable {
    public enum Endpoint: Sendable, Equatable {
        case cluster(identifier: String, dbUser: String?)
        case workgroup(String)
    }
    public var endpoint: Endpoint
    public var database: String
    public var secretARN: String?

    public init(endpoint: Endpoint, database: String, secretARN: String? = nil) {
        self.endpoint = endpoint
        self.database = database
        self.secretARN = secretARN
    }

    /// The request fields naming the target, as ExecuteStatement and BatchExecuteStatement take them.
    var fields: [String: Any] {
        var f: [String: Any] = ["Database": database]
        switch endpoint {
        case let .cluster(identifier, dbUser):
            f["ClusterIdentifier"] = identifier
            if let dbUser, secretARN == nil { f["DbUser"] = dbUser }
        case let .workgroup(name):
            f["WorkgroupName"] = name
        }
        if let secretARN { f["SecretArn"] = secretARN }
        return f
    }
}

/// The Redshift Data API (JSON 1.1, SigV4 with the S3 client's credentials): submit, poll until done,
/// read results. Completion events are best-effort, so polling is the source of truth.
public final class RedshiftDataAPI: @unchecked Sendable {
    public let aws: AWSClient
    public let target: DataAPITarget
    /// Polling starts fast (small loads finish in a second) and backs off to this.
    public var maxPollSeconds = 5.0
    public var timeoutSeconds = 6 * 3600.0
    /// One request's wait for an answer. A submission that times out is sent again by the AWS client with the same
    /// ClientToken, so the Data API answers with the statement it already has instead of running it twice.
    public var requestTimeoutSeconds = 60.0

    public init(aws: AWSClient, target: DataAPITarget) {
        self.aws = aws
        self.target = target
    }

    func call(_ operation: String, _ body: [String: Any]) throws -> [String: Any] {
        let resource: String
        switch target.endpoint {
        case let .cluster(identifier, _): resource = "cluster \(identifier) database \(target.database)"
        case let .workgroup(name): resource = "workgroup \(name) database \(target.database)"
        }
        return try aws.json(service: "redshift-data", target: "RedshiftData.\(operation)", version: "1.1",
                            action: "redshift-data:\(operation)", resource: resource, body, timeoutSeconds: requestTimeoutSeconds)
    }

    /// Submits one statement; returns its id.
    public func execute(_ sql: String, name: String? = nil) throws -> String {
        var body = target.fields
        body["Sql"] = sql
        if let name { body["StatementName"] = name }
        guard let id = try call("ExecuteStatement", body)["Id"] as? String else { throw AWSError.protocolError("ExecuteStatement: no Id") }
        return id
    }

    /// Submits statements that run as ONE transaction (that is what BatchExecuteStatement is); returns its id.
    /// `name` labels it for ListStatements (how a later load finds it still running); `clientToken` (1–64
    /// characters) makes the submission idempotent: the same token answers with the same statement.
    public func executeBatch(_ sqls: [String], name: String? = nil, clientToken: String? = nil) throws -> String {
        var body = target.fields
        body["Sqls"] = sqls
        if let name { body["StatementName"] = name }
        if let clientToken { body["ClientToken"] = clientToken }
        guard let id = try call("BatchExecuteStatement", body)["Id"] as? String else {
            throw AWSError.protocolError("BatchExecuteStatement: no Id")
        }
        return id
    }

    /// Statements whose name starts with `namePrefix` that have not ended (SUBMITTED, PICKED, STARTED), newest
    /// first; ListStatements covers the last 24 hours of the caller's role.
    public func unfinished(namePrefix: String) throws -> [String] {
        var ids: [String] = []
        var token: String?
        var pages = 0
        repeat {
            var body: [String: Any] = ["StatementName": namePrefix, "Status": "ALL", "MaxResults": 100]
            if let token { body["NextToken"] = token }
            let r = try call("ListStatements", body)
            for s in r["Statements"] as? [[String: Any]] ?? [] where ["SUBMITTED", "PICKED", "STARTED"].contains(s["Status"] as? String ?? "") {
                if let id = s["Id"] as? String { ids.append(id) }
            }
            token = r["NextToken"] as? String
            pages += 1
        } while token != nil && pages < 10  // 1,000 statements of one table in a day is far more than a loader submits
        return ids
    }

    public func cancel(_ id: String) throws {
        _ = try call("CancelStatement", ["Id": id])
    }

    public struct Status: Sendable, Equatable {
        public var id: String
        /// SUBMITTED, PICKED, STARTED, FINISHED, ABORTED, FAILED.
        public var state: String
        public var error: String?
        /// The Redshift query id of each statement (sub-statements for a batch), for sys_load_error_detail.
        public var queryIDs: [Int64]
        public var resultRows: Int64?
        /// Each sub-statement's ResultRows (nil: not known), in order; empty for a single statement.
        public var subRows: [Int64?] = []
        public var durationNanos: Int64?
        public var hasResultSet: Bool
        public var isDone: Bool { ["FINISHED", "FAILED", "ABORTED"].contains(state) }
    }

    public func describe(_ id: String) throws -> Status {
        let r = try call("DescribeStatement", ["Id": id])
        var queryIDs: [Int64] = []
        var subRows: [Int64?] = []
        var failedSub: String?
        if let subs = r["SubStatements"] as? [[String: Any]], !subs.isEmpty {
            for s in subs {
                subRows.append((s["ResultRows"] as? NSNumber).map(\.int64Value).flatMap { $0 >= 0 ? $0 : nil })
                if let q = (s["RedshiftQueryId"] as? NSNumber)?.int64Value, q > 0 { queryIDs.append(q) }
                if s["Status"] as? String == "FAILED", failedSub == nil { failedSub = s["Error"] as? String }
            }
        } else if let q = (r["RedshiftQueryId"] as? NSNumber)?.int64Value {
            queryIDs.append(q)
        }
        return Status(id: id, state: r["Status"] as? String ?? "UNKNOWN", error: r["Error"] as? String ?? failedSub,
                      queryIDs: queryIDs, resultRows: (r["ResultRows"] as? NSNumber)?.int64Value, subRows: subRows,
                      durationNanos: (r["Duration"] as? NSNumber)?.int64Value, hasResultSet: r["HasResultSet"] as? Bool ?? false)
    }

    /// Polls until FINISHED, FAILED or ABORTED (or the timeout, which cancels the statement).
    public func wait(_ id: String) throws -> Status {
        let start = Date()
        var delay = 0.05
        while true {
            let status = try describe(id)
            if status.isDone { return status }
            if Date().timeIntervalSince(start) > timeoutSeconds {
                // Cancelled so that it cannot commit behind our back; if even that fails, the next load waits for it
                // (it is found by its name) before reading the ledger.
                var outcome = "cancelled"
                do { try cancel(id) } catch { outcome = "could not cancel it (\(error)); the next load waits for it" }
                throw AutoloaderError.warehouse(reason: "Redshift statement \(id) still \(status.state) after \(Int(timeoutSeconds)) s; \(outcome)", transient: true)
            }
            usleep(UInt32(delay * 1_000_000))
            delay = min(maxPollSeconds, delay * 2)
        }
    }

    /// Runs a query and returns its rows as text (NULL → nil), following pagination.
    public func query(_ sql: String) throws -> [[String?]] {
        let id = try execute(sql)
        let status = try wait(id)
        guard status.state == "FINISHED" else {
            throw AutoloaderError.warehouse(reason: "Redshift: \(status.state): \(status.error ?? "no error given") — in: \(sql.prefix(200))", transient: false)
        }
        guard status.hasResultSet else { return [] }
        var rows: [[String?]] = []
        var token: String?
        repeat {
            var body: [String: Any] = ["Id": id]
            if let token { body["NextToken"] = token }
            let r = try call("GetStatementResult", body)
            for record in r["Records"] as? [[[String: Any]]] ?? [] {
                rows.append(record.map { field in
                    if field["isNull"] as? Bool == true { return nil }
                    if let s = field["stringValue"] as? String { return s }
                    if let n = field["longValue"] as? NSNumber { return n.stringValue }
                    if let d = field["doubleValue"] as? NSNumber { return d.stringValue }
                    if let b = field["booleanValue"] as? Bool { return b ? "true" : "false" }
                    return nil
                })
            }
            token = r["NextToken"] as? String
        } while token != nil
        return rows
    }
}
