import AutoloaderCore
import AutoloaderSQLite
import AutoloaderTestSupport
import Foundation
import Testing

let orders = "id,customer,amount,ordered_on\n1,ann,12.50,2024-01-05\n2,bob,3.99,2024-01-17\n3,cy,149,2024-02-29\n"
let moreOrders = "id,customer,amount,ordered_on\n4,dee,1.00,2024-03-01\n5,eve,2.00,2024-03-02\n"

@Suite struct ExactlyOnceTests {
    @Test func appendsAndRecognisesTheSameBytesUnderAnotherName() throws {
        let box = try Sandbox()
        try box.write("orders/a.csv", orders)
        try box.loadOnce()
        #expect(try box.count("orders") == 3)
        #expect(try box.scalar("SELECT typeof(id) || ',' || typeof(amount) || ',' || ordered_on FROM orders WHERE id=1")?.text == "integer,real,2024-01-05")

        try box.write("orders/b.csv", moreOrders)
        try box.loadOnce()
        #expect(try box.count("orders") == 5)

        try box.write("orders/copy-of-a.csv", orders)
        try box.loadOnce()
        #expect(try box.count("orders") == 5)
        let copy = try box.catalog().files(table: "orders", state: nil).first { $0.key == "orders/copy-of-a.csv" }
        #expect(copy?.state == .duplicate)
        #expect(copy?.duplicateOf != nil)

        // Running again finds nothing new: recording is idempotent.
        #expect(try box.loadOnce().isEmpty)
        #expect(try box.count("orders") == 5)
    }

    @Test func overwrittenFileReplacesItsOwnRows() throws {
        let box = try Sandbox()
        try box.write("orders/a.csv", orders)
        try box.write("orders/b.csv", moreOrders)
        try box.loadOnce()
        #expect(try box.count("orders") == 5)
        try box.write("orders/a.csv", "id,customer,amount,ordered_on\n10,zed,7.00,2024-04-01\n", mtimeOffset: -3)
        try box.loadOnce()
        #expect(try box.count("orders") == 3)  // a's 3 rows replaced by 1; b's 2 untouched
        #expect(try box.scalar("SELECT group_concat(id) FROM (SELECT id FROM orders ORDER BY id)")?.text == "4,5,10")
        #expect(try box.scalar("SELECT count(*) FROM orders WHERE _source_file='orders/a.csv'")?.int == 1)
    }

    @Test func touchedFileWithSameBytesKeepsItsRows() throws {
        let box = try Sandbox()
        try box.write("orders/a.csv", orders)
        try box.loadOnce()
        try box.write("orders/a.csv", orders, mtimeOffset: -2)
        try box.loadOnce()
        #expect(try box.count("orders") == 3)
        let versions = try box.catalog().files(table: "orders", state: nil)
        #expect(versions.map(\.state) == [.loaded, .skipped])
    }

