import AutoloaderCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A bucket (any S3-compatible store) as a landing area: `s3://bucket/root/`, one first-level folder per
/// table under the root. Three ways to notice objects, one meaning: S3 event notifications through SQS
/// (seconds), an incremental listing per table (`StartAfter` the last key seen, for keys that arrive in
/// order), and a full reconciliation listing on a slower clock, so a lost event costs latency, not data.
public final class S3Store: ObjectStore, @unchecked Sendable {
    public static let defaultRoot = "s3-to-redshift-loader-utility/"
    /// The root the seed's code used (its README says `defaultRoot`): a bucket given without a prefix whose
    /// objects are only under this one is read from here, so users of either layout migrate as they are.
    public static let seedCodeRoot = "s3-redshift-loader-source/"

    public let bucket: String
    /// Key prefix of the landing root, "" or ending in "/". Without a prefix in the URL it is decided by the
    /// first `resolveRoot()` (the seed's two roots), and is `defaultRoot` until then.
    public var root: String { rootLock.withLock { resolvedRoot } }
    private let rootLock = NSLock()
    private var resolvedRoot: String
    private var rootDecided: Bool
    public let s3: S3Client
    public let sqs: SQSClient
    public let queueName: String?
    public var fullListingSeconds: Double = 60
    /// Bytes per ranged GET while streaming an object.
    public var chunkBytes = 8 << 20
    public var log: @Sendable (String) -> Void = { _ in }

    private let lock = NSLock()
    private var highWater: [String: String] = [:]  // table folder prefix → greatest key listed
    private var inOrderStreak: [String: Int] = [:]  // new keys in a row that sorted after the folder's last key
    private var known = Set<String>()
    private var lastFullListing: Double = 0
    private var events: [(S3Event, handle: String)] = []
    private var emptyHandles: [String] = []  // messages with nothing to record (test events, other prefixes)
    private var awaitingRecord: [String] = []
    private var queueURL: String?

    public init(url: String, aws: AWSClient, queueName: String? = nil) throws {
        guard url.hasPrefix("s3://") else { throw AutoloaderError.usage("an S3 source looks like s3://bucket/prefix/, not \(url)") }
        let rest = url.dropFirst(5)
        let bucket = String(rest.prefix { $0 != "/" })
        guard !bucket.isEmpty else { throw AutoloaderError.usage("no bucket in \(url); use s3://bucket/prefix/") }
        var prefix = String(rest.dropFirst(bucket.count)).drop { $0 == "/" }.description
        rootDecided = !prefix.isEmpty
        if prefix.isEmpty { prefix = Self.defaultRoot }
        if !prefix.hasSuffix("/") { prefix += "/" }
        self.bucket = bucket
        resolvedRoot = prefix
        s3 = S3Client(aws: aws)
        sqs = SQSClient(aws: aws)
        self.queueName = queueName
    }

    public var location: String { "s3://\(bucket)/\(root)" }
    public var objectsAppearWhole: Bool { true }
    public func url(for key: String) -> String? { "s3://\(bucket)/\(root)\(key)" }

    /// An object as the listing records it (the key under the root, the ETag as its version).
    public func info(_ o: S3Object) -> ObjectInfo {
        ObjectInfo(key: String(o.key.dropFirst(root.count)), size: o.size, modifiedNanos: o.modifiedNanos, version: o.etag)
    }

    /// Without a prefix in the URL: the seed's documented root, unless only the root its code used holds objects.
    /// Decided once, before the first listing (and by `setup-events`), so keys never change meaning later.
    public func resolveRoot() throws {
        guard !rootLock.withLock({ rootDecided }) else { return }
        var chosen = Self.defaultRoot
        if try s3.listPage(bucket: bucket, prefix: Self.defaultRoot, startAfter: nil, delimiter: nil, token: nil, maxKeys: 1).objects.isEmpty,
           try !s3.listPage(bucket: bucket, prefix: Self.seedCodeRoot, startAfter: nil, delimiter: nil, token: nil, maxKeys: 1).objects.isEmpty {
            chosen = Self.seedCodeRoot
            log("s3://\(bucket)/: nothing under \(Self.defaultRoot) and files under \(Self.seedCodeRoot) (the seed's code's root): loading from there")
        }
        rootLock.withLock {
            resolvedRoot = chosen
            rootDecided = true
        }
    }

