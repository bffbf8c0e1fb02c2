import AutoloaderCore
import AutoloaderFormats
#if canImport(Glibc)
import Glibc
#endif

/// The embedded default source: a folder on this machine (`./landing`). Listing walks it with
/// readdir/lstat; inotify (Linux) wakes the service as soon as something changes below it.
public final class LocalFolderStore: ObjectStore, @unchecked Sendable {
    public let root: String
    /// Where skipped paths are reported (once each, until their state changes).
    public var log: @Sendable (String) -> Void = { _ in }
    private let lock = NSLockLike()
    private var reported = Set<String>()
    /// Keys whose writer closed them after writing (or renamed them in), with when that was seen; a later
    /// change removes the key. Filled by the inotify watch.
    let finished = FinishedWrites()

    public init(root: String) {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        self.root = r
    }

    public var location: String { root }

    public func list() throws -> [ObjectInfo] {
        var out: [ObjectInfo] = []
        guard isDirectory(root) else {
            throw AutoloaderError.unreadable(file: root, reason: "no such folder; create it or pass --source")
        }
        var skipped = Set<String>()
        walk(dir: root, prefix: "", into: &out, skipped: &skipped)
        let fresh: Set<String> = lock.withLock {
            defer { reported = skipped }  // a path readable again is reported again if it goes bad again
            return skipped.subtracting(reported)
        }
        for note in fresh.sorted() { log(note) }
        finished.prune(keeping: out)
        return out
    }

    public func writerFinished(_ object: ObjectInfo) -> Bool { finished.contains(object) }

    /// Walks a folder. What it cannot take is skipped with a note, never silently: a folder or file it may not
    /// read (recorded once it can be: `chmod` fixes it), a symbolic link to a folder (a link can loop), a
    /// broken link. A link to a file is followed: the file is recorded under the link's key.
    private func walk(dir: String, prefix: String, into out: inout [ObjectInfo], skipped: inout Set<String>) {
        guard let handle = opendir(dir) else {
            // Vanished since it was listed: nothing to say. Unreadable: say so (root may have no landing folder yet).
            if errno == EACCES { skipped.insert("\(prefix.isEmpty ? dir : prefix)/: folder not readable (permission denied); its files are skipped until it is") }
            return
        }
        defer { closedir(handle) }
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." || name.hasPrefix(".") { continue }
            let path = dir + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            let key = prefix.isEmpty ? name : prefix + "/" + name
            if (st.st_mode & S_IFMT) == S_IFLNK {
                guard stat(path, &st) == 0 else {
                    skipped.insert("\(key): broken symbolic link; skipped")
                    continue
                }
                if (st.st_mode & S_IFMT) == S_IFDIR {
                    skipped.insert("\(key): symbolic link to a folder, not followed (links can loop); link the files, or move the folder in")
                    continue
                }
            }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                walk(dir: path, prefix: key, into: &out, skipped: &skipped)
            } else if (st.st_mode & S_IFMT) == S_IFREG {
                if access(path, R_OK) != 0 {
                    skipped.insert("\(key): not readable (permission denied); recorded once it can be read")
                    continue
                }
                let nanos = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
                out.append(ObjectInfo(key: key, size: Int64(st.st_size), modifiedNanos: nanos))
            }
        }
    }

    private func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public func open(key: String) throws -> any ByteReader {
        try FileByteReader(path: root + "/" + key)
    }

    public func watch(onChange: @escaping @Sendable () -> Void) throws -> (any ChangeWatch)? {
        #if os(Linux)
        return InotifyWatch(root: root, finished: finished, onChange: onChange)
        #else
        return nil
        #endif
    }
}

/// Files whose writer is done with them: by key, the size and modification time the file had when its writer
/// closed it (or renamed it in). A listing that shows exactly that is the finished file; one taken before the
/// close (a file just created, still empty) or after a later change shows something else.
final class FinishedWrites: @unchecked Sendable {
    private var closed: [String: (size: Int64, modifiedNanos: Int64)] = [:]
    private let lock = NSLockLike()

    func closed(_ key: String, size: Int64, modifiedNanos: Int64) { lock.withLock { closed[key] = (size, modifiedNanos) } }
    func changed(_ key: String) { lock.withLock { _ = closed.removeValue(forKey: key) } }

    /// An empty file is not taken as finished: `touch` then write is a common way to make one.
    func contains(_ object: ObjectInfo) -> Bool {
        guard object.size > 0 else { return false }
        return lock.withLock { closed[object.key].map { $0.size == object.size && $0.modifiedNanos == object.modifiedNanos } ?? false }
    }

    /// Forgets keys no longer listed (deleted, or moved away).
    func prune(keeping listed: [ObjectInfo]) {
        lock.withLock {
            guard !closed.isEmpty else { return }
            let keys = Set(listed.map(\.key))
            closed = closed.filter { keys.contains($0.key) }
        }
    }
}

#if os(Linux)
/// Recursive inotify on the landing folder. Events only wake the service: the listing that follows decides
/// what is new, so a lost or coalesced event costs latency (until the periodic listing), never a file.
final class InotifyWatch: ChangeWatch, @unchecked Sendable {
    private let fd: Int32
    private let root: String
    private let onChange: @Sendable () -> Void
    private let finished: FinishedWrites
    private var watches: [Int32: String] = [:]
    private let lock = NSLockLike()
    private var stopped = false

