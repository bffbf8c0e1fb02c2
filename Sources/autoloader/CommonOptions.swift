import ArgumentParser
import AutoloaderCore
import AutoloaderPipeline
import AutoloaderSQLite
import AutoloaderStores
import Foundation

struct WarehouseOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Where rows and the catalog go: sqlite:PATH (or a path ending in .sqlite / .db).", valueName: "url"))
    var warehouse: String = "sqlite:./autoloader.sqlite"
}

struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of a table, for scripts.")
    var json = false
}

/// The one place that names concrete backends (the service and pipeline see only the seams).
enum Wiring {
    static func sqlitePath(_ url: String) throws -> String {
        if url.hasPrefix("sqlite://") { return String(url.dropFirst("sqlite://".count)) }
        if url.hasPrefix("sqlite:") { return String(url.dropFirst("sqlite:".count)) }
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") || url.hasPrefix("redshift://") {
            throw ValidationError("this build loads into SQLite only; PostgreSQL and Redshift targets are not built yet")
        }
        if url.hasSuffix(".sqlite") || url.hasSuffix(".db") || url.hasSuffix(".sqlite3") { return url }
        throw ValidationError("unknown warehouse '\(url)'; use sqlite:PATH")
    }

    static func backend(_ options: WarehouseOptions) throws -> LoaderService.Backend {
        let connection = try SQLiteConnection(path: try sqlitePath(options.warehouse))
        let warehouse = SQLiteWarehouse(connection: connection)
        return (warehouse, warehouse.catalog)
    }

    /// The catalog for the operations subcommands (created if missing, so they work before the first run).
    static func catalog(_ options: WarehouseOptions) throws -> any Catalog {
        let catalog = try backend(options).catalog
        try catalog.prepare(recoverInterrupted: false)
        return catalog
    }

    static func service(source: String, options: WarehouseOptions, configuration: LoaderService.Configuration = .init(),
                        store: (any ObjectStore)? = nil) throws -> LoaderService {
        let path = try sqlitePath(options.warehouse)
        if source.hasPrefix("s3://") { throw ValidationError("S3 sources are not built yet; use a local folder") }
        return LoaderService(store: store ?? LocalFolderStore(root: source), configuration: configuration, log: Log.line) {
            let connection = try SQLiteConnection(path: path)
            let warehouse = SQLiteWarehouse(connection: connection)
            return (warehouse, warehouse.catalog)
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
