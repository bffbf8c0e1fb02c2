import AutoloaderCore

/// Lists the store and records new files (or new versions) in the catalog once they are complete: unchanged
/// for the settle window, and, for a table with a `marker` option, once the marker file is in their folder.
/// Recording is idempotent, so listing again is always safe.
public final class Discoverer {
    let store: any ObjectStore
    /// Replaceable: after a lost connection the service hands it a new catalog and the listing state stays.
    public var catalog: any Catalog
    /// A file must look unchanged this long (by its modification time, or across listings) before it is recorded;
    /// a table's `settle_seconds` option overrides it. 0: record at once (`autoloader load`).
    public var settleNanos: Int64 = 1_000_000_000
    /// The warehouse has schemas: a folder `schema.table` is that table in that schema (else `schema_table`).
    public var schemas = false
    private var recorded = Set<ObjectInfo>()
    private var seen: [String: (ObjectInfo, firstSeen: Int64)] = [:]

    public init(store: any ObjectStore, catalog: any Catalog) {
        self.store = store
        self.catalog = catalog
    }

    public struct Pass: Sendable {
        public var recorded: [FileRecord] = []
        /// Files seen but not yet settled: list again soon.
        public var unsettled = 0
        /// Wall-clock nanoseconds when the first unsettled file may be recorded (list again then, not before).
        public var settlesAt: Int64?
        /// Files whose folder has no marker yet (listed again at the usual pace).
        public var awaitingMarker = 0
    }

    public func scan(now: Int64 = WallClock.nowNanos()) throws -> Pass {
        var pass = Pass()
        let objects = try store.list()
        let present = Set(objects.map(\.key))
        // Per-table options that gate discovery, by landing folder (tables not in the catalog yet have defaults);
        // read once per pass, and only when something not yet recorded is listed.
        var options: [String: TableOptions]?
        var settled: [(ObjectInfo, LandingKey)] = []
        for object in objects {
            guard let landing = store.classify(object, schemas: schemas) else { continue }
            if recorded.contains(object) { continue }
            if options == nil {
                options = Dictionary(try catalog.tables().map { ($0.sourceFolder, $0.options) }, uniquingKeysWith: { a, _ in a })
            }
            let tableOptions = options?[landing.sourceFolder]
            if let marker = tableOptions?.marker {
                if object.key.hasSuffix("/" + marker) { continue }  // the marker itself is not data
                let folder = object.key.split(separator: "/", omittingEmptySubsequences: true).dropLast().joined(separator: "/")
                if !present.contains(folder + "/" + marker) { pass.awaitingMarker += 1; continue }
            }
            let settle = tableOptions?.settleSeconds.map { Int64($0 * 1e9) } ?? settleNanos
            // A file its writer closed (or renamed into place) is whole; a table's own settle_seconds (a writer
            // that closes and reopens to append) still waits the window.
            let finished = tableOptions?.settleSeconds == nil && store.writerFinished(object)
            if !store.objectsAppearWhole, settle > 0, !finished, now - object.modifiedNanos < settle {
                // Young: record it once it has looked the same for the whole window.
                let firstSeen: Int64
                if let (previous, since) = seen[object.key], previous == object {
                    firstSeen = since
                } else {
                    seen[object.key] = (object, now)
                    firstSeen = now
                }
                if now - firstSeen < settle {
                    pass.unsettled += 1
                    let due = min(firstSeen, object.modifiedNanos) + settle
                    pass.settlesAt = min(pass.settlesAt ?? due, due)
                    continue
                }
            }
            settled.append((object, landing))
        }
        // Recorded in transactions of up to 500 (SQLite's one writer is held briefly; loads interleave).
        for start in stride(from: 0, to: settled.count, by: 500) {
            let chunk = Array(settled[start..<min(start + 500, settled.count)])
            for outcome in try catalog.record(objects: chunk) {
                if case let .new(file) = outcome { pass.recorded.append(file) }
                if case let .newVersion(file) = outcome { pass.recorded.append(file) }
            }
            for (object, _) in chunk {
                recorded.insert(object)
                seen.removeValue(forKey: object.key)
            }
        }
        seen = seen.filter { present.contains($0.key) }
        store.recorded()
        return pass
    }
}
