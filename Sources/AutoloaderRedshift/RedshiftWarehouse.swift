import AutoloaderCore
import AutoloaderStores
import Foundation

/// `redshift://CLUSTER/DATABASE?db_user=…` (provisioned, Data API), `redshift-serverless://WORKGROUP/DATABASE`
/// (Data API) or `redshift://USER:PASSWORD@HOST:5439/DATABASE` (PostgreSQL wire protocol), with
/// `iam_role=` (what COPY reads S3 as), `schema=`, `secret_arn=`, `manifests=s3://bucket/prefix/`,
/// `catalog=sqlite:PATH` (where the catalog lives; the ledger is in Redshift).
public struct RedshiftURL: Sendable, Equatable {
    public var target: DataAPITarget
    /// `redshift://user:password@host:5439/db?…`: the PostgreSQL wire protocol instead of the Data API.
    public var wire: String?
    public var schema: String
    public var iamRole: String
    public var manifests: String?
    public var catalog: String
    public var region: String?
    /// A Serverless workgroup (SYS views only), as opposed to a provisioned cluster (STL views too).
    public var isServerless: Bool { if case .workgroup = target.endpoint { return true } else { return false } }

    public init(_ url: String) throws {
        let serverless = url.hasPrefix("redshift-serverless://")
        guard serverless || url.hasPrefix("redshift://"), let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
            throw AutoloaderError.usage("a Redshift warehouse looks like redshift://CLUSTER/DATABASE?db_user=USER&iam_role=ARN or redshift-serverless://WORKGROUP/DATABASE?iam_role=ARN")
        }
        var q: [String: String] = [:]
        for item in components.queryItems ?? [] { q[item.name] = item.value ?? "" }
        let database = String(components.path.drop { $0 == "/" })
        guard let role = q["iam_role"], !role.isEmpty else {
            throw AutoloaderError.usage("\(url): add iam_role=arn:aws:iam::ACCOUNT:role/NAME — the role Redshift's COPY reads S3 as")
        }
        let endpoint: DataAPITarget.Endpoint
        if !serverless, components.user != nil || components.port != nil {
            // host:port with a user: the wire protocol; the rest of the URL is the PostgreSQL warehouse's rules.
            var pg = components
            pg.scheme = "postgres"
            pg.queryItems = (components.queryItems ?? []).filter { ["sslmode", "connect_timeout"].contains($0.name) }
            if pg.port == nil { pg.port = 5439 }
            if pg.queryItems?.isEmpty == true { pg.queryItems = nil }
            wire = pg.string
            endpoint = .cluster(identifier: host, dbUser: components.user)
        } else if serverless {
            endpoint = .workgroup(host)
            wire = nil
        } else {
            wire = nil
            guard q["db_user"] != nil || q["secret_arn"] != nil else {
                throw AutoloaderError.usage("\(url): a provisioned cluster needs db_user=USER (temporary credentials) or secret_arn=ARN")
            }
            endpoint = .cluster(identifier: host, dbUser: q["db_user"])
        }
        target = DataAPITarget(endpoint: endpoint, database: database.isEmpty ? "dev" : database, secretARN: q["secret_arn"])
        schema = q["schema"] ?? "public"
        iamRole = role
        manifests = q["manifests"]
        catalog = q["catalog"] ?? "sqlite:./autoloader.sqlite"
        region = q["region"]
    }
}

/// Amazon Redshift through the Data API. The files never pass through us: a manifest per COPY goes to S3,
/// and one BatchExecuteStatement (one transaction) runs the COPYs into staging tables, the inserts into the
/// table with partition values and the load id, and the ledger rows of its files. Before a load the ledger
/// is read: a file a committed load already has is not copied again, whatever crashed in between.
public final class RedshiftWarehouse: CopyingWarehouse {
    public let runner: any RedshiftStatementRunner
    public let s3: S3Client
    public let target: RedshiftSQL.Target
    /// Where loads are claimed and recorded (the catalog's own warehouse: SQLite).
    public let bookkeeping: any Warehouse
    public var log: @Sendable (String) -> Void = { _ in }
    /// A dry run: objects that would be written to S3 (manifests, rewritten files) are shown here instead, and the
    /// runner is a `DryRunRunner`.
    public var dryRun: (@Sendable (String) -> Void)?
    public var varcharFactor = TypeSpelling.defaultVarcharFactor
    /// Schemas known to exist (the target's with the ledger, and those of `schema.table` tables).
    private var preparedSchemas = Set<String>()