    public func list() throws -> [ObjectInfo] {
        try resolveRoot()
        let now = Date().timeIntervalSince1970
        let (drained, empties, full) = lock.withLock { () -> ([(S3Event, handle: String)], [String], Bool) in
            let d = events, e = emptyHandles
            events = []
            emptyHandles = []
            return (d, e, now - lastFullListing >= fullListingSeconds)
        }
        do {
            var found: [String: S3Object] = [:]
            if full {
                let objects = try s3.list(bucket: bucket, prefix: root).objects
                for o in objects { found[o.key] = o }
                lock.withLock {
                    // A key the incremental listing could not have seen (it sorts before the last one): that
                    // folder's keys do not arrive in order, so it is listed whole until they do again.
                    for o in objects where !known.contains(o.key) {
                        if let folder = folder(of: o.key), o.key < highWater[folder] ?? "" { inOrderStreak[folder] = 0 }
                    }
                    highWater = [:]
                    for o in objects { advance(o.key) }
                    known = Set(objects.map(\.key))
                    lastFullListing = now
                }
            } else {
                for folder in try s3.list(bucket: bucket, prefix: root, delimiter: "/").commonPrefixes {
                    let after = lock.withLock { () -> String? in
                        // Without events, a folder is listed after its last key only once keys have been seen to
                        // arrive in order; with events, always (the events bring the rest).
                        (queueName != nil || inOrderStreak[folder, default: 0] >= 3) ? highWater[folder] : nil
                    }
                    let objects = try s3.list(bucket: bucket, prefix: folder, startAfter: after).objects
                    for o in objects { found[o.key] = o }
                    lock.withLock {
                        for o in objects where !known.contains(o.key) {
                            inOrderStreak[folder] = o.key > highWater[folder] ?? "" ? inOrderStreak[folder, default: 0] + 1 : 0
                            known.insert(o.key)
                            advance(o.key)
                        }
                    }
                }
            }
            // Events name keys anywhere (out of order too); HEAD gives the same metadata a listing would.
            let created = Set(drained.filter { $0.0.kind == .created && $0.0.key.hasPrefix(root) }.map(\.0.key))
            for key in created where found[key] == nil {
                if let o = try s3.head(bucket: bucket, key: key) { found[key] = o }
            }
            for (event, _) in drained where event.kind == .removed {
                log("s3://\(bucket)/\(event.key) was deleted; its rows stay (delete policy: keep)")
            }
            lock.withLock { awaitingRecord += drained.map(\.handle) + empties }
            return found.values.filter { $0.key.count > root.count }.map(info)
        } catch {
            lock.withLock {
                events = drained + events
                emptyHandles += empties
                if full { lastFullListing = 0 }
            }
            throw error
        }
    }

    private func folder(of key: String) -> String? {
        let rest = key.dropFirst(root.count)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        return root + rest[..<slash] + "/"
    }

    private func advance(_ key: String) {
        guard let folder = folder(of: key) else { return }
        if key > highWater[folder] ?? "" { highWater[folder] = key }
    }

    /// Event messages are deleted only now, after the files they announced are in the catalog.
    public func recorded() {
        let handles = lock.withLock { () -> [String] in
            let h = awaitingRecord
            awaitingRecord = []
            return h
        }
        guard !handles.isEmpty, let url = lock.withLock({ queueURL }) else { return }
        do {
            try sqs.delete(queueURL: url, receiptHandles: handles)
        } catch {
            log("could not delete \(handles.count) event message(s): \(error); they come back and are recorded again, harmlessly")
        }
    }

    public func open(key: String) throws -> any ByteReader {
        let full = root + key
        do {
            guard let object = try s3.head(bucket: bucket, key: full) else {
                throw AutoloaderError.unreadable(file: key, reason: "no such key in s3://\(bucket) (deleted since it was listed)")
            }
            return S3ObjectReader(s3: s3, bucket: bucket, object: object, chunkBytes: chunkBytes)
        } catch let e as AWSError {
            throw e.isRetryable ? AutoloaderError.sourceUnavailable(file: key, reason: e.description) : AutoloaderError.unreadable(file: key, reason: e.description)
        }
    }

