/// One object (file) in a landing area. `key` is '/'-separated and relative to the store's root.
public struct ObjectInfo: Sendable, Equatable, Hashable {
    public var key: String
    public var size: Int64
    /// Modification time, nanoseconds since the Unix epoch.
    public var modifiedNanos: Int64
    /// What the store says identifies this content (S3: the ETag); "" for local files. Part of the identity,
    /// so an object rewritten within the same second at the same size is still a new version.
    public var version: String
    public init(key: String, size: Int64, modifiedNanos: Int64, version: String = "") {
        self.key = key
        self.size = size
        self.modifiedNanos = modifiedNanos
        self.version = version
    }
}

/// A sequential reader over one object's bytes.
public protocol ByteReader: AnyObject {
    /// Fills up to `buffer.count` bytes; returns 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// Reads at any offset: formats whose metadata is at the end (Parquet's footer) need it.
/// Local files do it with pread; an S3 store would use ranged GETs.
public protocol RandomAccessReader: AnyObject {
    var size: Int64 { get }
    func read(at offset: Int64, count: Int) throws -> [UInt8]
}

/// The seam every source implements (local folder now; S3 next). Listing is the source of truth;
/// change notifications only make it faster.
public protocol ObjectStore: Sendable {
    /// Where the objects live, for messages (never includes credentials).
    var location: String { get }
    /// Every object under the root, recursively.
    func list() throws -> [ObjectInfo]
    func open(key: String) throws -> any ByteReader
    /// Starts change notifications; `onChange` is called (from any thread) when something may have changed.
    /// Returns nil when the store has none, and listing alone is used.
    func watch(onChange: @escaping @Sendable () -> Void) throws -> (any ChangeWatch)?
    /// Which table an object belongs to, or nil when it is not data. Defaults to the landing layout.
    /// `schemas`: the warehouse has schemas (a folder `schema.table` names both).
    func classify(_ object: ObjectInfo, schemas: Bool) -> LandingKey?
    /// True when an object is complete as soon as it is listed (S3 PUTs are atomic); a local file
    /// may still be growing, so it must look the same on two listings first.
    var objectsAppearWhole: Bool { get }
    /// True when the file's writer is known to be done with it as listed: it closed the file after writing,
    /// or renamed it into place, and nothing changed it since (inotify says so). Such a file needs no settle
    /// window. Default false: the window decides.
    func writerFinished(_ object: ObjectInfo) -> Bool
    /// Everything the last `list()` returned is now in the catalog (an event queue may delete its messages).
    func recorded()
    /// The object's address for a warehouse that reads it itself (`s3://bucket/key` for Redshift COPY); nil for local files.
    func url(for key: String) -> String?
}

extension ObjectStore {
    public func classify(_ object: ObjectInfo, schemas: Bool) -> LandingKey? { LandingKey.classify(object, schemas: schemas) }
    public var objectsAppearWhole: Bool { false }
    public func writerFinished(_ object: ObjectInfo) -> Bool { false }
    public func recorded() {}
    public func url(for key: String) -> String? { nil }
}

public protocol ChangeWatch: AnyObject, Sendable {
    func stop()
}

/// How keys map to tables: the first folder is the table; deeper `name=value` folders are partition
/// columns; hidden files, temp files and folder markers are not data.
public struct LandingKey: Sendable, Equatable {
    public var table: String
    public var sourceFolder: String
    public var partitions: [(name: String, value: String)]

    public init(table: String, sourceFolder: String, partitions: [(name: String, value: String)] = []) {
        self.table = table
        self.sourceFolder = sourceFolder
        self.partitions = partitions
    }

    public static func == (a: LandingKey, b: LandingKey) -> Bool {
        a.table == b.table && a.sourceFolder == b.sourceFolder
            && a.partitions.map(\.name) == b.partitions.map(\.name) && a.partitions.map(\.value) == b.partitions.map(\.value)
    }

    /// nil when the object is not a data file of a table (file at the root, hidden, temp, marker).
    /// `schemas`: the warehouse has schemas, so a folder `schema.table` is that table in that schema.
    public static func classify(_ object: ObjectInfo, schemas: Bool = false) -> LandingKey? {
        if object.size == 0 && object.key.hasSuffix("/") { return nil }
        let parts = object.key.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard parts.count >= 2, let name = parts.last else { return nil }
        if parts.contains(where: { $0.hasPrefix(".") || $0.hasPrefix("_temporary") }) { return nil }
        if isTemporaryName(name) { return nil }
        // Zero-byte objects are folder markers (`orders/` or `orders/$folder$`), never data.
        if object.size == 0 && (name.hasSuffix("$folder$") || name == "_SUCCESS") { return nil }
        var partitions: [(String, String)] = []
        for folder in parts.dropFirst().dropLast() {
            if let eq = folder.firstIndex(of: "="), eq != folder.startIndex {
                let column = String(folder[..<eq])
                let value = String(folder[folder.index(after: eq)...])
                partitions.append((column, value.percentDecoded()))
            }
        }
        return LandingKey(table: SQLIdentifier.tableName(fromFolder: parts[0], schemas: schemas), sourceFolder: parts[0], partitions: partitions)
    }

    public static func isTemporaryName(_ name: String) -> Bool {
        name.hasPrefix(".") || name.hasPrefix("~$") || name.hasSuffix("~") || name.hasSuffix(".tmp")
            || name.hasSuffix(".part") || name.hasSuffix(".crdownload") || name.hasSuffix(".swp") || name == "_SUCCESS"
    }
}

extension String {
    /// `%XX` sequences decoded (Hive writes `a%2Fb` for `a/b` in partition folders); with `plusAsSpace`, form
    /// encoding as S3 event notifications use it. Malformed sequences stay as written.
    public func percentDecoded(plusAsSpace: Bool = false) -> String {
        guard contains("%") || (plusAsSpace && contains("+")) else { return self }
        var bytes: [UInt8] = []
        var it = Array(utf8)[...]
        while let b = it.popFirst() {
            if plusAsSpace, b == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if b == UInt8(ascii: "%"), it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
