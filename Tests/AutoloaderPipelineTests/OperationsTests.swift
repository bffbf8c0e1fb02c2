import AutoloaderCore
import AutoloaderTestSupport
import Foundation
import Testing

@Suite struct OperationsTests {
    @Test func pausedTableRecordsButDoesNotLoadUntilResumed() throws {
        let box = try Sandbox()
        try box.write("orders/a.csv", orders)
        try box.loadOnce()
        try box.catalog().setStatus(table: "orders", .paused)
        try box.write("orders/b.csv", moreOrders)
        try box.loadOnce()
        #expect(try box.count("orders") == 3)
        #expect(try box.catalog().files(table: "orders", state: .pending).map(\.key) == ["orders/b.csv"])
        try box.catalog().setStatus(table: "orders", .active)
        try box.loadOnce()
        #expect(try box.count("orders") == 5)
    }

    @Test func reloadSinceLoadsAgainWithoutDoubling() throws {
        let box = try Sandbox()
        try box.write("orders/old.csv", orders, mtimeOffset: -3600)
        try box.write("orders/new.csv", moreOrders, mtimeOffset: -10)
        try box.loadOnce()
        let loadsBefore = try box.catalog().loads(table: "orders", status: nil).count
        let since = WallClock.nowNanos() - 60 * 1_000_000_000
        #expect(try box.catalog().reload(table: "orders", sinceNanos: since) == 1)
        try box.loadOnce()
        #expect(try box.count("orders") == 5)
        #expect(try box.catalog().loads(table: "orders", status: nil).count == loadsBefore + 1)
        #expect(try box.catalog().files(table: "orders", state: .loaded).count == 2)
    }

