import AutoloaderCore
import AutoloaderPipeline
import AutoloaderPostgres
import AutoloaderRedshift
import AutoloaderSQLite
import AutoloaderStores
import Foundation
import Logging

/// Everything the program is built from, as plain values. The CLI fills it from its flags and environment;
/// the tests fill it directly; both then get the same program from `Build`.
public struct Configuration: Sendable {
    /// `sqlite:PATH`, `postgres://…`, `redshift://…` / `redshift-serverless://…`.
    public var warehouse: String
    /// A landing folder or `s3://bucket/prefix/`.
    public var source: String
    public var endpoint: String?
    public var queue: String?
    public var fullListingSeconds: Double = 60
    public var service = LoaderService.Configuration()
    /// SQLite loads stage their rows and hold the write lock only to merge (`run`: other tables and discovery go
    /// on meanwhile); `load` works one table at a time and writes directly, which is faster.
    public var stagedSQLiteLoads = true
    /// Where the program's log lines go (none by default: tests and library use stay quiet).
    public var logger = Logger(label: "autoloader", factory: { _ in SwiftLogNoOpLogHandler() })
    /// Component notes (a retried request, a skipped path) as info lines.
    public var log: @Sendable (String) -> Void { { [logger] in logger.info("\($0)") } }
    /// The HTTP API's address and the token its changes need (`run --http`).
    public var http: HTTPAddress?
    public var apiToken: String?

    public init(warehouse: String = "sqlite:./autoloader.sqlite", source: String = "./landing") {
        self.warehouse = warehouse
        self.source = source
    }

    /// The program's configuration from its settings (file, environment, flags). `source`: a source the command
    /// names itself (`load PATH`), which wins over the setting.
    public init(settings: Settings, source: String? = nil) throws {
        self.init(warehouse: settings[Settings.warehouse] ?? "sqlite:./autoloader.sqlite", source: source ?? settings[Settings.source] ?? "./landing")
        endpoint = settings[Settings.endpoint]
        queue = settings[Settings.queue]
        if let v = settings[Settings.fullListing].flatMap(Double.init) { fullListingSeconds = v }
        if let v = settings[Settings.reconcile].flatMap(Double.init) { service.reconcileSeconds = v }
        if let v = settings[Settings.settle].flatMap(Double.init) { service.settleSeconds = v }
        if let v = settings[Settings.workers].flatMap(Int.init) { service.workers = v }
        http = settings[Settings.http].flatMap(HTTPAddress.init)
        service.backlogAlertSeconds = settings[Settings.backlogAlert].flatMap(Double.init)
        apiToken = settings[Settings.apiToken]
        if let defaults = settings.optionsPatch(table: nil) { service.newTableOptions = try TableOptions().merging(json: defaults) }
        for table in settings.tables.keys { service.tableOptions[table] = settings.optionsPatch(table: table) }
    }
}

/// The one place that names concrete backends (the service and pipeline see only the seams).
public enum Build {
    public enum Target: Sendable {
        case sqlite(path: String)
        case postgres(PostgresURL)
        case redshift(RedshiftURL)
        /// A catalog only (of a Redshift warehouse): `dynamodb://TABLE`.
        case dynamodb(table: String, leaseSeconds: Double)
    }

    public static func target(_ url: String) throws -> Target {
        if url.hasPrefix("sqlite://") { return .sqlite(path: String(url.dropFirst("sqlite://".count))) }
        if url.hasPrefix("sqlite:") { return .sqlite(path: String(url.dropFirst("sqlite:".count))) }
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") { return .postgres(try PostgresURL(url)) }
        if url.hasPrefix("redshift://") || url.hasPrefix("redshift-serverless://") { return .redshift(try RedshiftURL(url)) }
        if url.hasPrefix("dynamodb://") { let (table, lease) = try DynamoDBCatalog.parse(url); return .dynamodb(table: table, leaseSeconds: lease) }
        if url.hasSuffix(".sqlite") || url.hasSuffix(".db") || url.hasSuffix(".sqlite3") { return .sqlite(path: url) }
        throw AutoloaderError.usage("unknown warehouse '\(url)'; use sqlite:PATH, postgres://user@host:port/db or redshift://CLUSTER/DB")
    }

