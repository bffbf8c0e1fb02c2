import ArgumentParser
import AutoloaderCore

struct FilesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "files", abstract: "List files the catalog knows, with their state.")
    @Option(help: "Only this table.") var table: String?
    @Option(help: "Only this state: pending, loading, loaded, loaded_with_errors, failed, duplicate, skipped, held.") var state: String?
    @OptionGroup var warehouse: WarehouseOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let wanted = try state.map { try FileState.named($0, what: "state") }
        let files = try Wiring.catalog(warehouse, readOnly: true).files(table: table, state: wanted)
        if output.json { return try Output.json(files) }
        Output.table(["id", "table", "key", "bytes", "modified", "state", "load", "rows", "note"], files.map { f in
            [String(f.id), f.table, f.key, String(f.size), WallClock.iso(nanos: f.modifiedNanos), f.state.rawValue,
             f.loadID.map(String.init) ?? "-", f.rows.map(String.init) ?? "-", f.error ?? ""]
        })
    }
}
