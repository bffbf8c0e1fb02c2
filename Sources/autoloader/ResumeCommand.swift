import ArgumentParser
import AutoloaderCore

struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Resume loading a paused table (its pending files load next).")
    @Argument(help: "Table name.") var table: String
    @OptionGroup var warehouse: WarehouseOptions

    func run() throws {
        try Wiring.catalog(warehouse, readOnly: false).setStatus(table: table, .active)
        print("\(table): active")
    }
}
