import ArgumentParser
import AutoloaderCore

struct OptionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "options",
        abstract: "Show or change a table's load options.",
        discussion: """
        Options (JSON): on_error (abort_file | skip_rows | continue), max_errors, overwrite (replace | append | ignore), \
        max_files and max_bytes per load, delimiter and header (override detection). Example:
          autoloader options orders '{"on_error": "skip_rows", "max_errors": 10}'
        """
    )
    @Argument(help: "Table name.") var table: String
    @Argument(help: "JSON object of options to change; omit to show the current ones.") var json: String?
    @OptionGroup var warehouse: WarehouseOptions

    func run() throws {
        let catalog = try Wiring.catalog(warehouse, readOnly: false)
        guard let record = try catalog.table(named: table) else { throw AutoloaderError.unknownTable(table) }
        guard let json else { return print(record.options.jsonString()) }
        let updated = try record.options.merging(json: json)
        try catalog.setOptions(table: table, updated)
        print(updated.jsonString())
    }
}
