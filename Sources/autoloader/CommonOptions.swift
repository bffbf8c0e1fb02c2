import ArgumentParser
import AutoloaderCore
import AutoloaderPipeline
import AutoloaderPostgres
import AutoloaderRedshift
import AutoloaderSQLite
import AutoloaderStores
import Foundation

struct WarehouseOptions: ParsableArguments {
    @Option(name: .customLong("warehouse"), help: ArgumentHelp("Where rows and the catalog go: sqlite:PATH (or a path ending in .sqlite / .db), or postgres://user@host:port/db?sslmode=…&schema=… (the password from PGPASSWORD or ~/.pgpass: a password in a flag is visible to every user in `ps`), or redshift://CLUSTER/DB?db_user=U&iam_role=ARN / redshift-serverless://WORKGROUP/DB?iam_role=ARN (Data API; COPY reads the files from S3). Default: $AUTOLOADER_WAREHOUSE, else sqlite:./autoloader.sqlite.", valueName: "url"))
    var flag: String?

    /// The flag, else AUTOLOADER_WAREHOUSE (which, unlike a flag, other users cannot read in `ps`), else SQLite.
    var warehouse: String {
        flag ?? ProcessInfo.processInfo.environment["AUTOLOADER_WAREHOUSE"] ?? "sqlite:./autoloader.sqlite"
    }

    func validate() throws {
        if let flag, let components = URLComponents(string: flag), components.password != nil {
            Log.line("warning: the password in --warehouse is visible to other users of this machine (`ps`); "
                     + "give it in PGPASSWORD or ~/.pgpass, or the whole URL in AUTOLOADER_WAREHOUSE")
        }
    }
}

/// Where files come from, for S3 sources (a local folder needs none of these).
struct SourceOptions: ParsableArguments {
    @Option(help: ArgumentHelp("S3-compatible endpoint (MinIO, moto, R2…); path-style addressing. Default: AWS_ENDPOINT_URL, else AWS.", valueName: "url"))
    var endpoint: String?
    @Option(help: ArgumentHelp("SQS queue that receives the bucket's event notifications (see `autoloader setup-events`). Without it, listing alone finds files.", valueName: "name"))
    var queue: String?
    @Option(name: .customLong("full-listing"), help: "Seconds between full listings of an S3 bucket (between them, each table is listed after its last key).")
    var fullListing: Double = 60
}

struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of a table, for scripts.")
    var json = false
}

/// The one place that names concrete backends (the service and pipeline see only the seams).
enum Wiring {
    enum Target: Sendable {
        case sqlite(path: String)
        case postgres(PostgresURL)
        case redshift(RedshiftURL)
    }

    static func target(_ url: String) throws -> Target {
        if url.hasPrefix("sqlite://") { return .sqlite(path: String(url.dropFirst("sqlite://".count))) }
        if url.hasPrefix("sqlite:") { return .sqlite(path: String(url.dropFirst("sqlite:".count))) }
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") { return .postgres(try PostgresURL(url)) }
        if url.hasPrefix("redshift://") || url.hasPrefix("redshift-serverless://") { return .redshift(try RedshiftURL(url)) }
        if url.hasSuffix(".sqlite") || url.hasSuffix(".db") || url.hasSuffix(".sqlite3") { return .sqlite(path: url) }
        throw ValidationError("unknown warehouse '\(url)'; use sqlite:PATH or postgres://user:password@host:port/db")
    }

    static let serviceBusyTimeout: Int32 = 2_000

