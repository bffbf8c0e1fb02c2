import AutoloaderCore
import AutoloaderRedshift
import AutoloaderStores
import Foundation

/// `autoloader import-seed-state`: switching from the seed (AWS's Redshift Auto Loader) without loading anything
/// twice or dropping what it failed to load. Reads its three DynamoDB tables and its COPY manifests
/// (`SeedState`), and records as loaded — in this catalog and in Redshift's ledger — exactly the files its own rule
/// says it loaded: at or before the table's checkpoint and listed by a FINISHED COPY's manifest. Everything else
/// (files of FAILED or ABORTED COPYs, files after the checkpoint) is left for the loader to find and load. Tables
/// keep the seed's pause state and COPY options.
///
/// Safe to run again (what is recorded already is left), and safe against a crash half way: the ledger is written
/// before the catalog, and a file the ledger has is never copied again whatever the catalog says.
public enum SeedImport {
    public struct Report: Sendable, Codable, Equatable {
        /// Tables of the seed, as this loader names them.
        public var tables: [String] = []
        public var paused: [String] = []
        /// Files the seed loaded, now recorded as loaded (catalog and ledger).
        public var imported = 0
        /// Files the seed loaded that an earlier import recorded already.
        public var alreadyImported = 0
        /// Files left for the loader, by reason.
        public var leftToLoad: [String: Int] = [:]
        public var warnings: [String] = []
    }

    /// Largest load an import records at once (one catalog load, one ledger transaction per 200 files).
    static let filesPerLoad = 1000

    public static func run(_ configuration: Configuration, log: @escaping @Sendable (String) -> Void) throws -> Report {
        guard case let .redshift(url) = try Build.target(configuration.warehouse) else {
            throw AutoloaderError.usage("import-seed-state moves a Redshift deployment: give --warehouse redshift://… or redshift-serverless://… (the seed's cluster or workgroup)")
        }
        guard configuration.source.hasPrefix("s3://") else {
            throw AutoloaderError.usage("import-seed-state needs --source s3://BUCKET/PREFIX/: the seed's bucket and landing prefix (s3-redshift-loader-source/ in its code)")
        }
        let aws = AWSClient(configuration: AWSConfiguration(endpoint: configuration.endpoint))
        aws.onRetry = log
        let store = try S3Store(url: configuration.source, aws: aws)
        try store.resolveRoot()
        let backend = try Build.backend(configuration)
        guard let warehouse = backend.warehouse as? RedshiftWarehouse else {
            throw AutoloaderError.usage("import-seed-state: \(url.target.database) is not a Redshift warehouse")
        }
        let catalog = backend.catalog
        try catalog.prepare(readOnly: false)
        var report = Report()
        func leave(_ reason: String, _ n: Int = 1) { if n > 0 { report.leftToLoad[reason, default: 0] += n } }

        let seed = try SeedState.read(DynamoDBClient(aws: aws))
        let running = seed.copies.filter { !["FINISHED", "FAILED", "ABORTED"].contains($0.status) }
        guard running.isEmpty else {
            throw AutoloaderError.usage("the seed has \(running.count) COPY(s) not ended (\(running.prefix(5).map { "\($0.queryID): \($0.status)" }.joined(separator: ", "))): "
                + "disable its schedules, wait until s3_data_loader_log shows each FINISHED, FAILED or ABORTED, and import again")
        }
        // The manifests of FINISHED COPYs say which files they loaded.
        var manifests: [String: [String]] = [:]
        for copy in seed.copies where copy.status == "FINISHED" {
            guard let (bucket, key) = split(copy.manifest) else {
                report.warnings.append("COPY \(copy.queryID): its manifest path '\(copy.manifest)' is not s3://…; its files are left to load")
                continue
            }
            guard try store.s3.head(bucket: bucket, key: key) != nil else {
                report.warnings.append("COPY \(copy.queryID): its manifest \(copy.manifest) is gone; its files are left to load (the ledger stops a file loaded twice only for files it has)")
                continue
            }
            manifests[copy.manifest] = try SeedState.manifestURLs(try store.s3.getObject(bucket: bucket, key: key))
        }
        let (loaded, pending) = seed.partition(manifests: manifests)
        leave("not loaded by the seed (after its checkpoint, or its COPY failed or was aborted)", pending.count)

        // Each loaded file as the listing will see it: a file whose object changed since (another size) is a new
        // version for the loader, and a file gone is nothing to load.
        let rootURL = "s3://\(store.bucket)/\(store.root)"
        let schemas = warehouse.capabilities.schemas
        // By folder: folders that sanitise alike load into distinct tables.
        var byFolder: [String: [(ObjectInfo, LandingKey, SeedState.File)]] = [:]
        for file in loaded {
            guard file.url.hasPrefix(rootURL) else {
                leave("outside --source \(rootURL)")
                continue
            }
            let key = String(file.url.dropFirst(rootURL.count))
            guard let object = try store.s3.head(bucket: store.bucket, key: store.root + key).map(store.info) else {
                leave("deleted from S3 since the seed loaded it")
                continue
            }
            guard object.size == file.size else {
                leave("changed since the seed loaded it (a new version)")
                continue
            }
            guard let landing = store.classify(object, schemas: schemas) else {
                leave("not a landing file (a folder, a temporary or hidden name)")
                continue
            }
            byFolder[landing.sourceFolder, default: []].append((object, landing, file))
        }

        for (_, entries) in byFolder.sorted(by: { $0.key < $1.key }) {
            let outcomes = try catalog.record(objects: entries.map { ($0.0, $0.1) })
            var toMark: [FileRecord] = []
            // Recorded before (an earlier import, or the loader listed it): marked unless it is loaded already.
            var known: [ObjectInfo: FileRecord]?
            for (outcome, entry) in zip(outcomes, entries) {
                switch outcome {
                case let .new(file), let .newVersion(file): toMark.append(file)
                case .known:
                    if known == nil {
                        let table = try catalog.tables().first { $0.sourceFolder == entry.1.sourceFolder }?.name ?? entry.1.table
                        known = Dictionary(try catalog.files(table: table, state: nil).map {
                            (ObjectInfo(key: $0.key, size: $0.size, modifiedNanos: $0.modifiedNanos, version: $0.version), $0)
                        }, uniquingKeysWith: { _, later in later })
                    }
                    if let recorded = known?[entry.0], recorded.state == .pending { toMark.append(recorded) } else { report.alreadyImported += 1 }
                }
            }
            guard let table = toMark.first?.table else { continue }
            for start in stride(from: 0, to: toMark.count, by: filesPerLoad) {
                let batch = Array(toMark[start..<min(toMark.count, start + filesPerLoad)])
                try markLoaded(batch, table: table, warehouse: warehouse, log: log)
                report.imported += batch.count
            }
        }

        // Tables: the seed's pause state and COPY options, on the table its folder loads into.
        for seedTable in seed.tables.sorted(by: { $0.folder < $1.folder }) {
            let landing = LandingKey.classify(ObjectInfo(key: seedTable.folder + "/x", size: 0, modifiedNanos: 0), schemas: schemas)
            let name = try catalog.tables().first { $0.sourceFolder == seedTable.folder }?.name ?? landing?.table ?? seedTable.folder
            report.tables.append(name)
            var options = try catalog.table(named: name)?.options ?? catalog.newTableOptions
            if let copy = seedTable.copyOptions, options.copyOptions == nil {
                options.copyOptions = copy
                try catalog.setOptions(table: name, options)
            } else if try catalog.table(named: name) == nil {
                try catalog.setOptions(table: name, options)
            }
            if !seedTable.active {
                try catalog.setStatus(table: name, .paused)
                report.paused.append(name)
            }
            let place = warehouse.target.place(name)
            if place.schema != seedTable.schema || place.name != seedTable.redshiftTable {
                report.warnings.append("\(seedTable.folder): the seed loads it into \(seedTable.schema).\(seedTable.redshiftTable), this loader into \(place.schema).\(place.name): "
                    + "set schema=\(seedTable.schema) in the warehouse URL (the seed's DatabaseSchemaName), or rename the folder")
            }
            if let role = seedTable.iamRole, role != "default", role != url.iamRole {
                report.warnings.append("\(seedTable.folder): the seed's COPY read S3 as \(role), this loader as \(url.iamRole)")
            }
        }
        return report
    }

