import ArgumentParser
import AutoloaderApp
import AutoloaderCore
import AutoloaderPipeline
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

/// The CLI's flags and environment as the program's `Configuration`; `Build` makes the program from it.
enum Wiring {
    /// `sourceOptions`: only when the command has them (a default-made option group cannot be read).
    static func configuration(_ warehouse: WarehouseOptions, source: String = "", sourceOptions: SourceOptions? = nil) -> Configuration {
        var configuration = Configuration(warehouse: warehouse.warehouse, source: source)
        if let sourceOptions {
            configuration.endpoint = sourceOptions.endpoint
            configuration.queue = sourceOptions.queue
            configuration.fullListingSeconds = sourceOptions.fullListing
        }
        configuration.log = Log.line
        return configuration
    }

    static func catalog(_ options: WarehouseOptions, readOnly: Bool) throws -> any Catalog {
        try Build.catalog(configuration(options), readOnly: readOnly)
    }

    static func dryRun(source: String, options: WarehouseOptions, sourceOptions: SourceOptions? = nil, store: (any ObjectStore)? = nil) throws -> Build.DryRun {
        try Build.dryRun(configuration(options, source: source, sourceOptions: sourceOptions), store: store) { print($0) }
    }

    static func service(source: String, options: WarehouseOptions, configuration service: LoaderService.Configuration = .init(),
                        sourceOptions: SourceOptions? = nil, store: (any ObjectStore)? = nil, staged: Bool = true) throws -> LoaderService {
        var configuration = configuration(options, source: source, sourceOptions: sourceOptions)
        configuration.service = service
        configuration.stagedSQLiteLoads = staged
        return try Build.service(configuration, store: store)
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
