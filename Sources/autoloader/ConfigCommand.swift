import ArgumentParser
import AutoloaderApp
import AutoloaderPipeline
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

    /// What applies when nothing sets a key: read off the program's own defaults, so this list cannot drift from them.
    static var defaults: [String: String] {
        let c = Configuration(), s = LoaderService.Configuration()
        return ["source": c.source, "warehouse": c.warehouse, "full_listing": "\(c.fullListingSeconds)",
                "reconcile": "\(s.reconcileSeconds)", "settle": "\(s.settleSeconds)", "workers": "\(s.workers)",
                "log_level": "info", "log_format": LogLines.Format.text.rawValue]
    }
}
