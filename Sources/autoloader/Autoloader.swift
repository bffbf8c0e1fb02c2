import ArgumentParser

@main
struct Autoloader: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autoloader",
        abstract: "Drop files into a folder, one folder per table, and they become rows in a SQL warehouse.",
        discussion: """
        Each first-level folder of the landing area is a table. autoloader detects each file's dialect and \
        column types, creates the table, and loads new files continuously and exactly once. Every load is \
        logged in the catalog and every rejected row is explained.

        Quick start:
          autoloader run                       # watch ./landing, load into ./autoloader.sqlite
          cp orders.csv landing/orders/        # a second later: sqlite3 autoloader.sqlite 'select count(*) from orders'
        """,
        version: "autoloader 0.16.0",
        subcommands: [
            RunCommand.self, LoadCommand.self, DetectCommand.self,
            ConfigCommand.self, TablesCommand.self, FilesCommand.self, LoadsCommand.self, ErrorsCommand.self,
            PauseCommand.self, ResumeCommand.self, ReloadCommand.self, OptionsCommand.self, RetryCommand.self,
            ChangesCommand.self, ApproveCommand.self, RejectCommand.self, SchemaHistoryCommand.self, SetupEventsCommand.self,
            ImportSeedStateCommand.self,
        ]
    )
}
