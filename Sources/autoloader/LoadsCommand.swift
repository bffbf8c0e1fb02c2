import ArgumentParser
import AutoloaderCore

struct LoadsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "loads", abstract: "List loads (current and previous): files, rows, status, error.")
    @Option(help: "Only this table.") var table: String?
    @Option(help: "Only this status: queued, running, finished, failed, aborted.") var status: String?
    @OptionGroup var warehouse: WarehouseOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let wanted = try status.map { try LoadStatus.named($0, what: "status") }
        let loads = try Wiring.catalog(warehouse, readOnly: true).loads(table: table, status: wanted)
        if output.json { return try Output.json(loads) }
        Output.table(["id", "table", "status", "files", "rows", "rejected", "bytes", "started", "finished", "error"], loads.map { l in
            [String(l.id), l.table, l.status.rawValue, String(l.files.count), String(l.rowsLoaded), String(l.rowsRejected), String(l.bytes),
             l.startedAt, l.finishedAt ?? "-", l.error ?? ""]
        })
    }
}
