import Foundation

/// The Redshift double behind moto_server's Data API (scripts/redshift_double.py): each Data API database is a
/// PostgreSQL database of the same name on the test server, so a test takes a fresh one, looks at what Redshift
/// would hold with `psql`, and tells the double to fail, stall or hold a statement.
public enum RedshiftDouble {
    /// A database no other test uses.
    public static func freshDatabase() -> String {
        "rs_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
    }

    /// The test server's URL with another database.
    public static func postgresURL(database: String) throws -> String {
        var components = URLComponents(string: try Gate.requirePostgres())!
        components.path = "/" + database
        return components.string!
    }

    /// Runs SQL on the double's database (unaligned, tuples only, `|` between fields).
    @discardableResult
    public static func psql(_ database: String, _ sql: String) throws -> String {
        let r = try Subprocess.run("psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", try postgresURL(database: database), "-c", sql])
        guard r.status == 0 else { throw Gate.Missing(description: "psql on \(database): \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// What the double can be told (scripts/redshift_double.py lists them).
    public enum Fault: String, Sendable {
        case fail, serializable, throttle, active, stall, hold
        case slowSubmit = "slow_submit"
    }

    /// The next `times` submissions to `database` whose SQL contains `match` meet `fault`.
    public static func inject(_ fault: Fault, database: String, match: String = "", seconds: Double = 0, times: Int? = 1,
                              message: String? = nil) throws {
        func literal(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
        try psql("postgres", """
            CREATE TABLE IF NOT EXISTS redshift_double_faults (database TEXT NOT NULL, match TEXT NOT NULL DEFAULT '', \
            action TEXT NOT NULL, seconds FLOAT NOT NULL DEFAULT 0, times INT, message TEXT);
            INSERT INTO redshift_double_faults VALUES (\(literal(database)), \(literal(match)), \(literal(fault.rawValue)), \(seconds), \
            \(times.map(String.init) ?? "NULL"), \(message.map(literal) ?? "NULL"))
            """)
    }
}
