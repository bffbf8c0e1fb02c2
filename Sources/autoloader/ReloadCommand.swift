import ArgumentParser
import AutoloaderCore

struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Load a table's files modified after a time again (their earlier rows are replaced, not doubled)."
    )
    @Argument(help: "Table name.") var table: String
    @Option(help: ArgumentHelp("ISO time, e.g. 2024-01-01 or 2024-01-01T19:00:00Z (UTC unless an offset is given).", valueName: "timestamp"))
    var since: String
    @OptionGroup var warehouse: WarehouseOptions

    func run() throws {
        guard let nanos = WallClock.parseNanos(since) else { throw ValidationError("cannot read '\(since)' as a time; use e.g. 2024-01-01T19:00:00Z") }
        let n = try Wiring.catalog(warehouse, readOnly: false).reload(table: table, sinceNanos: nanos)
        print("\(table): \(n) file(s) queued to load again")
    }
}