    public init(runner: any RedshiftStatementRunner, s3: S3Client, target: RedshiftSQL.Target, bookkeeping: any Warehouse) {
        self.runner = runner
        self.s3 = s3
        self.target = target
        self.bookkeeping = bookkeeping
    }

    public static let redshiftCapabilities = WarehouseCapabilities(name: "Redshift", transactionalCatalog: false, storesAnyValue: false,
                                                                   maxVarcharBytes: 65_535, maxIdentifierBytes: 127, schemas: true) {
        TypeSpelling.redshift.sql($0)
    }

    public var capabilities: WarehouseCapabilities { Self.redshiftCapabilities }

    public func beginLoad(table: String, files: [FileRecord], statement: String) throws -> any LoadTransaction {
        try bookkeeping.beginLoad(table: table, files: files, statement: statement)
    }

    func run(_ sql: String) throws { try runner.run(sql) }

    /// The target's schema with the ledger, and the table's schema.
    private func prepareSchemas(table: String) throws {
        for schema in [target.schema, target.place(table).schema] where !preparedSchemas.contains(schema) {
            try run("CREATE SCHEMA IF NOT EXISTS \(SQLIdentifier.quoted(schema))")
            if schema == target.schema { try run(RedshiftSQL.createLedger(target)) }
            preparedSchemas.insert(schema)
        }
    }

    /// Records in the ledger files whose rows another loader put in the table (the seed, `import-seed-state`), as
    /// load `loadID`: from then on they are never copied again, whatever the catalog says. Versions the ledger has
    /// already are left (running the import twice adds nothing). Returns how many were added.
    public func recordLoaded(table: String, loadID: Int64, files: [FileRecord]) throws -> Int {
        try prepareSchemas(table: table)
        var added = 0
        // A few hundred rows per INSERT keeps each statement far below the Data API's 100 KB.
        for start in stride(from: 0, to: files.count, by: 200) {
            let chunk = Array(files[start..<min(files.count, start + 200)])
            let present = Set(try runner.query(RedshiftSQL.ledgerLookup(target, table: table, keys: chunk.map(\.key))).compactMap { r -> LedgerFile? in
                guard r.count >= 3, let key = r[0], let size = r[1].flatMap({ Int64($0) }), let mtime = r[2].flatMap({ Int64($0) }) else { return nil }
                return LedgerFile(key: key, size: size, modifiedNanos: mtime)
            })
            let missing = chunk.filter { !present.contains(LedgerFile(key: $0.key, size: $0.size, modifiedNanos: $0.modifiedNanos)) }
            guard !missing.isEmpty else { continue }
            let at = String(WallClock.nowISO().prefix(19)).replacingOccurrences(of: "T", with: " ")
            let result = try runner.runTransaction([RedshiftSQL.ledgerInsert(target, table: table, files: missing, loadID: loadID, at: at)],
                                                   name: RedshiftSQL.statementNamePrefix(target, table: table) + "import \(loadID)") { _ in }
            guard result.state == "FINISHED" else {
                throw AutoloaderError.warehouse(reason: "recording \(missing.count) file(s) of \(table) in the ledger: \(result.state) \(result.error ?? "")",
                                                transient: result.state != "FAILED")
            }
            added += missing.count
        }
        return added
    }

