import AutoloaderCore
import Foundation

/// The state AWS's Redshift Auto Loader (the seed) keeps in its three DynamoDB tables, and which of its files it
/// loaded (`../shared/reference/seed-state.md`). Read only: the migration that records them as ours builds on it.
public struct SeedState: Sendable {
    public static let tableConfig = "s3_data_loader_table_config"
    public static let fileMetadata = "s3_data_loader_file_metadata"
    public static let log = "s3_data_loader_log"

    public struct Table: Sendable, Equatable {
        /// The landing folder (first path segment under the seed's prefix).
        public var folder: String
        public var redshiftTable: String
        public var schema: String
        /// The seed loads a table only while its `load_status` is exactly `active`.
        public var active: Bool
        public var copyOptions: String?
        public var iamRole: String?
        /// `max_file_proccessed_timestamp` (sic): files recorded at or before it were submitted in some COPY.
        public var checkpoint: String?
    }

    public struct File: Sendable, Equatable {
        public var folder: String
        /// The seed's own wall-clock time when it handled the event (`%Y-%m-%d %H:%M:%S.%f`), not the object's.
        public var recorded: String
        /// `s3://bucket/key`.
        public var url: String
        public var size: Int64
    }

    public struct Copy: Sendable, Equatable {
        public var queryID: String
        public var folder: String
        public var manifest: String
        /// `Execution` while running, then `FINISHED`, `FAILED` or `ABORTED`.
        public var status: String
    }

    public var tables: [Table]
    public var files: [File]
    public var copies: [Copy]

    public init(tables: [Table], files: [File], copies: [Copy]) {
        self.tables = tables
        self.files = files
        self.copies = copies
    }

    /// The names of the three tables: the seed's own, or others (tests sharing one DynamoDB).
    public struct Names: Sendable {
        public var tableConfig = SeedState.tableConfig, fileMetadata = SeedState.fileMetadata, log = SeedState.log
        public init() {}
        public init(prefix: String) {
            tableConfig = prefix + SeedState.tableConfig
            fileMetadata = prefix + SeedState.fileMetadata
            log = prefix + SeedState.log
        }
    }

    /// Reads the three tables whole (consistent scans).
    public static func read(_ dynamo: DynamoDBClient, names: Names = Names()) throws -> SeedState {
        func text(_ item: DynamoDBClient.Item, _ name: String) -> String? {
            guard let v = item[name]?.string, !v.isEmpty else { return nil }
            return v
        }
        let tables = try dynamo.scan(names.tableConfig).compactMap { item -> Table? in
            guard let folder = text(item, "s3_table_name") else { return nil }
            return Table(folder: folder, redshiftTable: text(item, "redshift_table_name") ?? folder, schema: text(item, "redshift_schema") ?? "public",
                         active: text(item, "load_status") == "active", copyOptions: text(item, "additional_copy_options"),
                         iamRole: text(item, "iam_role"), checkpoint: text(item, "max_file_proccessed_timestamp"))
        }
        let files = try dynamo.scan(names.fileMetadata).compactMap { item -> File? in
            guard let folder = text(item, "s3_table_name"), let recorded = text(item, "file_created_timestamp"),
                  let url = text(item, "s3_file_path") else { return nil }
            return File(folder: folder, recorded: recorded, url: url, size: item["file_content_length"]?.int ?? Int64(text(item, "file_content_length") ?? "") ?? 0)
        }
        let copies = try dynamo.scan(names.log).compactMap { item -> Copy? in
            guard let id = text(item, "data_api_queryId") else { return nil }
            return Copy(queryID: id, folder: text(item, "s3_table_name") ?? "", manifest: text(item, "s3_manifest_file_path") ?? "",
                        status: text(item, "copy_command_status") ?? "")
        }
        return SeedState(tables: tables, files: files, copies: copies)
    }

    /// The file URLs a COPY manifest lists.
    public static func manifestURLs(_ body: [UInt8]) throws -> [String] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let entries = object["entries"] as? [[String: Any]] else {
            throw AWSError.protocolError("not a COPY manifest (no \"entries\")")
        }
        return entries.compactMap { $0["url"] as? String }
    }

    /// Splits the seed's files into those it loaded and those still to load, by its own rule: a file recorded at or
    /// before its table's checkpoint was submitted in a COPY, and it is loaded when that COPY — one whose manifest
    /// (`manifests`: manifest path → file URLs) lists the file — FINISHED. Files of FAILED or ABORTED COPYs, files
    /// after the checkpoint and files no manifest lists stay to load; folder placeholders (keys ending `/`) are neither.
    public func partition(manifests: [String: [String]]) -> (loaded: [File], pending: [File]) {
        let checkpoints = Dictionary(tables.map { ($0.folder, $0.checkpoint) }, uniquingKeysWith: { a, _ in a })
        var finished = Set<String>()
        for copy in copies where copy.status == "FINISHED" {
            for url in manifests[copy.manifest] ?? [] { finished.insert(url) }
        }
        var loaded: [File] = [], pending: [File] = []
        for file in files where !file.url.hasSuffix("/") {
            // Timestamps share one fixed-width layout, so text order is time order.
            let submitted = checkpoints[file.folder].flatMap { $0 }.map { file.recorded <= $0 } ?? false
            if submitted && finished.contains(file.url) { loaded.append(file) } else { pending.append(file) }
        }
        return (loaded, pending)
    }
}
