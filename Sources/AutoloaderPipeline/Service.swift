import AutoloaderCore
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// The long-running service: discover → plan → load, continuously. One load at a time per table,
/// up to `workers` tables at once; each load opens its own warehouse connection.
public final class LoaderService: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Full listing even without file events: a lost event costs at most this much latency.
        public var reconcileSeconds: Double = 5
        public var workers = 2
        public init() {}
    }

    public typealias Backend = (warehouse: any Warehouse, catalog: any Catalog)

    let store: any ObjectStore
    let makeBackend: @Sendable () throws -> Backend
    let configuration: Configuration
    let log: @Sendable (String) -> Void
    private let wake = DispatchSemaphore(value: 0)
    private let lock = DispatchQueue(label: "autoloader.service.state")
    private var stopping = false
    private var running = Set<String>()
    private var notBefore: [String: (time: DispatchTime, failures: Int)] = [:]
    private let group = DispatchGroup()
    private let workersQueue = DispatchQueue(label: "autoloader.loads", attributes: .concurrent)

    public init(store: any ObjectStore, configuration: Configuration = .init(),
                log: @escaping @Sendable (String) -> Void, makeBackend: @escaping @Sendable () throws -> Backend) {
        self.store = store
        self.configuration = configuration
        self.log = log
        self.makeBackend = makeBackend
    }

    /// Asks the service to stop: loads in progress finish (their transaction commits or rolls back), nothing starts.
    public func stop() {
        lock.sync { stopping = true }
        wake.signal()
    }

    public var isStopping: Bool { lock.sync { stopping } }

    /// Runs until `stop()`. Returns after every started load has ended.
    public func run() throws {
        var main: Backend? = try makeBackend()
        try main?.catalog.prepare(readOnly: false)
        let discoverer = Discoverer(store: store, catalog: main!.catalog)
        let watch = try store.watch { [wake] in wake.signal() }
        log("watching \(store.location)\(watch == nil ? " (listing every \(configuration.reconcileSeconds)s)" : " (file events + listing every \(configuration.reconcileSeconds)s)")")
        defer { watch?.stop() }
        while !isStopping {
            var unsettled = 0
            do {
                // After a lost connection (warehouse restarted), connect again; files already seen stay known.
                let backend = try main ?? makeBackend()
                if main == nil {
                    main = backend
                    discoverer.catalog = backend.catalog
                    log("reconnected to the catalog")
                }
                let pass = try discoverer.scan()
                unsettled = pass.unsettled
                for f in pass.recorded { log("discovered \(f.key) → table \(f.table) (\(f.size) bytes)") }
                try dispatchLoads(catalog: backend.catalog)
            } catch {
                if AutoloaderError.isTransient(error) { main = nil }
                log("discovery: \(error) (retrying)")
            }
            let timeout = unsettled > 0 ? 0.1 : configuration.reconcileSeconds
            _ = wake.wait(timeout: .now() + timeout)
        }
        group.wait()
        log("stopped")
    }

    private func dispatchLoads(catalog: any Catalog) throws {
        for table in try catalog.tablesWithPendingFiles() {
            let start: Bool = lock.sync {
                guard !stopping, !running.contains(table), running.count < configuration.workers else { return false }
                if let gate = notBefore[table], gate.time > .now() { return false }
                running.insert(table)
                return true
            }
            guard start else { continue }
            group.enter()
            workersQueue.async { [self] in
                defer {
                    lock.sync { _ = running.remove(table) }
                    group.leave()
                    wake.signal()
                }
                loadNextBatch(table: table)
            }
        }
    }

    private func loadNextBatch(table: String) {
        do {
            let backend = try makeBackend()
            guard let record = try backend.catalog.table(named: table), record.status == .active else { return }
            let batch = try backend.catalog.nextBatch(table: table, maxFiles: record.options.maxFilesPerLoad, maxBytes: record.options.maxBytesPerLoad)
            guard !batch.isEmpty else { return }
            let summary = try Self.load(store: store, backend: backend, table: table, files: batch)
            lock.sync { _ = notBefore.removeValue(forKey: table) }
            log(Self.describe(summary))
        } catch {
            // Transient (busy database, connection lost): back off exponentially, the files are pending again.
            let failures = lock.sync { (notBefore[table]?.failures ?? 0) + 1 }
            let delay = min(60.0, 0.2 * Double(1 << min(failures, 9)))
            lock.sync { notBefore[table] = (.now() + delay, failures) }
            log("load of \(table) failed: \(error); retrying in \(String(format: "%.1f", delay))s")
        }
    }

    /// Rows through the loader (SQLite, PostgreSQL), or by reference for a warehouse that reads the files itself (Redshift).
    static func load(store: any ObjectStore, backend: Backend, table: String, files: [FileRecord],
                     progress: (@Sendable (Int64) -> Void)? = nil) throws -> LoadSummary {
        if let copying = backend.warehouse as? any CopyingWarehouse {
            return try ManifestLoader(store: store, warehouse: copying, catalog: backend.catalog).load(table: table, files: files)
        }
        var loader = Loader(store: store, warehouse: backend.warehouse, catalog: backend.catalog)
        loader.progress = progress
        return try loader.load(table: table, files: files)
    }

    public static func describe(_ s: LoadSummary) -> String {
        var line = "load \(s.loadID.map(String.init) ?? "-") \(s.table): \(s.status.rawValue), \(s.files.count) file(s), \(s.rowsLoaded) rows"
        if s.rowsRejected > 0 { line += ", \(s.rowsRejected) rejected" }
        for f in s.files where f.state != .loaded { line += "\n  \(f.key): \(f.state.rawValue)\(f.error.map { " — \($0)" } ?? "")" }
        return line
    }

    /// One-shot: record every file now (no settling wait) and load until nothing is pending. Used by `autoloader load`.
    public func runOnce(progress: (@Sendable (String, Int64, Int64) -> Void)? = nil) throws -> [LoadSummary] {
        var backend = try makeBackend()
        try backend.catalog.prepare(readOnly: false)
        let discoverer = Discoverer(store: store, catalog: backend.catalog)
        discoverer.settledAfterNanos = 0
        _ = try discoverer.scan()
        var summaries: [LoadSummary] = []
        var attempts: [String: Int] = [:]
        while !isStopping {
            let tables = try backend.catalog.tablesWithPendingFiles()
            if tables.isEmpty { break }
            for table in tables where !isStopping {
                guard let record = try backend.catalog.table(named: table) else { continue }
                let batch = try backend.catalog.nextBatch(table: table, maxFiles: record.options.maxFilesPerLoad, maxBytes: record.options.maxBytesPerLoad)
                let total = batch.reduce(0) { $0 + $1.size }
                var perFile: (@Sendable (Int64) -> Void)?
                if let progress { perFile = { progress(table, $0, total) } }
                do {
                    summaries.append(try Self.load(store: store, backend: backend, table: table, files: batch, progress: perFile))
                } catch {
                    // Transient (another process holds the table, a busy database): wait and try again, a while.
                    attempts[table, default: 0] += 1
                    guard AutoloaderError.isTransient(error), attempts[table, default: 0] < 200 else { throw error }
                    usleep(UInt32(min(1_000_000, 20_000 * attempts[table]!)))
                    if let fresh = try? makeBackend() { backend = fresh }
                }
            }
        }
        return summaries
    }
}
