import ArgumentParser
import AutoloaderApp
import AutoloaderCore

struct ImportSeedStateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-seed-state",
        abstract: "Switch from AWS's Redshift Auto Loader: record the files it loaded as loaded, and its tables' pause state and COPY options.",
        discussion: """
        Reads the seed's DynamoDB tables (s3_data_loader_table_config, _file_metadata, _log) and its COPY manifests. \
        A file is recorded as loaded — in the catalog and in Redshift's ledger — when it is at or before its table's \
        checkpoint and a FINISHED COPY's manifest lists it, and its object is still the one the seed loaded. Files of \
        FAILED or ABORTED COPYs and files after the checkpoint are left for `autoloader run` to load. Refused while a \
        seed COPY has not ended: disable the seed's schedules first. Running it again adds nothing.
        """
    )

    @Option(help: ArgumentHelp("The seed's bucket and landing prefix, s3://BUCKET/s3-redshift-loader-source/. Default: the configuration's `source`.", valueName: "url"))
    var source: String?
    @OptionGroup var sourceOptions: SourceOptions
    @OptionGroup var warehouse: WarehouseOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        var flags = sourceOptions.flags
        flags[Settings.source.name] = source
        let report = try SeedImport.run(try Wiring.configuration(warehouse, flags: flags), log: Log.line)
        if output.json { return try Output.json(report) }
        print("imported from the seed: \(report.imported) file(s) recorded as loaded (\(report.alreadyImported) recorded before) in \(report.tables.count) table(s)")
        if !report.paused.isEmpty { print("paused, as in the seed: \(report.paused.joined(separator: ", ")) (`autoloader resume TABLE` to load them)") }
        for (reason, n) in report.leftToLoad.sorted(by: { $0.key < $1.key }) { print("left for the loader: \(n) file(s) \(reason)") }
        for warning in report.warnings { print("warning: \(warning)") }
    }
}
