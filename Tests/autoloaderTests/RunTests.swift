import Foundation
import Testing

let ordersCSV = "id,customer,amount,ordered_on\n1,ann,12.50,2024-01-05\n2,bob,3.99,2024-01-17\n3,cy,149,2024-02-29\n"
let moreCSV = "id,customer,amount,ordered_on\n4,dee,1.00,2024-03-01\n5,eve,2.00,2024-03-02\n"

@Suite(.serialized) struct RunTests {
    @Test func droppedFilesAreQueryableWithinTwoSeconds() throws {
        let w = try Workdir()
        try FileManager.default.createDirectory(at: w.landing.appendingPathComponent("orders"), withIntermediateDirectories: true)
        let log = w.url.appendingPathComponent("run.log")
        let run = try CLI.start(["run"], in: w.url, log: log)  // the defaults: ./landing into ./autoloader.sqlite
        defer { if run.isRunning { run.terminate() } }
        _ = CLI.waitFor(seconds: 10) { (try? String(contentsOf: log, encoding: .utf8))?.contains("watching") == true }

        let a = try w.file("a.csv", ordersCSV)
        try CLI.cp(a, w.landing.appendingPathComponent("orders/a.csv"))
        let first = CLI.waitFor(seconds: 2) { CLI.sqlite(w.database, "select count(*) from orders") == "3" }
        #expect(first != nil, "first file not queryable within 2 s; log:\n\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")

        let b = try w.file("b.csv", moreCSV)
        try CLI.cp(b, w.landing.appendingPathComponent("orders/b.csv"))
        #expect(CLI.waitFor(seconds: 2) { CLI.sqlite(w.database, "select count(*) from orders") == "5" } != nil)

        try CLI.cp(a, w.landing.appendingPathComponent("orders/a-again.csv"))
        #expect(CLI.waitFor(seconds: 2) {
            CLI.sqlite(w.database, "select state from _autoloader_files where key='orders/a-again.csv'") == "duplicate"
        } != nil)
        #expect(CLI.sqlite(w.database, "select count(*) from orders") == "5")

        // Operations work while `run` runs: pause holds new files back, resume loads them.
        #expect(try CLI.run(["pause", "orders"], in: w.url).status == 0)
        try CLI.cp(try w.file("c.csv", "id,customer,amount,ordered_on\n6,fay,1.50,2024-03-03\n"), w.landing.appendingPathComponent("orders/c.csv"))
        #expect(CLI.waitFor(seconds: 3) { CLI.sqlite(w.database, "select state from _autoloader_files where key='orders/c.csv'") == "pending" } != nil)
        usleep(700_000)
        #expect(CLI.sqlite(w.database, "select count(*) from orders") == "5")
        #expect(try CLI.run(["resume", "orders"], in: w.url).status == 0)
        #expect(CLI.waitFor(seconds: 7) { CLI.sqlite(w.database, "select count(*) from orders") == "6" } != nil)

        run.interrupt()  // SIGINT: finish or roll back, then exit
        #expect(CLI.waitFor(seconds: 10) { !run.isRunning } != nil)
        #expect(run.terminationStatus == 0)
    }

    /// A file its writer closed is whole: loaded at once, not after the settle window (30 s here). A file still
    /// open for writing waits the window, and never loads half written.
    @Test func aClosedFileSkipsTheSettleWindowAnOpenOneDoesNot() throws {
        let w = try Workdir()
        try FileManager.default.createDirectory(at: w.landing.appendingPathComponent("orders"), withIntermediateDirectories: true)
        let log = w.url.appendingPathComponent("run.log")
        let run = try CLI.start(["run", "--settle", "30"], in: w.url, log: log)
        defer { if run.isRunning { run.terminate() } }
        _ = CLI.waitFor(seconds: 10) { (try? String(contentsOf: log, encoding: .utf8))?.contains("watching") == true }

        let open = try FileHandle(forWritingTo: { () -> URL in
            let u = w.landing.appendingPathComponent("orders/open.csv")
            FileManager.default.createFile(atPath: u.path, contents: nil)
            return u
        }())
        try open.write(contentsOf: Data("id,customer,amount,ordered_on\n7,gil,1.00,2024-03-04\n".utf8))
        try CLI.cp(try w.file("a.csv", ordersCSV), w.landing.appendingPathComponent("orders/a.csv"))
        let loaded = CLI.waitFor(seconds: 5) { CLI.sqlite(w.database, "select count(*) from orders") == "3" }
        #expect(loaded != nil, "a closed file waited for the settle window; log:\n\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        // The open file is still being written: neither recorded nor loaded.
        try open.write(contentsOf: Data("8,hal,2.00,2024-03-05\n".utf8))
        usleep(1_500_000)
        #expect(CLI.sqlite(w.database, "select count(*) from _autoloader_files where key='orders/open.csv'") == "0")
        try open.close()  // done: now it is whole, and loads without the window
        #expect(CLI.waitFor(seconds: 5) { CLI.sqlite(w.database, "select count(*) from orders") == "5" } != nil)
        run.interrupt()
        #expect(CLI.waitFor(seconds: 10) { !run.isRunning } != nil)
    }

    /// SIGKILL at random moments while many files load; after restarts every row is present exactly once.
    @Test func sigkillAtRandomMomentsLosesAndDuplicatesNothing() throws {
        let w = try Workdir()
        let files = 24, rowsPerFile = 4000
        let (_, expectedSum) = try writeEventFiles(w, table: "events", files: files, rowsPerFile: rowsPerFile)
        let log = w.url.appendingPathComponent("run.log")
        var generator = SystemRandomNumberGenerator()
        var kills = 0
        for _ in 0..<6 {
            let run = try CLI.start(["run", "--workers", "2", "--reconcile", "0.5"], in: w.url, log: log)
            usleep(UInt32.random(in: 150_000...900_000, using: &generator))
            if run.isRunning {
                kill(run.processIdentifier, SIGKILL)
                kills += 1
            }
            run.waitUntilExit()
        }
        let final = try CLI.start(["run", "--reconcile", "0.5"], in: w.url, log: log)
        defer { if final.isRunning { final.terminate() } }
        let done = CLI.waitFor(seconds: 120) {
            CLI.sqlite(w.database, "select count(*) from _autoloader_files where state='loaded'") == String(files)
        }
        #expect(done != nil)
        #expect(kills > 0)
        // The kills landed inside loads: some never committed (recorded aborted on restart).
        let aborted = CLI.sqlite(w.database, "select count(*) from _autoloader_loads where status='aborted'")
        print("sigkill test: \(kills) kills, \(aborted) loads aborted")
        #expect((Int(aborted) ?? 0) > 0)
        #expect(CLI.sqlite(w.database, "select count(*), count(distinct id), sum(id) from events") == "\(files * rowsPerFile)|\(files * rowsPerFile)|\(expectedSum)")
        #expect(CLI.sqlite(w.database, "select count(*) from (select _source_file, count(*) c from events group by 1 having c <> \(rowsPerFile))") == "0")
        final.interrupt()
        final.waitUntilExit()
    }
}
