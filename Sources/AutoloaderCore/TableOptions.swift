import Foundation

/// Per-table load options (`autoloader options T '{…}'`), stored as JSON in the catalog.
/// Unknown keys are rejected so a typo does not silently do nothing.
public struct TableOptions: Codable, Sendable, Equatable {
    public enum OnError: String, Codable, Sendable, CaseIterable {
        /// A file with any bad row loads nothing; the load records where and why.
        case abortFile = "abort_file"
        /// Default: the good rows load, bad rows are skipped and stored in load_errors (the file is
        /// `loaded_with_errors`), up to `max_errors` per file — or, without `max_errors`, until more than half of
        /// the rows read are bad (once more than `TableOptions.badRowsBeforeRatio` are): a file that reads as
        /// mostly bad rows is the wrong dialect or the wrong file, not dirty data, and loads nothing.
        case skipRows = "skip_rows"
        /// Bad rows are skipped and stored in load_errors, however many there are.
        case `continue`
    }
    public enum Overwrite: String, Codable, Sendable, CaseIterable {
        /// Default: a file overwritten with new content replaces the rows its earlier version loaded.
        case replace
        case append
        case ignore
    }

    /// Whether a file may change an existing table's schema by itself.
    public enum SchemaChanges: String, Codable, Sendable, CaseIterable {
        /// Default: the evolution policy applies at once.
        case auto
        /// A file that would add or widen columns waits in state `held`, its proposed change shown
        /// (`autoloader changes`), until `autoloader approve` (applied, then it loads) or `reject` (it fails).
        case hold
    }

    /// What a file whose columns differ from the table's does (the table exists already).
    public enum Evolution: String, Codable, Sendable, CaseIterable {
        /// Default: new columns are added, columns whose values no longer fit are widened.
        case addColumns = "add_columns"
        /// The table stays as it is; unknown columns and values that do not fit go to `_rescued_data` (JSON).
        case rescue
        /// The file fails with a located error naming the difference.
        case fail
        /// The table stays as it is; unknown columns are dropped (and recorded), values that do not fit are bad rows.
        case freeze
    }

    public var onError: OnError
    /// nil: the ratio rule of `skip_rows`.
    public var maxErrors: Int?
    public var overwrite: Overwrite
    public var evolution: Evolution = .addColumns
    public var schemaChanges: SchemaChanges = .auto
    /// After this many loads of the table fail in a row, the service pauses it (and says so): a table whose files
    /// keep failing stops spending the warehouse's time until someone looks. nil: never.
    public var pauseAfterFailedLoads: Int?
    /// JSON: where the records are in a wrapper object, as a dotted path of keys (`data`, `result.items`, `$.data`);
    /// `$` for the top level (no unwrapping). Without it, one top-level object whose first array member holds
    /// objects is taken as such a wrapper.
    public var jsonPath: String?
    /// The path's keys: nil to detect, [] for the top level.
    public var jsonPathKeys: [String]? {
        guard var text = jsonPath?.trimmingCharacters(in: .whitespaces) else { return nil }
        if text.hasPrefix("$") { text.removeFirst() }
        if text.hasPrefix(".") { text.removeFirst() }
        return text.isEmpty ? [] : text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }
    /// When pending files load: continuous (default), rate(5 minutes), cron(…), gather(60 seconds). See LoadSchedule.
    public var schedule: String?
    /// The schedule, read (it was checked when set).
    public func loadSchedule() throws -> LoadSchedule { try schedule.map(LoadSchedule.init) ?? .continuous }
    public var maxFilesPerLoad: Int
    public var maxBytesPerLoad: Int64
    /// Overrides for detection, e.g. `{"delimiter": "|", "header": false}`.
    public var delimiter: String?
    public var header: Bool?
    /// Type hints that win over detection, by column name: `{"zip": "varchar(10)", "day": "date %d/%m/%Y"}`.
    public var types: [String: String]?
    /// Every column text (no type detection at all).
    public var allText: Bool?
    /// Redshift: COPY's format options for this table, replacing what detection implies (the seed's
    /// CopyCommandOptions, e.g. `delimiter '|' gzip`).
    public var copyOptions: String?
    /// Seconds a file must look unchanged before it is recorded (default: `run --settle`, 1 s): a writer that
    /// pauses longer than this would expose a partial file.
    public var settleSeconds: Double?
    /// A marker file (e.g. `_SUCCESS`, written by Spark and Hadoop after the part files): a folder's files are
    /// recorded only once the marker is in that folder.
    public var marker: String?

