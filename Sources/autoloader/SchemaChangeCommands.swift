import ArgumentParser
import AutoloaderCore

/// schema_changes=hold: the files waiting with a proposed change, and the user's answer.
struct ChangesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "changes",
        abstract: "List files held because they would change their table's schema (tables with schema_changes=hold)."
    )
    @Option(help: "Only this table.") var table: String?
    @OptionGroup var warehouse: WarehouseOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let held = try Wiring.catalog(warehouse, readOnly: true).files(table: table, state: .held)
        if output.json { return try Output.json(held) }
        Output.table(["table", "file", "proposed change"], held.map { [$0.table, $0.key, $0.error ?? ""] })
    }
}

struct ApproveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve",
        abstract: "Apply the schema changes a table's held files propose, and load them."
    )
    @Argument(help: "Table name.") var table: String
    @OptionGroup var warehouse: WarehouseOptions

    func run() throws {
        let n = try Wiring.catalog(warehouse, readOnly: false).approve(table: table)
        print("\(table): \(n) held file(s) approved; they load with their change applied")
    }
}

struct RejectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reject",
        abstract: "Fail a table's held files: the schema stays as it is."
    )
    @Argument(help: "Table name.") var table: String
    @Option(help: "Why (kept with each file).") var reason = "schema change rejected"
    @OptionGroup var warehouse: WarehouseOptions

    func run() throws {
        let n = try Wiring.catalog(warehouse, readOnly: false).reject(table: table, reason: reason)
        print("\(table): \(n) held file(s) failed; `autoloader retry LOAD` or a new version of a file loads it again")
    }
}

struct SchemaHistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "schema-history", abstract: "Every change to a table's schema, oldest first.")
    @Argument(help: "Table name.") var table: String
    @OptionGroup var warehouse: WarehouseOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let catalog = try Wiring.catalog(warehouse, readOnly: true)
        guard try catalog.table(named: table) != nil else { throw AutoloaderError.unknownTable(table) }
        let changes = try catalog.schemaHistory(table: table)
        if output.json { return try Output.json(changes) }
        Output.table(["at", "load", "change"], changes.map { [$0.at, $0.loadID.map(String.init) ?? "-", $0.change] })
    }
}