    public func copy(table: String, loadID: Int64, schema: TableSchema, groups: [CopyGroup], options: TableOptions,
                     reloads: Set<Int64> = [], recopy: ([LedgerFile]) throws -> [CopyGroup] = { _ in [] }) throws -> CopyOutcome {
        var outcome = CopyOutcome()
        do {
            try prepareSchemas(table: table)
            // Exactly once: a transaction of an earlier load that is still running (the loader crashed or stopped
            // polling after submitting it) ends before the ledger is read; then what a committed load already has is
            // not copied again.
            for id in try runner.awaitUnfinished(namePrefix: RedshiftSQL.statementNamePrefix(target, table: table)) {
                log("\(table): waited for statement \(id) of an earlier load to end before reading the ledger")
            }
            let all = groups.flatMap(\.files)
            // A dry run did not create the ledger: none yet means nothing loaded yet.
            let ledgerExists = try dryRun == nil || !runner.query(RedshiftSQL.describeColumns(target, table: RedshiftSQL.ledgerTable)).isEmpty
            let rows = ledgerExists ? try runner.query(RedshiftSQL.ledgerLookup(target, table: table, keys: all.map(\.key))) : []
            let ledger = rows.compactMap { r -> (file: LedgerFile, load: Int64)? in
                guard r.count >= 4, let key = r[0], let size = r[1].flatMap({ Int64($0) }), let mtime = r[2].flatMap({ Int64($0) }),
                      let load = r[3].flatMap({ Int64($0) }) else { return nil }
                return (LedgerFile(key: key, size: size, modifiedNanos: mtime), load)
            }
            // Each file: in the ledger already (not copied again), or replacing the rows of earlier loads — a reload
            // of its version, or a new version under overwrite=replace — or new.
            var replacedLoads = Set<Int64>(), replacing: [FileRecord] = []
            for file in all {
                let version = LedgerFile(key: file.key, size: file.size, modifiedNanos: file.modifiedNanos)
                if let same = ledger.first(where: { $0.file == version }) {
                    if reloads.contains(file.id) {
                        replacedLoads.insert(same.load)
                        replacing.append(file)
                    } else {
                        outcome.alreadyLoaded.append(file.id)
                    }
                } else if options.overwrite == .replace {
                    let earlier = ledger.filter { $0.file.key == file.key }.map(\.load)
                    if !earlier.isEmpty {
                        replacedLoads.formUnion(earlier)
                        replacing.append(file)
                    }
                }
            }
            var remaining = groups.compactMap { g -> CopyGroup? in
                var g = g
                g.files.removeAll { outcome.alreadyLoaded.contains($0.id) }
                return g.files.isEmpty ? nil : g
            }
            if !outcome.alreadyLoaded.isEmpty { log("\(table): \(outcome.alreadyLoaded.count) file(s) already in the ledger; not copied again") }
            guard !remaining.isEmpty else { return outcome }

            // The table as Redshift has it decides what changes (a table users created included). ALTER COLUMN … TYPE
            // cannot run inside a transaction block, so widening precedes the load; ADD COLUMN is in its transaction.
            var partitionLengths: [String: Int] = [:]
            for g in remaining { for (name, value) in g.partitions { partitionLengths[name] = max(partitionLengths[name] ?? 0, value.utf8.count) } }
            let described = try runner.query(RedshiftSQL.describeColumns(target, table: table))
            let actual = described.isEmpty ? nil : described.compactMap(RedshiftSQL.TableColumn.init(row:))
            let fit = RedshiftSQL.reconcile(target, table: table, actual: actual, schema: schema, partitions: partitionLengths,
                                               varcharFactor: varcharFactor)
            if !fit.refused.isEmpty {
                outcome.failure = "the table \(target.place(table).schema).\(target.place(table).name) in Redshift cannot take these files: \(fit.refused.joined(separator: "; ")). "
                    + "Give the column a type hint (`autoloader options \(table) '{\"types\": {…}}'`), change the table, or load the files into another table"
                return outcome
            }
            if let create = fit.create { try run(create) }
            for sql in fit.widen {
                do {
                    try run(sql)
                } catch let error as AutoloaderError where !AutoloaderError.isTransient(error) {
                    outcome.failure = "Redshift refused to widen a column (\(error)); a column encoded BYTEDICT, RUNLENGTH, TEXT255 or TEXT32K "
                        + "cannot be widened: recreate it with another encoding, or give it a type hint that fits"
                    return outcome
                }
            }
            // Replacing: the earlier loads' rows go whole (COPY cannot say which row came from which file), so their
            // other files are copied again in the same transaction; the ledger then says which load holds each file.
            var replacement: (loads: [Int64], expected: Int)?
            var failures: [String] = []
            var failedIDs = Set<Int64>()
            if !replacedLoads.isEmpty {
                let ids = Set(replacing.map(\.id))
                func refuse(_ reason: String) {
                    failures.append("\(replacing.map(\.key).joined(separator: ", ")): \(reason)")
                    failedIDs.formUnion(ids)
                    remaining = remaining.compactMap { g in
                        var g = g
                        g.files.removeAll { ids.contains($0.id) }
                        return g.files.isEmpty ? nil : g
                    }
                }
                if !fit.hasLoadID {
                    refuse("the table has no \(RedshiftSQL.loadIDColumn) column (it was created outside autoloader), so the rows of the loaded "
                        + "version cannot be found to be replaced; nothing was loaded: add the column (BIGINT) or set overwrite=append")
                } else {
                    let loads = replacedLoads.sorted()
                    let held = try runner.query(RedshiftSQL.ledgerOfLoads(target, table: table, loadIDs: loads)).compactMap { r -> LedgerFile? in
                        guard r.count >= 3, let key = r[0], let size = r[1].flatMap({ Int64($0) }), let mtime = r[2].flatMap({ Int64($0) }) else { return nil }
                        return LedgerFile(key: key, size: size, modifiedNanos: mtime)
                    }
                    let replacedKeys = Set(replacing.map(\.key))
                    let others = held.filter { !replacedKeys.contains($0.key) }
                    do {
                        let again = try recopy(others)
                        remaining += again
                        replacement = (loads, held.count)
                        log("load \(loadID) \(table): replaces the rows of load(s) \(loads.map(String.init).joined(separator: ", ")) "
                            + "(\(replacing.map(\.key).joined(separator: ", "))); \(others.count) other file(s) of those loads are copied again with them")
                    } catch let error as AutoloaderError where !AutoloaderError.isTransient(error) {
                        refuse("its earlier rows cannot be replaced: \(error); nothing was loaded")
                    }
                }
            }
            if !fit.hasLoadID {
                log("\(table): the table has no \(RedshiftSQL.loadIDColumn) column (created outside autoloader): its rows cannot be traced to "
                    + "their load, so a file overwritten in the bucket (or reloaded) is refused rather than replaced")
            }

            // Each group: CREATE TEMP staging, COPY, INSERT (temporary tables end with the batch's session, so no
            // DROP). BatchExecuteStatement takes at most 40 statements and 100 KB of SQL: the groups are cut into
            // batches that fit, each ONE transaction with the ledger rows of its own files, so each is exactly
            // once by itself; a batch that fails fails only its files.
            var groupSQL: [[String]] = []
            // What COPY cannot read is refused before anything is submitted, naming the files and the reason.
            let refused = remaining.compactMap { g in RedshiftSQL.copyRefusal(format: g.format, dialect: g.dialect).map { (g, $0) } }
            for (g, reason) in refused {
                failures.append("\(g.files.map(\.key).joined(separator: ", ")): \(reason)")
                failedIDs.formUnion(g.files.map(\.id))
            }
            remaining.removeAll { g in g.files.contains { failedIDs.contains($0.id) } }
            for (i, g) in remaining.enumerated() {
                let key = RedshiftSQL.manifestKey(target, table: table, loadID: loadID, part: remaining.count > 1 ? i + 1 : nil)
                let entries = g.files.map { RedshiftSQL.ManifestEntry(url: g.urls[$0.id] ?? "", contentLength: g.contentLengths[$0.id] ?? $0.size) }
                try write(key: key, body: Array(RedshiftSQL.manifest(entries).utf8), contentType: "application/json")
                let staging = "stage_\(loadID)_\(i + 1)"
                // The file's columns with the table's types, and the layouts and null spellings detection saw in these files.
                // JSON 'auto ignorecase' fills a staging column from the key of its name (lower case, as Redshift folds
                // identifiers), so there a staging column is named as the file spells the key and the INSERT maps it.
                var tableNames = fit.columns.mapValues(\.name), types = fit.columns.mapValues(\.type)
                let columns = zip(g.columns, g.sourceColumns).compactMap { name, source -> Column? in
                    guard var c = schema.columns.first(where: { $0.name == name }) else { return nil }
                    if let f = g.fileColumns.first(where: { $0.name == name }) {
                        if f.type.kind == c.type.kind { c.type.format = f.type.format }
                        c.nullTokens = f.nullTokens
                    }
                    if g.format == .json, source.lowercased() != name {
                        c.name = source.lowercased()
                        tableNames[c.name] = tableNames[name] ?? name
                        types[c.name] = types[name]
                    }
                    return c
                }
                let plan = RedshiftSQL.stagingPlan(columns, format: g.format, trailingDelimiter: g.dialect?.trailingDelimiter ?? false,
                                                   varcharFactor: varcharFactor, types: types)
                let copyOptions = RedshiftSQL.copyOptions(format: g.format, dialect: g.dialect, compression: g.compression,
                                                          schema: TableSchema(columns: columns), tableOptions: options.copyOptions,
                                                          maxErrors: maxErrors(options))
                groupSQL.append([
                    RedshiftSQL.createStaging(staging: staging, plan: plan),
                    RedshiftSQL.copy(target, staging: staging, columns: plan.copyColumns, manifestURL: "s3://\(target.manifestBucket)/\(key)",
                                     options: copyOptions, format: g.format),
                    RedshiftSQL.insertFromStaging(target, table: table, staging: staging, plan: plan, partitions: g.partitions,
                                                  loadID: fit.hasLoadID ? loadID : nil, names: tableNames),
                ])
            }
            let now = WallClock.iso(nanos: WallClock.nowNanos())
            let at = String(now.prefix(19)).replacingOccurrences(of: "T", with: " ")
            let batches = RedshiftSQL.batches(groupSQL, head: { indices in
                // New columns in the first transaction only (there is no ADD COLUMN IF NOT EXISTS): a later transaction
                // of the same load fails without them if the first did, and the load is retried whole. A replacement's
                // deletes come after the LOCK and before the guard (the files copied again are in the ledger until then).
                var guardSQL = RedshiftSQL.ledgerGuard(self.target, table: table, files: indices.flatMap { remaining[$0].files })
                if let replacement, indices.first == 0 { guardSQL.insert(contentsOf: RedshiftSQL.replace(self.target, table: table, loadIDs: replacement.loads,
                                                                                     expected: replacement.expected), at: guardSQL.count - 1) }
                return guardSQL + (indices.first == 0 ? fit.addColumns : [])
            }, tail: { indices in
                [RedshiftSQL.ledgerInsert(self.target, table: table, files: indices.flatMap { remaining[$0].files }, loadID: loadID, at: at)]
            })
            if replacement != nil, batches.count > 1 {
                // The deletes and every file copied again must commit together.
                outcome.failure = "replacing the rows of earlier loads needs one transaction, and these files need \(batches.count) "
                    + "(BatchExecuteStatement takes 40 statements, 100 KB); nothing was loaded: set max_files lower, or overwrite=append"
                return outcome
            }
            var statements: [String] = []
            var rowsLoaded: Int64? = 0
            for (n, batch) in batches.enumerated() {
                let sqls = batch.sqls
                let text = sqls.joined(separator: ";\n") + ";"
                statements.append(batches.count > 1 ? "-- transaction \(n + 1) of \(batches.count)\n" + text : text)
                log("load \(loadID) \(table): one transaction\(batches.count > 1 ? " (\(n + 1) of \(batches.count))" : "") through the \(runner.describesItself)\n\(text)")
                let name = RedshiftSQL.statementName(target, table: table, loadID: loadID, part: n + 1, of: batches.count)
                let status = try runner.runTransaction(sqls, name: name) { id in
                    // Said before any waiting: if the loader dies now, this is the statement to look for.
                    self.log("load \(loadID) \(table): submitted statement \(id) (\(name))")
                }
                outcome.statementID = [outcome.statementID, status.statementID].compactMap { $0 }.joined(separator: ", ")
                outcome.queryIDs += status.queryIDs
                outcome.durationNanos = (outcome.durationNanos ?? 0) + (status.durationNanos ?? 0)
                log("load \(loadID) \(table): \(status.statementID.map { "statement \($0) " } ?? "")\(status.state), query ids \(status.queryIDs)\(status.durationNanos.map { ", \($0 / 1_000_000) ms" } ?? "")")
                let batchGroups = batch.groups.map { remaining[$0] }
                // Rejected rows: the batch's files since the load started, from the view this deployment has (a failed
                // COPY's, or those MAXERROR let a committed COPY skip).
                func readRejectedRows() -> String? {
                    let urls = batchGroups.flatMap { g in g.files.compactMap { g.urls[$0.id] } }
                    do {
                        for r in try runner.query(RedshiftSQL.loadErrors(target.loadErrors, urls: urls, since: at)) where r.count >= 5 {
                            let url = r[0] ?? ""
                            let key = batchGroups.flatMap { g in g.files.filter { g.urls[$0.id] == url } }.first?.key
                                ?? (url.hasPrefix("s3://") ? String(url.dropFirst(5)) : url)
                            outcome.errors.append(LoadErrorRecord(loadID: loadID, file: key, line: r[1].flatMap { Int($0) }, column: r[2],
                                                                  rawText: r[3] ?? "", reason: r[4] ?? ""))
                        }
                        return nil
                    } catch {
                        // Never silent: the load says its rejected rows could not be read, and why.
                        log("load \(loadID) \(table): could not read its rejected rows: \(error)")
                        return "its rejected rows could not be read: \(error)"
                    }
                }
                switch status.state {
                case "FINISHED":
                    // Rows loaded: the INSERTs into the table, not the batch's ResultRows (which adds staging and ledger rows).
                    let counts = batch.rowStatements.map { $0 < status.statementRows.count ? status.statementRows[$0] : nil }
                    if rowsLoaded != nil, counts.allSatisfy({ $0 != nil }) { rowsLoaded! += counts.reduce(0) { $0 + ($1 ?? 0) } } else { rowsLoaded = nil }
                    if maxErrors(options) > 0, batchGroups.contains(where: { $0.format != .parquet }), let problem = readRejectedRows() {
                        outcome.failure = [outcome.failure, problem].compactMap { $0 }.joined(separator: "; ")
                    }
                    continue
                case "ABORTED":
                    failures.append("the statement was cancelled (ABORTED); nothing of its files was loaded")
                default:
                    let error = status.error ?? status.state
                    if error.contains(RedshiftSQL.alreadyLoadedMarker) {
                        // Another transaction (an earlier attempt still running, another loader) committed some of these
                        // files after the ledger was read: nothing of this one was kept; read the ledger again.
                        throw AutoloaderError.contention("\(table): some files were loaded by another transaction while this load was submitted")
                    }
                    if RedshiftSQL.isTransient(error) {
                        throw AutoloaderError.warehouse(reason: "Redshift: \(error)", transient: true)
                    }
                    failures.append("Redshift: \(error)")
                    if let problem = readRejectedRows() { failures[failures.count - 1] += " (\(problem))" }
                }
                failedIDs.formUnion(batchGroups.flatMap { $0.files.map(\.id) })
            }
            outcome.statement = statements.joined(separator: "\n")
            if outcome.statementID?.isEmpty == true { outcome.statementID = nil }
            outcome.rows = rowsLoaded
            if !failures.isEmpty {
                outcome.failure = failures.joined(separator: "; ")
                outcome.failedFiles = failedIDs
            }
            return outcome
        } catch let error as AWSError {
            throw AutoloaderError.warehouse(reason: error.description, transient: error.isRetryable)
        }
    }