    public init(onError: OnError = .skipRows, maxErrors: Int? = nil, overwrite: Overwrite = .replace,
                maxFilesPerLoad: Int = 100, maxBytesPerLoad: Int64 = 1 << 30, delimiter: String? = nil, header: Bool? = nil) {
        self.onError = onError
        self.maxErrors = maxErrors
        self.overwrite = overwrite
        self.maxFilesPerLoad = maxFilesPerLoad
        self.maxBytesPerLoad = maxBytesPerLoad
        self.delimiter = delimiter
        self.header = header
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case onError = "on_error", maxErrors = "max_errors", overwrite, evolution, maxFilesPerLoad = "max_files"
        case maxBytesPerLoad = "max_bytes", delimiter, header, types, allText = "all_text", copyOptions = "copy_options"
        case settleSeconds = "settle_seconds", marker, schemaChanges = "schema_changes", schedule
        case pauseAfterFailedLoads = "pause_after_failed_loads", jsonPath = "json_path"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TableOptions()
        onError = try c.decodeIfPresent(OnError.self, forKey: .onError) ?? d.onError
        maxErrors = try c.decodeIfPresent(Int.self, forKey: .maxErrors)
        overwrite = try c.decodeIfPresent(Overwrite.self, forKey: .overwrite) ?? d.overwrite
        evolution = try c.decodeIfPresent(Evolution.self, forKey: .evolution) ?? d.evolution
        schemaChanges = try c.decodeIfPresent(SchemaChanges.self, forKey: .schemaChanges) ?? d.schemaChanges
        schedule = try c.decodeIfPresent(String.self, forKey: .schedule)
        pauseAfterFailedLoads = try c.decodeIfPresent(Int.self, forKey: .pauseAfterFailedLoads)
        jsonPath = try c.decodeIfPresent(String.self, forKey: .jsonPath)
        maxFilesPerLoad = try c.decodeIfPresent(Int.self, forKey: .maxFilesPerLoad) ?? d.maxFilesPerLoad
        maxBytesPerLoad = try c.decodeIfPresent(Int64.self, forKey: .maxBytesPerLoad) ?? d.maxBytesPerLoad
        delimiter = try c.decodeIfPresent(String.self, forKey: .delimiter)
        header = try c.decodeIfPresent(Bool.self, forKey: .header)
        types = try c.decodeIfPresent([String: String].self, forKey: .types)
        allText = try c.decodeIfPresent(Bool.self, forKey: .allText)
        copyOptions = try c.decodeIfPresent(String.self, forKey: .copyOptions)
        settleSeconds = try c.decodeIfPresent(Double.self, forKey: .settleSeconds)
        marker = try c.decodeIfPresent(String.self, forKey: .marker)
    }

    /// Bad rows a file may have before the ratio rule applies: a few bad rows at the top of a file (a second
    /// header, a title) do not make it "mostly bad".
    public static let badRowsBeforeRatio = 10

    /// The on-error policy as one decision: after `rejected` bad rows among `rowsRead` rows (good and bad), does
    /// the whole file fail?
    public func failsFile(afterRejected rejected: Int, rowsRead: Int) -> Bool {
        switch onError {
        case .abortFile: return rejected > 0
        case .skipRows:
            if let maxErrors { return rejected > maxErrors }
            return rejected > Self.badRowsBeforeRatio && rejected * 2 > rowsRead
        case .continue: return false
        }
    }

    /// Why the file failed, for its located error.
    public func failureReason(file: String, lastError: String) -> String {
        switch (onError, maxErrors) {
        case (.abortFile, _): return lastError + " (on_error=abort_file: nothing of this file was loaded)"
        case let (_, max?): return "\(file): more than max_errors=\(max) bad rows, so nothing of it was loaded; last: \(lastError)"
        case (_, nil): return "\(file): more than half of its rows are bad (a wrong delimiter, or not the file this table expects), "
            + "so nothing of it was loaded; last: \(lastError). Set max_errors, or on_error=continue, to keep its good rows anyway"
        }
    }

    /// Whether a hint sets this column's type.
    public func hints(_ column: String) -> Bool {
        allText == true || hint(for: column) != nil
    }

