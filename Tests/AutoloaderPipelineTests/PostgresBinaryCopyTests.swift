import AutoloaderCore
import AutoloaderPostgres
import Foundation
import AutoloaderTestSupport
import Testing

/// Rows reach PostgreSQL in COPY's binary format. The oracle is the server's own text input: every loaded
/// value must equal the file's text cast to the column's type by PostgreSQL.
@Suite struct PostgresBinaryCopyTests {
    static let header = ["flag", "small", "num", "wide", "ratio", "day", "clock", "seen", "zoned", "name", "doc"]
    /// Values at the edges of each encoding: numeric groups, signs, zeros and scales; dates before 2000 and
    /// near both ends of the calendar; fractions past microseconds; offsets; bytes text COPY must escape.
    static let rows: [[String]] = [
        ["true", "1", "12.50", "0.0001", "0.125", "2000-01-01", "00:00:00", "2000-01-01 00:00:00", "2000-01-01T00:00:00Z", "plain", #"{"a":1}"#],
        ["false", "-32768", "-3.75", "-12345678.90123", "-1e-300", "1999-12-31", "23:59:59.999999", "1999-12-31 23:59:59.5",
         "1999-12-31T23:59:59.123456+05:30", "tab\tand \\ back", "[1,2]"],
        ["true", "32767", "0.00", "10000", "1.7976931348623157e308", "0001-01-01", "12:00:00.1234565", "0001-01-01 00:00:00.0000004",
         "2024-02-29T12:00:00-08:00", "line\nbreak", "{}"],
        ["false", "0", "-0.01", "99999999.99999", "0", "9999-12-31", "23:59:59.9999995", "9999-12-31 23:59:59.999999", "9999-12-31T23:59:59Z", "ünï©ødé", "null"],
        ["true", "7", "1000.5", "123456789012.123456", "-0.0", "1970-01-01", "07:05:03", "2024-02-29 23:59:59.9999996",
         "1970-01-01T00:00:00.000001Z", "x", #"{"k":[{"x":"y"}]}"#],
        ["", "", "", "", "", "", "", "", "", "", ""],
    ]

    static func csv(_ fields: [String]) -> String {
        fields.map { f in f.contains(where: { ",\"\n\t".contains($0) }) ? "\"" + f.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : f }
            .joined(separator: ",")
    }

    @Test(.needsPostgres) func binaryValuesEqualTheServersOwnTextParsing() throws {
        let box = try Sandbox(.postgres)
        try box.write("t/a.csv", ([Self.header] + Self.rows).map(Self.csv).joined(separator: "\n") + "\n")
        let summaries = try box.loadOnce()
        #expect(summaries.first?.rowsLoaded == Int64(Self.rows.count))
        #expect(try box.column("SELECT statement FROM autoloader.loads").first?.hasSuffix("WITH (FORMAT binary)") == true)
        let types = try box.query("""
            SELECT column_name, format_type(a.atttypid, a.atttypmod) FROM information_schema.columns i
            JOIN pg_attribute a ON a.attrelid = 't'::regclass AND a.attname = i.column_name
            WHERE i.table_name = 't' AND column_name <> '_source_file' ORDER BY i.ordinal_position
            """).map { ($0[0].text ?? "", $0[1].text ?? "") }
        #expect(types.map(\.0) == Self.header)
        #expect(types.map(\.1) == ["boolean", "integer", "numeric(18,2)", "numeric(18,6)", "double precision", "date",
                                   "time without time zone", "timestamp without time zone", "timestamp with time zone", "text", "text"])
        // The reference: the file's values as text parameters, cast by the server into a table of the same types.
        let url = try #require(box.postgresURL)
        let session = try PostgresSession(url: url)
        defer { session.close() }
        try session.execute("CREATE TABLE ref (\(types.map { "\(SQLIdentifier.quoted($0.0)) \($0.1)" }.joined(separator: ", ")))")
        let casts = types.enumerated().map { "CAST(CAST($\($0.offset + 1) AS TEXT) AS \($0.element.1))" }.joined(separator: ", ")
        for row in Self.rows {
            try session.query("INSERT INTO ref VALUES (\(casts))", row.map { $0.isEmpty ? nil : $0 })
        }
        let asText = types.map { "CAST(\(SQLIdentifier.quoted($0.0)) AS TEXT)" }.joined(separator: ", ")
        let ours = try session.query("SELECT \(asText) FROM t ORDER BY small NULLS LAST")
        let theirs = try session.query("SELECT \(asText) FROM ref ORDER BY small NULLS LAST")
        #expect(ours.count == Self.rows.count)
        for (a, b) in zip(ours, theirs) { #expect(a == b) }
    }

    /// A table created by hand with a type the binary encoder does not write (uuid) is loaded as text COPY.
    @Test(.needsPostgres) func aColumnWithoutABinaryEncoderLoadsAsText() throws {
        let box = try Sandbox(.postgres)
        try box.execute("CREATE TABLE u (id uuid, n integer)")
        try box.write("u/a.csv", "id,n\n6f1c1c4e-4c3a-4b6e-9d8e-1e2f3a4b5c6d,1\n")
        try box.loadOnce()
        #expect(try box.column("SELECT CAST(id AS TEXT) FROM u") == ["6f1c1c4e-4c3a-4b6e-9d8e-1e2f3a4b5c6d"])
        let statements = try box.column("SELECT statement FROM autoloader.loads")
        #expect(statements.count == 1 && statements.allSatisfy { $0.hasSuffix("FROM STDIN") }, "\(statements)")
    }

    /// A file the server refuses mid-COPY (text COPY, a bad uuid) fails alone: the next file of the same load
    /// loads whole, with nothing of the failed file's COPY in front of it.
    @Test(.needsPostgres) func aRefusedCopyDoesNotLeakIntoTheNextFile() throws {
        let box = try Sandbox(.postgres)
        try box.execute("CREATE TABLE u (id uuid, n integer)")
        try box.write("u/a.csv", "id,n\nnot-a-uuid,1\n")
        try box.write("u/b.csv", "id,n\n6f1c1c4e-4c3a-4b6e-9d8e-1e2f3a4b5c6d,2\n")
        try box.loadOnce()
        #expect(try box.column("SELECT CAST(n AS TEXT) FROM u") == ["2"])
        let files = try box.catalog().files(table: "u", state: nil)
        #expect(files.map { "\($0.key) \($0.state)" }.sorted() == ["u/a.csv failed", "u/b.csv loaded"], "\(files.map { ($0.key, $0.state, $0.error ?? "") })")
    }
}
