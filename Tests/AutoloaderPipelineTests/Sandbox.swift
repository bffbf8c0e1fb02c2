import AutoloaderApp
import AutoloaderCore
import AutoloaderPipeline
import AutoloaderPostgres
import AutoloaderSQLite
import AutoloaderStores
import Foundation
import AutoloaderTestSupport
import Testing

/// The warehouses the contract tests run against. PostgreSQL is the throwaway server scripts/test starts
/// (AUTOLOADER_TEST_POSTGRES): its cases exist when it is there or under CI=true (where, missing, they fail);
/// otherwise `postgresIsHere` reports them skipped.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres
    var testDescription: String { rawValue }

    static var testable: [Backend] { Gate.postgres ? allCases : [.sqlite] }
}

@Suite struct BackendGate {
    /// Stands for the PostgreSQL cases of every contract test: skipped (with its reason) when they did not run.
    @Test(.needsPostgres) func postgresIsHere() throws {
        let session = try PostgresSession(url: try PostgresURL(try Gate.requirePostgres()))
        defer { session.close() }
        #expect(try session.query("SELECT 1").first?.first == "1")
    }
}

/// A temporary landing folder and warehouse, and the program built from them by `Build`, as the CLI builds it.
final class Sandbox: @unchecked Sendable {
    let root: URL
    let backend: Backend
    var landing: URL { root.appendingPathComponent("landing") }
    var database: String { root.appendingPathComponent("autoloader.sqlite").path }
    /// PostgreSQL: a fresh database per sandbox on the test server.
    private(set) var postgresURL: PostgresURL?
    private var postgresText: String?

    /// What `autoloader run --source landing --warehouse …` would be built from.
    var configuration: Configuration {
        var c = Configuration(warehouse: postgresText ?? "sqlite:\(database)", source: landing.path)
        c.service.reconcileSeconds = 0.5
        return c
    }

    init(_ backend: Backend = .sqlite) throws {
        self.backend = backend
        root = FileManager.default.temporaryDirectory.appendingPathComponent("autoloader-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("landing"), withIntermediateDirectories: true)
        if backend == .postgres {
            let server = try Gate.requirePostgres()
            let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
            let admin = try PostgresSession(url: try PostgresURL(server))
            try admin.execute("CREATE DATABASE \(name)")
            admin.close()
            var components = URLComponents(string: server)!
            components.path = "/" + name
            postgresURL = try PostgresURL(components.string!)
            postgresText = components.string!
        }
    }

    deinit {
        try? FileManager.default.removeItem(at: root)
        if let url = postgresURL, let server = Gate.postgresURL, let admin = try? PostgresSession(url: try PostgresURL(server)) {
            _ = try? admin.execute("DROP DATABASE IF EXISTS \(url.database) WITH (FORCE)")
            admin.close()
        }
    }

    func makeBackend() throws -> LoaderService.Backend { try Build.backend(configuration) }

    /// Writes a file under landing/ (folders created); `mtimeOffset` moves its modification time.
    @discardableResult
    func write(_ key: String, _ text: String, mtimeOffset: TimeInterval = -5) throws -> URL {
        try write(key, bytes: Array(text.utf8), mtimeOffset: mtimeOffset)
    }

    @discardableResult
    func write(_ key: String, bytes: [UInt8], mtimeOffset: TimeInterval = -5) throws -> URL {
        let url = landing.appendingPathComponent(key)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        // Files older than a second are settled: tests need not wait for the stability window.
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(mtimeOffset)], ofItemAtPath: url.path)
        return url
    }

    /// `store`: a test's own (one that fails on demand); by default the landing folder, as the CLI builds it.
    func service(store: (any ObjectStore)? = nil) throws -> LoaderService {
        try Build.service(configuration, store: store)
    }

    @discardableResult
    func loadOnce() throws -> [LoadSummary] { try service().runOnce() }

    func catalog() throws -> any Catalog {
        let c = try makeBackend().catalog
        try c.prepare(readOnly: false)
        return c
    }

    /// Rows as text (NULL as nil), from either backend: contract tests compare these.
    func query(_ sql: String) throws -> [[SQLValue]] {
        if let url = postgresURL {
            let session = try PostgresSession(url: url)
            defer { session.close() }
            return try session.query(sql).map { $0.map { $0.map { .text($0) } ?? .null } }
        }
        return try SQLiteConnection(path: database).query(sql)
    }

    /// A statement with no result, on either backend (tests that damage or age the catalog).
    func execute(_ sql: String) throws {
        if let url = postgresURL {
            let session = try PostgresSession(url: url)
            defer { session.close() }
            try session.execute(sql)
            return
        }
        try SQLiteConnection(path: database).execute(sql)
    }

    func count(_ table: String) throws -> Int64 {
        try query("SELECT count(*) FROM \(SQLIdentifier.quoted(table))").first?.first?.int ?? -1
    }

    /// Values of one column, in order, as text (`NULL` for null).
    func column(_ sql: String) throws -> [String] {
        try query(sql).map { $0.first.flatMap { $0.text } ?? "NULL" }
    }

    func scalar(_ sql: String) throws -> SQLValue? { try query(sql).first?.first }
}