    /// The hint for a column, written with the table's name for it (`order_date`) or as files spell it (`Order Date`).
    func hint(for column: String, original: String? = nil) -> String? {
        let names = [column.lowercased(), original?.lowercased()]
        return types?.first { key, _ in names.contains(key.lowercased()) || SQLIdentifier.columnName(key) == column.lowercased() }?.value
    }

    /// The detected schema with the hints applied.
    public func applyingHints(to schema: TableSchema) -> TableSchema {
        var result = schema
        for i in result.columns.indices {
            if allText == true { result.columns[i].type = .varchar(result.columns[i].type.maxLength ?? 0, bytes: result.columns[i].type.maxBytes) }
            if let hint = hint(for: result.columns[i].name, original: result.columns[i].original), var type = ColumnType.parse(hint) {
                let detected = result.columns[i].type
                // A date/time hint without a format keeps the detected one when detection found the same kind.
                if type.format == nil, detected.kind == type.kind { type.format = detected.format }
                if type.kind == .varchar, type.maxLength == 0 { type.maxLength = detected.maxLength; type.maxBytes = detected.maxBytes }
                result.columns[i].type = type
            }
        }
        return result
    }

    /// Applies a JSON object of changes on top of these options (`{"on_error": "skip_rows"}`).
    public func merging(json: String) throws -> TableOptions {
        guard let data = json.data(using: .utf8),
              let patch = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw AutoloaderError.invalidOptions(reason: "options must be a JSON object, e.g. '{\"on_error\": \"skip_rows\", \"max_errors\": 10}'")
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let unknown = patch.keys.first(where: { !known.contains($0) }) {
            throw AutoloaderError.invalidOptions(reason: "unknown option '\(unknown)'; known: \(known.sorted().joined(separator: ", "))")
        }
        var merged = (try JSONSerialization.jsonObject(with: JSONEncoder().encode(self)) as? [String: Any]) ?? [:]
        for (k, v) in patch { merged[k] = v is NSNull ? nil : v }
        do {
            let options = try JSONDecoder().decode(TableOptions.self, from: JSONSerialization.data(withJSONObject: merged))
            if let s = options.settleSeconds, !(s >= 0 && s <= 86_400) {
                throw AutoloaderError.invalidOptions(reason: "settle_seconds must be between 0 and 86400, got \(s)")
            }
            if !(1...1_000_000).contains(options.maxFilesPerLoad) {
                throw AutoloaderError.invalidOptions(reason: "max_files must be between 1 and 1000000, got \(options.maxFilesPerLoad)")
            }
            if !(1...(Int64(1) << 40)).contains(options.maxBytesPerLoad) {
                throw AutoloaderError.invalidOptions(reason: "max_bytes must be between 1 and 1099511627776 (1 TiB), got \(options.maxBytesPerLoad)")
            }
            if let m = options.maxErrors, !(0...1_000_000_000).contains(m) {
                throw AutoloaderError.invalidOptions(reason: "max_errors must be between 0 and 1000000000, got \(m)")
            }
            if let schedule = options.schedule { _ = try LoadSchedule(schedule) }
            if let keys = options.jsonPathKeys, keys.contains(where: \.isEmpty) {
                throw AutoloaderError.invalidOptions(reason: "json_path '\(options.jsonPath ?? "")' has an empty key; write keys joined by dots, e.g. data or result.items ($ for the top level)")
            }
            if let n = options.pauseAfterFailedLoads, !(1...1000).contains(n) {
                throw AutoloaderError.invalidOptions(reason: "pause_after_failed_loads must be between 1 and 1000, got \(n)")
            }
            if let m = options.marker, m.isEmpty || m.contains("/") {
                throw AutoloaderError.invalidOptions(reason: "marker must be a file name such as _SUCCESS, got '\(m)'")
            }
            if let d = options.delimiter, d.utf8.count != 1 {
                throw AutoloaderError.invalidOptions(reason: "delimiter must be one byte, got '\(d)'")
            }
            for (column, hint) in options.types ?? [:] where ColumnType.parse(hint) == nil {
                throw AutoloaderError.invalidOptions(reason: "type hint '\(hint)' for column '\(column)' is not a type; e.g. varchar(10), integer, decimal(10,2), date %d/%m/%Y")
            }
            return options
        } catch let error as AutoloaderError {
            throw error
        } catch {
            throw AutoloaderError.invalidOptions(reason: "\(error)")
        }
    }

    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }
}
