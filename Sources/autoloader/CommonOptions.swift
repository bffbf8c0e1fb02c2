import ArgumentParser
import AutoloaderApp
import AutoloaderCore
import AutoloaderPipeline
import Foundation
import Logging

struct WarehouseOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Configuration file (YAML). Default: $AUTOLOADER_CONFIG, else ./autoloader.yml if present. Its values give way to AUTOLOADER_* variables, which give way to flags; `autoloader config` shows the result.", valueName: "path"))
    var config: String?

    @Option(name: .customLong("warehouse"), help: ArgumentHelp("Where rows and the catalog go: sqlite:PATH (or a path ending in .sqlite / .db), or postgres://user@host:port/db?sslmode=…&schema=… (the password from PGPASSWORD or ~/.pgpass: a password in a flag is visible to every user in `ps`), or redshift://CLUSTER/DB?db_user=U&iam_role=ARN / redshift-serverless://WORKGROUP/DB?iam_role=ARN (Data API; COPY reads the files from S3). Default: the configuration file's `warehouse`, $AUTOLOADER_WAREHOUSE, else sqlite:./autoloader.sqlite.", valueName: "url"))
    var flag: String?

    func validate() throws {
        if let flag, let components = URLComponents(string: flag), components.password != nil {
            Log.logger.warning("the password in --warehouse is visible to other users of this machine (`ps`); give it in PGPASSWORD or ~/.pgpass, or the whole URL in AUTOLOADER_WAREHOUSE")
        }
    }

    /// The configuration file, the environment and these flags (plus the command's own, by setting name).
    func settings(_ flags: [String: String] = [:]) throws -> Settings {
        let environment = ProcessInfo.processInfo.environment
        var all = flags
        if let flag { all[Settings.warehouse.name] = flag }
        return try Settings.resolve(file: Settings.locate(flag: config, environment: environment), environment: environment, flags: all)
    }
}

/// Where files come from, for S3 sources (a local folder needs none of these).
struct SourceOptions: ParsableArguments {
    @Option(help: ArgumentHelp("S3-compatible endpoint (MinIO, moto, R2…); path-style addressing. Default: AWS_ENDPOINT_URL, else AWS.", valueName: "url"))
    var endpoint: String?
    @Option(help: ArgumentHelp("SQS queue that receives the bucket's event notifications (see `autoloader setup-events`). Without it, listing alone finds files.", valueName: "name"))
    var queue: String?
    @Option(name: .customLong("full-listing"), help: "Seconds between full listings of an S3 bucket (between them, each table is listed after its last key). Default 60.")
    var fullListing: Double?

    var flags: [String: String] {
        var flags: [String: String] = [:]
        flags[Settings.endpoint.name] = endpoint
        flags[Settings.queue.name] = queue
        flags[Settings.fullListing.name] = fullListing.map { "\($0)" }
        return flags
    }
}

struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of a table, for scripts.")
    var json = false
}

struct LogOptions: ParsableArguments {
    @Option(name: .customLong("log-level"), help: "trace, debug (one line per discovered file), info (one line per load; default), notice, warning, error.")
    var level: String?
    @Option(name: .customLong("log-format"), help: "text (default) or json (one object per line).")
    var format: String?

    var flags: [String: String] {
        var flags: [String: String] = [:]
        flags[Settings.logLevel.name] = level
        flags[Settings.logFormat.name] = format
        return flags
    }
}

/// The CLI's flags, environment and configuration file as the program's `Configuration`; `Build` makes the
/// program from it.
enum Wiring {
    /// `source`: one the command names itself (`load PATH`); otherwise the `source` setting.
    static func configuration(_ options: WarehouseOptions, source: String? = nil, flags: [String: String] = [:]) throws -> Configuration {
        try settingsAndConfiguration(options, source: source, flags: flags).1
    }

    /// The settings too, for what only `run` builds from them (the notifier).
    static func settingsAndConfiguration(_ options: WarehouseOptions, source: String? = nil,
                                         flags: [String: String] = [:]) throws -> (Settings, Configuration) {
        let settings = try options.settings(flags)
        Log.configure(settings)
        var configuration = try Configuration(settings: settings, source: source)
        configuration.logger = Log.logger
        return (settings, configuration)
    }

    static func catalog(_ options: WarehouseOptions, readOnly: Bool) throws -> any Catalog {
        try Build.catalog(configuration(options), readOnly: readOnly)
    }

    static func dryRun(source: String, options: WarehouseOptions, flags: [String: String] = [:], store: (any ObjectStore)? = nil) throws -> Build.DryRun {
        try Build.dryRun(configuration(options, source: source, flags: flags), store: store) { print($0) }
    }

    static func service(source: String, options: WarehouseOptions, flags: [String: String] = [:],
                        store: (any ObjectStore)? = nil, staged: Bool = true) throws -> LoaderService {
        var configuration = try configuration(options, source: source, flags: flags)
        configuration.stagedSQLiteLoads = staged
        return try Build.service(configuration, store: store)
    }
}

enum Log {
    /// Set once, before any work starts (`configure`), from the settings' log level and format.
    nonisolated(unsafe) private(set) static var logger = Logger(label: "autoloader") { _ in LogLines(format: .text, level: .info) }

    static func configure(_ settings: Settings) {
        let format = LogLines.Format(rawValue: settings[Settings.logFormat] ?? "text") ?? .text
        let level = Logger.Level(rawValue: settings[Settings.logLevel] ?? "info") ?? .info
        logger = Logger(label: "autoloader") { _ in LogLines(format: format, level: level) }
    }

    @Sendable static func line(_ message: String) {
        logger.info("\(message)")
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
