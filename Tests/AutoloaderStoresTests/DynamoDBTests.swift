import AutoloaderCore
import Foundation
@testable import AutoloaderStores
import AutoloaderTestSupport
import Testing

/// DynamoDB's JSON protocol and the seed's state, against moto_server (scripts/test starts it).
@Suite(.serialized) struct DynamoDBTests {
    static func client() throws -> (DynamoDBClient, S3Client) {
        let endpoint = try Gate.requireS3()
        let aws = AWSClient(configuration: AWSConfiguration(environment: ["AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "HOME": "/nonexistent"],
                                                            endpoint: endpoint))
        return (DynamoDBClient(aws: aws), S3Client(aws: aws))
    }

    static func freshTable(_ db: DynamoDBClient, _ name: String, hash: String, range: String? = nil) throws {
        if try db.tableExists(name) { try db.deleteTable(name) }
        try db.createTable(name, hash: hash, range: range)
    }

    /// Conditional writes are how several loaders share a catalog: the second claim of the same key is refused,
    /// and a transaction whose check fails writes nothing.
    @Test(.needsS3) func conditionalWritesAndTransactions() throws {
        let (db, _) = try Self.client()
        let table = "dyn-\(UUID().uuidString.lowercased().prefix(8))"
        try Self.freshTable(db, table, hash: "pk", range: "sk")
        let claim = DynamoDBClient.Expression("attribute_not_exists(pk)")
        try db.put(table, ["pk": .s("t#orders"), "sk": .s("f#1"), "state": .s("pending"), "size": .n("42"), "tags": .l([.s("a"), .null])], condition: claim)
        #expect(throws: DynamoDBClient.ConditionFailed.self) {
            try db.put(table, ["pk": .s("t#orders"), "sk": .s("f#1"), "state": .s("loading")], condition: claim)
        }
        let item = try #require(try db.get(table, key: ["pk": .s("t#orders"), "sk": .s("f#1")]))
        #expect(item["state"] == .s("pending") && item["size"]?.int == 42 && item["tags"] == .l([.s("a"), .null]))

        // pending → loading only from pending.
        let moved = try db.update(table, key: ["pk": .s("t#orders"), "sk": .s("f#1")],
                                  .init("SET #s = :to", names: ["#s": "state"], values: [":to": .s("loading")]),
                                  condition: .init("#s = :from", names: ["#s": "state"], values: [":from": .s("pending")]))
        #expect(moved["state"] == .s("loading"))
        #expect(throws: DynamoDBClient.ConditionFailed.self) {
            try db.update(table, key: ["pk": .s("t#orders"), "sk": .s("f#1")],
                          .init("SET #s = :to", names: ["#s": "state"], values: [":to": .s("loading")]),
                          condition: .init("#s = :from", names: ["#s": "state"], values: [":from": .s("pending")]))
        }

        // A transaction: a new load and its file's claim, or neither.
        let write = DynamoDBClient.Write.put(table: table, item: ["pk": .s("t#orders"), "sk": .s("l#7"), "status": .s("running")], condition: claim)
        let stale = DynamoDBClient.Write.check(table: table, key: ["pk": .s("t#orders"), "sk": .s("f#1")],
                                               condition: .init("#s = :s", names: ["#s": "state"], values: [":s": .s("pending")]))
        #expect(throws: DynamoDBClient.ConditionFailed.self) { try db.transact([write, stale]) }
        #expect(try db.get(table, key: ["pk": .s("t#orders"), "sk": .s("l#7")]) == nil)
        try db.transact([write])
        #expect(try db.get(table, key: ["pk": .s("t#orders"), "sk": .s("l#7")])?["status"] == .s("running"))