    init?(root: String, finished: FinishedWrites, onChange: @escaping @Sendable () -> Void) {
        fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        if fd < 0 { return nil }
        self.root = root
        self.finished = finished
        self.onChange = onChange
        addRecursive(root)
        let thread = PosixThread { [weak self] in self?.loop() }
        thread.start()
    }

    deinit { close(fd) }

    private static let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_MODIFY | IN_MOVED_FROM)

    private func addRecursive(_ dir: String) {
        let wd = inotify_add_watch(fd, dir, Self.mask)
        if wd >= 0 { lock.withLock { watches[wd] = dir } }
        guard let handle = opendir(dir) else { return }
        defer { closedir(handle) }
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name == "." || name == ".." || name.hasPrefix(".") { continue }
            if Int32(entry.pointee.d_type) == Int32(DT_DIR) { addRecursive(dir + "/" + name) }
        }
    }

    private func loop() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        // Files closed after writing, with their size and mtime read when the close was seen: confirmed as
        // finished only when the next read of the queue has no change to them. A change made before that stat
        // (the writer reopened and wrote) is already queued by then, so a stat that saw it is never confirmed.
        var candidates: [String: (size: Int64, modifiedNanos: Int64)] = [:]
        while !lock.withLock({ stopped }) {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 250)
            let n = ready > 0 ? buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } : 0
            var offset = 0
            var changed = false
            var closedNow: [String: String] = [:]  // key → path
            while n > 0, offset + MemoryLayout<inotify_event>.size <= n {
                let (wd, mask, len, name) = buffer.withUnsafeBytes { raw -> (Int32, UInt32, Int, String) in
                    let e = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    let nameStart = offset + MemoryLayout<inotify_event>.size
                    let nameBytes = raw[nameStart..<min(nameStart + Int(e.len), raw.count)].prefix(while: { $0 != 0 })
                    return (e.wd, e.mask, Int(e.len), String(decoding: nameBytes, as: UTF8.self))
                }
                offset += MemoryLayout<inotify_event>.size + len
                changed = true
                if mask & UInt32(IN_ISDIR) != 0 && mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0, !name.hasPrefix("."),
                   let parent = lock.withLock({ watches[wd] }) {
                    addRecursive(parent + "/" + name)  // files copied in before the watch existed are found by the listing
                }
                if mask & UInt32(IN_IGNORED) != 0 { lock.withLock { _ = watches.removeValue(forKey: wd) } }
                if mask & UInt32(IN_ISDIR) == 0, !name.isEmpty, let dir = lock.withLock({ watches[wd] }) {
                    let key = dir == root ? name : String(dir.dropFirst(root.count + 1)) + "/" + name
                    if mask & UInt32(IN_CLOSE_WRITE | IN_MOVED_TO) != 0 {
                        closedNow[key] = dir + "/" + name
                    } else {
                        closedNow.removeValue(forKey: key)
                        candidates.removeValue(forKey: key)
                        finished.changed(key)
                    }
                }
            }
            // Candidates that saw no change since their stat are finished, once the queue was read to its end
            // (a full buffer may leave their change for the next read); this read's closes become candidates.
            var confirmed = false
            if n < buffer.count - MemoryLayout<inotify_event>.size - Int(NAME_MAX) - 1 {
                for (key, state) in candidates {
                    finished.closed(key, size: state.size, modifiedNanos: state.modifiedNanos)
                    confirmed = true
                }
                candidates.removeAll(keepingCapacity: true)
            }
            for (key, path) in closedNow {
                var st = stat()
                guard stat(path, &st) == 0 else { continue }
                candidates[key] = (Int64(st.st_size), Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
            }
            if changed || confirmed { onChange() }
        }
    }

    func stop() { lock.withLock { stopped = true } }
}
#endif

/// A pthread mutex, for the few bits of shared state outside the hot path.
public final class NSLockLike: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    public init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}

/// A detached POSIX thread running one closure (blocking loops that must not occupy Swift's cooperative pool).
public final class PosixThread: @unchecked Sendable {
    private let body: () -> Void
    public init(_ body: @escaping () -> Void) { self.body = body }
    public func start() {
        let box = Unmanaged.passRetained(self)
        var thread = pthread_t()
        pthread_create(&thread, nil, { arg in
            let me = Unmanaged<PosixThread>.fromOpaque(arg!).takeRetainedValue()
            me.body()
            return nil
        }, box.toOpaque())
        pthread_detach(thread)
    }
}

/// Named files outside any landing folder (`autoloader load FILE…`): key `table/absolute/path` → path.
/// The user named each file, so none is hidden or a partition: the table is the key's first part.
public final class FileListStore: ObjectStore {
    let files: [String: String]
    public init(files: [String: String]) { self.files = files }

    public func classify(_ object: ObjectInfo, schemas: Bool) -> LandingKey? {
        guard let table = object.key.split(separator: "/").first.map(String.init) else { return nil }
        return LandingKey(table: table, sourceFolder: table)
    }
    public var location: String { "\(files.count) file(s)" }

    public func list() throws -> [ObjectInfo] {
        files.compactMap { key, path in
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            return ObjectInfo(key: key, size: Int64(st.st_size), modifiedNanos: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
        }
    }

    public func open(key: String) throws -> any ByteReader {
        guard let path = files[key] else { throw AutoloaderError.unreadable(file: key, reason: "not among the files given") }
        return try FileByteReader(path: path)
    }

    public func watch(onChange: @escaping @Sendable () -> Void) throws -> (any ChangeWatch)? { nil }
}
