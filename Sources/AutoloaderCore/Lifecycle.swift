/// A file's lifecycle in the catalog. Pure: `apply` returns the next state or nil for a transition that
/// must not happen, so every rule has a one-line test and exactly-once can be argued without a database.
///
///     pending ──claim──▶ loading ──committed──▶ loaded
///        ▲                  │ ├──duplicate──▶ duplicate   (same bytes already loaded under another key)
///        │                  │ ├──unchanged──▶ skipped     (same key, same bytes as the loaded version)
///        │                  │ └──failed─────▶ failed
///        └──retry / reload / crash recovery ◀─┘ (from loading, failed, loaded, skipped)
public enum FileState: String, Codable, Sendable, CaseIterable {
    case pending, loading, loaded, failed, duplicate, skipped

    public enum Event: Sendable { case claim, committed, duplicate, unchanged, failed, requeue }

    public func apply(_ event: Event) -> FileState? {
        switch (self, event) {
        case (.pending, .claim): return .loading
        case (.loading, .committed): return .loaded
        case (.loading, .duplicate): return .duplicate
        case (.loading, .unchanged): return .skipped
        case (.loading, .failed): return .failed
        case (.loading, .requeue), (.failed, .requeue), (.loaded, .requeue), (.skipped, .requeue), (.duplicate, .requeue):
            return .pending
        default: return nil
        }
    }
}

/// A load's lifecycle: queued → running → finished | failed | aborted (crash or shutdown before commit).
public enum LoadStatus: String, Codable, Sendable, CaseIterable {
    case queued, running, finished, failed, aborted

    public enum Event: Sendable { case start, succeeded, someFilesFailed, interrupted }

    public func apply(_ event: Event) -> LoadStatus? {
        switch (self, event) {
        case (.queued, .start): return .running
        case (.running, .succeeded): return .finished
        case (.running, .someFilesFailed): return .failed
        case (.queued, .interrupted), (.running, .interrupted): return .aborted
        default: return nil
        }
    }
}

public enum TableStatus: String, Codable, Sendable { case active, paused }