    public func stage(table: String, name: String, body: [UInt8]) throws -> String {
        let prefix = target.manifestPrefix.isEmpty || target.manifestPrefix.hasSuffix("/") ? target.manifestPrefix : target.manifestPrefix + "/"
        let key = "\(prefix)restaged/\(table)/\(name)"
        do {
            try write(key: key, body: body, contentType: "application/octet-stream")
        } catch let error as AWSError {
            throw AutoloaderError.warehouse(reason: error.description, transient: error.isRetryable)
        }
        return "s3://\(target.manifestBucket)/\(key)"
    }

    /// An object next to the manifests (a manifest, a rewritten file), or in a dry run what it would be.
    private func write(key: String, body: [UInt8], contentType: String) throws {
        if let dryRun {
            let text = contentType == "application/json" ? String(decoding: body, as: UTF8.self) : "(\(body.count) bytes, rewritten for COPY)\n"
            dryRun("-- would write s3://\(target.manifestBucket)/\(key):\n\(text)")
            return
        }
        try s3.put(bucket: target.manifestBucket, key: key, body: body, contentType: contentType)
    }

    /// MAXERROR from the table's error policy: a file with bad rows loads nothing (0), loads the rest up to
    /// `max_errors` rejected rows, or loads the rest whatever their number (COPY's ceiling). COPY counts bad rows
    /// per COPY, not as a share of a file's rows: without `max_errors` the default's ratio becomes 1,000.
    static let defaultMaxErrors = 1_000

    func maxErrors(_ options: TableOptions) -> Int {
        switch options.onError {
        case .abortFile: return 0
        case .skipRows: return options.maxErrors ?? Self.defaultMaxErrors
        case .continue: return RedshiftSQL.maxCopyErrors
        }
    }
}
