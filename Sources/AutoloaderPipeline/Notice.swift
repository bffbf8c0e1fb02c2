import AutoloaderCore

/// Something a person should hear about, sent to the configured webhook and SNS topic (`Notifier` in
/// AutoloaderOps). The service makes them; delivery never blocks a load.
public struct Notice: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// A load failed, or some of its files did (their own defect).
        case loadFailed = "load_failed"
        /// A file loaded with bad rows skipped and recorded.
        case rowsRejected = "rows_rejected"
        /// A load changed a table's schema (created it, added or widened columns).
        case schemaChanged = "schema_changed"
        /// A file waits for `autoloader approve` (schema_changes=hold).
        case changeHeld = "change_held"
        /// A table's oldest pending file has waited longer than the threshold.
        case backlogOld = "backlog_old"
        /// The service paused a table whose loads kept failing (its pause_after_failed_loads option).
        case tablePaused = "table_paused"
    }

    public var kind: Kind
    public var table: String
    public var load: Int64?
    /// One line a person reads first.
    public var message: String
    /// The files concerned, with their state and reason where they have one.
    public var files: [FileNote]
    public var at: String

    public struct FileNote: Sendable, Codable, Equatable {
        public var key: String
        public var state: String
        public var reason: String?
        public init(key: String, state: String, reason: String?) {
            self.key = key
            self.state = state
            self.reason = reason
        }
    }

    public init(kind: Kind, table: String, load: Int64?, message: String, files: [FileNote] = [], at: String = WallClock.nowISO()) {
        self.kind = kind
        self.table = table
        self.load = load
        self.message = message
        self.files = files
        self.at = at
    }

    /// What a finished load has to say: failures, rejected rows, held changes, schema changes (`changes`: its DDL).
    public static func about(_ s: LoadSummary, changes: [String]) -> [Notice] {
        var notices: [Notice] = []
        func notes(_ states: [FileState]) -> [FileNote] {
            s.files.filter { states.contains($0.state) }.map { FileNote(key: $0.key, state: $0.state.rawValue, reason: $0.error) }
        }
        let failed = notes([.failed])
        if s.status == .failed || !failed.isEmpty {
            notices.append(Notice(kind: .loadFailed, table: s.table, load: s.loadID,
                                  message: "load \(s.loadID.map(String.init) ?? "-") of \(s.table) failed: \(failed.count) file(s) not loaded"
                                    + (failed.first?.reason.map { "; first: \($0)" } ?? ""), files: failed))
        }
        if s.rowsRejected > 0 {
            notices.append(Notice(kind: .rowsRejected, table: s.table, load: s.loadID,
                                  message: "load \(s.loadID.map(String.init) ?? "-") of \(s.table) skipped \(s.rowsRejected) bad row(s); `autoloader errors \(s.loadID.map(String.init) ?? "")` shows them",
                                  files: notes([.loadedWithErrors])))
        }
        let held = notes([.held])
        if !held.isEmpty {
            notices.append(Notice(kind: .changeHeld, table: s.table, load: s.loadID,
                                  message: "\(held.count) file(s) of \(s.table) wait for `autoloader approve \(s.table)`: \(held.first?.reason ?? "")", files: held))
        }
        if !changes.isEmpty {
            notices.append(Notice(kind: .schemaChanged, table: s.table, load: s.loadID,
                                  message: "load \(s.loadID.map(String.init) ?? "-") changed \(s.table): " + changes.joined(separator: "; ")))
        }
        return notices
    }
}
