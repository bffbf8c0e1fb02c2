import AutoloaderApp
import AutoloaderCore
import AutoloaderOps
import AutoloaderPipeline
import Foundation
import Testing

/// The configuration file, environment and flags: precedence, origins, located errors, the seed's parameter names.
struct SettingsTests {
    func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("autoloader-\(UUID().uuidString).yml").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func error(_ yaml: String, environment: [String: String] = [:], flags: [String: String] = [:]) throws -> Settings.ConfigError? {
        let path = try file(yaml)
        defer { unlink(path) }
        do {
            _ = try Settings.resolve(file: path, environment: environment, flags: flags)
            return nil
        } catch let error as Settings.ConfigError {
            return error
        }
    }

    @Test func flagsWinOverEnvironmentWhichWinsOverTheFile() throws {
        let path = try file("""
            # the loader's settings
            warehouse: sqlite:/from/file.db
            workers: 3
            settle: 2
            source: ./in
            """)
        defer { unlink(path) }
        let settings = try Settings.resolve(file: path, environment: ["AUTOLOADER_WORKERS": "4", "AUTOLOADER_SETTLE": "5"],
                                            flags: ["settle": "7"])
        #expect(settings[Settings.warehouse] == "sqlite:/from/file.db")
        #expect(settings.values["warehouse"]?.origin == .file(path: path, line: 2))
        #expect(settings[Settings.workers] == "4")
        #expect(settings.values["workers"]?.origin == .environment("AUTOLOADER_WORKERS"))
        #expect(settings[Settings.settle] == "7")
        #expect(settings.values["settle"]?.origin == .flag("settle"))
        let configuration = try Configuration(settings: settings)
        #expect(configuration.service.workers == 4)
        #expect(configuration.service.settleSeconds == 7)
        #expect(configuration.source == "./in")
        // A source the command names itself wins over the setting.
        #expect(try Configuration(settings: settings, source: "/elsewhere").source == "/elsewhere")
    }

