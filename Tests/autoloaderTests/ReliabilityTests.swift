import Foundation
import AutoloaderTestSupport
import Testing

/// A PostgreSQL cluster of the test's own (scripts/postgres), for tests that restart it or start it late.
final class OwnPostgres: @unchecked Sendable {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let url: String
    let dir: String

    /// `port`: start it on this port (a test that starts the loader first). nil: any free port.
    init(port: Int? = nil) throws {
        // Output to a file, not a pipe: the server it starts would keep a pipe open forever.
        let exportsFile = FileManager.default.temporaryDirectory.appendingPathComponent("pg-\(UUID().uuidString).env")
        let prefix = port.map { "AUTOLOADER_PG_PORT=\($0) " } ?? ""
        let status = shell("\(prefix)'\(Self.root.path)/scripts/postgres' > '\(exportsFile.path)' 2>/dev/null < /dev/null")
        let exports = (try? String(contentsOf: exportsFile, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: exportsFile)
        var env: [String: String] = [:]
        for line in exports.split(separator: "\n") {
            let parts = line.replacingOccurrences(of: "export ", with: "").split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { env[parts[0]] = parts[1] }
        }
        guard status == 0, let url = env["AUTOLOADER_TEST_POSTGRES"], let dir = env["AUTOLOADER_TEST_POSTGRES_DIR"] else {
            throw CocoaError(.featureUnsupported, userInfo: [NSLocalizedDescriptionKey: "scripts/postgres failed (\(status))"])
        }
        self.url = url
        self.dir = dir
    }

    deinit { shell("'\(Self.root.path)/scripts/postgres' stop '\(dir)' >/dev/null 2>&1 < /dev/null") }

    /// `fast` (clients are told the server shuts down) or `immediate` (connections cut, crash recovery).
    @discardableResult
    func restart(_ mode: String) -> Int32 {
        shell("'\(Self.root.path)/scripts/postgres' restart '\(dir)' \(mode) >/dev/null 2>&1 < /dev/null")
    }

    func sql(_ query: String) -> String { TestDatabase.psql(url, query) }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Runs the CLI and returns its result and how long it took.
func timed(_ arguments: [String], in directory: URL) throws -> (CLI.Result, Double) {
    let start = Date()
    let result = try CLI.run(arguments, in: directory)
    return (result, Date().timeIntervalSince(start))
}

func text(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

@Suite(.serialized) struct ReliabilityTests {
    /// Defect: every operations command ran `ALTER TABLE … ADD COLUMN IF NOT EXISTS` on the catalog, which
    /// waits for an ACCESS EXCLUSIVE lock behind any load (and the load's own second connection then queued
    /// behind it: a deadlock). Read-only commands now never take a DDL lock, and a current catalog takes none.
    @Test(.needsPostgres) func operationsCommandsNeverQueueBehindALoad() throws {
        let db = try TestDatabase.make()
        let w = try Workdir()
        try w.file("landing/orders/a.csv", ordersCSV)
        #expect(try CLI.run(["load", "landing", "--warehouse", db.url], in: w.url).status == 0)
        // Another session holds what a running load holds on the catalog (row locks: ROW EXCLUSIVE), for 20 s.
        let holder = try Subprocess.start("psql", [db.url, "-X", "-q", "-c",
                                                   "BEGIN; LOCK TABLE autoloader.files, autoloader.loads, autoloader.tables IN ROW EXCLUSIVE MODE; SELECT pg_sleep(20); COMMIT;"],
                                          stdout: w.url.appendingPathComponent("holder.log"))
        defer { if holder.isRunning { holder.terminate() } }
        #expect(CLI.waitFor(seconds: 10) { db.sql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' AND state = 'active' AND pid <> pg_backend_pid()") == "1" } != nil)
        for command in [["tables"], ["files"], ["loads"], ["errors", "1"]] {
            let (result, seconds) = try timed(command + ["--warehouse", db.url], in: w.url)
            #expect(result.status == 0, "\(command): \(result.stderr)")
            #expect(seconds < 8, "\(command) waited \(seconds) s behind the lock holder")
        }
        // A load (and `run`'s start) goes ahead beside it too: a current catalog is never migrated again.
        try w.file("landing/orders/b.csv", moreCSV)
        let (load, seconds) = try timed(["load", "landing", "--warehouse", db.url], in: w.url)
        #expect(load.status == 0, "\(load.stderr)")
        #expect(seconds < 8)
        #expect(db.sql("SELECT count(*) FROM orders") == "5")
    }

    /// Defect: `run` printed "(will retry)" and exited 1 when PostgreSQL was unreachable at start. It now waits
    /// with backoff (and says so), and loads once the server comes up.
    @Test(.needsPostgres) func runWaitsForAnUnreachableWarehouse() throws {
        _ = try Gate.requirePostgres()
        let port = OwnPostgres.freePort()
        let url = "postgres://postgres@127.0.0.1:\(port)/postgres?sslmode=disable"
        let w = try Workdir()
        try w.file("landing/orders/a.csv", ordersCSV)
        let log = w.url.appendingPathComponent("run.log")
        let run = try CLI.start(["run", "--warehouse", url, "--reconcile", "0.5"], in: w.url, log: log)
        defer { if run.isRunning { run.terminate() } }
        sleep(5)
        #expect(run.isRunning, "run exited while the warehouse was down:\n\(text(log))")
        let attempts = text(log).components(separatedBy: "waiting for the warehouse").count - 1
        #expect(attempts >= 2, "\(text(log))")
        // Backoff: about 1, 2, 4 s apart, not dozens of attempts a second.
        #expect(attempts <= 5, "\(attempts) attempts in 5 s:\n\(text(log))")
        let server = try OwnPostgres(port: port)
        let loaded = CLI.waitFor(seconds: 60) { server.sql("SELECT count(*) FROM orders") == "3" }
        #expect(loaded != nil, "\(text(log))")
        #expect(text(log).contains("connected to the warehouse (after"))
        #expect(run.isRunning)
    }

    /// Defects: a SIGILL (a semaphore freed with credits out) when PostgreSQL restarted during a COPY, and a hang
    /// forever in a query after a restart. Ten restarts, fast and immediate, each while a COPY runs when we can
    /// catch one, an operations command during every load: the service lives, every row arrives once.
    @Test(.needsPostgres) func postgresRestartedDuringCopyTenTimes() throws {
        _ = try Gate.requirePostgres()
        let server = try OwnPostgres()
        let w = try Workdir()
        let (rows, sum) = try writeEventFiles(w, table: "events", files: 40, rowsPerFile: 20_000)
        let log = w.url.appendingPathComponent("run.log")
        let run = try CLI.start(["run", "--warehouse", server.url, "--reconcile", "0.5"], in: w.url, log: log)
        defer { if run.isRunning { run.terminate() } }
        var duringCopy = 0
        for i in 0..<10 {
            let copying = CLI.waitFor(seconds: 15) {
                server.sql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%' AND state = 'active'") == "1"
            } != nil
            if copying { duringCopy += 1 }
            // An operations command during the load: it must not wait on it (or be waited on).
            let (tables, seconds) = try timed(["tables", "--warehouse", server.url], in: w.url)
            #expect(tables.status == 0 && seconds < 8, "tables: \(tables.status) after \(seconds) s: \(tables.stderr)")
            #expect(server.restart(i % 2 == 0 ? "fast" : "immediate") == 0)
            #expect(run.isRunning, "run died at restart \(i + 1):\n\(text(log).suffix(12000))")
        }
        let done = CLI.waitFor(seconds: 240) { server.sql("SELECT count(*) FROM autoloader.files WHERE state='loaded'") == "40" }
        #expect(done != nil, "log:\n\(text(log).suffix(4000))\nstacks:\n\(done == nil && run.isRunning ? Subprocess.stacks(of: run.processIdentifier) : "")")
        #expect(server.sql("SELECT count(*) || '|' || count(DISTINCT id) || '|' || sum(id) FROM events") == "\(rows)|\(rows)|\(sum)")
        #expect(server.sql("SELECT count(*) FROM autoloader.files WHERE state <> 'loaded'") == "0")
        #expect(run.isRunning)
        #expect(duringCopy >= 5, "only \(duringCopy) of 10 restarts hit a COPY")
        print("restart test: \(duringCopy) of 10 restarts during a COPY; loads aborted: \(server.sql("SELECT count(*) FROM autoloader.loads WHERE status='aborted'"))")
    }

    /// Defect: a full disk under SQLite failed the file for good ("no such savepoint: file"). It is a fault of
    /// the moment: the load rolls back, the file stays pending, and it loads once there is room again.
    @Test(.needsRoot) func fullDiskRequeuesAndLoadsWhenSpaceReturns() throws {
        let w = try Workdir()
        let small = w.url.appendingPathComponent("small")
        try FileManager.default.createDirectory(at: small, withIntermediateDirectories: true)
        try #require(shell("mount -t tmpfs -o size=1m tmpfs '\(small.path)' 2>/dev/null") == 0, "cannot mount a tmpfs")
        defer { shell("umount -l '\(small.path)' 2>/dev/null") }
        let (rows, sum) = try writeEventFiles(w, table: "events", files: 1, rowsPerFile: 60_000)  // ~2.5 MB of rows
        let database = small.appendingPathComponent("db.sqlite")
        let log = w.url.appendingPathComponent("run.log")
        let run = try CLI.start(["run", "--warehouse", "sqlite:" + database.path, "--reconcile", "0.5"], in: w.url, log: log)
        defer { if run.isRunning { run.terminate() } }
        #expect(CLI.waitFor(seconds: 30) { text(log).contains("retried in") } != nil, "\(text(log))")
        #expect(text(log).contains("full"), "\(text(log))")
        #expect(CLI.sqlite(database, "select state from _autoloader_files") == "pending")
        #expect(shell("mount -o remount,size=64m '\(small.path)'") == 0)
        let loaded = CLI.waitFor(seconds: 60) { CLI.sqlite(database, "select state from _autoloader_files") == "loaded" }
        #expect(loaded != nil, "\(text(log).suffix(3000))")
        #expect(CLI.sqlite(database, "select count(*) || '|' || count(distinct id) || '|' || sum(id) from events") == "\(rows)|\(rows)|\(sum)")
        #expect(run.isRunning)
    }

    /// Defect: Ctrl-C during `autoloader load` left the load `running` until the next start. Now the load rolls
    /// back at once, is logged aborted, its file stays pending, and the exit status says it was stopped.
    @Test func ctrlCDuringLoadRollsBack() throws {
        let w = try Workdir()
        _ = try writeEventFiles(w, table: "events", files: 1, rowsPerFile: 600_000)
        let log = w.url.appendingPathComponent("load.log")
        let load = try CLI.start(["load", "landing"], in: w.url, log: log)
        #expect(CLI.waitFor(seconds: 30) { CLI.sqlite(w.database, "select count(*) from _autoloader_loads where status='queued'") == "1" } != nil)
        usleep(200_000)
        load.interrupt()
        load.waitUntilExit()
        #expect(load.terminationStatus == 130, "\(text(log))")
        #expect(CLI.sqlite(w.database, "select state from _autoloader_files") == "pending")
        #expect(CLI.sqlite(w.database, "select group_concat(status) from _autoloader_loads") == "aborted")
        #expect(text(log).contains("rolled back"))
        // And the next load picks the file up.
        #expect(try CLI.run(["load", "landing"], in: w.url).status == 0)
        #expect(CLI.sqlite(w.database, "select count(*) from events") == "600000")
    }

    /// Defect: a PostgreSQL password could only be given in `--warehouse`, where `ps` shows it to every user.
    /// It can come from PGPASSWORD, ~/.pgpass, or the whole URL from AUTOLOADER_WAREHOUSE; a password in the
    /// flag is warned about. The SQLite file (catalog and rows) is created readable by its owner only.
    @Test func theSQLiteFileIsReadableByItsOwnerOnly() throws {
        let w = try Workdir()
        try w.file("landing/orders/a.csv", ordersCSV)
        #expect(try CLI.run(["load", "landing"], in: w.url).status == 0)
        let mode = try FileManager.default.attributesOfItem(atPath: w.database.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test(.needsPostgres) func passwordsStayOutOfPs() throws {
        let w = try Workdir()
        try w.file("landing/orders/a.csv", ordersCSV)
        let db = try TestDatabase.make()
        let fromEnvironment = try CLI.run(["load", "landing"], in: w.url, environment: ["AUTOLOADER_WAREHOUSE": db.url])
        #expect(fromEnvironment.status == 0, "\(fromEnvironment.stderr)")
        #expect(db.sql("SELECT count(*) FROM orders") == "3")
        #expect(!fromEnvironment.stderr.contains("visible to other users"))
        var components = try #require(URLComponents(string: db.url))
        components.password = "hunter2"  // the test server trusts loopback: any password connects
        let inFlag = try CLI.run(["tables", "--warehouse", components.string!], in: w.url)
        #expect(inFlag.status == 0)
        #expect(inFlag.stderr.contains("visible to other users"))
        #expect(!inFlag.stderr.contains("hunter2") && !inFlag.stdout.contains("hunter2"))
    }

    /// Defect: a file that could not be read (permissions) failed for good, and fixing it with `chmod` changed
    /// nothing (its size and time stay the same). Now it is skipped with a note until it can be read.
    @Test func aFileFixedWithChmodIsLoaded() throws {
        let w = try Workdir()
        let data = try w.file("landing/t/a.csv", "id\n1\n")
        #expect(chmod(data.path, 0) == 0)
        if getuid() == 0 { #expect(shell("chown -R nobody:nogroup '\(w.url.path)'") == 0) }
        let first = try CLI.run(["load", "landing"], in: w.url, asNobody: true)
        #expect(first.stderr.contains("t/a.csv: not readable (permission denied)"), "\(first.stderr)")
        #expect(CLI.sqlite(w.database, "select count(*) from _autoloader_files") == "0")
        #expect(chmod(data.path, 0o644) == 0)
        let second = try CLI.run(["load", "landing"], in: w.url, asNobody: true)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(CLI.sqlite(w.database, "select count(*) from t") == "1")
    }

    /// Defect: a 300 MB file with no line ends took minutes (each short read re-parsed the record from its start)
    /// and 700 MB of memory. Now it fails fast with a located error, in bounded memory.
    @Test func aFileWithNoLineEndsFailsFastInBoundedMemory() throws {
        let w = try Workdir()
        let path = w.landing.appendingPathComponent("t/one-line.csv")
        try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path.path, contents: nil)
        let handle = try FileHandle(forWritingTo: path)
        let chunk = Data(String(repeating: "abc,def,", count: 1 << 17).utf8)  // 1 MiB, no newline
        for _ in 0..<160 { handle.write(chunk) }
        try handle.close()
        let started = Date()
        let result = try CLI.run(["/usr/bin/time", "-f", "maxrss_kb=%M", CLI.binary.path, "load", "landing"], in: w.url, viaEnv: true)
        let seconds = Date().timeIntervalSince(started)
        #expect(result.status == 1)
        #expect(result.stdout.contains("t/one-line.csv:1") && result.stdout.contains("longer than 64 MiB"), "\(result.stdout)\n\(result.stderr)")
        let rss = Int(result.stderr.components(separatedBy: "maxrss_kb=").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        #expect(rss > 0 && rss < 250_000, "peak RSS \(rss) kB")
        #expect(seconds < 60)
        print("160 MiB single-line file: failed in \(String(format: "%.1f", seconds)) s, peak RSS \(rss / 1024) MiB")
    }

    /// Defect: on SQLite one slow file stalled every table (its load held the database's one write lock while it
    /// parsed) and discovery failed with "database is locked". Loads now stage their rows and hold the lock only
    /// to merge: another table's file is loaded, and new files recorded, while the big one is still parsing.
    @Test func aSlowFileDoesNotStallOtherTablesOnSQLite() throws {
        let w = try Workdir()
        let big = w.landing.appendingPathComponent("big/a.csv")
        try FileManager.default.createDirectory(at: big.deletingLastPathComponent(), withIntermediateDirectories: true)
        #expect(shell("python3 -c \"import sys; w=sys.stdout.write; w('id,name,amount\\n'); [w('%d,name %d,%d.25\\n' % (i, i % 97, i % 1000)) for i in range(1, 1500001)]\" > '\(big.path)'") == 0)
        let log = w.url.appendingPathComponent("run.log")
        let run = try CLI.start(["run", "--reconcile", "0.5"], in: w.url, log: log)
        defer { if run.isRunning { run.terminate() } }
        #expect(CLI.waitFor(seconds: 30) { CLI.sqlite(w.database, "select count(*) from _autoloader_loads where table_name='big' and status='queued'") == "1" } != nil)
        try w.file("landing/small/a.csv", ordersCSV)
        let small = CLI.waitFor(seconds: 20) { CLI.sqlite(w.database, "select count(*) from small") == "3" }
        let bigStillLoading = CLI.sqlite(w.database, "select count(*) from _autoloader_loads where table_name='big' and status='queued'") == "1"
        #expect(small != nil, "\(text(log))")
        #expect(bigStillLoading, "the big file finished first: the test proves nothing on a machine this fast")
        #expect(!text(log).contains("database is locked"), "\(text(log))")
        #expect(CLI.waitFor(seconds: 240) { CLI.sqlite(w.database, "select count(*) from big") == "1500000" } != nil, "\(text(log).suffix(2000))")
        print("slow-file test: small table loaded in \(String(format: "%.1f", small ?? -1)) s while the big file was still loading")
    }

    /// Defect: S3 throttling (503 SlowDown past the client's six attempts) failed files for good, until a manual
    /// `retry`. With every object read throttled for 30 s (a proxy in front of moto), the file stays pending,
    /// the table backs off, and it loads once S3 serves it, with no one's help.
    @Test(.needsS3) func s3ThrottledForThirtySecondsFailsNothing() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        try s3.put(w, "orders/a.csv", ordersCSV)
        let portFile = w.url.appendingPathComponent("proxy.port")
        let proxy = try Subprocess.start("python3", [OwnPostgres.root.appendingPathComponent("scripts/throttle_proxy.py").path, s3.endpoint, "30", "300"],
                                         stdout: portFile, stderr: w.url.appendingPathComponent("proxy.err"))
        defer { proxy.terminate() }
        #expect(CLI.waitFor(seconds: 10) { Int(text(portFile).trimmingCharacters(in: .whitespacesAndNewlines)) != nil } != nil)
        let endpoint = "http://127.0.0.1:\(text(portFile).trimmingCharacters(in: .whitespacesAndNewlines))"
        let started = Date()
        let log = w.url.appendingPathComponent("run.log")
        let run = try CLI.start(["run", "--source", s3.root, "--endpoint", endpoint, "--reconcile", "1"], in: w.url, log: log)
        defer { if run.isRunning { run.terminate() } }
        #expect(CLI.waitFor(seconds: 25) { text(log).contains("retried in") } != nil, "\(text(log))")
        #expect(text(log).contains("SlowDown"))
        #expect(CLI.sqlite(w.database, "select state from _autoloader_files") == "pending")
        let loaded = CLI.waitFor(seconds: 150) { CLI.sqlite(w.database, "select count(*) from orders") == "3" }
        #expect(loaded != nil, "\(text(log).suffix(3000))")
        #expect(Date().timeIntervalSince(started) > 29, "loaded while S3 was still throttling: the proxy did not throttle")
        #expect(CLI.sqlite(w.database, "select group_concat(distinct state) from _autoloader_files") == "loaded", "\(CLI.sqlite(w.database, "select error from _autoloader_files"))")
        #expect(run.isRunning)
        print("throttle test: loaded \(String(format: "%.0f", Date().timeIntervalSince(started))) s after start (S3 throttled for the first 30 s)")
    }
}
