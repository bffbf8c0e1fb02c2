import Foundation
import Testing

@Suite(.serialized) struct CommandTests {
    @Test func helpListsEverySubcommand() throws {
        let w = try Workdir()
        let help = try CLI.run(["--help"], in: w.url)
        #expect(help.status == 0)
        for command in ["run", "load", "detect", "tables", "files", "loads", "errors", "pause", "resume", "reload", "options", "retry"] {
            #expect(help.stdout.contains("  \(command)"), "help lists \(command)")
            #expect(try CLI.run([command, "--help"], in: w.url).status == 0)
        }
    }

    @Test func oneShotLoadAndEveryListing() throws {
        let w = try Workdir()
        try w.file("landing/orders/a.csv", ordersCSV)
        try w.file("landing/scores/bad.csv", "id,name,score\n1,a,10\n2,b\n")
        #expect(try CLI.run(["options", "scores", #"{"on_error": "abort_file"}"#], in: w.url).status == 0)
        let load = try CLI.run(["load", "landing"], in: w.url)
        #expect(load.status == 1)  // a file failed
        #expect(load.stderr.contains("loaded 1 file(s), 3 rows"))
        #expect(load.stderr.contains("1 failed"))

        let tables = try CLI.run(["tables", "--json"], in: w.url)
        let tableList = try JSONSerialization.jsonObject(with: Data(tables.stdout.utf8)) as? [[String: Any]]
        #expect(tableList?.compactMap { $0["name"] as? String }.sorted() == ["orders", "scores"])
        #expect(try CLI.run(["tables"], in: w.url).stdout.contains("orders"))

        let files = try JSONSerialization.jsonObject(with: Data(try CLI.run(["files", "--state", "failed", "--json"], in: w.url).stdout.utf8)) as? [[String: Any]]
        #expect(files?.count == 1)
        #expect((files?.first?["error"] as? String)?.contains("scores/bad.csv:3") == true)

        let loads = try JSONSerialization.jsonObject(with: Data(try CLI.run(["loads", "--table", "scores", "--json"], in: w.url).stdout.utf8)) as? [[String: Any]]
        let loadID = try #require(loads?.first?["id"] as? Int)
        #expect(loads?.first?["status"] as? String == "failed")

        let errors = try CLI.run(["errors", String(loadID), "--json"], in: w.url)
        let errorList = try JSONSerialization.jsonObject(with: Data(errors.stdout.utf8)) as? [[String: Any]]
        #expect(errorList?.first?["line"] as? Int == 3)
        #expect(errorList?.first?["rawText"] as? String == "2,b")
        #expect(try CLI.run(["errors", String(loadID)], in: w.url).stdout.contains("expected 3 fields, found 2"))

        #expect(try CLI.run(["options", "scores", #"{"on_error": "skip_rows"}"#], in: w.url).stdout.contains("skip_rows"))
        #expect(try CLI.run(["options", "scores", #"{"bogus": 1}"#], in: w.url).status != 0)
        #expect(try CLI.run(["retry", String(loadID)], in: w.url).stdout.contains("1 failed file(s) queued"))
        let again = try CLI.run(["load", "landing"], in: w.url)
        #expect(again.status == 2, "loaded, with its bad row skipped")
        #expect(CLI.sqlite(w.database, "select count(*) from scores") == "1")

        #expect(try CLI.run(["reload", "orders", "--since", "2000-01-01"], in: w.url).stdout.contains("1 file(s) queued"))
        #expect(try CLI.run(["load", "landing"], in: w.url).status == 0)
        #expect(CLI.sqlite(w.database, "select count(*) from orders") == "3")
        #expect(try CLI.run(["reload", "nosuch", "--since", "2000-01-01"], in: w.url).status != 0)
        #expect(try CLI.run(["loads", "--status", "finished"], in: w.url).stdout.contains("orders"))
        #expect(try CLI.run(["pause", "nosuch"], in: w.url).stderr.contains("no table 'nosuch'"))
    }

    @Test func loadOfNamedFilesAndDetect() throws {
        let w = try Workdir()
        let file = try w.file("Daily Sales.csv", "day|store|revenue\n3/8/2024|7|10.50\n3/9/2024|8|11.25\n")
        let load = try CLI.run(["load", file.path], in: w.url)
        #expect(load.status == 0)
        #expect(CLI.sqlite(w.database, "select group_concat(day) from daily_sales") == "2024-03-08,2024-03-09")
        // Loading the same file again adds nothing.
        #expect(try CLI.run(["load", file.path], in: w.url).status == 0)
        #expect(CLI.sqlite(w.database, "select count(*) from daily_sales") == "2")

        let detect = try CLI.run(["detect", file.path], in: w.url)
        #expect(detect.stdout.contains("delimiter '|'"))
        #expect(detect.stdout.contains("CREATE TABLE \"daily_sales\""))
        let json = try JSONSerialization.jsonObject(with: Data(try CLI.run(["detect", "--json", file.path], in: w.url).stdout.utf8)) as? [String: Any]
        let columns = json?["columns"] as? [[String: Any]]
        #expect(columns?.map { $0["type"] as? String ?? "" } == ["date", "smallint", "decimal"])
        #expect(columns?.first?["format"] as? String == "%m/%d/%Y")
    }
}
