import AutoloaderCore
import Foundation

/// Where a PostgreSQL warehouse is, by libpq's rules: `postgres://user:password@host:port/db?sslmode=…&schema=…`,
/// with PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE filling what the URL leaves out, and
/// `~/.pgpass` (or PGPASSFILE) for the password. `description` never shows the password.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    public enum SSLMode: String, Sendable { case disable, allow, prefer, require, verifyCA = "verify-ca", verifyFull = "verify-full" }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    /// Where the loaded tables go; the catalog lives in `catalogSchema` of the same database.
    public var schema: String
    public var catalogSchema: String

    public var description: String { "postgres://\(user)@\(host):\(port)/\(database)?schema=\(schema)" }

    public init(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let components = URLComponents(string: text), ["postgres", "postgresql"].contains(components.scheme ?? "") else {
            throw AutoloaderError.usage("not a PostgreSQL URL: expected postgres://user:password@host:port/database")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, b in b })
        host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? query["host"] ?? environment["PGHOST"] ?? "localhost"
        port = components.port ?? query["port"].flatMap { Int($0) } ?? environment["PGPORT"].flatMap { Int($0) } ?? 5432
        user = components.user.flatMap { $0.isEmpty ? nil : $0 }?.removingPercentEncoding ?? query["user"] ?? environment["PGUSER"]
            ?? environment["USER"] ?? "postgres"
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? (query["dbname"] ?? environment["PGDATABASE"] ?? user) : (path.removingPercentEncoding ?? path)
        let mode = query["sslmode"] ?? environment["PGSSLMODE"] ?? "prefer"
        guard let ssl = SSLMode(rawValue: mode) else { throw AutoloaderError.usage("unknown sslmode '\(mode)'") }
        sslMode = ssl
        schema = query["schema"] ?? "public"
        catalogSchema = query["catalog_schema"] ?? "autoloader"
        password = components.password?.removingPercentEncoding ?? query["password"] ?? environment["PGPASSWORD"]
        if password == nil {
            password = Self.pgpass(host: host, port: port, database: database, user: user, environment: environment)
        }
    }

    /// `hostname:port:database:username:password`, `*` matching anything, `\:` an escaped colon.
    static func pgpass(host: String, port: Int, database: String, user: String, environment: [String: String]) -> String? {
        let path = environment["PGPASSFILE"] ?? (environment["HOME"].map { $0 + "/.pgpass" } ?? "")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            var fields: [String] = []
            var current = ""
            var escaped = false
            for c in line {
                if escaped { current.append(c); escaped = false } else if c == "\\" { escaped = true } else if c == ":" { fields.append(current); current = "" } else { current.append(c) }
            }
            fields.append(current)
            guard fields.count == 5 else { continue }
            let wanted = [host, String(port), database, user]
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }
}
