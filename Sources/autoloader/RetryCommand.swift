import ArgumentParser
import AutoloaderCore

struct RetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "retry", abstract: "Queue a load's failed files again.")
    @Argument(help: "The load id (see `autoloader loads --status failed`).") var loadID: Int64
    @OptionGroup var warehouse: WarehouseOptions

    func run() throws {
        let n = try Wiring.catalog(warehouse, readOnly: false).retry(loadID: loadID)
        print("load \(loadID): \(n) failed file(s) queued again")
    }
}