    public func watch(onChange: @escaping @Sendable () -> Void) throws -> (any ChangeWatch)? {
        guard let queueName else { return nil }
        guard let url = try sqs.queueURL(name: queueName) else {
            throw AutoloaderError.usage("no SQS queue '\(queueName)'; create it and the bucket notification with `autoloader setup-events`")
        }
        lock.withLock { queueURL = url }
        let poller = SQSPoller(store: self, queueURL: url, onChange: onChange)
        poller.start()
        return poller
    }

    func received(_ messages: [SQSClient.Message]) {
        lock.withLock {
            for m in messages {
                let relevant = S3Event.parse(messageBody: m.body).filter { $0.bucket == bucket && $0.key.hasPrefix(root) }
                if relevant.isEmpty { emptyHandles.append(m.receiptHandle) }
                for e in relevant { events.append((e, m.receiptHandle)) }
            }
        }
    }
}

/// Long-polls the queue on its own thread and wakes the service; the store's next listing records the keys.
final class SQSPoller: ChangeWatch, @unchecked Sendable {
    let store: S3Store
    let queueURL: String
    let onChange: @Sendable () -> Void
    private let lock = NSLock()
    private var stopped = false

    init(store: S3Store, queueURL: String, onChange: @escaping @Sendable () -> Void) {
        self.store = store
        self.queueURL = queueURL
        self.onChange = onChange
    }

    func start() {
        let thread = Thread { [self] in
            var failures = 0
            while !lock.withLock({ stopped }) {
                do {
                    let messages = try store.sqs.receive(queueURL: queueURL, waitSeconds: 10)
                    failures = 0
                    if !messages.isEmpty {
                        store.received(messages)
                        onChange()
                    }
                } catch {
                    failures += 1
                    store.log("event queue: \(error); listing still runs, retrying")
                    usleep(UInt32(min(30.0, 0.5 * Double(1 << min(failures, 6))) * 1_000_000))
                }
            }
        }
        thread.start()
    }

    func stop() { lock.withLock { stopped = true } }
}

/// Streams an object with ranged GETs of `chunkBytes`: bounded memory, and a dropped connection costs one
/// chunk's retry from the same offset (the client's backoff), never a restart. `If-Match` pins the version.
final class S3ObjectReader: ByteReader, RandomAccessReader {
    let s3: S3Client
    let bucket: String
    let object: S3Object
    let chunkBytes: Int
    private var offset: Int64 = 0
    private var chunk: [UInt8] = []
    private var position = 0

    init(s3: S3Client, bucket: String, object: S3Object, chunkBytes: Int) {
        self.s3 = s3
        self.bucket = bucket
        self.object = object
        self.chunkBytes = chunkBytes
    }

    var size: Int64 { object.size }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if position == chunk.count {
            guard offset < object.size else { return 0 }
            chunk = try fetch(offset, min(chunkBytes, Int(object.size - offset)))
            position = 0
            offset += Int64(chunk.count)
            if chunk.isEmpty { return 0 }
        }
        let n = min(buffer.count, chunk.count - position)
        chunk.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + position, byteCount: n) }
        position += n
        return n
    }

    func read(at offset: Int64, count: Int) throws -> [UInt8] {
        guard offset < object.size, count > 0 else { return [] }
        return try fetch(offset, min(count, Int(object.size - offset)))
    }

    private func fetch(_ offset: Int64, _ count: Int) throws -> [UInt8] {
        do {
            return try s3.get(bucket: bucket, key: object.key, offset: offset, count: count, ifMatch: object.etag)
        } catch let e as AWSError {
            if case let .service(status, _, _, _, _) = e, status == 412 {
                throw AutoloaderError.unreadable(file: object.key, reason: "replaced while being read; the new version is loaded next")
            }
            throw e.isRetryable ? AutoloaderError.sourceUnavailable(file: object.key, reason: e.description)
                : AutoloaderError.unreadable(file: object.key, reason: e.description)
        }
    }
}
