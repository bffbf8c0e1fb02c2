/// A file's lifecycle in the catalog. Pure: `apply` returns the next state or nil for a transition that
/// must not happen, so every rule has a one-line test and exactly-once can be argued without a database.
/// Every state change in the catalog goes through here: `SQLCatalog` turns an event into
/// `UPDATE … SET state = <target> WHERE state IN (<legal sources>)` and checks the row count.
///
///     pending ──claim──▶ loading ──committed──▶ loaded
///        │                  │ ├──committedWithErrors──▶ loaded_with_errors  (good rows kept, bad ones recorded)
///        │                  │ ├──duplicate──▶ duplicate   (same bytes already loaded under another key)
///        │                  │ ├──unchanged──▶ skipped     (same key, same bytes as the loaded version)
///        │                  │ └──failed─────▶ failed      (the file's own defect)
///        │                  │ └──hold───────▶ held        (it would change the table and the table's schema_changes is hold)
///        └──abandon─────────────────────────▶ failed      (its load was refused for good before the file's turn)
///     held ──approve──▶ pending (approved: its change is applied when it loads)    held ──reject──▶ failed
///     pending ◀──requeue── loaded, loaded_with_errors, failed, skipped, duplicate   (retry, reload, a twin's content changed)
///     pending ◀──release── loading   (a claim given back: its load rolled back or its process died)
///
/// In a SQL catalog `loading` is only ever seen inside the load's transaction: the claim commits with the rows,
/// so a crash leaves the file `pending` and nothing needs repair (`release` is never used). A catalog without
/// transactions (DynamoDB) writes the claim for good; its load gives the claim back when it rolls back, and the
/// table's next load does it for a load whose process died.
public enum FileState: String, Codable, Sendable, CaseIterable {
    case pending, loading, loaded, failed, duplicate, skipped, held
    case loadedWithErrors = "loaded_with_errors"

    public enum Event: String, Sendable, CaseIterable {
        case claim, committed, committedWithErrors, duplicate, unchanged, failed, abandon, requeue, hold, approve, reject, release
    }

    /// The states whose rows are in the table.
    public static let rowsKept: [FileState] = [.loaded, .loadedWithErrors]
    public var keepsRows: Bool { Self.rowsKept.contains(self) }

    public func apply(_ event: Event) -> FileState? {
        switch (self, event) {
        case (.pending, .claim): return .loading
        case (.loading, .committed): return .loaded
        case (.loading, .committedWithErrors): return .loadedWithErrors
        case (.loading, .duplicate): return .duplicate
        case (.loading, .unchanged): return .skipped
        case (.loading, .failed): return .failed
        case (.pending, .abandon): return .failed
        case (.loading, .hold): return .held
        case (.held, .approve): return .pending
        case (.held, .reject): return .failed
        case (.loading, .release): return .pending
        case (.failed, .requeue), (.loaded, .requeue), (.loadedWithErrors, .requeue), (.skipped, .requeue), (.duplicate, .requeue):
            return .pending
        default: return nil
        }
    }

    /// The states `event` may leave from, and where it leads (the same target from each).
    public static func transition(_ event: Event) -> (from: [FileState], to: FileState) {
        let from = allCases.filter { $0.apply(event) != nil }
        return (from, from.first!.apply(event)!)
    }

    /// The event that ends a file's turn in a load with this state.
    public static func endEvent(for state: FileState) -> Event {
        switch state {
        case .loaded: return .committed
        case .loadedWithErrors: return .committedWithErrors
        case .duplicate: return .duplicate
        case .skipped: return .unchanged
        case .held: return .hold
        default: return .failed
        }
    }
}

/// A load's lifecycle. A load is logged `queued` before its transaction; `running` and its end are written
/// inside the transaction, so they become visible together at commit. A load still `queued` after its
/// process died is closed (`interrupted`) by the next load of its table, under the table's lock.
///
///     queued ──start──▶ running ──succeeded──────▶ finished
///       │                  └──someFilesFailed──▶ failed
///       ├──refused──▶ failed        (rolled back for a reason that retrying cannot fix)
///       └──interrupted──▶ aborted   (rolled back: lost connection, contention, crash, shutdown)
///
/// `running` is refused or interrupted too in a catalog without transactions (DynamoDB), where the start is
/// written for good before the load's work.
public enum LoadStatus: String, Codable, Sendable, CaseIterable {
    case queued, running, finished, failed, aborted

    public enum Event: String, Sendable, CaseIterable { case start, succeeded, someFilesFailed, refused, interrupted }

    public func apply(_ event: Event) -> LoadStatus? {
        switch (self, event) {
        case (.queued, .start): return .running
        case (.running, .succeeded): return .finished
        case (.running, .someFilesFailed): return .failed
        case (.queued, .refused), (.running, .refused): return .failed
        case (.queued, .interrupted), (.running, .interrupted): return .aborted
        default: return nil
        }
    }

    public static func transition(_ event: Event) -> (from: [LoadStatus], to: LoadStatus) {
        let from = allCases.filter { $0.apply(event) != nil }
        return (from, from.first!.apply(event)!)
    }
}

public enum TableStatus: String, Codable, Sendable { case active, paused }

extension CaseIterable where Self: RawRepresentable, Self.RawValue == String {
    /// A state or status as users type it (`--state failed`, `?status=aborted`); a usage error lists the choices.
    public static func named(_ text: String, what: String) throws -> Self {
        guard let value = Self(rawValue: text) else {
            throw AutoloaderError.usage("unknown \(what) '\(text)'; one of \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }
}
