import ArgumentParser
import AutoloaderCore
import Foundation

struct OptionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "options",
        abstract: "Show or change a table's load options.",
        discussion: """
        Options (JSON): on_error (abort_file | skip_rows | continue), max_errors, overwrite (replace | append | ignore), \
        evolution (add_columns | rescue | fail | freeze), max_files and max_bytes per load, delimiter and header \
        (override detection), types, all_text, copy_options (Redshift), settle_seconds (how long a file must look \
        unchanged), marker (e.g. _SUCCESS: a folder's files wait for it), schema_changes (auto | hold: a change waits \
        for `autoloader approve`), schedule (continuous | rate(5 minutes) | cron(0/5 * ? * * *) | gather(60 seconds)), \
        pause_after_failed_loads, json_path (where JSON records are in a wrapper object, e.g. data; $ for the top \
        level). A table with no files yet can be given \
        options too (for the landing folder of the same name), so they apply from its first file. Example:
          autoloader options orders '{"on_error": "skip_rows", "max_errors": 10}'
        """
    )
    @Argument(help: "Table name.") var table: String
    @Argument(help: "JSON object of options to change; omit to show the current ones.") var json: String?
    @OptionGroup var warehouse: WarehouseOptions

    func run() throws {
        let catalog = try Wiring.catalog(warehouse, readOnly: json == nil)
        let record = try catalog.table(named: table)
        guard let json else {
            guard let record else { throw AutoloaderError.unknownTable(table) }
            return print(record.options.jsonString())
        }
        let updated = try (record?.options ?? TableOptions()).merging(json: json)
        try catalog.setOptions(table: table, updated)
        if record == nil { FileHandle.standardError.write(Data("no files in \(table) yet: the options apply to the landing folder \(table)/ from its first file\n".utf8)) }
        print(updated.jsonString())
    }
}