    @Test func appendPolicyKeepsEarlierRowsOfAnOverwrittenFile() throws {
        let box = try Sandbox()
        try box.write("orders/a.csv", orders)
        try box.loadOnce()
        try box.catalog().setOptions(table: "orders", try TableOptions().merging(json: #"{"overwrite": "append"}"#))
        try box.write("orders/a.csv", moreOrders, mtimeOffset: -2)
        try box.loadOnce()
        #expect(try box.count("orders") == 5)
    }

    @Test func ignorePolicySkipsOverwrittenFiles() throws {
        let box = try Sandbox()
        try box.write("orders/a.csv", orders)
        try box.loadOnce()
        try box.catalog().setOptions(table: "orders", try TableOptions().merging(json: #"{"overwrite": "ignore"}"#))
        try box.write("orders/a.csv", moreOrders, mtimeOffset: -2)
        try box.loadOnce()
        #expect(try box.count("orders") == 3)
        #expect(try box.catalog().files(table: "orders", state: .skipped).count == 1)
    }
}

@Suite struct LayoutTests {
    @Test func partitionFoldersBecomeColumnsAndDeepFoldersBelongToTheTable() throws {
        let box = try Sandbox()
        try box.write("Sales Data/order_date=20240101/region=eu/a.csv", "id,amount\n1,5\n2,6\n")
        try box.write("Sales Data/order_date=20240102/region=us/b.csv", "id,amount\n3,7\n")
        try box.write("Sales Data/archive/2023/c.csv", "id,amount\n4,8\n")
        try box.loadOnce()
        #expect(try box.count("sales_data") == 4)
        #expect(try box.scalar("SELECT group_concat(order_date || '/' || region) FROM (SELECT * FROM sales_data WHERE order_date IS NOT NULL ORDER BY id)")?.text
                == "20240101/eu,20240101/eu,20240102/us")
        let table = try box.catalog().table(named: "sales_data")
        #expect(table?.sourceFolder == "Sales Data")
        #expect(table?.partitionColumns == ["order_date", "region"])
    }

    @Test func hiddenTempAndRootFilesAreIgnored() throws {
        let box = try Sandbox()
        try box.write("orders/.a.csv", orders)
        try box.write("orders/b.csv.tmp", orders)
        try box.write("orders/c.csv.part", orders)
        try box.write("orders/d.csv~", orders)
        try box.write("at-root.csv", orders)
        try box.loadOnce()
        #expect(try box.catalog().files(table: nil, state: nil).isEmpty)
    }

    @Test func headerlessFilesAndNewColumns() throws {
        let box = try Sandbox()
        try box.write("points/a.csv", "1,2.5,x\n2,3.5,y\n3,4.5,z\n")
        try box.loadOnce()
        #expect(try box.scalar("SELECT group_concat(name) FROM pragma_table_info('points')")?.text == "column1,column2,column3,_source_file")
        let box2 = try Sandbox()
        try box2.write("people/a.csv", "id,name\n1,ann\n")
        try box2.loadOnce()
        try box2.write("people/b.csv", "id,name,select\n2,bob,yes\n")
        try box2.loadOnce()
        #expect(try box2.scalar("SELECT group_concat(coalesce(\"select\", '-')) FROM (SELECT * FROM people ORDER BY id)")?.text == "-,1")
    }

    @Test func dialectsAndTypesReachTheTable() throws {
        let box = try Sandbox()
        try box.write("eu/a.csv", "artikel;menge;lieferdatum;preis\nA-1;3;31.12.2024;1,5\nB-2;4;01.02.2024;2\n")
        try box.write("tabs/a.tsv", "name\tborn\nMüller, A.\t3/8/1971\nO'Brien\t12/25/1980\n")
        try box.loadOnce()
        #expect(try box.scalar("SELECT group_concat(lieferdatum) FROM eu")?.text == "2024-12-31,2024-02-01")
        #expect(try box.scalar("SELECT group_concat(born, '|') FROM tabs")?.text == "1971-03-08|1980-12-25")
        #expect(try box.scalar("SELECT name FROM tabs WHERE born='1971-03-08'")?.text == "Müller, A.")
    }
}

@Suite struct CompressedFileTests {
    func gzip(_ text: String) throws -> [UInt8] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("x")
        try Data(text.utf8).write(to: file)
        try Subprocess.run("gzip", ["-n", file.path])
        return [UInt8](try Data(contentsOf: dir.appendingPathComponent("x.gz")))
    }

    @Test func gzipByContentMultiMemberAndTruncated() throws {
        let box = try Sandbox()
        try box.write("orders/a.csv", bytes: try gzip(orders))  // gzip bytes under a .csv name
        // `cat a.gz b.gz`: two members, one file.
        try box.write("orders/b.csv.gz", bytes: try gzip(moreOrders) + (try gzip("6,fay,1.50,2024-03-03\n")))
        let whole = try gzip(orders.replacingOccurrences(of: "ann", with: "anna"))
        try box.write("orders/cut.csv.gz", bytes: Array(whole.prefix(whole.count * 6 / 10)))
        try box.loadOnce()
        let states = try box.catalog().files(table: "orders", state: nil).map { "\($0.key) \($0.state) \($0.error ?? "")" }
        let ids = try box.column("SELECT CAST(id AS TEXT) FROM orders")
        #expect(try box.count("orders") == 6, "\(states) \(ids)")
        let cut = try #require(try box.catalog().files(table: "orders", state: .failed).first)
        #expect(cut.key == "orders/cut.csv.gz")
        #expect(cut.error?.contains("truncated") == true)
    }
}

@Suite struct JSONLoadTests {
    @Test func ndjsonArrayAndObjectLayoutsLoad() throws {
        let box = try Sandbox()
        try box.write("events/a.jsonl", #"{"id": 1, "at": "2024-01-05T10:00:00Z", "tags": ["a", "b"], "ok": true, "zip": "07460"}"# + "\n"
                      + #"{"id": 2, "at": "2024-01-06T11:30:00+02:00", "tags": [], "ok": false, "zip": "10001", "note": null}"# + "\n")
        try box.write("events/b.json", "[\n  {\"id\": 3, \"at\": \"2024-01-07T00:00:00Z\", \"ok\": true, \"zip\": \"\", \"extra\": 2.50}\n]\n")
        try box.write("events/c.json", "{\n  \"id\": 4,\n  \"tags\": {\"nested\": [1, 2]}\n}\n")
        try box.loadOnce()
        #expect(try box.count("events") == 4)
        #expect(try box.scalar("SELECT at || '|' || tags || '|' || ok || '|' || zip FROM events WHERE id=2")?.text
                == "2024-01-06 09:30:00Z|[]|0|10001")
        #expect(try box.scalar("SELECT zip FROM events WHERE id=1")?.text == "07460")
        #expect(try box.scalar("SELECT quote(zip) FROM events WHERE id=3")?.text == "''")  // an empty JSON string is not NULL
        #expect(try box.scalar("SELECT extra FROM events WHERE id=3")?.text == "2.5")
        #expect(try box.scalar("SELECT tags FROM events WHERE id=4")?.text == #"{"nested":[1,2]}"#)
    }

    /// Keys are matched against the previous record's keys at the same position first: records that reorder,
    /// drop or add keys must still put every value in its own column.
    @Test func recordsThatChangeTheirKeysOrderLoadByName() throws {
        let box = try Sandbox()
        try box.write("t/a.jsonl", """
            {"a": 1, "b": "x", "c": true}
            {"b": "y", "a": 2}
            {"c": false, "a": 3, "b": "z"}
            {"a": 4, "b": "w", "c": true}
            {"a": 5, "bb": null, "b": "v"}
            {"a": 6, "b": "u", "c": false}

            """)
        try box.loadOnce()
        #expect(try box.column("SELECT a || ':' || b || ':' || coalesce(c, '-') FROM t ORDER BY a")
                == ["1:x:1", "2:y:-", "3:z:0", "4:w:1", "5:v:-", "6:u:0"])
    }

    @Test func brokenJSONFailsWithALine() throws {
        let box = try Sandbox()
        try box.write("events/bad.jsonl", "{\"id\": 1}\n{\"id\": 2,\n")
        try box.loadOnce()
        let file = try #require(try box.catalog().files(table: "events", state: nil).first)
        #expect(file.state == .failed)
        #expect(file.error?.contains("events/bad.jsonl") == true)
    }

    /// Records are taken a line at a time once the file looks like NDJSON; a line that is not one whole record
    /// (two records on it, a record spread over lines) must still load every record, and errors keep their line.
    @Test func recordsNotOnePerLineStillLoadAfterOneLineRecords() throws {
        let box = try Sandbox()
        try box.write("events/mixed.jsonl", #"{"id": 1, "v": "a"}"# + "\n" + #"{"id": 2, "v": "b"}"# + "\n"
                      + #"{"id": 3, "v": "c"} {"id": 4, "v": "d"}"# + "\n{\n  \"id\": 5,\n  \"v\": \"e\"\n}\n" + #"{"id": 6, "v": "f"}"# + "\n")
        try box.write("broken/bad.jsonl", "{\"id\": 1}\n{\"id\": 2}\n{\"id\": 3}\n\n{\"id\": 4,\n")
        try box.loadOnce()
        #expect(try box.scalar("SELECT count(*) || '|' || sum(id) || '|' || group_concat(v, '') FROM (SELECT * FROM events ORDER BY id)")?.text == "6|21|abcdef")
        let file = try #require(try box.catalog().files(table: "broken", state: nil).first)
        #expect(file.state == .failed)
        #expect(file.error?.contains("line 5") == true, "\(file.error ?? "")")
    }
}

@Suite struct EncodingLoadTests {
    @Test func utf16AndLatin1AreTranscoded() throws {
        let box = try Sandbox()
        let text = "name,born\nMüller,3/8/1971\n😀 Zoë,12/25/1980\n"
        var utf16: [UInt8] = [0xFF, 0xFE]
        for unit in text.utf16 { utf16 += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
        try box.write("people/a.csv", bytes: utf16)
        try box.write("people/b.csv", bytes: Array("name,born\n".utf8) + [0x47, 0x72, 0xFC, 0xDF] + Array(",1/31/1999\n".utf8))  // "Grüß" in Latin-1
        try box.loadOnce()
        #expect(try box.scalar("SELECT group_concat(name || '=' || born, ';') FROM (SELECT * FROM people ORDER BY born)")?.text
                == "Müller=1971-03-08;😀 Zoë=1980-12-25;Grüß=1999-01-31")
    }
}
