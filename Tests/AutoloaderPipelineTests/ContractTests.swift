import AutoloaderCore
import AutoloaderPipeline
import Foundation
import AutoloaderTestSupport
import Testing

/// One contract, every warehouse: the same files and the same expectations for SQLite and PostgreSQL.
/// SQL here is the common subset (CAST … AS TEXT, ORDER BY), so the assertions read the same for both.
/// (ORDER BY names are table-qualified: in PostgreSQL a bare name would sort by the text output column.)
@Suite struct ContractTests {
    @Test(arguments: Backend.testable) func appendDuplicateAndOverwrite(backend: Backend) throws {
        let box = try Sandbox(backend)
        try box.write("orders/a.csv", orders)
        try box.loadOnce()
        try box.write("orders/b.csv", moreOrders)
        try box.write("orders/copy.csv", orders)
        try box.loadOnce()
        #expect(try box.column("SELECT CAST(id AS TEXT) FROM orders ORDER BY orders.id") == ["1", "2", "3", "4", "5"])
        #expect(try box.catalog().files(table: "orders", state: .duplicate).map(\.key) == ["orders/copy.csv"])
        try box.write("orders/a.csv", "id,customer,amount,ordered_on\n10,zed,7.00,2024-04-01\n", mtimeOffset: -2)
        try box.loadOnce()
        let afterOverwrite = try box.column("SELECT CAST(id AS TEXT) FROM orders ORDER BY orders.id")
        let files = try box.catalog().files(table: "orders", state: nil).map { "\($0.key) \($0.state) \($0.error ?? "")" }
        // a's old rows are replaced; copy.csv, a duplicate of a's old content, still holds 1-3 and now loads them itself.
        #expect(afterOverwrite == ["1", "2", "3", "4", "5", "10"], "\(files)")
        #expect(try box.column("SELECT _source_file FROM orders ORDER BY orders.id") == Array(repeating: "orders/copy.csv", count: 3) + ["orders/b.csv", "orders/b.csv", "orders/a.csv"])
        #expect(try box.column("SELECT CAST(ordered_on AS TEXT) FROM orders WHERE id >= 4 ORDER BY orders.id") == ["2024-03-01", "2024-03-02", "2024-04-01"])
        #expect(try box.column("SELECT CAST(CAST(amount * 100 AS INTEGER) AS TEXT) FROM orders WHERE id >= 4 ORDER BY orders.id") == ["100", "200", "700"])
        #expect(try box.loadOnce().isEmpty)
    }

    @Test(arguments: Backend.testable) func partitionsNullsAndKeywords(backend: Backend) throws {
        let box = try Sandbox(backend)
        try box.write("events/day=2024-01-01/a.csv", "id,select,when\n1,x,2024-01-01 10:00:00\n2,,\n")
        try box.write("events/day=2024-01-02/b.csv", "id,select,when\n3,z,2024-01-02 11:30:00\n")
        try box.loadOnce()
        #expect(try box.column("SELECT day FROM events ORDER BY events.id") == ["2024-01-01", "2024-01-01", "2024-01-02"])
        #expect(try box.column("SELECT \"select\" FROM events ORDER BY events.id") == ["x", "NULL", "z"])
        #expect(try box.column("SELECT CAST(\"when\" AS TEXT) FROM events ORDER BY events.id") == ["2024-01-01 10:00:00", "NULL", "2024-01-02 11:30:00"])
    }