    /// Records `files` (pending in the catalog) as loaded: first in the ledger (so the loader never copies them
    /// again, even if what follows dies), then in the catalog, as one load whose log line says where they came from.
    static func markLoaded(_ files: [FileRecord], table: String, warehouse: RedshiftWarehouse, log: @Sendable (String) -> Void) throws {
        let tx = try warehouse.beginLoad(table: table, files: files, statement: "import-seed-state: \(files.count) file(s) the seed loaded")
        do {
            let added = try warehouse.recordLoaded(table: table, loadID: tx.loadID, files: files)
            for file in files {
                try tx.beginFile(file)
                try tx.endFile(file, state: .loaded, sha256: nil, rows: 0, duplicateOf: nil, error: nil)
            }
            try tx.commit(status: .finished, rowsLoaded: 0, rowsRejected: 0, error: nil, schema: nil, dialect: nil, partitionColumns: [],
                          checkpointNanos: files.map(\.modifiedNanos).max())
            log("\(table): \(files.count) file(s) the seed loaded recorded as loaded (load \(tx.loadID); \(added) added to the ledger)")
        } catch {
            tx.rollback(reason: "\(error)", transient: true)
            throw error
        }
    }

    static func split(_ url: String) -> (bucket: String, key: String)? {
        guard url.hasPrefix("s3://") else { return nil }
        let rest = url.dropFirst(5)
        let bucket = rest.prefix { $0 != "/" }
        let key = rest.dropFirst(bucket.count + 1)
        return bucket.isEmpty || key.isEmpty ? nil : (String(bucket), String(key))
    }
}
