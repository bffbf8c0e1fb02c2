import AutoloaderTestSupport
import Foundation
import Testing

/// Redshift end to end through the CLI, on the Redshift double (statements run on PostgreSQL under Redshift's
/// rules; scripts/redshift_double.py): files as users land them, rows checked where Redshift would hold them.
struct RedshiftCLITests {
    func warehouse(_ w: Workdir, _ database: String) -> String {
        "redshift-serverless://etl/\(database)?iam_role=arn:aws:iam::123456789012:role/loader&catalog=sqlite:\(w.database.path)"
    }

    /// Issue 11, defects 7 and 8: what COPY cannot read as it is loads right — day-first next to month-first dates,
    /// several null spellings in a number column, backslash escapes, a trailing delimiter, Latin-1, a JSON file
    /// that is one top-level array.
    @Test(.needsS3, .needsPostgres) func filesCopyCannotReadAsTheyAreLoadRight() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let database = RedshiftDouble.freshDatabase()
        try s3.put(w, "dates/a.csv", "id,us,eu\n1,03/28/2024,28/03/2024\n2,12/31/1999,31/12/1999\n3,01/02/2003,13/01/2003\n")
        try s3.put(w, "nulls/a.csv", "id,n,note\n1,5,NA\n2,NA,x\n3,N/A,y\n4,7,\n")
        try s3.put(w, "escaped/a.csv", "id,text\n1,\"say \\\"hi\\\", ok\"\n2,\"back\\\\slash\"\n3,plain\n")
        try s3.put(w, "tail_delim/a.csv", "id,name,\n1,a,\n2,b,\n")
        let latin1 = w.url.appendingPathComponent("latin1.csv")
        try Data([UInt8]("id,name\n1,caf".utf8) + [0xE9] + [UInt8]("\n2,na".utf8) + [0xEF] + [UInt8]("ve\n".utf8)).write(to: latin1)
        #expect(s3.aws("s3 cp \(latin1.path) '\(s3.root)latin/a.csv'") == 0)
        try s3.put(w, "events/a.json", "[\n  {\"id\": 1, \"kind\": \"open\", \"tags\": [\"a\", \"b\"]},\n  {\"id\": 2, \"kind\": \"close\", \"tags\": []}\n]\n")
        let load = try CLI.run(["load", s3.root, "--endpoint", s3.endpoint, "--warehouse", warehouse(w, database)], in: w.url)
        #expect(load.status == 0, "\(load.stdout)\(load.stderr)")
        func rows(_ sql: String) throws -> String { try RedshiftDouble.psql(database, sql) }
        #expect(try rows("SELECT id, us, eu FROM dates ORDER BY id") == "1|2024-03-28|2024-03-28\n2|1999-12-31|1999-12-31\n3|2003-01-02|2003-01-13")
        #expect(try rows("SELECT id, coalesce(n::text, 'NULL'), coalesce(note, 'NULL') FROM nulls ORDER BY id") == "1|5|NA\n2|NULL|x\n3|NULL|y\n4|7|NULL")
        #expect(try rows("SELECT id, text FROM escaped ORDER BY id") == "1|say \"hi\", ok\n2|back\\slash\n3|plain")
        #expect(try rows("SELECT id, name FROM tail_delim ORDER BY id") == "1|a\n2|b")
        #expect(try rows("SELECT id, name FROM latin ORDER BY id") == "1|café\n2|naïve")
        #expect(try rows("SELECT id, kind, tags::text FROM events ORDER BY id") == "1|open|[\"a\", \"b\"]\n2|close|[]")
    }
}
