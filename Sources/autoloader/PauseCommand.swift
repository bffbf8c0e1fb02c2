import ArgumentParser
import AutoloaderCore

struct PauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Stop loading a table; new files are still recorded (pending) and load on resume."
    )
    @Argument(help: "Table name.") var table: String
    @OptionGroup var warehouse: WarehouseOptions

    func run() throws {
        try Wiring.catalog(warehouse, readOnly: false).setStatus(table: table, .paused)
        print("\(table): paused")
    }
}
