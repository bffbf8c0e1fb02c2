import ArgumentParser
import AutoloaderApp
import Foundation

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show the effective configuration: each value, where it came from, secrets masked.",
        discussion: """
        Layers, later ones winning: the configuration file (--config, $AUTOLOADER_CONFIG, else ./autoloader.yml), \
        AUTOLOADER_<KEY> environment variables, then flags. The file may use the seed's CloudFormation parameter \
        names (DatabaseName, RedshiftClusterIdentifier, SourceS3Bucket, CopyCommandOptions, …). Exit status 1 with \
        a located error (file:line, key) when a value is wrong.
        """
    )

    @OptionGroup var warehouse: WarehouseOptions
    @OptionGroup var output: OutputOptions

    struct Row: Encodable {
        var key: String
        var value: String
        var origin: String
    }

    func run() throws {
        let settings = try warehouse.settings()
        var rows: [Row] = []
        for key in Settings.keys {
            if let value = settings.values[key.name] {
                rows.append(Row(key: key.name, value: Settings.shown(key, value.text), origin: value.origin.description))
            } else {
                rows.append(Row(key: key.name, value: Self.defaults[key.name] ?? "", origin: Self.defaults[key.name] == nil ? "not set" : "default"))
            }
        }
        if let defaults = settings.optionsPatch(table: nil) { rows.append(Row(key: "table_defaults", value: defaults, origin: settings.file ?? "")) }
        for table in settings.tables.keys.sorted() {
            rows.append(Row(key: "tables.\(table)", value: settings.optionsPatch(table: table) ?? "{}", origin: settings.tableOrigins[table]?.description ?? ""))
        }
        if output.json { return try Output.json(rows) }
        print("configuration file: \(settings.file ?? "none")")
        Output.table(["KEY", "VALUE", "FROM"], rows.map { [$0.key, $0.value, $0.origin] })
        for note in settings.notes { print("note: \(note)") }
    }

    /// What applies when nothing sets a key (the flags' defaults).
    static let defaults: [String: String] = [
        "source": "./landing", "warehouse": "sqlite:./autoloader.sqlite", "full_listing": "60", "reconcile": "5", "settle": "1",
        "workers": "2", "log_level": "info", "log_format": "text",
    ]
}