    @Test(arguments: Backend.testable) func onErrorPolicies(backend: Backend) throws {
        let box = try Sandbox(backend)
        try box.catalog().setOptions(table: "scores", try TableOptions().merging(json: #"{"on_error": "abort_file"}"#))
        try box.write("scores/good.csv", "id,name,score\n7,g,70\n", mtimeOffset: -10)
        try box.write("scores/ragged.csv", ragged)
        try box.loadOnce()
        #expect(try box.count("scores") == 1)
        let failedLoad = try #require(try box.catalog().loads(table: "scores", status: .failed).first)
        #expect(try box.catalog().errors(loadID: failedLoad.id).map(\.line) == [4])
        try box.catalog().setOptions(table: "scores", try TableOptions().merging(json: #"{"on_error": "skip_rows"}"#))
        #expect(try box.catalog().retry(loadID: failedLoad.id) == 1)
        try box.loadOnce()
        #expect(try box.count("scores") == 5)
        let last = try #require(try box.catalog().loads(table: "scores", status: nil).last)
        #expect(last.rowsRejected == 2)
        #expect(try box.catalog().errors(loadID: last.id).map(\.line) == [4, 6])
    }

    @Test(arguments: Backend.testable) func jsonParquetAndCompressed(backend: Backend) throws {
        let box = try Sandbox(backend)
        let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
        try box.write("flat/a.parquet", bytes: [UInt8](try Data(contentsOf: fixtures.appendingPathComponent("parquet_flat.parquet"))))
        try box.write("docs/a.jsonl", #"{"id": 1, "tags": ["a"], "at": "2024-01-05T10:00:00Z"}"# + "\n" + #"{"id": 2, "tags": [], "at": null}"# + "\n")
        try box.loadOnce()
        #expect(try box.count("flat") == 8)
        #expect(try box.column("SELECT CAST(c_date AS TEXT) FROM flat ORDER BY flat.c_int64 LIMIT 2") == ["2024-01-31", "2024-04-20"])
        #expect(try box.column("SELECT CAST(id AS TEXT) FROM docs ORDER BY docs.id") == ["1", "2"])
        #expect(try box.column("SELECT tags FROM docs ORDER BY docs.id").map { $0.replacingOccurrences(of: " ", with: "") } == [#"["a"]"#, "[]"])
    }

    /// Parquet is filled into batches column by column; partition values and lineage are then added per row.
    @Test(arguments: Backend.testable) func parquetInPartitionsKeepsNullsPartitionsAndLineage(backend: Backend) throws {
        let box = try Sandbox(backend)
        let parquet = [UInt8](try Data(contentsOf: Bundle.module.resourceURL!.appendingPathComponent("Fixtures/parquet_flat.parquet")))
        try box.write("flat/day=2024-01-02/b.parquet", bytes: parquet)
        try box.loadOnce()
        #expect(try box.column("SELECT CAST(day AS TEXT) || ' ' || _source_file || ' ' || CAST(count(*) AS TEXT) || ' ' || CAST(count(c_int32) AS TEXT) || ' '"
                               + " || CAST(count(c_string) AS TEXT) || ' ' || CAST(count(c_timestamptz) AS TEXT) FROM flat GROUP BY day, _source_file ORDER BY day")
                == ["2024-01-02 flat/day=2024-01-02/b.parquet 8 6 7 5"])
        #expect(try box.column("SELECT c_string FROM flat WHERE day = '2024-01-02' ORDER BY flat.c_int64") == ["alpha", "NULL", "", "a longer string value", "07460", "2024-01-31", "true", "Ünïcödé"])
    }

    /// Records scanned in their bytes (the loading path) load exactly what the value parser (kept for `rescue`)
    /// loads: escapes, surrogate pairs, a lone surrogate, raw newlines in strings, keys with escapes or out of
    /// order, nested values with whitespace, missing keys, nulls, booleans, exponents.
    @Test(arguments: Backend.testable) func scannedJSONEqualsParsedJSON(backend: Backend) throws {
        let box = try Sandbox(backend)
        var text = #"{"id": 1, "s": "tab\tquote\" back\\ slash \/ \u00e9 \ud83d\ude00 \ud800x", "n": 1.5e3, "b": true, "o": { "k" : [ 1 , "a b" ] }, "x": null}"# + "\n"
        text += #"{"b": false, "id": 2, "n": -0.25, "s": "line"# + "\n" + #"break", "o": [], "x": "v"}"# + "\n"
        text += #"{"id": 3, "s\u0020": 1, "n": 7}"# + "\n"
        text += #"{"id": 4}"# + "\n"
        text += #"{"id": 5, "s": "ünï©ødé", "n": 1}"# + "\n"
        let bytes = Array(text.utf8)
        try box.write("scan/a.json", bytes: bytes, mtimeOffset: -10)
        try box.write("vals/a.json", bytes: bytes, mtimeOffset: -10)
        try box.catalog().setOptions(table: "vals", try TableOptions().merging(json: #"{"evolution": "rescue"}"#))
        try box.loadOnce()
        #expect(try box.count("scan") == 5)
        for column in ["id", "s", "n", "b", "o", "x"] {
            let sql = { (t: String) in "SELECT CAST(\(SQLIdentifier.quoted(column)) AS TEXT) FROM \(t) ORDER BY \(t).id" }
            #expect(try box.column(sql("scan")) == box.column(sql("vals")), "\(column)")
        }
        #expect(try box.column("SELECT s FROM scan WHERE id = 1") == ["tab\tquote\" back\\ slash / é 😀 \u{FFFD}x"])
        #expect(try box.column("SELECT s FROM scan WHERE id = 5") == ["ünï©ødé"])
        // `s\u0020` is the key `s `, not `s`: that record has no `s`.
        #expect(try box.column("SELECT CAST(id AS TEXT) FROM scan WHERE s IS NULL ORDER BY scan.id") == ["3", "4"])
    }

    /// Parquet read page by page: three row groups of many small pages, data page v1 and v2, nulls, dictionary
    /// and plain columns (Fixtures/make_parquet_pages.py printed the sums).
    @Test(arguments: Backend.testable) func parquetManyPagesAndRowGroups(backend: Backend) throws {
        let box = try Sandbox(backend)
        let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
        for v in ["v1", "v2"] {
            try box.write("p\(v)/a.parquet", bytes: [UInt8](try Data(contentsOf: fixtures.appendingPathComponent("parquet_pages_\(v).parquet"))))
        }
        try box.loadOnce()
        for t in ["pv1", "pv2"] {
            #expect(try box.column("""
                SELECT CAST(count(*) AS TEXT) || ' ' || CAST(sum(qty) AS TEXT) || ' ' || CAST(sum(CASE WHEN qty IS NULL THEN 1 ELSE 0 END) AS TEXT)
                  || ' ' || CAST(sum(price) AS TEXT) || ' ' || CAST(count(name) AS TEXT) || ' ' || CAST(count(note) AS TEXT)
                  || ' ' || CAST(sum(length(note)) AS TEXT) FROM \(t)
                """) == ["5000 238920 714 2841591.25 4616 4706 137751"])
            #expect(try box.column("SELECT name || '|' || note FROM \(t) WHERE id = 4999") == ["name_49|note 4999 " + String(repeating: "x", count: 39)])
        }
    }

    /// Parquet's other encodings (pyarrow, `Fixtures/make_parquet_encodings.py`): DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY,
    /// DELTA_BYTE_ARRAY and BYTE_STREAM_SPLIT, data pages v1 and v2, zstd, nulls, two row groups of many pages; and the
    /// same rows under the LZ4_RAW and Brotli codecs.
    @Test(arguments: Backend.testable) func parquetEncodings(backend: Backend) throws {
        let box = try Sandbox(backend)
        let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
        for v in ["v1", "v2"] {
            try box.write("e\(v)/a.parquet", bytes: [UInt8](try Data(contentsOf: fixtures.appendingPathComponent("parquet_encodings_\(v).parquet"))))
        }
        for codec in ["lz4", "brotli"] {
            try box.write("c\(codec)/a.parquet", bytes: [UInt8](try Data(contentsOf: fixtures.appendingPathComponent("parquet_codec_\(codec).parquet"))))
        }
        try box.loadOnce()
        for t in ["ev1", "ev2", "clz4", "cbrotli"] {
            let files = try box.catalog().files(table: t, state: nil)
            #expect(files.map(\.state) == [.loaded], "\(files.map { $0.error ?? "" })")
            #expect(try box.column("""
                SELECT CAST(count(*) AS TEXT) || ' ' || CAST(sum(id) AS TEXT) || ' ' || CAST(sum(small) AS TEXT) || ' ' || CAST(sum(big) AS TEXT)
                  || ' ' || CAST(count(big) AS TEXT) || ' ' || CAST(sum(length(word)) AS TEXT) || ' ' || CAST(count(word) AS TEXT)
                  || ' ' || CAST(sum(length(path)) AS TEXT) || ' ' || CAST(sum(ratio) AS TEXT) || ' ' || CAST(CAST(sum(score) AS BIGINT) AS TEXT) FROM \(t)
                """) == ["3000 4501500 -1500 40010009999976006 2667 26261 2728 135000 562687.5 5400000"])
            #expect(try box.column("SELECT word || ' ' || path FROM \(t) WHERE id = 2999") == ["wwwwwwwww2999 s3://bucket/year=2024/month=11/part-02999.csv"])
        }
    }

    /// Parquet decimals keep every digit, and UUIDs are text: INT32, INT64 and FIXED_LEN_BYTE_ARRAY(16) unscaled values, negative ones, nulls
    /// (they went through a Double, which lost digits past 15 and wrapped past 18). SQLite's NUMERIC affinity turns
    /// long decimals into REALs whatever it is given, so there only the 9-digit column is compared.
    @Test(arguments: Backend.testable) func parquetDecimalsAreExact(backend: Backend) throws {
        let box = try Sandbox(backend)
        let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
        try box.write("dec/a.parquet", bytes: [UInt8](try Data(contentsOf: fixtures.appendingPathComponent("parquet_decimals.parquet"))))
        try box.loadOnce()
        if backend == .postgres {
            #expect(try box.column("SELECT COALESCE(CAST(d32 AS TEXT), '-') || ' ' || COALESCE(CAST(d64 AS TEXT), '-') || ' ' || COALESCE(CAST(d38 AS TEXT), '-') FROM dec ORDER BY id")
                    == ["1234567.89 -123456789012345.678 12345678901234567890123456789012345.678",
                        "-0.05 0.001 -98765432109876543210987654321098765.432", "- 999999999999999.999 -0.001", "0.00 - -"])
        } else {
            #expect(try box.column("SELECT COALESCE(CAST(d32 AS TEXT), '-') FROM dec ORDER BY id") == ["1234567.89", "-0.05", "-", "0"])
        }
        // UUID logical type: the canonical text form.
        #expect(try box.column("SELECT COALESCE(u, '-') FROM dec ORDER BY id")
                == ["12345678-9abc-def0-1234-56789abcdef0", "00000000-0000-0000-0000-000000000000", "-", "ffffffff-ffff-ffff-ffff-ffffffffffff"])
    }

    /// A file DuckDB wrote (`Fixtures/make_parquet_duckdb.py`: its own writer, dictionary pages, decimals as INT64,
    /// UUID, dates, timestamps, nulls) loads row for row as pyarrow reads it back.
    @Test(arguments: Backend.testable) func parquetWrittenByDuckDB(backend: Backend) throws {
        let box = try Sandbox(backend)
        let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
        try box.write("duck/a.parquet", bytes: [UInt8](try Data(contentsOf: fixtures.appendingPathComponent("parquet_duckdb.parquet"))))
        try box.loadOnce()
        #expect(try box.column("""
            SELECT CAST(count(*) AS TEXT) || ' ' || CAST(sum(id) AS TEXT) || ' ' || CAST(CAST(sum(dbl) AS BIGINT) AS TEXT)
              || ' ' || CAST(CAST(sum(dec) * 10 AS BIGINT) AS TEXT) || ' ' || CAST(sum(qty) AS TEXT)
              || ' ' || CAST(sum(CASE WHEN qty IS NULL THEN 1 ELSE 0 END) AS TEXT) || ' ' || CAST(sum(CASE WHEN flag THEN 1 ELSE 0 END) AS TEXT) FROM duck
            """) == ["3000 4501500 6752250 50641875 142627 428 1500"])
        #expect(try box.column("SELECT name || ' ' || CAST(day AS TEXT) || ' ' || CAST(ts AS TEXT) || ' ' || u FROM duck WHERE id = 3000")
                == ["name_0 2024-03-21 2024-01-01 00:50:00 00000000-0000-0000-0000-000000003000"])
    }

    /// Nested columns (`Fixtures/make_parquet_nested.py`: structs in structs, lists of lists, lists of structs, maps
    /// with string and integer keys, null vs empty lists, null elements, temporal and decimal values inside, data
    /// pages v1 and v2, dictionary on and off, lists straddling pages and row groups; and a file DuckDB wrote) load
    /// as JSON values equal, row for row, to what pyarrow reads back. Unsigned 32- and 64-bit integers keep their top bit.
    @Test(arguments: Backend.testable) func parquetNestedColumns(backend: Backend) throws {
        let box = try Sandbox(backend)
        let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
        let files = [("nest_v1", "parquet_nested_v1", "parquet_nested_pyarrow"), ("nest_v2", "parquet_nested_v2", "parquet_nested_pyarrow"),
                     ("nest_duck", "parquet_nested_duckdb", "parquet_nested_duckdb")]
        for (table, file, _) in files {
            try box.write("\(table)/a.parquet", bytes: [UInt8](try Data(contentsOf: fixtures.appendingPathComponent("\(file).parquet"))))
        }
        try box.loadOnce()
        for (table, _, expectedName) in files {
            let states = try box.catalog().files(table: table, state: nil)
            #expect(states.map(\.state) == [.loaded], "\(table): \(states.map { $0.error ?? "" })")
            let lines = try String(contentsOf: fixtures.appendingPathComponent("\(expectedName).jsonl"), encoding: .utf8).split(separator: "\n")
            let expected = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? NSDictionary) }
            #expect(try box.count(table) == Int64(expected.count))
            let nested = ["s", "li", "ll", "ls", "m", "mi", "rl", "t"].filter { expected[0][$0] != nil }
            try expectColumns(box, table: table, nested, expected: expected) { _ in .json }
        }
        #expect(try box.column("SELECT CAST(u32 AS TEXT) FROM nest_v1 WHERE id = 1500") == ["2147485148"])
        if backend != .sqlite {  // SQLite's NUMERIC affinity keeps 20 digits only as a REAL
            #expect(try box.column("SELECT CAST(u64 AS TEXT) FROM nest_v2 WHERE id = 1500") == ["9223372038354780308"])
        }
    }

    /// Avro files fastavro wrote (`Fixtures/make_avro.py`: every codec, blocks of ~4 KB, primitive, logical, enum,
    /// fixed, union and nested types) load with every value equal to what fastavro reads back.
    @Test(arguments: Backend.testable) func avroCodecsAndTypes(backend: Backend) throws {
        let box = try Sandbox(backend)
        let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
        let codecs = ["null", "deflate", "snappy", "zstandard", "bzip2"]
        for codec in codecs {
            try box.write("avro_\(codec)/a.avro", bytes: [UInt8](try Data(contentsOf: fixtures.appendingPathComponent("avro_\(codec).avro"))))
        }
        try box.loadOnce()
        let lines = try String(contentsOf: fixtures.appendingPathComponent("avro_expected.jsonl"), encoding: .utf8).split(separator: "\n")
        let expected = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? NSDictionary) }
        let nested: Set<String> = ["address", "nums", "counts", "either", "items", "groups"]
        let numeric: Set<String> = ["score", "ratio", "price", "big"]
        let temporal: Set<String> = ["day", "tm", "tu", "at_ms", "at_us", "local"]
        for codec in codecs {
            let table = "avro_\(codec)"
            let files = try box.catalog().files(table: table, state: nil)
            #expect(files.map(\.state) == [.loaded], "\(table): \(files.map { $0.error ?? "" })")
            #expect(try box.count(table) == Int64(expected.count))
            try expectColumns(box, table: table, ["id", "name", "n", "score", "ratio", "ok", "raw", "color", "tag", "day", "tm", "tu", "at_ms", "at_us",
                                                  "local", "price", "big", "uid", "address", "nums", "counts", "either", "items", "groups"],
                              expected: expected) { column in
                nested.contains(column) ? .json : numeric.contains(column) ? .number : temporal.contains(column) ? .temporal
                    : column == "ok" ? .boolean : .exact
            }
        }
        if backend != .sqlite {  // exact to the last of 38 digits (SQLite keeps them as a REAL)
            #expect(try box.column("SELECT CAST(big AS TEXT) || ' ' || CAST(price AS TEXT) FROM avro_zstandard WHERE id = 1")
                    == ["-123456789012345678901234567890001.0001 -199.63"])
        }
    }

    /// Damaged Avro files fail alone, located (the file, the block, the record): one cut short, one with a block
    /// overwritten, one in a codec we do not read; a good one beside them loads. A table whose Avro schema gains a field
    /// gains the column; one whose field changes from long to text gets what the warehouse's evolution gives any format.
    @Test(arguments: Backend.testable) func damagedAvroFilesFailLocatedAndSchemasEvolve(backend: Backend) throws {
        let box = try Sandbox(backend)
        let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
        func fixture(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: fixtures.appendingPathComponent(name))) }
        try box.write("bad/cut.avro", bytes: Array(try fixture("avro_deflate.avro").dropLast(300)))
        var garbled = try fixture("avro_null.avro")
        for i in 50_000..<50_400 { garbled[i] = UInt8(truncatingIfNeeded: i &* 131) }
        try box.write("bad/garbled.avro", bytes: garbled)
        try box.write("bad/xz.avro", bytes: try fixture("avro_xz.avro"))
        try box.write("bad/good.avro", bytes: try fixture("avro_snappy.avro"))
        try box.loadOnce()
        let files = Dictionary(uniqueKeysWithValues: try box.catalog().files(table: "bad", state: nil).map { ($0.key, $0) })
        #expect(files["bad/good.avro"]?.state == .loaded)
        for (key, reason) in [("bad/cut.avro", "truncated"), ("bad/garbled.avro", "Avro"), ("bad/xz.avro", "codec 'xz' is not supported")] {
            #expect(files[key]?.state == .failed, "\(key): \(files[key]?.state.rawValue ?? "-") \(files[key]?.error ?? "")")
            let error = files[key]?.error ?? ""
            #expect(error.contains(key) && error.contains(reason) && error.components(separatedBy: key).count == 2, "\(error)")
        }
        #expect(files["bad/garbled.avro"]?.error?.contains("block") == true)
        #expect(try box.count("bad") == 1000)

        for k in 1...3 {
            try box.write("evolve/\(k).avro", bytes: try fixture("avro_evolve_\(k).avro"), mtimeOffset: Double(k - 10))
            try box.loadOnce()
        }
        let evolved = try box.catalog().files(table: "evolve", state: nil)
        #expect(evolved.prefix(2).map(\.state) == [.loaded, .loaded])
        #expect(try box.column("SELECT CAST(extra AS TEXT) FROM evolve WHERE name = 'n5'") == ["2.5"])
        #expect(try box.catalog().schemaHistory(table: "evolve").contains { $0.change.contains("extra") })
        // SQLite's columns take any value; PostgreSQL's bigint does not, and says which column and value.
        let third = try #require(evolved.first { $0.key == "evolve/3.avro" })
        if backend == .sqlite {
            #expect(third.state == .loaded)
        } else {
            #expect(third.state == .failed && third.error?.contains("column id") == true && third.error?.contains("'x-6'") == true, "\(third.error ?? "")")
        }
    }

    /// Every flat type pyarrow writes, with every codec it offers, and INT96 timestamps
    /// (`Fixtures/make_parquet_types.py`): each value equal to what pyarrow reads back.
    @Test(arguments: Backend.testable) func parquetEveryTypeAndCodec(backend: Backend) throws {
        let box = try Sandbox(backend)
        let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
        let codecs = ["none", "snappy", "gzip", "brotli", "lz4", "zstd", "int96"]
        for codec in codecs {
            try box.write("pt_\(codec)/a.parquet", bytes: [UInt8](try Data(contentsOf: fixtures.appendingPathComponent("parquet_types_\(codec).parquet"))))
        }
        try box.loadOnce()
        let lines = try String(contentsOf: fixtures.appendingPathComponent("parquet_types.jsonl"), encoding: .utf8).split(separator: "\n")
        let expected = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? NSDictionary) }
        let numeric: Set<String> = ["f16", "f32", "f64", "dec", "u64"]
        let temporal: Set<String> = ["d32", "t_ms", "t_us", "ts_s", "ts_ms", "ts_us_utc", "ts_ns", "ts_ns_utc"]
        for codec in codecs {
            let table = "pt_\(codec)"
            let files = try box.catalog().files(table: table, state: nil)
            #expect(files.map(\.state) == [.loaded], "\(table): \(files.map { $0.error ?? "" })")
            #expect(try box.count(table) == Int64(expected.count))
            let columns = codec == "int96" ? ["ts_s", "ts_ms", "ts_us_utc", "ts_ns"]
                : ["i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64", "f16", "f32", "f64", "b", "s", "ls", "bin", "fixed", "d32", "t_ms", "t_us",
                   "ts_s", "ts_ms", "ts_us_utc", "ts_ns", "ts_ns_utc", "dec", "uid", "js"]
            try expectColumns(box, table: table, columns, expected: expected) { column in
                column == "js" ? .jsonText : numeric.contains(column) ? .number : temporal.contains(column) ? .temporal
                    : column == "b" ? .boolean : .exact
            }
        }
        if backend != .sqlite {  // every digit of a UINT_64 above 2^63 (SQLite keeps 20 digits only as a REAL)
            #expect(try box.column("SELECT CAST(u64 AS TEXT) FROM pt_zstd WHERE id = 2") == ["18446744073709551614"])
        }
    }

    /// How a loaded column's text is compared with what the writer's own reader gave back (`Fixtures/loader_text.py`).
    enum Comparison { case exact, number, boolean, temporal, json, jsonText }

    /// Every row of `columns` of `table` (ordered by id) against `expected`, one dictionary per row; a column's
    /// mismatches are reported together, the first two shown. Numbers compare as doubles (SQLite keeps long decimals
    /// as REALs), booleans as 1/true, times with their `Z` or `+00` dropped, JSON as parsed values.
    func expectColumns(_ box: Sandbox, table: String, _ columns: [String], expected: [NSDictionary],
                       comparison: (String) -> Comparison) throws {
        func normalized(_ text: String) -> String {
            text.hasSuffix("Z") ? String(text.dropLast()) : text.hasSuffix("+00") ? String(text.dropLast(3)) : text
        }
        func parsed(_ text: String) -> NSObject? { try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed) as? NSObject }
        for column in columns {
            let loaded = try box.column("SELECT CAST(\(column) AS TEXT) FROM \(table) ORDER BY \(table).id")
            var mismatches: [String] = []
            for (row, text) in loaded.enumerated() {
                let want = row < expected.count ? expected[row][column] ?? NSNull() : NSNull()
                let same: Bool
                if want is NSNull {
                    same = text == "NULL"
                } else {
                    switch comparison(column) {
                    case .json: same = parsed(text)?.isEqual(want) == true
                    case .jsonText: same = parsed(text).map { $0.isEqual(parsed("\(want)")) } == true
                    case .number:
                        let number = (want as? NSNumber)?.doubleValue ?? Double("\(want)") ?? .nan
                        same = Double(text).map { abs($0 - number) <= 1e-9 * max(1, abs(number)) } ?? false
                    case .boolean: same = ["1", "true", "t"].contains(text) == (want as? NSNumber)?.boolValue
                    case .temporal: same = normalized(text) == normalized("\(want)")
                    case .exact: same = text == "\(want)"
                    }
                }
                if !same { mismatches.append("row \(row + 1): \(text) ≠ \(want)") }
            }
            #expect(loaded.count == expected.count && mismatches.isEmpty, "\(table).\(column): \(mismatches.count) rows differ, first \(mismatches.prefix(2))")
        }
    }

    /// Damaged Parquet files fail alone, each with its file named and the reason, and the others load: a footer cut
    /// short, pages overwritten with garbage, and a column chunk in a codec we do not read (LZO).
    @Test(arguments: Backend.testable) func damagedParquetFilesFailLocated(backend: Backend) throws {
        let box = try Sandbox(backend)
        let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
        let good = [UInt8](try Data(contentsOf: fixtures.appendingPathComponent("parquet_encodings_v2.parquet")))
        try box.write("bad/cut.parquet", bytes: Array(good.dropLast(60)) + Array("PAR1".utf8))
        var garbled = good
        for i in 2_000..<6_000 { garbled[i] = UInt8(truncatingIfNeeded: i &* 131) }
        try box.write("bad/garbled.parquet", bytes: garbled)
        try box.write("bad/good.parquet", bytes: good)
        try box.write("lzo/a.parquet", bytes: [UInt8](try Data(contentsOf: fixtures.appendingPathComponent("parquet_codec_lzo.parquet"))))
        try box.loadOnce()
        let lzo = try box.catalog().files(table: "lzo", state: nil)
        #expect(lzo.map(\.state) == [.failed] && lzo.first?.error?.contains("lzo/a.parquet") == true
                && lzo.first?.error?.contains("codec lzo is not supported") == true, "\(lzo.map { $0.error ?? "" })")
        let files = Dictionary(uniqueKeysWithValues: try box.catalog().files(table: "bad", state: nil).map { ($0.key, $0) })
        #expect(files["bad/good.parquet"]?.state == .loaded)
        for key in ["bad/cut.parquet", "bad/garbled.parquet"] {
            #expect(files[key]?.state == .failed, "\(key): \(files[key]?.state.rawValue ?? "-") \(files[key]?.error ?? "")")
            #expect(files[key]?.error?.contains(key) == true && files[key]?.error?.contains("Parquet") == true, "\(files[key]?.error ?? "")")
        }
        #expect(try box.count("bad") == 3000)
    }

    @Test(arguments: Backend.testable) func pauseReloadAndTheCatalog(backend: Backend) throws {
        let box = try Sandbox(backend)
        try box.write("orders/a.csv", orders, mtimeOffset: -3600)
        try box.loadOnce()
        try box.catalog().setStatus(table: "orders", .paused)
        try box.write("orders/b.csv", moreOrders)
        try box.loadOnce()
        #expect(try box.count("orders") == 3)
        try box.catalog().setStatus(table: "orders", .active)
        try box.loadOnce()
        #expect(try box.count("orders") == 5)
        #expect(try box.catalog().reload(table: "orders", sinceNanos: WallClock.nowNanos() - 60_000_000_000) == 1)
        try box.loadOnce()
        #expect(try box.count("orders") == 5)
        let tables = try box.catalog().tables()
        #expect(tables.map(\.name) == ["orders"])
        #expect(tables.first?.schema?.columns.map(\.name) == ["id", "customer", "amount", "ordered_on"])
    }

    @Test(arguments: Backend.testable) func laterFilesWidenAndAddColumns(backend: Backend) throws {
        let box = try Sandbox(backend)
        try box.write("m/a.csv", "id,n\n1,5\n2,6\n", mtimeOffset: -10)
        try box.loadOnce()
        try box.write("m/b.csv", "id,n,extra\n3,70000,x\n")
        try box.write("m/c.csv", "id,n\n4,12.5\n")
        try box.loadOnce()
        #expect(try box.column("SELECT CAST(n AS TEXT) FROM m ORDER BY m.id").map { $0.replacingOccurrences(of: ".0", with: "") } == ["5", "6", "70000", "12.5"])
        #expect(try box.column("SELECT extra FROM m ORDER BY m.id") == ["NULL", "NULL", "x", "NULL"])
        if backend == .postgres {
            // smallint → integer → numeric, recorded in the schema history.
            #expect(try box.column("SELECT data_type FROM information_schema.columns WHERE table_name='m' AND column_name='n'") == ["numeric"])
            #expect(try box.column("SELECT change FROM autoloader.schema_history ORDER BY id").contains { $0.contains("ALTER COLUMN \"n\" TYPE") })
        }
    }

    /// JSON in wrapper objects: `{"data": [...]}` and API pages with metadata are found by themselves; concatenated
    /// wrappers (one per response) by json_path; `$` keeps a file as one record; a truncated wrapper fails, located.
    @Test(arguments: Backend.testable) func jsonRecordsInWrapperObjects(backend: Backend) throws {
        let box = try Sandbox(backend)
        try box.write("wrapped/a.json", #"{"data": [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}], "meta": {"n": 2}}"#)
        try box.write("pages/a.json", "{\"count\": 2, \"next\": null, \"results\": [\n {\"id\": 1, \"v\": \"a\"},\n {\"id\": 2, \"v\": \"b\"}\n], \"tail\": [1]}\n")
        try box.write("responses/a.json", "{\"data\": [{\"id\": 1}]}\n{\"data\": []}\n{\"data\": [{\"id\": 2}, {\"id\": 3}]}\n")
        try box.write("whole/a.json", #"{"data": [{"id": 1}], "meta": {"n": 1}}"#)
        try box.write("cut/a.json", "{\"data\": [{\"id\": 1},\n{\"id\": 2}")
        try box.catalog().setOptions(table: "responses", try TableOptions().merging(json: #"{"json_path": "data"}"#))
        try box.catalog().setOptions(table: "whole", try TableOptions().merging(json: #"{"json_path": "$"}"#))
        try box.loadOnce()
        #expect(try box.column("SELECT CAST(id AS TEXT) || v FROM wrapped ORDER BY wrapped.id") == ["1a", "2b"])
        #expect(try box.column("SELECT CAST(id AS TEXT) || v FROM pages ORDER BY pages.id") == ["1a", "2b"])
        #expect(try box.column("SELECT CAST(id AS TEXT) FROM responses ORDER BY responses.id") == ["1", "2", "3"])
        #expect(try box.count("whole") == 1)
        let cut = try box.catalog().files(table: "cut", state: .failed).first
        #expect(cut?.error?.contains("cut/a.json:2") == true && cut?.error?.contains("not closed") == true, "\(cut?.error ?? "no failed file")")
    }

    /// Deeply nested values stay JSON and never crash anything: into PostgreSQL, a value nested deeper than
    /// Limits.maxJSONDepth is a located bad row (its server would fail the whole COPY); SQLite keeps it as text.
    @Test(arguments: Backend.testable) func deeplyNestedJSONValues(backend: Backend) throws {
        let box = try Sandbox(backend)
        let deep = String(repeating: "[", count: 100_000) + "1" + String(repeating: "]", count: 100_000)
        let fine = String(repeating: "[", count: 500) + "1" + String(repeating: "]", count: 500)
        try box.write("deep/a.json", "{\"id\": 1, \"d\": {\"x\": 1}}\n{\"id\": 2, \"d\": \(deep)}\n{\"id\": 3, \"d\": \(fine)}\n")
        try box.loadOnce()
        let file = try #require(try box.catalog().files(table: "deep", state: nil).first)
        if backend == .postgres {
            #expect(file.state == .loadedWithErrors)
            #expect(try box.column("SELECT CAST(id AS TEXT) FROM deep ORDER BY deep.id") == ["1", "3"])
            let rejected = try box.catalog().errors(loadID: try #require(file.loadID))
            #expect(rejected.first?.line == 2 && rejected.first?.column == "d", "\(rejected)")
            #expect(rejected.first?.reason.contains("nested at most 1000 levels") == true)
        } else {
            #expect(file.state == .loaded)
            #expect(try box.column("SELECT CAST(length(d) AS TEXT) FROM deep WHERE id = 2") == ["200001"])
        }
    }

    /// schema_changes=hold: a file that would add or widen columns waits `held` with its proposed change; files that
    /// fit the table go on loading; approve applies the change and loads the file; reject fails it with the reason.
    @Test(arguments: Backend.testable) func heldSchemaChangesWaitForApproval(backend: Backend) throws {
        let box = try Sandbox(backend)
        try box.write("t/a.csv", "id,name\n1,ann\n", mtimeOffset: -30)
        try box.loadOnce()
        try box.catalog().setOptions(table: "t", try TableOptions().merging(json: #"{"schema_changes": "hold"}"#))
        try box.write("t/b.csv", "id,name,email\n2,bob,b@x.org\n", mtimeOffset: -20)
        try box.write("t/c.csv", "id,name\n3,cy\n", mtimeOffset: -10)
        try box.loadOnce()
        #expect(try box.column("SELECT CAST(id AS TEXT) FROM t ORDER BY t.id") == ["1", "3"])
        let held = try box.catalog().files(table: "t", state: .held)
        #expect(held.map(\.key) == ["t/b.csv"])
        #expect(held.first?.error?.contains("add column email") == true, "\(held.first?.error ?? "")")
        let columns = backend == .postgres
            ? "SELECT column_name FROM information_schema.columns WHERE table_name='t' ORDER BY ordinal_position"
            : "SELECT name FROM pragma_table_info('t') ORDER BY cid"
        #expect(try !box.column(columns).contains("email"))
        #expect(try box.catalog().tablesWithPendingFiles().isEmpty)  // a held file is not retried by itself

        #expect(try box.catalog().approve(table: "t") == 1)
        try box.loadOnce()
        #expect(try box.column(columns).contains("email"))
        #expect(try box.column("SELECT CAST(id AS TEXT) || ':' || COALESCE(email, '-') FROM t ORDER BY t.id") == ["1:-", "2:b@x.org", "3:-"])
        #expect(try box.catalog().schemaHistory(table: "t").contains { $0.change.contains("email") })

        try box.write("t/d.csv", "id,name,phone\n4,dee,555\n")
        try box.loadOnce()
        #expect(try box.catalog().files(table: "t", state: .held).map(\.key) == ["t/d.csv"])
        #expect(try box.catalog().reject(table: "t", reason: "phone numbers are not wanted") == 1)
        let rejected = try box.catalog().files(table: "t", state: .failed).first
        #expect(rejected?.key == "t/d.csv")
        #expect(rejected?.error?.hasPrefix("phone numbers are not wanted — schema change held") == true, "\(rejected?.error ?? "")")
        #expect(try !box.column(columns).contains("phone"))
        #expect(throws: AutoloaderError.self) { try box.catalog().approve(table: "nope") }
    }

    /// `rescue` on Parquet (read row by row then): a later file's columns the table lacks — flat and nested — go to
    /// `_rescued_data` by name; a null is not rescued.
    @Test(arguments: Backend.testable) func parquetColumnsTheTableLacksAreRescued(backend: Backend) throws {
        let box = try Sandbox(backend)
        let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
        func parquet(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: fixtures.appendingPathComponent(name))) }
        try box.write("t/a.parquet", bytes: try parquet("parquet_decimals.parquet"), mtimeOffset: -20)
        try box.loadOnce()
        try box.catalog().setOptions(table: "t", try TableOptions().merging(json: #"{"evolution": "rescue"}"#))
        try box.write("t/b.parquet", bytes: try parquet("parquet_nested.parquet"), mtimeOffset: -10)
        try box.loadOnce()
        #expect(try box.count("t") == 9)
        let rescued = try box.column("SELECT CAST(_rescued_data AS TEXT) FROM t WHERE _source_file = 't/b.parquet' ORDER BY t.id")
        // JSON text in SQLite, JSONB (its own key order and spacing) in PostgreSQL: compared as objects.
        let objects = try rescued.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(objects.map { $0.keys.sorted() } == [["customer", "items", "note", "tags"], ["customer", "items", "tags"],
                                                     ["items", "note", "tags"], ["customer", "tags"], ["customer", "items", "note", "tags"]])
        #expect(objects.map { $0["note"] as? String } == ["first", nil, "third", nil, "fifth order"])
        #expect((objects[0]["customer"] as? [String: Any])?["name"] as? String == "Ann")
        #expect(objects[0]["tags"] as? [String] == ["vip", "early"])
    }

    /// Evolution policies once the table exists: `fail` refuses the file (located), `freeze` drops unknown
    /// columns (recorded) and keeps the types, `rescue` keeps unknown columns and misfit values in `_rescued_data`.
    @Test(arguments: Backend.testable) func evolutionPolicies(backend: Backend) throws {
        let box = try Sandbox(backend)
        for t in ["f", "z", "r"] { try box.write("\(t)/a.csv", "id,n\n1,5\n2,6\n", mtimeOffset: -10) }
        try box.write("j/a.json", #"{"id": 1, "n": 5}"# + "\n", mtimeOffset: -10)
        try box.loadOnce()
        for (t, policy) in [("f", "fail"), ("z", "freeze"), ("r", "rescue"), ("j", "rescue")] {
            try box.catalog().setOptions(table: t, try TableOptions().merging(json: #"{"evolution": "\#(policy)", "on_error": "skip_rows"}"#))
        }
        // n is INTEGER (a sample's small numbers get headroom): 7000000000 does not fit.
        let later = "id,n,extra\n3,7000000000,x\n4,7,\n"
        for t in ["f", "z", "r"] { try box.write("\(t)/b.csv", later) }
        try box.write("j/b.json", #"{"id": 2, "n": 9999999999, "extra": {"deep": [1, "two"]}}"# + "\n" + #"{"id": 3, "n": 8, "late": "x\"y"}"# + "\n")
        try box.loadOnce()

        // fail: nothing of b.csv, a located reason naming both differences.
        #expect(try box.column("SELECT CAST(id AS TEXT) FROM f ORDER BY f.id") == ["1", "2"])
        let failed = try box.catalog().files(table: "f", state: .failed).first
        #expect(failed?.key == "f/b.csv")
        #expect(failed?.error?.contains("f/b.csv:1") == true && failed?.error?.contains("column extra is not in the table") == true
            && failed?.error?.contains("evolution=fail") == true, "\(failed?.error ?? "")")

        // freeze: extra is dropped and recorded; n keeps its type, so 70000 is a bad row where types are checked.
        let frozenColumns = try box.column(backend == .postgres
            ? "SELECT column_name FROM information_schema.columns WHERE table_name='z' ORDER BY ordinal_position"
            : "SELECT name FROM pragma_table_info('z') ORDER BY cid")
        #expect(!frozenColumns.contains("extra"))
        let zLoad = try #require(try box.catalog().files(table: "z", state: nil).first { $0.key == "z/b.csv" }?.loadID)
        let notes = try box.catalog().errors(loadID: zLoad).map { "\($0.column ?? "") \($0.reason)" }
        #expect(notes.contains { $0.hasPrefix("extra column not in the table") }, "\(notes)")
        if backend == .postgres {
            #expect(try box.column("SELECT CAST(id AS TEXT) FROM z ORDER BY z.id") == ["1", "2", "4"])
            #expect(notes.contains { $0.hasPrefix("n ") && $0.contains("7000000000") })
        } else {
            #expect(try box.column("SELECT CAST(id AS TEXT) FROM z ORDER BY z.id") == ["1", "2", "3", "4"])
        }

        // rescue: every row loads; what the table cannot take is in _rescued_data, by column name.
        let rescuedCSV = try box.column("SELECT CAST(_rescued_data AS TEXT) FROM r ORDER BY r.id")
        #expect(try box.column("SELECT CAST(id AS TEXT) FROM r ORDER BY r.id") == ["1", "2", "3", "4"])
        if backend == .postgres {
            #expect(rescuedCSV == ["NULL", "NULL", #"{"n": "7000000000", "extra": "x"}"#, "NULL"])
            #expect(try box.column("SELECT CAST(n AS TEXT) FROM r ORDER BY r.id") == ["5", "6", "NULL", "7"])
        } else {
            #expect(rescuedCSV == ["NULL", "NULL", #"{"extra":"x"}"#, "NULL"])
        }
        let rescuedJSON = try box.column("SELECT CAST(_rescued_data AS TEXT) FROM j ORDER BY j.id")
        if backend == .postgres {
            #expect(rescuedJSON == ["NULL", #"{"n": 9999999999, "extra": {"deep": [1, "two"]}}"#, #"{"late": "x\"y"}"#])
        } else {
            #expect(rescuedJSON == ["NULL", #"{"extra":{"deep":[1,"two"]}}"#, #"{"late":"x\"y"}"#])
        }
    }

    /// Every detected type reaches its column type, and values arrive as ISO text where they are dates.
    @Test(arguments: Backend.testable) func everyTypeMapsAndRoundTrips(backend: Backend) throws {
        let box = try Sandbox(backend)
        try box.write("t/a.csv", """
            flag,small,int,big,price,ratio,day,at,seen,zoned,name
            true,1,70000,5000000000,12.50,0.125,03/08/1971,13:45:00,2024-01-31 10:00:00,2024-01-31T10:00:00+02:00,ann
            false,-2,-70000,-5000000000,-3.75,1e-3,12/25/1980,00:00:01,2024-02-29 23:59:59,2024-02-29T23:59:59Z,bob

            """)
        try box.write("d/a.json", #"{"id": 1, "doc": {"k": [1, 2]}}"# + "\n")
        try box.loadOnce()
        if backend == .postgres {
            #expect(try box.column("SELECT data_type FROM information_schema.columns WHERE table_name='t' ORDER BY ordinal_position") == [
                "boolean", "integer", "integer", "bigint", "numeric", "double precision", "date", "time without time zone",
                "timestamp without time zone", "timestamp with time zone", "text", "text",
            ])
            #expect(try box.column("SELECT data_type FROM information_schema.columns WHERE table_name='d' AND column_name='doc'") == ["jsonb"])
            #expect(try box.column("SELECT CAST(doc -> 'k' ->> 1 AS TEXT) FROM d") == ["2"])
            #expect(try box.column("SELECT CAST(zoned AT TIME ZONE 'UTC' AS TEXT) FROM t ORDER BY t.small DESC") == ["2024-01-31 08:00:00", "2024-02-29 23:59:59"])
        }
        #expect(try box.column("SELECT CAST(day AS TEXT) FROM t ORDER BY t.small DESC") == ["1971-03-08", "1980-12-25"])
        #expect(try box.column("SELECT CAST(big AS TEXT) FROM t ORDER BY t.small DESC") == ["5000000000", "-5000000000"])
        #expect(try box.column("SELECT CAST(seen AS TEXT) FROM t ORDER BY t.small DESC") == ["2024-01-31 10:00:00", "2024-02-29 23:59:59"])
        #expect(try box.column("SELECT name FROM t ORDER BY t.small DESC") == ["ann", "bob"])
    }

    /// An object rewritten within the same second at the same size (S3 times are whole seconds) differs by its
    /// version (ETag): a new version, not the same file; the same version again is known.
    @Test(arguments: Backend.testable) func versionIsPartOfTheIdentity(backend: Backend) throws {
        let box = try Sandbox(backend)
        let catalog = try box.catalog()
        let landing = try #require(LandingKey.classify(ObjectInfo(key: "orders/a.csv", size: 5, modifiedNanos: 0)))
        let first = ObjectInfo(key: "orders/a.csv", size: 5, modifiedNanos: 1_700_000_000_000_000_000, version: "\"etag-1\"")
        guard case .new = try catalog.record(object: first, as: landing) else { Issue.record("first sight is new"); return }
        guard case .known = try catalog.record(object: first, as: landing) else { Issue.record("same version is known"); return }
        var rewritten = first
        rewritten.version = "\"etag-2\""
        guard case let .newVersion(file) = try catalog.record(object: rewritten, as: landing) else { Issue.record("new ETag is a new version"); return }
        #expect(file.version == "\"etag-2\"")
    }

    /// Text that COPY's text format must escape, and integers at their edges, arrive byte for byte.
    @Test(arguments: Backend.testable) func escapesAndIntegerEdges(backend: Backend) throws {
        let box = try Sandbox(backend)
        try box.write("e/a.csv", "id,big,note\n1,-9223372036854775808,\"back\\slash\ttab\"\n2,9223372036854775807,\"line\nbreak\rcr\"\n3,0,\\N\n")
        try box.loadOnce()
        #expect(try box.column("SELECT note FROM e ORDER BY e.id") == ["back\\slash\ttab", "line\nbreak\rcr", "\\N"])
        #expect(try box.column("SELECT CAST(big AS TEXT) FROM e ORDER BY e.id") == ["-9223372036854775808", "9223372036854775807", "0"])
    }
}
