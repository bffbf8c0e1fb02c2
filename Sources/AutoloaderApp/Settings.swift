import AutoloaderCore
import Foundation
import Yams

/// The program's settings from three layers, later ones winning: the configuration file (`autoloader.yml` in the
/// working folder, or `--config`/`AUTOLOADER_CONFIG`), the environment (`AUTOLOADER_<KEY>`), then flags. Every
/// value remembers where it came from, for `autoloader config`.
///
/// Why Yams and not swift-configuration: the file must give located errors (file, line, key) for unknown keys and
/// bad values, and per-table options are nested maps. Yams's node tree keeps each key's line; swift-configuration
/// reads a file as flat key paths with no positions and no notion of an unknown key.
public struct Settings: Sendable {
    /// Where a value came from.
    public enum Origin: Sendable, Equatable, CustomStringConvertible {
        case `default`
        case file(path: String, line: Int)
        case environment(String)
        case flag(String)
        /// Made from other values (the seed's parameters into a warehouse URL).
        case derived(String)

        public var description: String {
            switch self {
            case .default: return "default"
            case let .file(path, line): return "\(path):\(line)"
            case let .environment(name): return "environment \(name)"
            case let .flag(name): return "flag --\(name)"
            case let .derived(from): return "from \(from)"
            }
        }
    }

    public struct Value: Sendable, Equatable {
        public var text: String
        public var origin: Origin
    }

    /// A key of the file's top level. `secret`: masked when shown.
    public struct Key: Sendable, Hashable {
        public let name: String
        public let help: String
        let check: @Sendable (String) -> String?
        public var secret = false
        public var environment: String { "AUTOLOADER_" + name.uppercased() }
        public static func == (a: Key, b: Key) -> Bool { a.name == b.name }
        public func hash(into hasher: inout Hasher) { hasher.combine(name) }
    }

    /// A problem in the configuration, located: file and line (or the variable or flag), the key, what to do.
    public struct ConfigError: Error, CustomStringConvertible, Equatable {
        public var origin: Origin
        public var key: String
        public var reason: String
        public var description: String {
            switch origin {
            case .file: return "\(origin): \(key.isEmpty ? "" : "'\(key)': ")\(reason)"
            default: return "\(origin)\(key.isEmpty ? "" : " ('\(key)')"): \(reason)"
            }
        }
    }

    public private(set) var values: [String: Value] = [:]
    /// Per-table options from the file's `tables:` map: table → option → JSON text of its value.
    public private(set) var tables: [String: [String: String]] = [:]
    /// Options every new table starts with (`table_defaults:`, or the seed's CopyCommandOptions).
    public private(set) var tableDefaults: [String: String] = [:]
    public private(set) var tableOrigins: [String: Origin] = [:]
    /// Things accepted but not acted on as the seed did, said at start-up and by `autoloader config`.
    public private(set) var notes: [String] = []
    /// The file read, if any.
    public private(set) var file: String?

    public subscript(_ key: Key) -> String? { values[key.name]?.text }

    public init() {}

    // MARK: - Keys

    static func number(min: Double, max: Double = .infinity) -> @Sendable (String) -> String? {
        { text in
            guard let v = Double(text), v >= min, v <= max else { return "must be a number from \(min.formatted()) to \(max == .infinity ? "any" : max.formatted()), got '\(text)'" }
            return nil
        }
    }

    static func oneOf(_ choices: [String]) -> @Sendable (String) -> String? {
        { choices.contains($0) ? nil : "must be one of \(choices.joined(separator: ", ")), got '\($0)'" }
    }

    static let any: @Sendable (String) -> String? = { _ in nil }

