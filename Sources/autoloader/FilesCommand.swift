import ArgumentParser
import AutoloaderCore

struct FilesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "files", abstract: "List files the catalog knows, with their state.")
    @Option(help: "Only this table.") var table: String?
    @Option(help: "Only this state: pending, loading, loaded, failed, duplicate, skipped.") var state: String?
    @OptionGroup var warehouse: WarehouseOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        var wanted: FileState?
        if let state {
            guard let s = FileState(rawValue: state) else {
                throw ValidationError("unknown state '\(state)'; one of \(FileState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            wanted = s
        }
        let files = try Wiring.catalog(warehouse, readOnly: true).files(table: table, state: wanted)
        if output.json { return try Output.json(files) }
        Output.table(["id", "table", "key", "bytes", "modified", "state", "load", "rows", "note"], files.map { f in
            [String(f.id), f.table, f.key, String(f.size), WallClock.iso(nanos: f.modifiedNanos), f.state.rawValue,
             f.loadID.map(String.init) ?? "-", f.rows.map(String.init) ?? "-", f.error ?? ""]
        })
    }
}