    /// `staged`: SQLite loads stage their rows and hold the write lock only to merge (`run`: other tables and
    /// discovery go on meanwhile). `load` works one table at a time and writes directly, which is faster.
    static func makeBackend(_ target: Target, source: String = "", sourceOptions: SourceOptions = SourceOptions(),
                            staged: Bool = true) throws -> LoaderService.Backend {
        switch target {
        case let .redshift(url):
            // The catalog stays here (SQLite); the rows and the ledger of loaded files live in Redshift.
            let catalogTarget = try Self.target(url.catalog)
            guard case let .sqlite(path) = catalogTarget else { throw ValidationError("catalog= must be sqlite:PATH for a Redshift warehouse") }
            // Direct, not staged: the claim must be held while Redshift runs the COPY.
            let bookkeeping = SQLiteWarehouse(connection: try SQLiteConnection(path: path, busyTimeoutMillis: serviceBusyTimeout), staging: false)
            let aws = AWSClient(configuration: AWSConfiguration(endpoint: sourceOptions.endpoint))
            aws.onRetry = Log.line
            let manifests = url.manifests ?? (source.hasPrefix("s3://") ? "s3://" + source.dropFirst(5).prefix { $0 != "/" } + "/autoloader-manifests/" : "")
            guard manifests.hasPrefix("s3://") else {
                throw ValidationError("Redshift COPY reads from S3: use --source s3://bucket/prefix/ (or add manifests=s3://bucket/prefix/ to the URL)")
            }
            let rest = manifests.dropFirst(5)
            let bucket = String(rest.prefix { $0 != "/" })
            let prefix = String(rest.dropFirst(bucket.count).drop { $0 == "/" })
            let runner: any RedshiftStatementRunner = try url.wire.map { PostgresWireRunner(session: try PostgresSession(url: try PostgresURL($0))) }
                ?? DataAPIRunner(api: RedshiftDataAPI(aws: aws, target: url.target))
            let warehouse = RedshiftWarehouse(runner: runner, s3: S3Client(aws: aws),
                                              target: RedshiftSQL.Target(schema: url.schema, iamRole: url.iamRole, manifestBucket: bucket,
                                                                         manifestPrefix: prefix, region: url.region),
                                              bookkeeping: bookkeeping)
            warehouse.log = Log.line
            return (warehouse, bookkeeping.catalog)
        case let .sqlite(path):
            // The service's connections wait briefly for SQLite's one writer, then give the turn back to the scheduler.
            let warehouse = SQLiteWarehouse(connection: try SQLiteConnection(path: path, busyTimeoutMillis: serviceBusyTimeout), staging: staged)
            return (warehouse, warehouse.catalog)
        case let .postgres(url):
            // One connection: the load's transaction and its catalog writes share it.
            let warehouse = PostgresWarehouse(session: try PostgresSession(url: url))
            return (warehouse, warehouse.catalog)
        }
    }

    /// The catalog for the operations subcommands (created if missing, so they work before the first run).
    /// `readOnly` (tables, files, loads, errors): never DDL on an existing catalog, so they cannot queue behind a load.
    static func catalog(_ options: WarehouseOptions, readOnly: Bool) throws -> any Catalog {
        let target = try target(options.warehouse)
        let catalog: SQLCatalog
        switch target {
        case let .sqlite(path): catalog = SQLCatalog(connection: try SQLiteConnection(path: path))
        case let .postgres(url): catalog = SQLCatalog(connection: try PostgresSession(url: url))
        case let .redshift(url):
            guard case let .sqlite(path) = try Self.target(url.catalog) else { throw ValidationError("catalog= must be sqlite:PATH") }
            catalog = SQLCatalog(connection: try SQLiteConnection(path: path))
        }
        try catalog.prepare(readOnly: readOnly)
        return catalog
    }

    static func store(source: String, options: SourceOptions = SourceOptions()) throws -> any ObjectStore {
        guard source.hasPrefix("s3://") else {
            let store = LocalFolderStore(root: source)
            store.log = Log.line
            return store
        }
        let aws = AWSClient(configuration: AWSConfiguration(endpoint: options.endpoint))
        aws.onRetry = Log.line
        let store = try S3Store(url: source, aws: aws, queueName: options.queue)
        store.fullListingSeconds = options.fullListing
        store.log = Log.line
        return store
    }

    static func service(source: String, options: WarehouseOptions, configuration: LoaderService.Configuration = .init(),
                        sourceOptions: SourceOptions = SourceOptions(), store: (any ObjectStore)? = nil, staged: Bool = true) throws -> LoaderService {
        let target = try target(options.warehouse)
        let store = try store ?? Self.store(source: source, options: sourceOptions)
        return LoaderService(store: store, configuration: configuration, log: Log.line) {
            try makeBackend(target, source: source, sourceOptions: sourceOptions, staged: staged)
        }
    }
}

enum Log {
    @Sendable static func line(_ message: String) {
        FileHandle.standardError.write(Data("\(WallClock.nowISO()) \(message)\n".utf8))
    }
}

enum Output {
    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// A plain text table: header, rule, rows; columns as wide as their widest cell.
    static func table(_ headers: [String], _ rows: [[String]]) {
        var widths = headers.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], min(cell.count, 60)) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                let cell = c.count > 60 ? String(c.prefix(59)) + "…" : c
                return cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        print(line(headers))
        print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
        for row in rows { print(line(row)) }
        if rows.isEmpty { print("(none)") }
    }
}