    public static let source = Key(name: "source", help: "landing folder or s3://bucket/prefix/", check: any)
    public static let warehouse = Key(name: "warehouse", help: "sqlite:PATH, postgres://…, redshift://… or redshift-serverless://…", check: { text in
        do {
            if case .dynamodb = try Build.target(text) { return "\(Build.notAWarehouse)" }
            return nil
        } catch { return "\(error)" }
    }, secret: true)
    public static let endpoint = Key(name: "endpoint", help: "S3-compatible endpoint URL", check: { URL(string: $0)?.scheme == nil ? "must be a URL such as http://127.0.0.1:9000, got '\($0)'" : nil })
    public static let queue = Key(name: "queue", help: "SQS queue of the bucket's events", check: any)
    public static let fullListing = Key(name: "full_listing", help: "seconds between full S3 listings", check: number(min: 1))
    public static let reconcile = Key(name: "reconcile", help: "seconds between reconciliation listings", check: number(min: 0.1))
    public static let settle = Key(name: "settle", help: "seconds a file must look unchanged", check: number(min: 0, max: 86_400))
    public static let workers = Key(name: "workers", help: "tables loaded at the same time", check: { Int($0).map { $0 >= 1 && $0 <= 64 } == true ? nil : "must be a whole number from 1 to 64, got '\($0)'" })
    public static let http = Key(name: "http", help: "address of the HTTP API, dashboard and /metrics (host:port)", check: { HTTPAddress($0) == nil ? "must be host:port such as 127.0.0.1:8080, got '\($0)'" : nil })
    public static let apiToken = Key(name: "api_token", help: "bearer token the HTTP API's changes need", check: { $0.count < 16 ? "must be at least 16 characters" : nil }, secret: true)
    public static let logLevel = Key(name: "log_level", help: "trace, debug, info, notice, warning, error", check: oneOf(["trace", "debug", "info", "notice", "warning", "error", "critical"]))
    public static let logFormat = Key(name: "log_format", help: "text or json", check: oneOf(["text", "json"]))

    public static let webhookURL = Key(name: "webhook_url", help: "notices as signed JSON POSTs", check: { ["http", "https"].contains(URL(string: $0)?.scheme ?? "") ? nil : "must be an http(s) URL, got '\($0)'" })
    public static let webhookSecret = Key(name: "webhook_secret", help: "HMAC-SHA256 key of the webhook's X-Autoloader-Signature", check: { $0.count < 16 ? "must be at least 16 characters" : nil }, secret: true)
    public static let snsTopic = Key(name: "sns_topic", help: "SNS topic ARN for notices (e-mail subscriptions)", check: { $0.hasPrefix("arn:") && $0.contains(":sns:") ? nil : "must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), got '\($0)'" })
    public static let backlogAlert = Key(name: "backlog_alert_seconds", help: "announce a table whose oldest pending file waited longer", check: number(min: 1))

    public static let keys: [Key] = [source, warehouse, endpoint, queue, fullListing, reconcile, settle, workers, http, apiToken, logLevel, logFormat,
                                     webhookURL, webhookSecret, snsTopic, backlogAlert]

    /// The seed's CloudFormation parameters, accepted as they are named there.
    static let seedParameters = ["DatabaseName", "DatabaseSchemaName", "DatabaseUserName", "RedshiftClusterIdentifier",
                                 "RedshiftServerlessWorkgroup", "RedshiftIAMRoleARN", "SourceS3Bucket", "CopyCommandOptions",
                                 "CopyCommandSchedule", "InitiateSchemaDetection",
                                 // deploy/cloudformation.yaml's own: the catalog table the stack made (catalog=dynamodb://…).
                                 "CatalogTableName"]

    /// The seed's default prefix under SourceS3Bucket.
    public static let seedPrefix = "s3-to-redshift-loader-utility/"

    // MARK: - Layers

