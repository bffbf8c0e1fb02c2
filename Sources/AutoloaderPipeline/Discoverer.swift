import AutoloaderCore

/// Lists the store and records new files (or new versions) in the catalog, once their size and
/// modification time have stopped changing. Recording is idempotent, so listing again is always safe.
public final class Discoverer {
    let store: any ObjectStore
    /// Replaceable: after a lost connection the service hands it a new catalog and the listing state stays.
    public var catalog: any Catalog
    /// A file modified longer ago than this is taken as complete on first sight.
    public var settledAfterNanos: Int64 = 1_000_000_000
    /// Otherwise it must look the same on two listings at least this far apart.
    public var stableForNanos: Int64 = 150_000_000
    private var recorded = Set<ObjectInfo>()
    private var seen: [String: (ObjectInfo, firstSeen: Int64)] = [:]

    public init(store: any ObjectStore, catalog: any Catalog) {
        self.store = store
        self.catalog = catalog
    }

    public struct Pass: Sendable {
        public var recorded: [FileRecord] = []
        /// Files seen but not yet stable: list again soon.
        public var unsettled = 0
    }

    public func scan(now: Int64 = WallClock.nowNanos()) throws -> Pass {
        var pass = Pass()
        let objects = try store.list()
        var present = Set<String>()
        for object in objects {
            guard let landing = store.classify(object) else { continue }
            present.insert(object.key)
            if recorded.contains(object) { continue }
            let settled = store.objectsAppearWhole || now - object.modifiedNanos >= settledAfterNanos
            if !settled {
                if let (previous, firstSeen) = seen[object.key], previous == object {
                    if now - firstSeen < stableForNanos { pass.unsettled += 1; continue }
                } else {
                    seen[object.key] = (object, now)
                    pass.unsettled += 1
                    continue
                }
            }
            switch try catalog.record(object: object, as: landing) {
            case let .new(file), let .newVersion(file): pass.recorded.append(file)
            case .known: break
            }
            recorded.insert(object)
            seen.removeValue(forKey: object.key)
        }
        seen = seen.filter { present.contains($0.key) }
        store.recorded()
        return pass
    }
}