    @Test func retryQueuesTheFailedFilesOfALoad() throws {
        let box = try Sandbox()
        try box.catalog().setOptions(table: "scores", try TableOptions().merging(json: #"{"on_error": "abort_file"}"#))
        try box.write("scores/seed.csv", "id,name,score\n0,z,0\n", mtimeOffset: -10)
        try box.write("scores/ragged.csv", ragged)
        try box.loadOnce()
        let failedLoad = try #require(try box.catalog().loads(table: "scores", status: .failed).first)
        try box.catalog().setOptions(table: "scores", try TableOptions().merging(json: #"{"on_error": "skip_rows"}"#))
        #expect(try box.catalog().retry(loadID: failedLoad.id) == 1)
        try box.loadOnce()
        #expect(try box.count("scores") == 5)
        #expect(throws: AutoloaderError.self) { try box.catalog().retry(loadID: 9999) }
    }

    @Test func batchesAreOldestFirstAndBounded() throws {
        let box = try Sandbox()
        for i in 0..<5 { try box.write("orders/f\(i).csv", "id\n\(i)\n", mtimeOffset: Double(-100 + i)) }
        try box.loadOnce()  // creates the table with default options (100 files per load)
        let c = try box.catalog()
        try c.setOptions(table: "orders", try TableOptions().merging(json: #"{"max_files": 2}"#))
        for i in 5..<10 { try box.write("orders/f\(i).csv", "id\n\(i)\n", mtimeOffset: Double(-50 + i)) }
        try box.loadOnce()
        let loads = try c.loads(table: "orders", status: nil)
        #expect(loads.dropFirst().map(\.files.count) == [2, 2, 1])
        #expect(loads.dropFirst().flatMap(\.files) == (5..<10).map { "orders/f\($0).csv" })
    }
}

@Suite struct SeedSampleTests {
    /// The seed's own sample files load end to end; the hostile `comments` column arrives byte for byte
    /// (checked against sqlite3's own CSV importer on the same files).
    @Test func seedCSVsLoadByteForByte() throws {
        let box = try Sandbox()
        let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/user_data_csv")
        for i in 1...5 {
            let text = try Data(contentsOf: fixtures.appendingPathComponent("userdata\(i).csv"))
            try box.write("user_data/userdata\(i).csv", bytes: [UInt8](text))
        }
        try box.loadOnce()
        #expect(try box.count("user_data") == 5000)
        #expect(try box.scalar("SELECT birthdate FROM user_data WHERE id=1 AND _source_file='user_data/userdata1.csv'")?.text == "1971-03-08")
        #expect(try box.scalar("SELECT registration_dttm FROM user_data WHERE id=1 AND _source_file='user_data/userdata1.csv'")?.text == "2016-02-03 07:55:29Z")
        #expect(try Subprocess.run("sqlite3", [box.database, "-cmd", ".mode csv", ".import \(box.landing.path)/user_data/userdata1.csv ref"]).status == 0)
        let differing = try box.scalar("""
            SELECT count(*) FROM ref r JOIN user_data u ON u._source_file='user_data/userdata1.csv' AND u.id = CAST(r.id AS INTEGER)
            WHERE coalesce(u.comments, '') <> r.comments OR coalesce(u.email, '') <> r.email OR u.last_name <> r.last_name
            """)?.int
        #expect(differing == 0)
        #expect(try box.scalar("SELECT count(*) FROM ref")?.int == 1000)
    }
}

@Suite struct ParquetLoadTests {
    static let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    @Test func seedParquetTwinsLoadAndMatchTheCSVs() throws {
        let box = try Sandbox()
        for i in 1...5 {
            try box.write("users_csv/userdata\(i).csv", bytes: [UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent("user_data_csv/userdata\(i).csv"))))
            try box.write("users_pq/userdata\(i).parquet", bytes: [UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent("user_data_parquet/userdata\(i).parquet"))))
        }
        try box.loadOnce()
        #expect(try box.count("users_pq") == 5000)
        let schema = try box.catalog().table(named: "users_pq")?.schema?.columns.map { "\($0.name) \($0.type.kind.rawValue)" }
        #expect(schema?.prefix(3) == ["registration_dttm timestamp", "id integer", "first_name varchar"])
        #expect(try box.scalar("SELECT registration_dttm || '|' || salary FROM users_pq WHERE id=1 AND _source_file='users_pq/userdata1.parquet'")?.text
                == "2016-02-03 07:55:29|49756.53")
        // Row by row against the CSV twins. The seed's own twins differ in two rows (a naive comma split when
        // the Parquet files were made, and a "$9.28" salary in one CSV): those two, and only those, differ.
        let differing = try box.scalar("""
            SELECT count(*) FROM users_csv c JOIN users_pq p
              ON c.id = p.id AND replace(c._source_file, 'users_csv/', '') = replace(replace(p._source_file, 'users_pq/', ''), '.parquet', '.csv')
            WHERE c.last_name IS NOT p.last_name OR coalesce(c.first_name, '') IS NOT coalesce(p.first_name, '')
               OR c.salary IS NOT p.salary OR coalesce(c.country, '') IS NOT coalesce(p.country, '')
            """)?.int
        #expect(differing == 2)
    }

    @Test func flatTypesAndNestedColumnsLoad() throws {
        let box = try Sandbox()
        try box.write("flat/a.parquet", bytes: [UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent("parquet_flat.parquet"))))
        try box.write("nested/a.parquet", bytes: [UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent("parquet_nested.parquet"))))
        try box.loadOnce()
        #expect(try box.count("flat") == 8)
        #expect(try box.scalar("SELECT c_int8 || '|' || c_decimal || '|' || c_date || '|' || c_timestamptz FROM flat WHERE c_int16 = 32767")?.text
                == "127|-0.01|2024-03-11|2024-01-02 13:00:00.000123Z")
        #expect(try box.column("SELECT customer || ' ' || tags || ' ' || items FROM nested ORDER BY id LIMIT 2") == [
            #"{"name":"Ann","age":34} ["vip","early"] [{"sku":"A-1","qty":2}]"#,
            #"{"name":"Ben","age":null} [] [{"sku":"B-2","qty":1},{"sku":"C-3","qty":5}]"#])
        #expect(try box.column("SELECT coalesce(customer, 'NULL') || ' ' || items FROM nested WHERE id = 3") == ["NULL []"])
    }
}

@Suite struct HintTests {
    @Test func typeHintsWinOverDetection() throws {
        let box = try Sandbox()
        try box.write("seed/a.csv", "id\n1\n")
        try box.loadOnce()
        let c = try box.catalog()
        try c.setOptions(table: "seed", try TableOptions().merging(json: #"{"types": {"zip": "varchar(10)", "day": "date %d/%m/%Y"}}"#))
        try box.write("seed/b.csv", "id,zip,day,amount\n2,10001,01/02/2024,5\n3,60601,03/04/2024,6\n")
        try box.loadOnce()
        #expect(try box.scalar("SELECT typeof(zip) || ',' || day FROM seed WHERE id=2")?.text == "text,2024-02-01")
        #expect(try box.catalog().table(named: "seed")?.schema?.columns.first { $0.name == "zip" }?.type.kind == .varchar)
        #expect(throws: AutoloaderError.self) { try TableOptions().merging(json: #"{"types": {"zip": "zipcode"}}"#) }
    }

    @Test func allTextKeepsEveryValueAsWritten() throws {
        let box = try Sandbox()
        try box.write("raw/a.csv", "id\n1\n")
        try box.loadOnce()
        try box.catalog().setOptions(table: "raw", try TableOptions().merging(json: #"{"all_text": true}"#))
        try box.write("raw/b.csv", "id,amount,day\n2,5.50,3/8/2024\n")
        try box.loadOnce()
        #expect(try box.scalar("SELECT amount || '|' || day || '|' || typeof(amount) FROM raw WHERE day IS NOT NULL")?.text == "5.50|3/8/2024|text")
    }
}