    /// The configuration file to read: `--config`, else AUTOLOADER_CONFIG, else `autoloader.yml` / `.yaml` in the
    /// working folder if there is one. A file named explicitly must exist.
    public static func locate(flag: String?, environment: [String: String], folder: String = ".") throws -> String? {
        if let path = flag ?? environment["AUTOLOADER_CONFIG"] {
            guard FileManager.default.fileExists(atPath: path) else {
                throw ConfigError(origin: flag != nil ? .flag("config") : .environment("AUTOLOADER_CONFIG"), key: "",
                                  reason: "no configuration file at \(path)")
            }
            return path
        }
        for name in ["autoloader.yml", "autoloader.yaml"] {
            let path = folder == "." ? name : folder + "/" + name
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        return nil
    }

    /// All three layers. `flags`: key name → value, only for flags the user gave.
    public static func resolve(file path: String?, environment: [String: String], flags: [String: String]) throws -> Settings {
        var settings = Settings()
        if let path {
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw ConfigError(origin: .file(path: path, line: 0), key: "", reason: "cannot read: \(error.localizedDescription)")
            }
            try settings.read(yaml: text, path: path)
        }
        for key in keys {
            if let text = environment[key.environment] {
                try settings.set(key, text, origin: .environment(key.environment))
            }
        }
        for key in keys {
            if let text = flags[key.name] { try settings.set(key, text, origin: .flag(key.name.replacingOccurrences(of: "_", with: "-"))) }
        }
        return settings
    }

    mutating func set(_ key: Key, _ text: String, origin: Origin) throws {
        if let problem = key.check(text) { throw ConfigError(origin: origin, key: key.name, reason: problem) }
        values[key.name] = Value(text: text, origin: origin)
    }

    // MARK: - The file

    /// Reads the YAML file: a map of the keys above, `tables:` (table → options), `table_defaults:` and the seed's
    /// parameter names. Anything else is a located error.
    public mutating func read(yaml text: String, path: String) throws {
        file = path
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch let error as YamlError {
            throw Self.located(error, path: path)
        }
        guard let root else { return }  // an empty file
        guard case let .mapping(map) = root else {
            throw ConfigError(origin: .file(path: path, line: root.mark?.line ?? 1), key: "", reason: "the file must be a map of keys (source: …, warehouse: …)")
        }
        var seed: [String: (String, Int)] = [:]
        for (keyNode, value) in map {
            let name = keyNode.string ?? ""
            let line = keyNode.mark?.line ?? 0
            let origin = Origin.file(path: path, line: line)
            if let key = Self.keys.first(where: { $0.name == name }) {
                try set(key, try Self.scalar(value, key: name, path: path), origin: origin)
            } else if name == "tables" {
                guard case let .mapping(tablesMap) = value else {
                    throw ConfigError(origin: origin, key: name, reason: "must be a map of table name → options")
                }
                for (tableNode, optionsNode) in tablesMap {
                    let table = tableNode.string ?? ""
                    let tableLine = tableNode.mark?.line ?? line
                    guard !table.isEmpty else { throw ConfigError(origin: .file(path: path, line: tableLine), key: "tables", reason: "a table needs a name") }
                    tables[table] = try Self.options(optionsNode, key: "tables.\(table)", path: path, line: tableLine)
                    tableOrigins[table] = .file(path: path, line: tableLine)
                }
            } else if name == "table_defaults" {
                tableDefaults.merge(try Self.options(value, key: name, path: path, line: line)) { $1 }
            } else if Self.seedParameters.contains(name) {
                seed[name] = (try Self.scalar(value, key: name, path: path), line)
            } else {
                let known = Self.keys.map(\.name) + ["tables", "table_defaults"]
                let near = (known + Self.seedParameters).first { $0.lowercased() == name.lowercased() || $0.replacingOccurrences(of: "_", with: "") == name.lowercased() }
                throw ConfigError(origin: origin, key: name,
                                  reason: "unknown key\(near.map { "; did you mean '\($0)'?" } ?? ""); known: \(known.joined(separator: ", ")) (and the seed's \(Self.seedParameters.joined(separator: ", ")))")
            }
        }
        try applySeed(seed, path: path)
    }

