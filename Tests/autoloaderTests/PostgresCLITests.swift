import Foundation
import AutoloaderTestSupport
import Testing

/// A fresh database on the throwaway server scripts/test starts (AUTOLOADER_TEST_POSTGRES).
struct TestDatabase {
    let url: String

    /// A fresh database on the test server (the test carries `.needsPostgres`).
    static func make() throws -> TestDatabase {
        let server = try Gate.requirePostgres()
        let name = "c_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        _ = psql(server, "CREATE DATABASE \(name)")
        var components = URLComponents(string: server)!
        components.path = "/" + name
        return TestDatabase(url: components.string!)
    }

    func sql(_ query: String) -> String { Self.psql(url, query) }

    @discardableResult
    static func psql(_ url: String, _ query: String) -> String {
        let result = try? Subprocess.run("psql", [url, "-X", "-A", "-t", "-q", "-c", query])
        return (result?.stdout ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Event CSV files: `files` files of `rowsPerFile` rows with ids counting from `firstID` (a `day` column unless
/// `day` is false), named `part-NNN.csv`; with the row count and the sum of ids the loaded table must show.
func eventFiles(files: Int, rowsPerFile: Int, firstID: Int = 1, day: Bool = true) -> (files: [(name: String, text: String)], rows: Int, sum: Int) {
    var id = firstID - 1, sum = 0
    var out: [(name: String, text: String)] = []
    for f in 0..<files {
        var text = day ? "id,name,amount,day\n" : "id,name,amount\n"
        for _ in 0..<rowsPerFile {
            id += 1
            sum += id
            text += "\(id),name \(id % 97),\(id % 1000).25" + (day ? ",2024-01-\(String(format: "%02d", id % 28 + 1))\n" : "\n")
        }
        out.append(("part-\(String(format: "%03d", f)).csv", text))
    }
    return (out, files * rowsPerFile, sum)
}

func writeEventFiles(_ w: Workdir, table: String, files: Int, rowsPerFile: Int, firstID: Int = 1) throws -> (rows: Int, sum: Int) {
    let events = eventFiles(files: files, rowsPerFile: rowsPerFile, firstID: firstID)
    for file in events.files { try w.file("landing/\(table)/\(file.name)", file.text) }
    return (events.rows, events.sum)
}

/// The end of a process's log, for a failure message (empty while the log does not exist yet).
func logTail(_ log: URL) -> String {
    String(((try? String(contentsOf: log, encoding: .utf8)) ?? "").suffix(1500))
}

@discardableResult
func shell(_ command: String) -> Int32 { Subprocess.shell(command) }

@Suite(.serialized) struct PostgresCLITests {
    @Test(.needsPostgres) func twoProcessesShareOneDatabaseAndLoadEveryFileOnce() throws {
        let db = try TestDatabase.make()
        let w = try Workdir()
        var expected: [(String, Int, Int)] = []
        for (i, table) in ["alpha", "beta", "gamma"].enumerated() {
            let (rows, sum) = try writeEventFiles(w, table: table, files: 10, rowsPerFile: 500, firstID: i * 1_000_000 + 1)
            expected.append((table, rows, sum))
        }
        let logA = w.url.appendingPathComponent("a.log"), logB = w.url.appendingPathComponent("b.log")
        let a = try CLI.start(["run", "--warehouse", db.url, "--reconcile", "0.5"], in: w.url, log: logA)
        let b = try CLI.start(["run", "--warehouse", db.url, "--reconcile", "0.5"], in: w.url, log: logB)
        defer { a.terminate(); b.terminate() }
        let done = CLI.waitFor(seconds: 90) { db.sql("SELECT count(*) FROM autoloader.files WHERE state='loaded'") == "30" }
        #expect(done != nil, "logs:\n\((try? String(contentsOf: logA, encoding: .utf8)) ?? "")\n\((try? String(contentsOf: logB, encoding: .utf8)) ?? "")")
        for (table, rows, sum) in expected {
            #expect(db.sql("SELECT count(*) || '|' || count(DISTINCT id) || '|' || sum(id) FROM \(table)") == "\(rows)|\(rows)|\(sum)")
        }
        // Both processes did work (the loads are spread), and no file was loaded twice.
        #expect(db.sql("SELECT count(*) FROM autoloader.files WHERE state <> 'loaded'") == "0")
        let logs = ((try? String(contentsOf: logA, encoding: .utf8)) ?? "") + ((try? String(contentsOf: logB, encoding: .utf8)) ?? "")
        #expect(logs.contains("finished"))
    }

    @Test(.needsPostgres) func sigkillLoopAgainstPostgres() throws {
        let db = try TestDatabase.make()
        let w = try Workdir()
        let (rows, sum) = try writeEventFiles(w, table: "events", files: 20, rowsPerFile: 4000)
        let log = w.url.appendingPathComponent("run.log")
        var kills = 0
        for _ in 0..<5 {
            let run = try CLI.start(["run", "--warehouse", db.url, "--reconcile", "0.5"], in: w.url, log: log)
            usleep(UInt32.random(in: 300_000...1_200_000))
            if run.isRunning { kill(run.processIdentifier, SIGKILL); kills += 1 }
            run.waitUntilExit()
        }
        let final = try CLI.start(["run", "--warehouse", db.url, "--reconcile", "0.5"], in: w.url, log: log)
        defer { final.terminate() }
        #expect(CLI.waitFor(seconds: 120) { db.sql("SELECT count(*) FROM autoloader.files WHERE state='loaded'") == "20" } != nil)
        #expect(kills > 0)
        #expect(db.sql("SELECT count(*) || '|' || count(DISTINCT id) || '|' || sum(id) FROM events") == "\(rows)|\(rows)|\(sum)")
        print("postgres sigkill test: \(kills) kills, \(db.sql("SELECT count(*) FROM autoloader.loads WHERE status='aborted'")) loads aborted")
    }
}
