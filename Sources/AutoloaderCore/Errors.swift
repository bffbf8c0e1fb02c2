/// Where in a file something went wrong. Lines are 1-based physical lines of the decoded text.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var column: String?
    public init(file: String, line: Int? = nil, column: String? = nil) {
        self.file = file
        self.line = line
        self.column = column
    }
    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        if let column { s += " column \(column)" }
        return s
    }
}

/// Errors the user can act on. Each says what went wrong, where, and what to do next; none prints secrets.
public enum AutoloaderError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file's content cannot be read as the format it was detected as (located).
    case badInput(SourceLocation, reason: String)
    /// The file vanished or cannot be opened; it will be retried when it shows up again.
    case unreadable(file: String, reason: String)
    /// The source could not serve the file just now (throttling, a 5xx, a timeout): the file is not at fault; its
    /// load rolls back and is retried with backoff.
    case sourceUnavailable(file: String, reason: String)
    case unsupportedFormat(file: String, format: String)
    case unknownTable(String)
    case unknownLoad(Int64)
    case invalidOptions(reason: String)
    case warehouse(reason: String, transient: Bool)
    /// Another load or process holds what this one needs (a table's lock, SQLite's single writer): not a fault.
    /// Retried soon, at a fixed pace, without the backoff that faults earn.
    case contention(String)
    case usage(String)

    /// A lost connection or a busy database: worth trying again later (the load rolls back, its files stay pending).
    public static func isTransient(_ error: any Error) -> Bool {
        switch error as? AutoloaderError {
        case .warehouse(_, true)?, .sourceUnavailable?, .contention?: return true
        default: return false
        }
    }

    public static func isContention(_ error: any Error) -> Bool {
        if case .contention? = error as? AutoloaderError { return true }
        return false
    }

    public var description: String {
        switch self {
        case let .contention(reason): return "\(reason); retried shortly"
        case let .badInput(loc, reason): return "\(loc): \(reason)"
        case let .unreadable(file, reason): return "\(file): cannot read (\(reason)); it is retried when it changes or on `autoloader retry`"
        case let .sourceUnavailable(file, reason): return "\(file): the source cannot serve it just now (\(reason)); retried with backoff"
        case let .unsupportedFormat(file, format): return "\(file): \(format) files are detected but not loadable yet; convert to CSV or wait for the \(format) reader"
        case let .unknownTable(t): return "no table '\(t)' in the catalog; `autoloader tables` lists them"
        case let .unknownLoad(id): return "no load \(id) in the catalog; `autoloader loads` lists them"
        case let .invalidOptions(reason): return "invalid options: \(reason)"
        case let .warehouse(reason, transient): return "warehouse error\(transient ? " (will retry)" : ""): \(reason)"
        case let .usage(s): return s
        }
    }
}

/// Bounds that keep memory flat whatever a file holds.
public enum Limits {
    /// Longest record (a CSV row, a JSON element) read into memory. A longer one is a located error: it is nearly
    /// always a wrong delimiter or quote, or a file with no line ends, and reading it whole would cost its size.
    public static let maxRecordBytes = 64 << 20
    /// Most columns a table may get from a file (PostgreSQL's limit; SQLite's default is 2,000).
    public static let maxColumns = 1600
    /// Largest file rewritten in memory into what a warehouse's own reader can read (Redshift COPY: a top-level
    /// JSON array as one object per line, Latin-1 as UTF-8); a larger one is refused with what to do instead.
    public static let maxRestageBytes = 512 << 20
    /// Deepest nesting of a JSON value loaded into a typed json column. PostgreSQL's parser gives up on its stack
    /// (~100,000 levels with the default max_stack_depth) and fails the whole COPY; past this a value is a bad row
    /// of its own, located, and the file's other rows load.
    public static let maxJSONDepth = 1000
}