    /// The seed's CloudFormation parameters as our settings: a Redshift warehouse URL, the S3 source, default COPY
    /// options. Our own keys in the same file win over them.
    mutating func applySeed(_ seed: [String: (String, Int)], path: String) throws {
        guard !seed.isEmpty else { return }
        func v(_ name: String) -> String? {
            guard let text = seed[name]?.0, !text.isEmpty, text != "N/A" else { return nil }
            return text
        }
        func at(_ name: String) -> Origin { .file(path: path, line: seed[name]?.1 ?? 0) }
        if let bucket = v("SourceS3Bucket"), values[Self.source.name] == nil {
            values[Self.source.name] = Value(text: "s3://\(bucket)/\(Self.seedPrefix)", origin: .derived("SourceS3Bucket (\(at("SourceS3Bucket")))"))
        }
        let cluster = v("RedshiftClusterIdentifier"), workgroup = v("RedshiftServerlessWorkgroup")
        if values[Self.warehouse.name] == nil, cluster != nil || workgroup != nil {
            guard let role = v("RedshiftIAMRoleARN") else {
                throw ConfigError(origin: at(cluster != nil ? "RedshiftClusterIdentifier" : "RedshiftServerlessWorkgroup"), key: "RedshiftIAMRoleARN",
                                  reason: "a Redshift warehouse needs RedshiftIAMRoleARN (the role COPY reads S3 as)")
            }
            var query = [URLQueryItem(name: "iam_role", value: role)]
            if let schema = v("DatabaseSchemaName") { query.append(URLQueryItem(name: "schema", value: schema)) }
            if let catalog = v("CatalogTableName") { query.append(URLQueryItem(name: "catalog", value: "dynamodb://\(catalog)")) }
            var url = URLComponents()
            if let workgroup {
                url.scheme = "redshift-serverless"
                url.host = workgroup
            } else {
                url.scheme = "redshift"
                url.host = cluster
                guard let user = v("DatabaseUserName") else {
                    throw ConfigError(origin: at("RedshiftClusterIdentifier"), key: "DatabaseUserName",
                                      reason: "a provisioned cluster needs DatabaseUserName (Data API temporary credentials)")
                }
                query.insert(URLQueryItem(name: "db_user", value: user), at: 0)
            }
            url.path = "/" + (v("DatabaseName") ?? "dev")
            url.queryItems = query
            let names = ["RedshiftClusterIdentifier", "RedshiftServerlessWorkgroup", "DatabaseName", "DatabaseUserName", "DatabaseSchemaName", "RedshiftIAMRoleARN",
                         "CatalogTableName"]
                .filter { v($0) != nil }
            try set(Self.warehouse, url.string ?? "", origin: .derived(names.joined(separator: ", ")))
        }
        if let options = v("CopyCommandOptions"), tableDefaults["copy_options"] == nil {
            tableDefaults["copy_options"] = try Self.checkedOption("copy_options", Self.jsonString(options), key: "CopyCommandOptions", origin: at("CopyCommandOptions"))
        }
        if let schedule = v("CopyCommandSchedule"), tableDefaults["schedule"] == nil {
            // The seed ran its loads on this schedule; so do tables here unless they say otherwise. `continuous`
            // (files load within seconds) is what a table gets without it.
            tableDefaults["schedule"] = try Self.checkedOption("schedule", Self.jsonString(schedule), key: "CopyCommandSchedule", origin: at("CopyCommandSchedule"))
        }
        if let detect = v("InitiateSchemaDetection") {
            guard ["yes", "no", "true", "false"].contains(detect.lowercased()) else {
                throw ConfigError(origin: at("InitiateSchemaDetection"), key: "InitiateSchemaDetection", reason: "must be Yes or No, got '\(detect)'")
            }
            if ["no", "false"].contains(detect.lowercased()) {
                notes.append("InitiateSchemaDetection No (\(at("InitiateSchemaDetection"))): tables you created load as they are (columns by name or position) and CopyCommandOptions replace the detected COPY format options; new folders still get a detected table")
            }
        }
    }

    // MARK: - Values

    static func scalar(_ node: Node, key: String, path: String) throws -> String {
        guard case let .scalar(scalar) = node else {
            throw ConfigError(origin: .file(path: path, line: node.mark?.line ?? 0), key: key, reason: "must be a single value, not a list or map")
        }
        return scalar.string
    }