    @Test func unknownKeysAndBadValuesAreLocated() throws {
        let unknown = try #require(try error("warehouse: sqlite:x.db\n\nworkrs: 2\n"))
        guard case let .file(_, line) = unknown.origin else { Issue.record("not located: \(unknown)"); return }
        #expect(line == 3)
        #expect(unknown.key == "workrs")
        #expect(unknown.description.contains("unknown key"))

        let near = try #require(try error("Workers: 2\n"))
        #expect(near.description.contains("did you mean 'workers'"))

        let bad = try #require(try error("source: ./x\nworkers: many\n"))
        guard case let .file(_, badLine) = bad.origin else { Issue.record("not located: \(bad)"); return }
        #expect(badLine == 2)
        #expect(bad.description.contains("'workers'") && bad.description.contains("whole number"))

        let warehouse = try #require(try error("warehouse: mysql://x/y\n"))
        #expect(warehouse.description.contains("unknown warehouse"))

        // A table option, checked by TableOptions's own rules, names the option's line.
        let option = try #require(try error("""
            tables:
              orders:
                on_error: skip_rows
                max_errors: 5
                overwrite: sometimes
            """))
        guard case let .file(_, optionLine) = option.origin else { Issue.record("not located: \(option)"); return }
        #expect(optionLine == 5)
        #expect(option.key == "tables.orders.overwrite")
        let unknownOption = try #require(try error("tables:\n  orders:\n    on_eror: skip_rows\n"))
        #expect(unknownOption.description.contains("unknown option 'on_eror'"))
        let hint = try #require(try error("tables:\n  orders:\n    types:\n      zip: varchr(10)\n"))
        #expect(hint.description.contains("varchr(10)"))

        // YAML that does not parse: the line of the problem, not a raw decoding error.
        let syntax = try #require(try error("source: ./x\nwarehouse: [unclosed\nworkers: 2\n"))
        #expect(syntax.description.contains("not valid YAML"))
        guard case .file = syntax.origin else { Issue.record("not located: \(syntax)"); return }

        // Environment and flags are checked the same way, and say where the value came from.
        let env = try #require(try error("", environment: ["AUTOLOADER_WORKERS": "0"]))
        #expect(env.description.contains("AUTOLOADER_WORKERS"))
        let flag = try #require(try error("", flags: ["http": "8080"]))
        #expect(flag.description.contains("--http"))
    }

    @Test func tableOptionsAreTypedAndMergedOverDefaults() throws {
        let path = try file("""
            table_defaults:
              max_files: 50
            tables:
              orders:
                on_error: abort_file
                types:
                  zip: varchar(10)
                header: true
                delimiter: "|"
              "events":
            """)
        defer { unlink(path) }
        let settings = try Settings.resolve(file: path, environment: [:], flags: [:])
        let configuration = try Configuration(settings: settings)
        let orders = try TableOptions().merging(json: try #require(configuration.service.tableOptions["orders"]))
        #expect(orders.onError == .abortFile)
        #expect(orders.maxFilesPerLoad == 50)
        #expect(orders.types == ["zip": "varchar(10)"])
        #expect(orders.header == true)
        #expect(orders.delimiter == "|")
        #expect(configuration.service.newTableOptions?.maxFilesPerLoad == 50)
        #expect(configuration.service.tableOptions["events"] != nil)
    }

    @Test func theSeedsParameterNamesMakeARedshiftConfiguration() throws {
        let path = try file("""
            DatabaseName: dev
            DatabaseSchemaName: sales
            DatabaseUserName: demo
            RedshiftClusterIdentifier: democluster
            RedshiftServerlessWorkgroup: N/A
            RedshiftIAMRoleARN: arn:aws:iam::700000000000:role/RedshiftDemoRole
            SourceS3Bucket: my-bucket
            CopyCommandOptions: delimiter '|' gzip
            CopyCommandSchedule: cron(0/5 * ? * * *)
            InitiateSchemaDetection: Yes
            """)
        defer { unlink(path) }
        let settings = try Settings.resolve(file: path, environment: [:], flags: [:])
        let url = try #require(settings[Settings.warehouse])
        let redshift = try RedshiftURLCheck.parse(url)
        #expect(redshift.host == "democluster")
        #expect(redshift.query["db_user"] == "demo")
        #expect(redshift.query["schema"] == "sales")
        #expect(redshift.query["iam_role"] == "arn:aws:iam::700000000000:role/RedshiftDemoRole")
        #expect(url.hasPrefix("redshift://democluster/dev?"))
        #expect(settings[Settings.source] == "s3://my-bucket/s3-to-redshift-loader-utility/")
        let configuration = try Configuration(settings: settings)
        #expect(configuration.service.newTableOptions?.copyOptions == "delimiter '|' gzip")
        #expect(configuration.service.newTableOptions?.schedule == "cron(0/5 * ? * * *)")
        #expect(try configuration.service.newTableOptions?.loadSchedule() == .cron(try Cron("0/5 * ? * * *")))

        // Serverless; our own key wins over the seed's.
        let serverless = try file("""
            RedshiftServerlessWorkgroup: wg
            RedshiftIAMRoleARN: arn:aws:iam::700000000000:role/R
            DatabaseName: analytics
            source: s3://other/prefix/
            """)
        defer { unlink(serverless) }
        let s = try Settings.resolve(file: serverless, environment: [:], flags: [:])
        #expect(s[Settings.warehouse]?.hasPrefix("redshift-serverless://wg/analytics?iam_role=") == true)
        #expect(s[Settings.source] == "s3://other/prefix/")

        // A cluster without a user is a located error naming the missing parameter.
        let missing = try #require(try error("RedshiftClusterIdentifier: c\nRedshiftIAMRoleARN: arn:aws:iam::1:role/R\n"))
        #expect(missing.key == "DatabaseUserName")
    }

    @Test func secretsAreMasked() {
        #expect(Settings.shown(Settings.warehouse, "postgres://u:hunter2@db:5432/x") == "postgres://u:****@db:5432/x")
        #expect(Settings.shown(Settings.apiToken, "a-very-secret-token-123") == "********")
        #expect(Settings.shown(Settings.source, "./landing") == "./landing")
    }

    /// The webhook's signature is HMAC-SHA256 as RFC 4231 defines it (test case 2), in hex after `sha256=`.
    @Test func webhookSignatureIsRFC4231HMAC() {
        #expect(Notifier.signature(body: Array("what do ya want for nothing?".utf8), secret: "Jefe")
                == "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    /// What a load says to people: each kind once, with the files concerned.
    @Test func noticesOfALoad() {
        var s = LoadSummary(loadID: 7, table: "t")
        s.files = [("t/a.csv", .loaded, 3, nil), ("t/b.csv", .loadedWithErrors, 2, "1 bad row"), ("t/c.csv", .failed, 0, "t/c.csv:2: bad"),
                   ("t/d.csv", .held, 0, "schema change held: add column x")]
        s.rowsRejected = 1
        s.status = .failed
        let notices = Notice.about(s, changes: ["ALTER TABLE t ADD COLUMN y TEXT"])
        #expect(notices.map(\.kind) == [.loadFailed, .rowsRejected, .changeHeld, .schemaChanged])
        #expect(notices[0].files.map(\.key) == ["t/c.csv"])
        #expect(notices[1].files.map(\.key) == ["t/b.csv"])
        #expect(notices[2].message.contains("add column x"))
        var quiet = LoadSummary(loadID: 8, table: "t")
        quiet.files = [("t/e.csv", .loaded, 1, nil)]
        #expect(Notice.about(quiet, changes: []).isEmpty)
    }

    @Test func httpAddresses() {
        #expect(HTTPAddress("127.0.0.1:8080")?.isLoopback == true)
        #expect(HTTPAddress("0.0.0.0:8080")?.isLoopback == false)
        #expect(HTTPAddress("[::1]:9")?.host == "::1")
        #expect(HTTPAddress("8080") == nil)
        #expect(HTTPAddress("host:99999") == nil)
    }
}

/// Reads a redshift:// URL's parts without the Redshift target (the test checks what the settings made).
enum RedshiftURLCheck {
    static func parse(_ url: String) throws -> (host: String, query: [String: String]) {
        let c = try #require(URLComponents(string: url))
        var query: [String: String] = [:]
        for item in c.queryItems ?? [] { query[item.name] = item.value }
        return (c.host ?? "", query)
    }
}