        // Query by key prefix, in key order, across pages of many items.
        for i in 0..<250 {
            try db.put(table, ["pk": .s("t#big"), "sk": .s(String(format: "f#%04d", i)), "pad": .s(String(repeating: "x", count: 6000))])
        }
        let files = try db.query(table, .init("pk = :t AND begins_with(sk, :f)", values: [":t": .s("t#big"), ":f": .s("f#")]))
        #expect(files.count == 250 && files.first?["sk"] == .s("f#0000") && files.last?["sk"] == .s("f#0249"))
        try db.deleteTable(table)
    }

    /// The seed's three tables in its item shapes, and its manifests in S3: a file is loaded when it is at or before
    /// its table's checkpoint and a FINISHED COPY's manifest lists it; a FAILED COPY's files, files after the
    /// checkpoint and folder placeholders are not.
    @Test(.needsS3) func theSeedsStateSaysWhatItLoaded() throws {
        let (db, s3) = try Self.client()
        // Its own names: the seed's are the import test's (autoloaderTests), which may run at the same time.
        let names = SeedState.Names(prefix: "t\(UUID().uuidString.lowercased().prefix(8))-")
        try Self.freshTable(db, names.tableConfig, hash: "s3_table_name")
        try Self.freshTable(db, names.fileMetadata, hash: "s3_table_name", range: "file_created_timestamp")
        try Self.freshTable(db, names.log, hash: "data_api_queryId")
        let bucket = "seed-\(UUID().uuidString.lowercased().prefix(8))"
        try s3.createBucket(bucket)
        func url(_ key: String) -> String { "s3://\(bucket)/s3-redshift-loader-source/\(key)" }
        try db.put(names.tableConfig, ["s3_table_name": .s("orders"), "redshift_table_name": .s("orders"), "redshift_schema": .s("public"),
                                           "load_status": .s("active"), "iam_role": .s("default"), "additional_copy_options": .s("csv ignoreheader 1"),
                                           "max_file_proccessed_timestamp": .s("2024-05-01 10:00:00.000000"), "schema_detection_completed": .s("Yes")])
        try db.put(names.tableConfig, ["s3_table_name": .s("events"), "redshift_table_name": .s("events"), "redshift_schema": .s("raw"),
                                           "load_status": .s("Inactive"), "additional_copy_options": .s("format as json 'auto'"),
                                           "max_file_proccessed_timestamp": .s("2024-05-01 09:00:00.000000")])
        let files: [(String, String, String, Int)] = [
            ("orders", "2024-05-01 09:00:00.000001", "orders/a.csv", 10),  // FINISHED COPY 1
            ("orders", "2024-05-01 09:30:00.000000", "orders/b.csv", 20),  // FAILED COPY 2
            ("orders", "2024-05-01 10:00:00.000000", "orders/c.csv", 30),  // FINISHED COPY 3, at the checkpoint
            ("orders", "2024-05-01 10:00:00.000001", "orders/d.csv", 40),  // after the checkpoint: never submitted
            ("orders", "2024-04-30 00:00:00.000000", "orders/", 0),        // a folder placeholder
            ("events", "2024-05-01 08:00:00.000000", "events/e.json", 50), // FINISHED COPY 4
            ("events", "2024-05-01 08:30:00.000000", "events/f.json", 60), // ABORTED COPY 5
        ]
        for (folder, at, key, size) in files {
            try db.put(names.fileMetadata, ["s3_table_name": .s(folder), "file_created_timestamp": .s(at), "s3_file_path": .s(url(key)),
                                                "file_content_length": .n(String(size))])
        }
        let copies: [(String, String, String, [String])] = [
            ("q1", "orders", "FINISHED", ["orders/a.csv"]), ("q2", "orders", "FAILED", ["orders/b.csv"]),
            ("q3", "orders", "FINISHED", ["orders/c.csv"]), ("q4", "events", "FINISHED", ["events/e.json"]), ("q5", "events", "ABORTED", ["events/f.json"]),
        ]
        var manifests: [String: [String]] = [:]
        for (id, folder, status, keys) in copies {
            let key = "s3-redshift-loader-manifest/\(folder)/\(id).json"
            let body = #"{"entries": ["# + keys.map { #"{"url": "\#(url($0))", "mandatory": true}"# }.joined(separator: ", ") + "]}"
            try s3.put(bucket: bucket, key: key, body: Array(body.utf8))
            try db.put(names.log, ["data_api_queryId": .s(id), "s3_table_name": .s(folder), "copy_command_status": .s(status),
                                       "s3_manifest_file_path": .s("s3://\(bucket)/\(key)"), "redshift_query_Id": .s("")])
            manifests["s3://\(bucket)/\(key)"] = try SeedState.manifestURLs(try s3.getObject(bucket: bucket, key: key))
        }

        let state = try SeedState.read(db, names: names)
        #expect(state.tables.count == 2 && state.files.count == 7 && state.copies.count == 5)
        let orders = try #require(state.tables.first { $0.folder == "orders" })
        #expect(orders.active && orders.copyOptions == "csv ignoreheader 1" && orders.iamRole == "default")
        #expect(state.tables.first { $0.folder == "events" }?.active == false)
        let (loaded, pending) = state.partition(manifests: manifests)
        #expect(Set(loaded.map(\.url)) == [url("orders/a.csv"), url("orders/c.csv"), url("events/e.json")])
        #expect(Set(pending.map(\.url)) == [url("orders/b.csv"), url("orders/d.csv"), url("events/f.json")])
        #expect(loaded.first { $0.url == url("orders/c.csv") }?.size == 30)
    }

    /// An identity that may not create the catalog table is told which permission it lacks and what to create
    /// instead, and the error is final (not retried as a fault); a denied read says which action to grant. The
    /// service here answers as DynamoDB does for a role without those actions (HTTP 400, AccessDeniedException).
    @Test func aCatalogItMayNotCreateIsRefusedNamingThePermission() throws {
        let script = #"""
        import http.server, json, threading
        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def do_POST(self):
                op = self.headers.get("X-Amz-Target", "").split(".")[-1]
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if op == "DescribeTable":
                    body = {"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "message": "Requested resource not found"}
                else:
                    body = {"__type": "com.amazon.coral.service#AccessDeniedException",
                            "Message": "User: arn:aws:sts::1:assumed-role/task is not authorized to perform: dynamodb:%s" % op}
                data = json.dumps(body).encode()
                self.send_response(400); self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
        s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        print(s.server_address[1], flush=True)
        threading.Timer(60, s.shutdown).start()
        s.serve_forever()
        """#
        let (port, stop) = try Subprocess.loopbackServer(script)
        defer { stop() }
        let aws = AWSClient(configuration: AWSConfiguration(environment: ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "HOME": "/nonexistent"],
                                                            endpoint: "http://127.0.0.1:\(port)"))
        let catalog = DynamoDBCatalog(db: DynamoDBClient(aws: aws), table: "loader-catalog")
        do {
            try catalog.prepare(readOnly: false)
            Issue.record("prepare succeeded without dynamodb:CreateTable")
        } catch let error as AutoloaderError {
            #expect(!AutoloaderError.isTransient(error))
            #expect("\(error)".contains("loader-catalog does not exist") && "\(error)".contains("dynamodb:CreateTable")
                    && "\(error)".contains("deploy/cloudformation.yaml"), "\(error)")
        }
        do {
            _ = try catalog.tables()
            Issue.record("a denied Query succeeded")
        } catch let error as AutoloaderError {
            #expect(!AutoloaderError.isTransient(error) && "\(error)".contains("grant the loader's identity dynamodb:Query"), "\(error)")
        }
    }
}