    /// A table's options: each key checked alone through TableOptions's own rules, so an error names its line.
    static func options(_ node: Node, key: String, path: String, line: Int) throws -> [String: String] {
        if case .scalar = node, node.null != nil { return [:] }  // `orders:` with nothing under it
        guard case let .mapping(map) = node else {
            throw ConfigError(origin: .file(path: path, line: node.mark?.line ?? line), key: key, reason: "must be a map of options (on_error: …, types: …)")
        }
        var result: [String: String] = [:]
        for (optionNode, value) in map {
            let option = optionNode.string ?? ""
            let origin = Origin.file(path: path, line: optionNode.mark?.line ?? line)
            result[option] = try checkedOption(option, try json(value, key: "\(key).\(option)", path: path), key: "\(key).\(option)", origin: origin)
        }
        return result
    }

    static func checkedOption(_ option: String, _ json: String, key: String, origin: Origin) throws -> String {
        do {
            _ = try TableOptions().merging(json: "{\(jsonString(option)): \(json)}")
        } catch let error as AutoloaderError {
            if case let .invalidOptions(reason) = error { throw ConfigError(origin: origin, key: key, reason: reason) }
            throw ConfigError(origin: origin, key: key, reason: "\(error)")
        }
        return json
    }

    /// A YAML value as JSON text: plain scalars by YAML's own resolution (10 → number, true → bool), quoted ones as strings.
    static func json(_ node: Node, key: String, path: String) throws -> String {
        switch node {
        case let .scalar(scalar):
            if scalar.style == .plain {
                if node.null != nil { return "null" }
                if let b = node.bool { return b ? "true" : "false" }
                if let i = node.int { return String(i) }
                if let d = node.float, d.isFinite { return String(d) }
            }
            return jsonString(scalar.string)
        case let .mapping(map):
            var parts: [String] = []
            for (k, v) in map { parts.append(jsonString(k.string ?? "") + ": " + (try json(v, key: key, path: path))) }
            return "{" + parts.joined(separator: ", ") + "}"
        case let .sequence(sequence):
            return "[" + (try sequence.map { try json($0, key: key, path: path) }).joined(separator: ", ") + "]"
        case .alias:
            throw ConfigError(origin: .file(path: path, line: node.mark?.line ?? 0), key: key, reason: "aliases are not supported here; write the value out")
        }
    }

    static func jsonString(_ s: String) -> String {
        String(decoding: (try? JSONEncoder().encode(s)) ?? Data("\"\"".utf8), as: UTF8.self)
    }

    static func located(_ error: YamlError, path: String) -> ConfigError {
        switch error {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return ConfigError(origin: .file(path: path, line: mark.line), key: "", reason: "not valid YAML (column \(mark.column)): \(problem)")
        case let .duplicatedKeysInMapping(duplicates, _):
            return ConfigError(origin: .file(path: path, line: 0), key: duplicates.first ?? "", reason: "the key is given more than once")
        default:
            return ConfigError(origin: .file(path: path, line: 1), key: "", reason: "not valid YAML: \(error)")
        }
    }

    // MARK: - Showing

    /// The value as it may be shown: tokens masked, a URL's password masked.
    public static func shown(_ key: Key, _ text: String) -> String {
        guard key.secret else { return text }
        if key == warehouse {
            guard var url = URLComponents(string: text), url.password != nil else { return text }
            url.password = "****"
            return url.string ?? "****"
        }
        return String(repeating: "*", count: 8)
    }

    /// The table options for a table: defaults under its own. JSON object text for `TableOptions.merging`.
    public func optionsPatch(table: String?) -> String? {
        var merged = tableDefaults
        if let table { merged.merge(tables[table] ?? [:]) { $1 } }
        guard !merged.isEmpty else { return nil }
        return "{" + merged.sorted { $0.key < $1.key }.map { "\(Self.jsonString($0.key)): \($0.value)" }.joined(separator: ", ") + "}"
    }
}
