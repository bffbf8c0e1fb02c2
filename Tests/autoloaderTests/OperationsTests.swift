import AutoloaderTestSupport
import Foundation
import Testing

/// The operations surface as users meet it: the configuration file, `autoloader config`, the HTTP API and its
/// OpenAPI document, /metrics, the dashboard in a real browser, and the log lines of `run`.
@Suite(.serialized) struct OperationsTests {
    static let token = "test-token-0123456789abcdef"

    /// A request with curl (a real HTTP client): status and body.
    static func http(_ method: String, _ url: String, token: String? = nil, body: String? = nil) throws -> (status: Int, body: String) {
        var arguments = ["-s", "-m", "20", "-X", method, "-w", "\n%{http_code}"]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        if let body { arguments += ["-H", "Content-Type: application/json", "--data-binary", body] }
        let result = try Subprocess.run("curl", arguments + [url])
        let text = result.stdout
        guard let newline = text.lastIndex(of: "\n") else { return (0, text) }
        return (Int(text[text.index(after: newline)...].trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, String(text[..<newline]))
    }

    static func json(_ text: String) -> Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8)) }

    /// The port `run --http 127.0.0.1:0` bound, from its log line.
    static func port(in log: URL) -> Int? {
        for line in text(log).split(separator: "\n") where line.contains("HTTP API and dashboard on") {
            guard let range = line.range(of: "http://127.0.0.1:") else { continue }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        return nil
    }

    @Test func configShowsEachValueAndWhereItCameFrom() throws {
        let w = try Workdir()
        try w.file("autoloader.yml", """
            warehouse: postgres://loader:hunter2@127.0.0.1:5432/dw
            workers: 3
            tables:
              orders:
                on_error: abort_file
            """)
        let r = try CLI.run(["config", "--json"], in: w.url, environment: ["AUTOLOADER_SETTLE": "4"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = (Self.json(r.stdout) as? [[String: String]]) ?? []
        func row(_ key: String) -> [String: String]? { rows.first { $0["key"] == key } }
        #expect(row("warehouse")?["value"] == "postgres://loader:****@127.0.0.1:5432/dw")
        #expect(row("warehouse")?["origin"] == "autoloader.yml:1")
        #expect(row("settle")?["origin"] == "environment AUTOLOADER_SETTLE")
        #expect(row("workers")?["value"] == "3")
        #expect(row("tables.orders")?["value"]?.contains("abort_file") == true)
        #expect(!r.stdout.contains("hunter2"))

        // A mistake in the file is a located error and a failed command, whichever command reads it.
        try w.file("autoloader.yml", "warehouse: sqlite:x.db\nsettle: -1\n")
        for command in [["config"], ["tables"], ["run"]] {
            let bad = try CLI.run(command, in: w.url)
            #expect(bad.status != 0)
            #expect(bad.stderr.contains("autoloader.yml:2") && bad.stderr.contains("'settle'"), "\(command): \(bad.stderr)")
        }
    }

    @Test func aNonLoopbackAddressWithoutATokenIsRefusedAtStartUp() throws {
        let w = try Workdir()
        let r = try CLI.run(["run", "--http", "0.0.0.0:0"], in: w.url)
        #expect(r.status != 0)
        #expect(r.stderr.contains("without a token"), "\(r.stderr)")
    }

    /// While the warehouse cannot be reached, the process is alive but not ready, and the API answers at once.
    @Test func notReadyWhileTheWarehouseIsDown() throws {
        let w = try Workdir()
        let log = w.url.appendingPathComponent("run.log")
        let run = try CLI.start(["run", "--http", "127.0.0.1:0", "--warehouse", "postgres://nobody@127.0.0.1:1/none?sslmode=disable"], in: w.url, log: log)
        defer { if run.isRunning { run.terminate() } }
        #expect(CLI.waitFor(seconds: 30) { Self.port(in: log) != nil } != nil, "\(text(log))")
        let base = "http://127.0.0.1:\(try #require(Self.port(in: log)))"
        #expect(try Self.http("GET", base + "/health").status == 200)
        let ready = try Self.http("GET", base + "/ready")
        #expect(ready.status == 503)
        #expect((Self.json(ready.body) as? [String: Bool])?["warehouse"] == false)
        #expect(try Self.http("GET", base + "/api/v1/tables").status == 503)
        #expect(run.isRunning, "the service exited instead of waiting for its warehouse: \(text(log))")
    }

    @Test(.needsTool("schemathesis"), .needsTool("chromium"))
    func httpAPIDashboardMetricsAndLogsWhileRunning() throws {
        let w = try Workdir()
        // Hints in the file hold before a table's first file arrives: orders.zip stays text (detection says integer).
        try w.file("autoloader.yml", """
            http: 127.0.0.1:0
            log_format: json
            reconcile: 1
            tables:
              orders:
                types:
                  zip: varchar(10)
            """)
        let log = w.url.appendingPathComponent("run.log")
        let run = try Subprocess.start(CLI.binary.path, ["run"], in: w.url, environment: ["AUTOLOADER_API_TOKEN": Self.token], stdout: log)
        defer { if run.isRunning { run.terminate() } }
        #expect(CLI.waitFor(seconds: 30) { Self.port(in: log) != nil } != nil, "\(text(log))")
        let base = "http://127.0.0.1:\(try #require(Self.port(in: log)))"

        try w.file("landing/orders/a.csv", "id,zip,amount\n1,02134,3.50\n2,10001,4\n3,94103,5.25\n")
        var messy = "id,n\n"
        for i in 1...30 { messy += i == 2 ? "\(i),not-a-number,extra\n" : "\(i),\(i * 10)\n" }
        try w.file("landing/messy/m.csv", messy)
        try w.file("landing/broken/b.json", "{\"id\": 1}\n{\"id\": \n")
        #expect(CLI.waitFor(seconds: 30) { CLI.sqlite(w.database, "select count(*) from _autoloader_files where state in ('loaded','loaded_with_errors','failed')") == "3" } != nil,
                "\(text(log))")

        #expect(try Self.http("GET", base + "/health").status == 200)
        let ready = try Self.http("GET", base + "/ready")
        #expect(ready.status == 200, "\(ready.body)")
        #expect((Self.json(ready.body) as? [String: Bool]) == ["catalog": true, "warehouse": true, "source": true])

        let tables = (Self.json(try Self.http("GET", base + "/api/v1/tables").body) as? [[String: Any]]) ?? []
        let orders = try #require(tables.first { $0["name"] as? String == "orders" })
        let columns = (orders["columns"] as? [[String: Any]]) ?? []
        #expect(columns.first { $0["name"] as? String == "zip" }?["type"] as? String == "varchar(10)")
        #expect(orders["rows_loaded_today"] as? Int == 3)

        let loads = (Self.json(try Self.http("GET", base + "/api/v1/loads?table=messy").body) as? [[String: Any]]) ?? []
        let messyLoad = try #require(loads.first)
        #expect(messyLoad["rows_rejected"] as? Int == 1)
        let id = try #require(messyLoad["id"] as? Int)
        let rejected = (Self.json(try Self.http("GET", base + "/api/v1/loads/\(id)/errors").body) as? [[String: Any]]) ?? []
        #expect(rejected.count == 1)
        #expect(rejected.first?["file"] as? String == "messy/m.csv")
        #expect(rejected.first?["line"] as? Int == 3)
        #expect((rejected.first?["reason"] as? String)?.contains("expected 2 fields") == true)
        #expect((rejected.first?["raw_text"] as? String)?.contains("not-a-number") == true)
        let failed = (Self.json(try Self.http("GET", base + "/api/v1/files?state=failed").body) as? [[String: Any]]) ?? []
        #expect(failed.map { $0["key"] as? String } == ["broken/b.json"])
        #expect(try Self.http("GET", base + "/api/v1/files?state=nonsense").status == 400)
        #expect(try Self.http("GET", base + "/api/v1/loads/999999").status == 404)
        #expect(try Self.http("GET", base + "/api/v1/tables/nope/schema-history").status == 404)

        // Changes need the token.
        #expect(try Self.http("POST", base + "/api/v1/tables/orders/pause").status == 401)
        #expect(try Self.http("POST", base + "/api/v1/tables/orders/pause", token: "wrong-token-0123456789").status == 401)
        #expect(try Self.http("POST", base + "/api/v1/tables/orders/pause", token: Self.token).status == 200)
        try w.file("landing/orders/b.csv", "id,zip,amount\n4,60601,1\n")
        #expect(CLI.waitFor(seconds: 10) { CLI.sqlite(w.database, "select state from _autoloader_files where key='orders/b.csv'") == "pending" } != nil)
        usleep(1_500_000)
        #expect(CLI.sqlite(w.database, "select count(*) from orders") == "3")

        // /metrics: counters from the loads, the backlog gauge from the catalog.
        let metrics = try Self.http("GET", base + "/metrics").body
        #expect(metrics.contains("autoloader_rows_loaded_total{table=\"orders\"} 3"), "\(metrics)")
        #expect(metrics.contains("autoloader_rows_rejected_total{table=\"messy\"} 1"))
        #expect(metrics.contains("autoloader_files_total{table=\"broken\",state=\"failed\"} 1"))
        #expect(metrics.contains("autoloader_backlog_files{table=\"orders\"} 1"))
        #expect(metrics.contains("autoloader_load_duration_seconds_count{table=\"orders\"} 1"))

        // The dashboard in a real browser while a table is paused with a file waiting, and files have failed.
        let screenshot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/test-artifacts/dashboard.png")
        try FileManager.default.createDirectory(at: screenshot.deletingLastPathComponent(), withIntermediateDirectories: true)
        let browser = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(w.url.path)/chromium"]
        // More files land, good and bad, while the browser loads the page.
        for n in 1...20 { try w.file("landing/stream/s\(n).csv", "id,v\n\(n),\(n * 2)\n") }
        try w.file("landing/stream/bad.json", "{\"id\": ")
        let dom = try Subprocess.run("chromium", browser + ["--dump-dom", base + "/"]).stdout
        let ordersRow = dom.components(separatedBy: "<tr data-table=\"orders\">").dropFirst().first?.components(separatedBy: "</tr>").first ?? ""
        #expect(ordersRow.contains("<td class=\"paused\">paused</td><td class=\"num\">1</td>"), "\(dom)")
        #expect(dom.contains("not-a-number"))
        #expect(dom.contains("broken/b.json"))
        #expect(dom.contains("data-action=\"resume\""))
        #expect(dom.contains("CREATE TABLE"))
        _ = try Subprocess.run("chromium", browser + ["--screenshot=\(screenshot.path)", "--window-size=1280,900", base + "/"])
        #expect(FileManager.default.fileExists(atPath: screenshot.path))

        #expect(try Self.http("POST", base + "/api/v1/tables/orders/resume", token: Self.token).status == 200)
        #expect(CLI.waitFor(seconds: 10) { CLI.sqlite(w.database, "select count(*) from orders") == "4" } != nil)

        // The server against its published document: every documented response, and no 5xx, for generated requests.
        let spec = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/openapi.yaml")
        let st = try Subprocess.run("schemathesis", ["run", spec.path, "--url", base, "-H", "Authorization: Bearer \(Self.token)",
                                                     // every check but TRACE → 405 (Hummingbird answers 404 for a method a path lacks)
                                                     "--checks", "all", "--exclude-checks", "unsupported_method",
                                                     "--max-examples", "30", "--no-color"])
        #expect(st.status == 0, "\(st.stdout.suffix(4000))\n\(st.stderr.suffix(2000))")

        // One JSON line per load, numbers as numbers; nothing per discovered file at the default level.
        let lines = text(log).split(separator: "\n").map(String.init)
        let objects = lines.compactMap { Self.json($0) as? [String: Any] }
        #expect(objects.count == lines.count, "not every line is JSON")
        let loadLines = objects.filter { ($0["message"] as? String)?.hasPrefix("load ") == true && $0["load"] != nil }
        let loadCount = Int(CLI.sqlite(w.database, "select count(*) from _autoloader_loads where status in ('finished','failed')")) ?? -1
        #expect(loadLines.count == loadCount)
        #expect(loadLines.contains { $0["table"] as? String == "messy" && $0["rejected"] as? Int == 1 && $0["rows"] as? Int == 29 })
        #expect(!objects.contains { $0["message"] as? String == "discovered" })
    }

    /// A local HTTP listener that refuses its first request (500) and records the rest, checking each signature
    /// with Python's own HMAC.
    static let listener = """
        import hashlib, hmac, http.server, json, sys
        portfile, outfile, secret = sys.argv[1:4]
        seen = {"n": 0}
        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                seen["n"] += 1
                if seen["n"] == 1:
                    self.send_response(500); self.end_headers(); return
                expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                valid = hmac.compare_digest(expected, self.headers.get("X-Autoloader-Signature", ""))
                with open(outfile, "a") as f:
                    f.write(json.dumps({"valid": valid, "attempt": seen["n"], "notice": json.loads(body)}) + "\\n")
                self.send_response(204); self.end_headers()
            def log_message(self, *args): pass
        server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
        open(portfile, "w").write(str(server.server_port))
        server.serve_forever()
        """

    @Test(.needsS3) func noticesReachASignedWebhookAndAnSNSTopic() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let id = UUID().uuidString.lowercased().prefix(8)
        let topic = try #require((Self.json(s3.awsOutput("sns create-topic --name notices-\(id)")) as? [String: Any])?["TopicArn"] as? String)
        #expect(s3.aws("sqs create-queue --queue-name inbox-\(id)") == 0)
        #expect(s3.aws("sns subscribe --topic-arn \(topic) --protocol sqs --notification-endpoint arn:aws:sqs:us-east-1:123456789012:inbox-\(id)") == 0)

        let script = try w.file("listener.py", Self.listener)
        let portFile = w.url.appendingPathComponent("port"), received = w.url.appendingPathComponent("received.jsonl")
        let hook = try Subprocess.start("python3", [script.path, portFile.path, received.path, "webhook-secret-0123456789"], stdout: w.url.appendingPathComponent("listener.log"))
        defer { hook.terminate() }
        #expect(CLI.waitFor(seconds: 10) { FileManager.default.fileExists(atPath: portFile.path) && !text(portFile).isEmpty } != nil)

        try w.file("autoloader.yml", """
            webhook_url: http://127.0.0.1:\(text(portFile))/hook
            webhook_secret: webhook-secret-0123456789
            sns_topic: \(topic)
            endpoint: \(s3.endpoint)
            backlog_alert_seconds: 1
            tables:
              held:
                schema_changes: hold
              late:
                max_files: 10
              broken:
                pause_after_failed_loads: 1
            """)
        let log = w.url.appendingPathComponent("run.log")
        let run = try CLI.start(["run"], in: w.url, log: log)
        defer { if run.isRunning { run.terminate() } }
        try w.file("landing/held/a.csv", "id\n1\n")
        var messy = "id,n\n"
        for i in 1...20 { messy += i == 5 ? "5,50,extra\n" : "\(i),\(i)\n" }
        try w.file("landing/messy/m.csv", messy)
        try w.file("landing/broken/b.json", "{\"id\": 1}\n{\"id\": \n")
        #expect(CLI.waitFor(seconds: 20) { CLI.sqlite(w.database, "select count(*) from _autoloader_files where key='held/a.csv' and state='loaded'") == "1" } != nil)
        try w.file("landing/held/b.csv", "id,extra\n2,x\n")
        // A paused table's file waits past the 1 s threshold: backlog_old (checked every 10 s). `late` exists from the
        // configuration before any file of it.
        let paused = try CLI.run(["pause", "late"], in: w.url)
        #expect(paused.status == 0, "\(paused.stderr)")
        try w.file("landing/late/l.csv", "id\n1\n")

        func notices() -> [[String: Any]] { text(received).split(separator: "\n").compactMap { Self.json(String($0)) as? [String: Any] } }
        func kinds() -> Set<String> { Set(notices().compactMap { ($0["notice"] as? [String: Any])?["kind"] as? String }) }
        let all: Set<String> = ["load_failed", "rows_rejected", "schema_changed", "change_held", "backlog_old", "table_paused"]
        #expect(CLI.waitFor(seconds: 40) { kinds().isSuperset(of: all) } != nil, "got \(kinds()); log:\n\(text(log))")
        #expect(notices().allSatisfy { $0["valid"] as? Bool == true }, "a signature did not verify")
        #expect(notices().first?["attempt"] as? Int == 2, "the refused first delivery was not retried")
        let failed = notices().compactMap { $0["notice"] as? [String: Any] }.first { $0["kind"] as? String == "load_failed" }
        #expect(failed?["table"] as? String == "broken")
        #expect(((failed?["files"] as? [[String: Any]])?.first?["reason"] as? String)?.contains("broken/b.json:2") == true)
        #expect(CLI.sqlite(w.database, "select status from _autoloader_tables where name='broken'") == "paused")
        let held = notices().compactMap { $0["notice"] as? [String: Any] }.first { $0["kind"] as? String == "change_held" }
        #expect((held?["message"] as? String)?.contains("add column extra") == true)

        // The same notices through SNS, to the queue subscribed to the topic.
        var snsKinds = Set<String>()
        _ = CLI.waitFor(seconds: 20) {
            let out = s3.awsOutput("sqs receive-message --queue-url \(s3.endpoint)/123456789012/inbox-\(id) --max-number-of-messages 10 --wait-time-seconds 1")
            for message in ((Self.json(out) as? [String: Any])?["Messages"] as? [[String: Any]]) ?? [] {
                guard let body = Self.json(message["Body"] as? String ?? "") as? [String: Any],
                      let notice = Self.json(body["Message"] as? String ?? "") as? [String: Any] else { continue }
                if let kind = notice["kind"] as? String { snsKinds.insert(kind) }
            }
            return snsKinds.isSuperset(of: ["load_failed", "rows_rejected", "change_held"])
        }
        #expect(snsKinds.isSuperset(of: ["load_failed", "rows_rejected", "change_held"]), "SNS delivered \(snsKinds)")
    }

    /// A table on `gather(4 seconds)` with max_files 3: two files wait for the window and load in one load; three
    /// fill a batch and load at once. A table without a schedule loads meanwhile as files arrive.
    @Test func gatheredTablesLoadInFewerLargerLoads() throws {
        let w = try Workdir()
        try w.file("autoloader.yml", """
            tables:
              batched:
                schedule: gather(4 seconds)
                max_files: 3
            """)
        let log = w.url.appendingPathComponent("run.log")
        let run = try CLI.start(["run", "--settle", "0.2"], in: w.url, log: log)
        defer { if run.isRunning { run.terminate() } }
        #expect(CLI.waitFor(seconds: 10) { text(log).contains("watching") } != nil)
        func loads(_ table: String) -> String { CLI.sqlite(w.database, "select count(*) from _autoloader_loads where table_name='\(table)' and status='finished'") }
        try w.file("landing/batched/a.csv", "id\n1\n")
        try w.file("landing/batched/b.csv", "id\n2\n")
        try w.file("landing/live/a.csv", "id\n1\n")
        #expect(CLI.waitFor(seconds: 3) { loads("live") == "1" } != nil, "an unscheduled table waited: \(text(log))")
        #expect(loads("batched") == "0", "the gathered table loaded before its window")
        #expect(CLI.waitFor(seconds: 6) { loads("batched") == "1" } != nil, "\(text(log))")
        #expect(CLI.sqlite(w.database, "select count(*) from batched") == "2")
        // A full batch does not wait.
        for n in 3...5 { try w.file("landing/batched/f\(n).csv", "id\n\(n)\n") }
        #expect(CLI.waitFor(seconds: 2.5) { loads("batched") == "2" } != nil, "a full batch waited for the window: \(text(log))")
        #expect(CLI.sqlite(w.database, "select count(*) from batched") == "5")
    }
}

