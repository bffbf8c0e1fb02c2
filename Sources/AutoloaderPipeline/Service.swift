import AutoloaderCore
import Dispatch
import Logging
import Metrics
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
        /// Options from the configuration file, applied to the catalog when the service starts (table → JSON
        /// object of options, defaults included), so they hold before a table's first file arrives.
        public var tableOptions: [String: String] = [:]
        /// What a table the service creates starts with (the file's `table_defaults`, the seed's CopyCommandOptions).
        public var newTableOptions: TableOptions?
        /// Where notices go (the webhook and SNS notifier); it must return at once.
        public var notify: (@Sendable (Notice) -> Void)?
        /// A table whose oldest pending file waited longer than this is announced (`backlog_old`), once until it clears.
        public var backlogAlertSeconds: Double?
        public init() {}
    }

    public typealias Backend = (warehouse: any Warehouse, catalog: any Catalog)

    let store: any ObjectStore
    let makeBackend: @Sendable () throws -> Backend
    let configuration: Configuration
    let logger: Logger
    /// Component notes (a retried request, a skipped path): info lines.
    var log: @Sendable (String) -> Void { { [logger] in logger.info("\($0)") } }
    private let wake = DispatchSemaphore(value: 0)
    private let lock = DispatchQueue(label: "autoloader.service.state")
    private var stopping = false
    /// Set by file events: something changed below the source since the last listing. A finished load also
    /// wakes the loop (to start the next), but lists nothing: a listing after every load walked the whole tree
    /// about as often as loads ran, and took half the CPU of `run` while thousands of small files loaded.
    private var changed = true
    private var connected = false
    private var sourceReachable = true
    private var scheduler: Scheduler
    private let group = DispatchGroup()
    private let workersQueue = DispatchQueue(label: "autoloader.loads", attributes: .concurrent)

    public init(store: any ObjectStore, configuration: Configuration = .init(),
                logger: Logger, makeBackend: @escaping @Sendable () throws -> Backend) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
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

    /// Whether the last listing of the source worked (for `/ready`).
    public var isSourceReachable: Bool { lock.sync { sourceReachable } }

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
        logger.notice("watching \(store.location)\(watch == nil ? " (listing every \(configuration.reconcileSeconds)s)" : " (file events + listing every \(configuration.reconcileSeconds)s)")")
        defer { watch?.stop() }
        // A listing after every file event would list thousands of times while `cp -r` writes thousands of files:
        // listings are at least `minScanInterval` apart, and files still settling are listed again when the first
        // of them can be recorded, not every 0.1 s. Loads are dispatched on every wake-up.
        var lastScan = -Double.infinity
        var lastBacklogCheck = -Double.infinity
        // Tables that do not load continuously (their `schedule`), read again after each listing; and when the first
        // of their waiting loads may start (monotonic seconds).
        var schedules: [String: TableSchedule]?
        var scheduleWake: Double?
        var backlogAlerted = Set<String>()  // tables announced as late, until their backlog is on time again
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
                    try applyConfiguredOptions(backend.catalog)
                    main = backend
                    if let discoverer {
                        discoverer.catalog = backend.catalog
                    } else {
                        discoverer = Discoverer(store: store, catalog: backend.catalog)
                        discoverer?.settleNanos = Int64(configuration.settleSeconds * 1e9)
                        discoverer?.schemas = backend.warehouse.capabilities.schemas
                    }
                    if connectFailures > 0 { logger.notice("connected to the warehouse (after \(connectFailures) failed attempt(s))") }
                    connectFailures = 0
                    lock.sync { connected = true }
                }
                if scanning {
                    lastScan = Self.now()
                    lock.sync { changed = false }  // events during the listing set it again
                    let started = Self.now()
                    let pass = try discoverer!.scan()
                    Timer(label: Metric.listingSeconds).recordSeconds(Self.now() - started)
                    listed = true
                    lock.sync { sourceReachable = true }
                    catalogBusy = false
                    settlesAt = pass.settlesAt
                    let wall = WallClock.nowNanos()
                    for f in pass.recorded {
                        logger.debug("discovered", metadata: ["table": "\(f.table)", "file": "\(f.key)", "bytes": "\(f.size)"])
                        Counter(label: Metric.filesDiscovered, dimensions: [("table", f.table)]).increment()
                        // From the file's last change to its record: event and listing latency, and the settle window.
                        Timer(label: Metric.discoveryLag).recordSeconds(max(0, Double(wall - f.modifiedNanos) / 1e9))
                    }
                }
                if listed || schedules == nil { schedules = try Self.schedules(main!.catalog, log: logger) }
                scheduleWake = try dispatchLoads(catalog: main!.catalog, schedules: schedules ?? [:])
                if Self.now() - lastBacklogCheck >= Self.backlogCheckInterval {
                    lastBacklogCheck = Self.now()
                    try checkBacklog(main!.catalog, alerted: &backlogAlerted)
                }
            } catch {
                let transient = AutoloaderError.isTransient(error)
                if main == nil {
                    // Not connected: a warehouse that is down or restarting is waited for; bad credentials are not.
                    guard transient else { throw error }
                    connectFailures += 1
                    lock.sync { connected = false }
                    Counter(label: Metric.warehouseErrors, dimensions: [("kind", "connect")]).increment()
                    let delay = RetryPolicy.connect.delay(afterFailures: connectFailures, jitter: Double.random(in: 0...1))
                    logger.warning("waiting for the warehouse: \(error); retrying in \(String(format: "%.1f", delay)) s")
                    pause(delay)
                    continue
                }
                // Connected before: a busy catalog (SQLite's one writer is loading) is simply tried again; a lost
                // connection is replaced; other errors (a listing that failed) are retried.
                if scanning && !listed { lock.sync { changed = true } }  // the listing (or its recording) is tried again
                if AutoloaderError.isContention(error) {
                    // Normal with SQLite's one writer: not a failure.
                    if !catalogBusy { logger.debug("discovery: the catalog is busy with a load; new files are recorded when it is free") }
                    catalogBusy = true
                } else {
                    if transient {
                        main = nil
                        lock.sync { connected = false }
                    }
                    if scanning && !listed {
                        Counter(label: Metric.listingErrors).increment()
                        // The catalog's own faults are the warehouse's (`isConnected`); anything else is the source's.
                        var sourceFault = true
                        if case .warehouse? = error as? AutoloaderError { sourceFault = false }
                        if sourceFault { lock.sync { sourceReachable = false } }
                    }
                    logger.warning("discovery: \(error) (retrying)")
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
            if let scheduleWake { timeout = min(timeout, max(0.05, scheduleWake - now)) }
            _ = wake.wait(timeout: .now() + timeout)
        }
        group.wait()
        logger.notice("stopped")
    }

    static let backlogCheckInterval = 10.0

    /// Announces tables whose oldest pending file has waited past `backlogAlertSeconds`, once until they catch up.
    func checkBacklog(_ catalog: any Catalog, alerted: inout Set<String>) throws {
        guard let notify = configuration.notify, let limit = configuration.backlogAlertSeconds else { return }
        let now = WallClock.nowNanos()
        var late = Set<String>()
        for b in try catalog.backlog() {
            guard let since = WallClock.parseNanos(b.oldestDiscoveredAt), Double(now - since) / 1e9 > limit else { continue }
            late.insert(b.table)
            if alerted.contains(b.table) { continue }
            notify(Notice(kind: .backlogOld, table: b.table, load: nil,
                          message: "\(b.table): \(b.files) file(s) (\(b.bytes) bytes) pending, the oldest discovered \(Int(Double(now - since) / 1e9)) s ago (threshold \(Int(limit)) s)"))
        }
        alerted = late
    }

    /// Wakes the loop to start loads now (a table resumed, files set pending again through the API).
    public func nudge() { wake.signal() }

    /// The configuration file's table options, laid over what the catalog holds (a table not yet seen gets a record
    /// for its folder, so the options apply to its first file). Changes only what the file names.
    func applyConfiguredOptions(_ catalog: any Catalog) throws {
        if let defaults = configuration.newTableOptions { catalog.newTableOptions = defaults }
        for (table, patch) in configuration.tableOptions.sorted(by: { $0.key < $1.key }) {
            let known = try catalog.table(named: table)
            let current = known?.options ?? configuration.newTableOptions ?? TableOptions()
            let wanted = try current.merging(json: patch)
            if wanted != current || known == nil {
                try catalog.setOptions(table: table, wanted)
                logger.info("options of \(table) set from the configuration", metadata: ["table": "\(table)", "options": "\(wanted.jsonString())"])
            }
        }
    }

    /// A table's schedule and the batch limits `gather` fills up to.
    struct TableSchedule {
        var schedule: LoadSchedule
        var maxFiles: Int
        var maxBytes: Int64
    }

    static func schedules(_ catalog: any Catalog, log: Logger) throws -> [String: TableSchedule] {
        var result: [String: TableSchedule] = [:]
        for table in try catalog.tables() where table.options.schedule != nil {
            do {
                let schedule = try table.options.loadSchedule()
                if schedule != .continuous {
                    result[table.name] = TableSchedule(schedule: schedule, maxFiles: table.options.maxFilesPerLoad, maxBytes: table.options.maxBytesPerLoad)
                }
            } catch {
                log.error("\(table.name): \(error); it loads continuously until the schedule is fixed (`autoloader options`)")
            }
        }
        return result
    }

    /// Starts loads of the tables that may load now; returns when (monotonic seconds) a table waiting for its
    /// schedule may start, if one is.
    private func dispatchLoads(catalog: any Catalog, schedules: [String: TableSchedule]) throws -> Double? {
        var pending = try catalog.tablesWithPendingFiles()
        var nextStart: Double?
        if pending.contains(where: { schedules[$0] != nil }) {
            // Only tables on a schedule pay for the backlog query (it groups their pending files).
            let backlog = Dictionary(try catalog.backlog().map { ($0.table, $0) }, uniquingKeysWith: { a, _ in a })
            let wall = WallClock.nowNanos(), monotonic = Self.now()
            pending = pending.filter { table in
                guard let s = schedules[table], let b = backlog[table] else { return true }
                let waiting = LoadSchedule.Backlog(oldestDiscoveredNanos: WallClock.parseNanos(b.oldestDiscoveredAt) ?? wall,
                                                   files: Int(b.files), bytes: b.bytes)
                guard let until = s.schedule.waitsUntil(now: wall, backlog: waiting, maxFiles: s.maxFiles, maxBytes: s.maxBytes) else { return true }
                let at = monotonic + Double(until - wall) / 1e9
                nextStart = min(nextStart ?? at, at)
                return false
            }
        }
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
                    logger.warning("load of \(table) failed for now: \(error); its files stay pending, retried in \(String(format: "%.1f", retry.delay)) s",
                                   metadata: ["table": "\(table)"])
                }
            }
        }
        return nextStart
    }

    /// Loads one batch; a transient failure is reported for the scheduler's backoff (its files are pending again).
    private func loadNextBatch(table: String) -> (Scheduler.Outcome, (any Error)?) {
        do {
            let backend = try makeBackend()
            guard let record = try backend.catalog.table(named: table), record.status == .active else { return (.done, nil) }
            defer { pauseIfFailing(record, catalog: backend.catalog) }
            let batch = try backend.catalog.nextBatch(table: table, maxFiles: record.options.maxFilesPerLoad, maxBytes: record.options.maxBytesPerLoad)
            guard !batch.isEmpty else { return (.done, nil) }
            let started = Self.now()
            let summary = try Self.load(store: store, backend: backend, table: table, files: batch)
            report(summary, bytes: batch.reduce(0) { $0 + $1.size }, seconds: Self.now() - started)
            if let id = summary.loadID {
                // The DDL the load ran (recorded with it): logged, and told to whoever listens.
                var changes: [String] = []
                do { changes = try backend.catalog.schemaChanges(loadID: id) } catch {
                    logger.warning("could not read the schema changes of load \(id): \(error)")
                }
                for change in changes { logger.notice("schema change", metadata: ["table": "\(table)", "load": .stringConvertible(id), "change": "\(change)"]) }
                if let notify = configuration.notify { for notice in Notice.about(summary, changes: changes) { notify(notice) } }
            }
            return (.done, nil)
        } catch {
            if AutoloaderError.isContention(error) { return (.contention, nil) }  // another load's turn: not worth a log line
            if AutoloaderError.isTransient(error) {
                Counter(label: Metric.warehouseErrors, dimensions: [("kind", "transient")]).increment()
                return (.transient, error)
            }
            // A terminal error of the load as a whole: its files are failed with it (see LoadLog.abandonLoad).
            Counter(label: Metric.warehouseErrors, dimensions: [("kind", "terminal")]).increment()
            logger.error("load of \(table) failed: \(error)", metadata: ["table": "\(table)"])
            return (.done, error)
        }
    }

    /// The table's pause_after_failed_loads policy, after each of its loads: its last N loads all failed → paused.
    func pauseIfFailing(_ record: TableRecord, catalog: any Catalog) {
        guard let n = record.options.pauseAfterFailedLoads else { return }
        do {
            let recent = try catalog.loads(table: record.name, status: nil).filter { $0.status != .queued && $0.status != .running }.suffix(n)
            guard recent.count == n, recent.allSatisfy({ $0.status == .failed }) else { return }
            try catalog.setStatus(table: record.name, .paused)
            let message = "\(record.name) paused after \(n) failed load(s) in a row (pause_after_failed_loads); last: \(recent.last?.error ?? "")"
                + " — fix the files, then `autoloader resume \(record.name)`"
            logger.error("\(message)", metadata: ["table": "\(record.name)"])
            configuration.notify?(Notice(kind: .tablePaused, table: record.name, load: recent.last?.id, message: message))
        } catch {
            logger.warning("\(record.name): could not apply pause_after_failed_loads: \(error)")
        }
    }

    /// One log line and the metrics of a finished load.
    func report(_ s: LoadSummary, bytes: Int64, seconds: Double) {
        var metadata: Logger.Metadata = [
            "table": "\(s.table)", "load": .stringConvertible(s.loadID ?? 0), "files": .stringConvertible(s.files.count),
            "rows": .stringConvertible(s.rowsLoaded), "rejected": .stringConvertible(s.rowsRejected),
            "seconds": .stringConvertible((seconds * 1000).rounded() / 1000), "status": "\(s.status.rawValue)",
        ]
        let troubled = s.files.filter { $0.state == .failed || $0.state == .loadedWithErrors }
        if let first = troubled.first { metadata["first_problem"] = "\(first.key): \(first.error ?? first.state.rawValue)" }
        let level: Logger.Level = s.status == .failed || troubled.contains { $0.state == .failed } ? .error : s.rowsRejected > 0 ? .warning : .info
        logger.log(level: level, "load \(s.status.rawValue)", metadata: metadata)
        let table = [("table", s.table)]
        Counter(label: Metric.loads, dimensions: table + [("status", s.status.rawValue)]).increment()
        Timer(label: Metric.loadSeconds, dimensions: table).recordSeconds(seconds)
        Counter(label: Metric.bytesRead, dimensions: table).increment(by: Int(bytes))
        Counter(label: Metric.rowsLoaded, dimensions: table).increment(by: Int(s.rowsLoaded))
        Counter(label: Metric.rowsRejected, dimensions: table).increment(by: Int(s.rowsRejected))
        for f in s.files { Counter(label: Metric.files, dimensions: table + [("state", f.state.rawValue)]).increment() }
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
        try applyConfiguredOptions(backend.catalog)
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
                logger.warning("\(table): \(error); retrying in \(String(format: "%.1f", retry?.delay ?? 0)) s")
                backend = try makeBackend()  // the failure may have been a lost connection
            }
        }
        return summaries
    }
}

/// The metrics' names (Prometheus text format on `/metrics`; README lists them).
public enum Metric {
    public static let filesDiscovered = "autoloader_files_discovered_total"
    /// Files a load finished, by the state they ended in (loaded, loaded_with_errors, failed, duplicate, skipped).
    public static let files = "autoloader_files_total"
    public static let loads = "autoloader_loads_total"
    public static let rowsLoaded = "autoloader_rows_loaded_total"
    public static let rowsRejected = "autoloader_rows_rejected_total"
    public static let bytesRead = "autoloader_bytes_read_total"
    public static let loadSeconds = "autoloader_load_duration_seconds"
    public static let warehouseErrors = "autoloader_warehouse_errors_total"
    public static let listingSeconds = "autoloader_listing_duration_seconds"
    public static let listingErrors = "autoloader_listing_errors_total"
    public static let discoveryLag = "autoloader_discovery_lag_seconds"
    public static let backlogFiles = "autoloader_backlog_files"
    public static let backlogBytes = "autoloader_backlog_bytes"
    public static let backlogAge = "autoloader_backlog_oldest_seconds"
}
