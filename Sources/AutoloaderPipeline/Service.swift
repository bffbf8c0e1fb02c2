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
        /// Seconds a file must look unchanged before it is recorded (a table's `settle_seconds` overrides it).
        public var settleSeconds: Double = 1
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
    /// Set by file events: something changed below the source since the last listing. A finished load also
    /// wakes the loop (to start the next), but lists nothing: a listing after every load walked the whole tree
    /// about as often as loads ran, and took half the CPU of `run` while thousands of small files loaded.
    private var changed = true
    private var connected = false
    private var scheduler: Scheduler
    private let group = DispatchGroup()
    private let workersQueue = DispatchQueue(label: "autoloader.loads", attributes: .concurrent)

    public init(store: any ObjectStore, configuration: Configuration = .init(),
                log: @escaping @Sendable (String) -> Void, makeBackend: @escaping @Sendable () throws -> Backend) {
        self.store = store
        self.configuration = configuration
        self.log = log
        self.makeBackend = makeBackend
        scheduler = Scheduler(workers: configuration.workers)
    }

    /// The shortest time between two listings (file events come by the thousand while files are copied in).
    static let minScanInterval = 0.25

    /// Seconds on a monotonic clock (the scheduler's time).
    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Asks the service to stop: loads in progress finish (their transaction commits or rolls back), nothing starts.
    public func stop() {
        lock.sync { stopping = true }
        wake.signal()
    }

    public var isStopping: Bool { lock.sync { stopping } }

    /// Whether the warehouse and catalog answered the last time the service asked (for `/ready`).
    public var isConnected: Bool { lock.sync { connected } }

    /// Waits `seconds`, or less if the service is asked to stop. Other wake-ups (a load ended, a file event)
    /// do not cut it short: this is a backoff.
    private func pause(_ seconds: Double) {
        let until = DispatchTime.now() + seconds
        while !isStopping, DispatchTime.now() < until { _ = wake.wait(timeout: until) }
    }

    /// Runs until `stop()`. Returns after every started load has ended. A warehouse that is down at start or
    /// goes away later is waited for, with backoff; only a terminal error (bad credentials, a catalog newer
    /// than this build) ends it.
    public func run() throws {
        var main: Backend?
        var discoverer: Discoverer?
        var connectFailures = 0
        var catalogBusy = false
        let watch = try store.watch { [self] in
            lock.sync { changed = true }
            wake.signal()
        }
        log("watching \(store.location)\(watch == nil ? " (listing every \(configuration.reconcileSeconds)s)" : " (file events + listing every \(configuration.reconcileSeconds)s)")")
        defer { watch?.stop() }
        // A listing after every file event would list thousands of times while `cp -r` writes thousands of files:
        // listings are at least `minScanInterval` apart, and files still settling are listed again when the first
        // of them can be recorded, not every 0.1 s. Loads are dispatched on every wake-up.
        var lastScan = -Double.infinity
        var settlesAt: Int64?  // set while files are settling
        while !isStopping {
            // A listing is due on a file event, on the reconcile interval, when settling files can be recorded,
            // and after one that failed; and never more often than minScanInterval.
            let due = lock.sync { changed } || Self.now() - lastScan >= configuration.reconcileSeconds
                || settlesAt.map { WallClock.nowNanos() >= $0 } == true
            let scanning = due && Self.now() - lastScan >= Self.minScanInterval
            var listed = false
            do {
                if main == nil {
                    let backend = try makeBackend()
                    try backend.catalog.prepare(readOnly: false)
                    main = backend
                    if let discoverer {
                        discoverer.catalog = backend.catalog
                    } else {
                        discoverer = Discoverer(store: store, catalog: backend.catalog)
                        discoverer?.settleNanos = Int64(configuration.settleSeconds * 1e9)
                        discoverer?.schemas = backend.warehouse.capabilities.schemas
                    }
                    if connectFailures > 0 { log("connected to the warehouse (after \(connectFailures) failed attempt(s))") }
                    connectFailures = 0
                    lock.sync { connected = true }
                }
                if scanning {
                    lastScan = Self.now()
                    lock.sync { changed = false }  // events during the listing set it again
                    let pass = try discoverer!.scan()
                    listed = true
                    catalogBusy = false
                    settlesAt = pass.settlesAt
                    for f in pass.recorded { log("discovered \(f.key) → table \(f.table) (\(f.size) bytes)") }
                }
                try dispatchLoads(catalog: main!.catalog)
            } catch {
                let transient = AutoloaderError.isTransient(error)
                if main == nil {
                    // Not connected: a warehouse that is down or restarting is waited for; bad credentials are not.
                    guard transient else { throw error }
                    connectFailures += 1
                    lock.sync { connected = false }
                    let delay = RetryPolicy.connect.delay(afterFailures: connectFailures, jitter: Double.random(in: 0...1))
                    log("waiting for the warehouse: \(error); retrying in \(String(format: "%.1f", delay)) s")
                    pause(delay)
                    continue
                }
                // Connected before: a busy catalog (SQLite's one writer is loading) is simply tried again; a lost
                // connection is replaced; other errors (a listing that failed) are retried.
                if scanning && !listed { lock.sync { changed = true } }  // the listing (or its recording) is tried again
                if AutoloaderError.isContention(error) {
                    if !catalogBusy { log("discovery: the catalog is busy with a load; new files are recorded when it is free") }
                    catalogBusy = true
                } else {
                    if transient {
                        main = nil
                        lock.sync { connected = false }
                    }
                    log("discovery: \(error) (retrying)")
                }
            }
            let now = Self.now()
            var timeout = configuration.reconcileSeconds
            if let settlesAt {
                timeout = min(timeout, max(Self.minScanInterval, Double(settlesAt - WallClock.nowNanos()) / 1e9 + 0.01))
            }
            timeout = min(timeout, max(0.01, lastScan + configuration.reconcileSeconds - now))
            if due && !scanning { timeout = min(timeout, max(0.01, lastScan + Self.minScanInterval - now)) }  // the listing put off
            if let next = lock.sync(execute: { scheduler.nextWake(after: now) }) { timeout = min(timeout, max(0.05, next - now)) }
            _ = wake.wait(timeout: .now() + timeout)
        }
        group.wait()
        log("stopped")
    }

    private func dispatchLoads(catalog: any Catalog) throws {
        let pending = try catalog.tablesWithPendingFiles()
        let started: [String] = lock.sync {
            guard !stopping else { return [] }
            return scheduler.start(from: pending, now: Self.now())
        }
        for table in started {
            group.enter()
            workersQueue.async { [self] in
                defer {
                    group.leave()
                    wake.signal()
                }
                let outcome = loadNextBatch(table: table)
                let retry = lock.sync { scheduler.finished(table, outcome.0, now: Self.now(), jitter: Double.random(in: 0...1)) }
                if let retry, let error = outcome.1 {
                    log("load of \(table) failed: \(error); its files stay pending, retried in \(String(format: "%.1f", retry.delay)) s")
                }
            }
        }
    }

    /// Loads one batch; a transient failure is reported for the scheduler's backoff (its files are pending again).
    private func loadNextBatch(table: String) -> (Scheduler.Outcome, (any Error)?) {
        do {
            let backend = try makeBackend()
            guard let record = try backend.catalog.table(named: table), record.status == .active else { return (.done, nil) }
            let batch = try backend.catalog.nextBatch(table: table, maxFiles: record.options.maxFilesPerLoad, maxBytes: record.options.maxBytesPerLoad)
            guard !batch.isEmpty else { return (.done, nil) }
            let summary = try Self.load(store: store, backend: backend, table: table, files: batch)
            log(Self.describe(summary))
            return (.done, nil)
        } catch {
            if AutoloaderError.isContention(error) { return (.contention, nil) }  // another load's turn: not worth a log line
            if AutoloaderError.isTransient(error) { return (.transient, error) }
            // A terminal error of the load as a whole: its files are failed with it (see LoadLog.abandonLoad).
            log("load of \(table) failed: \(error)")
            return (.done, error)
        }
    }

    /// Rows through the loader (SQLite, PostgreSQL), or by reference for a warehouse that reads the files itself (Redshift).
    static func load(store: any ObjectStore, backend: Backend, table: String, files: [FileRecord],
                     progress: (@Sendable (Int64) -> Void)? = nil, shouldStop: (@Sendable () -> Bool)? = nil) throws -> LoadSummary {
        if let copying = backend.warehouse as? any CopyingWarehouse {
            return try ManifestLoader(store: store, warehouse: copying, catalog: backend.catalog).load(table: table, files: files)
        }
        var loader = Loader(store: store, warehouse: backend.warehouse, catalog: backend.catalog)
        loader.progress = progress
        loader.shouldStop = shouldStop
        return try loader.load(table: table, files: files)
    }

    public static func describe(_ s: LoadSummary) -> String {
        var line = "load \(s.loadID.map(String.init) ?? "-") \(s.table): \(s.status.rawValue), \(s.files.count) file(s), \(s.rowsLoaded) rows"
        if s.rowsRejected > 0 { line += ", \(s.rowsRejected) rejected" }
        for f in s.files where f.state != .loaded { line += "\n  \(f.key): \(f.state.rawValue)\(f.error.map { " — \($0)" } ?? "")" }
        return line
    }

    /// One-shot: record every file now (no settling wait) and load until nothing is pending. Used by `autoloader load`.
    /// A table held by another process, or a fault of the moment, is retried with backoff a bounded number of times.
    public func runOnce(policy: RetryPolicy = RetryPolicy(first: 0.2, cap: 10, maxAttempts: 12),
                        progress: (@Sendable (String, Int64, Int64) -> Void)? = nil) throws -> [LoadSummary] {
        var backend = try makeBackend()
        try backend.catalog.prepare(readOnly: false)
        let discoverer = Discoverer(store: store, catalog: backend.catalog)
        discoverer.settleNanos = 0  // the user named these files: they are complete (markers still gate)
        discoverer.schemas = backend.warehouse.capabilities.schemas
        _ = try discoverer.scan()
        var summaries: [LoadSummary] = []
        var scheduler = Scheduler(workers: 1, policy: policy)
        while !isStopping {
            let pending = try backend.catalog.tablesWithPendingFiles()
            if pending.isEmpty { break }
            guard let table = scheduler.start(from: pending, now: Self.now()).first else {
                // Every pending table is backing off: sleep until the first may try again.
                let now = Self.now()
                pause(max(0.01, (scheduler.nextWake(after: now) ?? now + 0.1) - now))
                continue
            }
            do {
                guard let record = try backend.catalog.table(named: table) else { scheduler.finished(table, .done, now: Self.now(), jitter: 0); continue }
                let batch = try backend.catalog.nextBatch(table: table, maxFiles: record.options.maxFilesPerLoad, maxBytes: record.options.maxBytesPerLoad)
                let total = batch.reduce(0) { $0 + $1.size }
                var perFile: (@Sendable (Int64) -> Void)?
                if let progress { perFile = { progress(table, $0, total) } }
                summaries.append(try Self.load(store: store, backend: backend, table: table, files: batch, progress: perFile,
                                               shouldStop: { [weak self] in self?.isStopping ?? false }))
                scheduler.finished(table, .done, now: Self.now(), jitter: 0)
            } catch {
                guard AutoloaderError.isTransient(error), !isStopping else { throw error }
                let retry = scheduler.finished(table, AutoloaderError.isContention(error) ? .contention : .transient, now: Self.now(),
                                               jitter: Double.random(in: 0...1))
                if retry?.givesUp == true { throw error }
                log("\(table): \(error); retrying in \(String(format: "%.1f", retry?.delay ?? 0)) s")
                backend = try makeBackend()  // the failure may have been a lost connection
            }
        }
        return summaries
    }
}
