import ArgumentParser
import AutoloaderCore

struct TablesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tables", abstract: "List tables: status, files by state, checkpoint, columns.")
    @OptionGroup var warehouse: WarehouseOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let catalog = try Wiring.catalog(warehouse, readOnly: true)
        let tables = try catalog.tables()
        if output.json { return try Output.json(tables) }
        let files = try catalog.files(table: nil, state: nil)
        Output.table(["table", "folder", "status", "loaded", "pending", "failed", "checkpoint", "columns"], tables.map { t in
            let mine = files.filter { $0.table == t.name }
            return [t.name, t.sourceFolder, t.status.rawValue, String(mine.filter { $0.state.keepsRows }.count),
                    String(mine.filter { $0.state == .pending || $0.state == .loading }.count), String(mine.filter { $0.state == .failed }.count),
                    t.checkpointNanos.map { WallClock.iso(nanos: $0) } ?? "-",
                    (t.schema?.columns.map { "\($0.name) \($0.type.description)\($0.original.map { " (\($0.debugDescription) in the file)" } ?? "")" } ?? []).joined(separator: ", ")]
        })
    }
}
