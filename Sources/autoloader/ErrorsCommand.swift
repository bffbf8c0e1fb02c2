import ArgumentParser
import AutoloaderCore

struct ErrorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "errors", abstract: "Show the rejected rows of a load: file, line, column, raw text, reason.")
    @Argument(help: "The load id (see `autoloader loads`).") var loadID: Int64
    @OptionGroup var warehouse: WarehouseOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let catalog = try Wiring.catalog(warehouse, readOnly: true)
        guard let load = try catalog.load(id: loadID) else { throw AutoloaderError.unknownLoad(loadID) }
        let errors = try catalog.errors(loadID: loadID)
        if output.json { return try Output.json(errors) }
        if errors.isEmpty, let e = load.error { print("load \(loadID) \(load.status.rawValue): \(e)") }
        Output.table(["file", "line", "column", "reason", "raw text"], errors.map { e in
            [e.file, e.line.map(String.init) ?? "-", e.column ?? "-", e.reason, e.rawText]
        })
    }
}