    static let notAWarehouse = AutoloaderError.usage("DynamoDB holds a catalog, not rows: use it as the catalog of a Redshift warehouse (redshift://…?catalog=dynamodb://TABLE)")

    /// How long the service's SQLite connections wait for the one writer before giving the turn back to the scheduler.
    static let serviceBusyTimeout: Int32 = 2_000

    /// A load's warehouse and the catalog beside it; a new connection each time.
    public static func backend(_ configuration: Configuration) throws -> LoaderService.Backend {
        try backend(configuration, enclosure: nil)
    }

    /// `enclosure`: a dry run's — every connection made joins it (one transaction, never committed).
    static func backend(_ configuration: Configuration, enclosure: DryRunConnections?) throws -> LoaderService.Backend {
        func sqlite(_ path: String, staging: Bool) throws -> SQLiteWarehouse {
            let existed = FileManager.default.fileExists(atPath: path)
            let connection = try SQLiteConnection(path: path, busyTimeoutMillis: serviceBusyTimeout)
            try enclosure?.add(connection.enclose) {
                try connection.discardEnclosure()
                // A database made for the dry run goes too: nothing is left behind.
                if !existed { for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) } }
            }
            // A staged load merges by ATTACH, which SQLite refuses inside a transaction: a dry run loads directly.
            return SQLiteWarehouse(connection: connection, staging: staging && enclosure == nil)
        }
        func postgres(_ url: PostgresURL) throws -> PostgresWarehouse {
            let session = try PostgresSession(url: url)
            try enclosure?.add(session.enclose, session.discardEnclosure)
            return PostgresWarehouse(session: session)
        }
        switch try target(configuration.warehouse) {
        case let .redshift(url):
            // The rows and the ledger of loaded files live in Redshift; the catalog in SQLite beside the loader, or in
            // PostgreSQL (RDS) where it must outlive the machine or serve several loaders. Neither holds a write lock
            // while a COPY runs: SQLite's load is staged (claimed and marked in one short transaction after the COPY),
            // PostgreSQL's locks only the load's own rows. Two loaders submitting the same files is harmless: the
            // ledger, locked and checked in the COPY's transaction, lets one commit.
            let aws = AWSClient(configuration: AWSConfiguration(endpoint: configuration.endpoint))
            aws.onRetry = configuration.log
            let bookkeeping: any Warehouse, catalog: any Catalog
            switch try target(url.catalog) {
            case let .sqlite(path):
                let sqlite = try sqlite(path, staging: true)
                (bookkeeping, catalog) = (sqlite, sqlite.catalog)
            case let .postgres(pg):
                let postgres = try postgres(pg)
                (bookkeeping, catalog) = (postgres, postgres.catalog)
            case let .dynamodb(table, lease):
                // AWS deployments (deploy/cloudformation.yaml): the catalog in DynamoDB, shared by every task. It has no
                // transaction to enclose, so a dry run would write to it: refused.
                guard enclosure == nil else {
                    throw AutoloaderError.usage("--dry-run with catalog=dynamodb:// would write the catalog: dry-run with catalog=sqlite:PATH (the same files, the same Redshift statements)")
                }
                let dynamo = DynamoDBCatalog(db: DynamoDBClient(aws: aws), table: table, leaseSeconds: lease)
                (bookkeeping, catalog) = (dynamo, dynamo)
            case .redshift:
                throw AutoloaderError.usage("catalog= must be sqlite:PATH, postgres://… or dynamodb://TABLE for a Redshift warehouse")
            }
            let source = configuration.source
            let manifests = url.manifests ?? (source.hasPrefix("s3://") ? "s3://" + source.dropFirst(5).prefix { $0 != "/" } + "/autoloader-manifests/" : "")
            guard manifests.hasPrefix("s3://") else {
                throw AutoloaderError.usage("Redshift COPY reads from S3: use --source s3://bucket/prefix/ (or add manifests=s3://bucket/prefix/ to the URL)")
            }
            let rest = manifests.dropFirst(5)
            let bucket = String(rest.prefix { $0 != "/" })
            let prefix = String(rest.dropFirst(bucket.count).drop { $0 == "/" })
            var runner: any RedshiftStatementRunner = try url.wire.map { PostgresWireRunner(session: try PostgresSession(url: try PostgresURL($0))) }
                ?? DataAPIRunner(api: RedshiftDataAPI(aws: aws, target: url.target))
            if let enclosure { runner = DryRunRunner(reads: runner, show: enclosure.show) }
            var target = RedshiftSQL.Target(schema: url.schema, iamRole: url.iamRole, manifestBucket: bucket, manifestPrefix: prefix,
                                            region: url.region, loadErrors: url.isServerless ? .sys : .stl)
            switch url.target.endpoint {
            case let .cluster(identifier, _): target.database = "\(identifier)/\(url.target.database)"
            case let .workgroup(name): target.database = "\(name)/\(url.target.database)"
            }
            let warehouse = RedshiftWarehouse(runner: runner, s3: S3Client(aws: aws), target: target, bookkeeping: bookkeeping)
            warehouse.log = configuration.log
            warehouse.dryRun = enclosure?.show
            return (warehouse, catalog)
        case let .sqlite(path):
            let warehouse = try sqlite(path, staging: configuration.stagedSQLiteLoads)
            return (warehouse, warehouse.catalog)
        case let .postgres(url):
            // One connection: the load's transaction and its catalog writes share it.
            let warehouse = try postgres(url)
            return (warehouse, warehouse.catalog)
        case .dynamodb:
            // Rows and their catalog marks commit in one PostgreSQL or SQLite transaction; DynamoDB holds neither rows
            // nor a transaction with them, so it is only ever a catalog beside Redshift, whose ledger makes that safe.
            throw notAWarehouse
        }
    }

    /// A dry run's connections: each opens one transaction that is never committed (the code above runs as it
    /// always does, its transactions savepoints inside), and what would be sent to Redshift or S3 is shown.
    final class DryRunConnections: @unchecked Sendable {
        let show: @Sendable (String) -> Void
        private var discards: [() throws -> Void] = []
        init(show: @escaping @Sendable (String) -> Void) { self.show = show }

        func add(_ enclose: () throws -> Void, _ discard: @escaping () throws -> Void) throws {
            try enclose()
            discards.append(discard)
        }

        /// Undoes everything: every connection's transaction rolls back.
        func discard() throws {
            for discard in discards { try discard() }
            discards.removeAll()
        }
    }

    /// `load --dry-run`: the load runs as it would — detection, DDL, every row parsed and converted, the catalog's
    /// records — inside transactions that roll back at `finish`; Redshift and S3 are only read. What would have
    /// run is in the report (`show` has heard the Redshift batches and manifests as they came).
    public final class DryRun {
        public let service: LoaderService
        let enclosure: DryRunConnections
        let backend: LoaderService.Backend

        init(service: LoaderService, enclosure: DryRunConnections, backend: LoaderService.Backend) {
            self.service = service
            self.enclosure = enclosure
            self.backend = backend
        }

        /// What the loads did (still inside the enclosure): per load its DDL, statements, files and rejected rows.
        public func report(_ summaries: [LoadSummary]) throws -> String {
            var out = ""
            for s in summaries {
                out += "== \(s.table): \(s.files.count) file(s), \(s.rowsLoaded) row(s)\(s.rowsRejected > 0 ? ", \(s.rowsRejected) rejected" : "")"
                    + " — \(s.status.rawValue)\n"
                if let schema = try backend.catalog.table(named: s.table)?.schema {
                    out += "schema: " + schema.columns.map { "\($0.name) \(backend.warehouse.capabilities.typeName($0.type))" }.joined(separator: ", ") + "\n"
                }
                for f in s.files { out += "  \(f.key): \(f.state.rawValue), \(f.rows) row(s)\(f.error.map { " — \($0)" } ?? "")\n" }
                guard let id = s.loadID else { continue }
                for change in try backend.catalog.schemaChanges(loadID: id) { out += "\(change);\n" }
                if let statement = try backend.catalog.load(id: id)?.statement, !statement.isEmpty { out += statement + "\n" }
                for e in try backend.catalog.errors(loadID: id) {
                    out += "  rejected: \(SourceLocation(file: e.file, line: e.line, column: e.column)): \(e.reason)\(e.rawText.isEmpty ? "" : " — \(e.rawText)")\n"
                }
            }
            return out
        }

        /// Undoes everything the dry run did.
        public func finish() throws { try enclosure.discard() }
    }

    public static func dryRun(_ configuration: Configuration, store: (any ObjectStore)? = nil, show: @escaping @Sendable (String) -> Void) throws -> DryRun {
        _ = try target(configuration.warehouse)
        let store = try store ?? Self.store(configuration)
        let enclosure = DryRunConnections(show: show)
        var direct = configuration
        direct.stagedSQLiteLoads = false
        let backend = try backend(direct, enclosure: enclosure)
        // One backend for the whole run: its connections hold the enclosure. `runOnce` uses it from one thread.
        final class Shared: @unchecked Sendable {
            let backend: LoaderService.Backend
            init(_ backend: LoaderService.Backend) { self.backend = backend }
        }
        let shared = Shared(backend)
        let service = LoaderService(store: store, configuration: configuration.service, logger: configuration.logger) { shared.backend }
        return DryRun(service: service, enclosure: enclosure, backend: backend)
    }

    /// The catalog for the operations commands (created if missing, so they work before the first run).
    /// `readOnly` (tables, files, loads, errors): never DDL on an existing catalog, so they cannot queue behind a load.
    public static func catalog(_ configuration: Configuration, readOnly: Bool) throws -> any Catalog {
        let catalog: any Catalog
        switch try target(configuration.warehouse) {
        case let .sqlite(path): catalog = SQLCatalog(connection: try SQLiteConnection(path: path))
        case let .postgres(url): catalog = SQLCatalog(connection: try PostgresSession(url: url))
        case .dynamodb: throw notAWarehouse
        case let .redshift(url):
            switch try target(url.catalog) {
            case let .sqlite(path): catalog = SQLCatalog(connection: try SQLiteConnection(path: path))
            case let .postgres(pg): catalog = SQLCatalog(connection: try PostgresSession(url: pg))
            case let .dynamodb(table, lease):
                let aws = AWSClient(configuration: AWSConfiguration(endpoint: configuration.endpoint))
                aws.onRetry = configuration.log
                catalog = DynamoDBCatalog(db: DynamoDBClient(aws: aws), table: table, leaseSeconds: lease)
            case .redshift: throw AutoloaderError.usage("catalog= must be sqlite:PATH, postgres://… or dynamodb://TABLE for a Redshift warehouse")
            }
        }
        try catalog.prepare(readOnly: readOnly)
        return catalog
    }

    public static func store(_ configuration: Configuration) throws -> any ObjectStore {
        guard configuration.source.hasPrefix("s3://") else {
            let store = LocalFolderStore(root: configuration.source)
            store.log = configuration.log
            return store
        }
        let aws = AWSClient(configuration: AWSConfiguration(endpoint: configuration.endpoint))
        aws.onRetry = configuration.log
        let store = try S3Store(url: configuration.source, aws: aws, queueName: configuration.queue)
        store.fullListingSeconds = configuration.fullListingSeconds
        store.log = configuration.log
        return store
    }

    /// The program `run` and `load` run. `store`: files given one by one (`load FILE…`), or a test's store.
    public static func service(_ configuration: Configuration, store: (any ObjectStore)? = nil) throws -> LoaderService {
        _ = try target(configuration.warehouse)  // a bad URL is a usage error now, not at the first load
        let store = try store ?? Self.store(configuration)
        return LoaderService(store: store, configuration: configuration.service, logger: configuration.logger) {
            try backend(configuration)
        }
    }
}
