import AutoloaderCore
import AutoloaderPipeline
import AutoloaderSQLite
import AutoloaderStores
import Foundation

/// A temporary landing folder and SQLite warehouse, wired the way the CLI wires them.
final class Sandbox: @unchecked Sendable {
    let root: URL
    var landing: URL { root.appendingPathComponent("landing") }
    var database: String { root.appendingPathComponent("autoloader.sqlite").path }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("autoloader-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("landing"), withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: root) }

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

    func service(workers: Int = 2, reconcile: Double = 0.5) -> LoaderService {
        var configuration = LoaderService.Configuration()
        configuration.workers = workers
        configuration.reconcileSeconds = reconcile
        let path = database
        return LoaderService(store: LocalFolderStore(root: landing.path), configuration: configuration, log: { _ in }) {
            let warehouse = SQLiteWarehouse(connection: try SQLiteConnection(path: path))
            return (warehouse, warehouse.catalog)
        }
    }

    @discardableResult
    func loadOnce() throws -> [LoadSummary] { try service().runOnce() }

    func catalog() throws -> SQLiteCatalog {
        let c = try SQLiteCatalog(path: database)
        try c.prepare(recoverInterrupted: false)
        return c
    }

    func query(_ sql: String) throws -> [[SQLValue]] { try SQLiteConnection(path: database).query(sql) }

    func count(_ table: String) throws -> Int64 {
        try query("SELECT count(*) FROM \(SQLIdentifier.quoted(table))").first?.first?.int ?? -1
    }

    func scalar(_ sql: String) throws -> SQLValue? { try query(sql).first?.first }
}
