import AutoloaderCore
import Foundation

/// `catalog=dynamodb://TABLE[?lease_seconds=N]` (default 60, renewed every third while a load runs): the catalog of
/// a Redshift deployment in one DynamoDB table, as the seed kept its state, so that it outlives any task and several
/// loaders share it. The same contract as `SQLCatalog` (tables, files, loads, load errors, schema history) over items:
///
/// | pk | sk | item |
/// |---|---|---|
/// | `meta` | `version`, `counter#file`, `counter#load` | catalog version; id counters (atomic ADD) |
/// | `tables` | table name | a table (options, status, schema, dialect, checkpoint) |
/// | `folders` | landing folder | the table the folder loads into (assigned once) |
/// | `files#TABLE` | file id | a file version and its state |
/// | `key#KEY` | `v#SIZE#MTIME#VERSION` | a version's identity (makes recording a listed object idempotent) |
/// | `keys` | key | the key has a version (read in batches when a listing is recorded) |
/// | `loads` | load id | a load's log line |
/// | `errors#LOAD` | sequence | a rejected row |
/// | `schema#TABLE` | load id `#` sequence | a schema change |
/// | `lock` | table name | the table's load lock (owner, lease) and its loads not yet closed |
///
/// A pending file also carries `pending_table` / `pending_order`: the sparse index `pending` lists a table's
/// pending files oldest first without reading its history.
///
/// There are no multi-item transactions of any size here, so the load protocol is built from conditional writes
/// (ARCHITECTURE.md, "The DynamoDB catalog"): a load logs itself `queued` and joins its table's open loads; takes
/// the table's lock (a conditional write with a lease); closes the open loads whose process died, giving their
/// claims back; starts; claims its files `pending → loading`, each conditional on `pending`. Its end writes each
/// file's state conditional on its own claim, then its status, then frees the lock. Every state change is one
/// conditional update built by `moveFile` / `moveLoad` from the lifecycles. Rows never pass through here: the
/// warehouse (Redshift) commits rows and its ledger of loaded files in one transaction, and a file the ledger
/// has is not copied again — so a load that dies anywhere, or loses its lease, loads nothing twice.
public final class DynamoDBCatalog: Catalog, Warehouse {
    public let db: DynamoDBClient
    public let name: String
    /// How long a load's lock holds when its owner stops renewing it (`LeaseHeartbeat`, every third of it): after a
    /// crash, the table's next load waits this long.
    public let leaseSeconds: Double
    public var newTableOptions = TableOptions()
    private var tableOfFolder: [String: String] = [:]

    public static let currentVersion: Int64 = 1
    static let pendingIndex = DynamoDBClient.Index(name: "pending", hash: "pending_table", range: "pending_order")

    public init(db: DynamoDBClient, table: String, leaseSeconds: Double = 60) {
        self.db = db
        name = table
        self.leaseSeconds = leaseSeconds
    }

    /// `dynamodb://TABLE?lease_seconds=N` → the table and lease.
    public static func parse(_ url: String) throws -> (table: String, leaseSeconds: Double) {
        guard url.hasPrefix("dynamodb://"), let components = URLComponents(string: url), let host = components.host,
              !host.isEmpty, components.path.isEmpty || components.path == "/" else {
            throw AutoloaderError.usage("a DynamoDB catalog looks like catalog=dynamodb://TABLE (region and endpoint from the AWS settings)")
        }
        var lease = 60.0
        for item in components.queryItems ?? [] {
            guard item.name == "lease_seconds", let v = item.value.flatMap(Double.init), v > 0 else {
                throw AutoloaderError.usage("\(url): the only setting of a DynamoDB catalog is lease_seconds=N (N > 0)")
            }
            lease = v
        }
        return (host, lease)
    }

    public typealias Item = DynamoDBClient.Item
    typealias Value = DynamoDBClient.Value

    // MARK: the calls (every DynamoDB error becomes the catalog's: transient when retrying can help)

    func call<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as AWSError {
            throw AutoloaderError.warehouse(reason: "the DynamoDB catalog \(name): \(error)", transient: error.isRetryable)
        }
    }

    func get(_ key: Item) throws -> Item? { try call { try db.get(name, key: key) } }
    func query(_ pk: String, skPrefix: String? = nil, filter: DynamoDBClient.Expression? = nil, limit: Int? = nil) throws -> [Item] {
        var text = "pk = :pk", values: Item = [":pk": .s(pk)]
        if let skPrefix {
            text += " AND begins_with(sk, :skp)"
            values[":skp"] = .s(skPrefix)
        }
        return try call { try db.query(name, .init(text, values: values), filter: filter, limit: limit) }
    }
    func pending(_ table: String, limit: Int? = nil) throws -> [FileRecord] {
        try call {
            try db.query(name, .init("pending_table = :t", values: [":t": .s(table)]), index: Self.pendingIndex.name, limit: limit)
        }.map(Self.fileRecord)
    }
    /// Applies `write`; false when its condition did not hold.
    @discardableResult
    func apply(_ write: DynamoDBClient.Write) throws -> Bool {
        do {
            try call { try db.write([write]) }
            return true
        } catch is DynamoDBClient.ConditionFailed {
            return false
        }
    }
    /// Applies `writes` 100 at a time, each hundred all or nothing; false when a condition did not hold (the
    /// hundreds before it stay applied).
    func applyAll(_ writes: [DynamoDBClient.Write]) throws -> Bool {
        var start = 0
        while start < writes.count {
            let chunk = Array(writes[start..<min(writes.count, start + 100)])
            do {
                try call { try db.write(chunk) }
            } catch is DynamoDBClient.ConditionFailed {
                return false
            }
            start += chunk.count
        }
        return true
    }

    // MARK: keys and items

    static func key(_ pk: String, _ sk: String) -> Item { ["pk": .s(pk), "sk": .s(sk)] }
    /// Zero-padded so that text order is number order.
    static func padded(_ n: Int64) -> String {
        let digits = String(n)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }
    static func fileKey(table: String, id: Int64) -> Item { key("files#" + table, padded(id)) }
    static func loadKey(_ id: Int64) -> Item { key("loads", padded(id)) }
    static func lockKey(_ table: String) -> Item { key("lock", table) }
    static func identityKey(_ object: ObjectInfo) -> Item {
        key("key#" + object.key, "v#\(object.size)#\(object.modifiedNanos)#\(object.version)")
    }
    /// Oldest first: the modification time (sign flipped into the top bit so negative times sort first), then id.
    static func pendingOrder(_ file: FileRecord) -> String {
        let biased = UInt64(bitPattern: file.modifiedNanos) ^ (1 << 63)
        let digits = String(biased)
        return String(repeating: "0", count: 20 - digits.count) + digits + "#" + padded(file.id)
    }

    static func fileRecord(_ i: Item) -> FileRecord {
        var f = FileRecord(id: i["id"]?.int ?? 0, table: i["table"]?.string ?? "", key: i["key"]?.string ?? "", size: i["size"]?.int ?? 0,
                           modifiedNanos: i["mtime"]?.int ?? 0, sha256: i["sha256"]?.string,
                           partitions: CatalogJSON.value(i["partitions"]?.string, [String: String].self) ?? [:],
                           state: FileState(rawValue: i["state"]?.string ?? "") ?? .pending, discoveredAt: i["discovered_at"]?.string ?? "",
                           loadID: i["load_id"]?.int, duplicateOf: i["duplicate_of"]?.int, rows: i["rows"]?.int, error: i["error"]?.string,
                           version: i["version"]?.string ?? "")
        f.approved = i["approved"] == .bool(true)
        return f
    }
    static func superseded(_ i: Item) -> Bool { i["superseded"] == .bool(true) }

    static func tableRecord(_ i: Item) -> TableRecord {
        TableRecord(name: i["sk"]?.string ?? "", sourceFolder: i["source_folder"]?.string ?? "",
                    status: TableStatus(rawValue: i["status"]?.string ?? "") ?? .active,
                    options: CatalogJSON.value(i["options"]?.string, TableOptions.self) ?? TableOptions(), checkpointNanos: i["checkpoint_ns"]?.int,
                    schema: CatalogJSON.value(i["schema"]?.string, TableSchema.self), dialect: CatalogJSON.value(i["dialect"]?.string, Dialect.self),
                    partitionColumns: CatalogJSON.value(i["partition_columns"]?.string, [String].self) ?? [], createdAt: i["created_at"]?.string ?? "")
    }

    static func loadRecord(_ i: Item) -> LoadRecord {
        LoadRecord(id: i["id"]?.int ?? 0, table: i["table"]?.string ?? "", files: CatalogJSON.value(i["files"]?.string, [String].self) ?? [],
                   statement: i["statement"]?.string ?? "", status: LoadStatus(rawValue: i["status"]?.string ?? "") ?? .failed,
                   rowsLoaded: i["rows_loaded"]?.int ?? 0, rowsRejected: i["rows_rejected"]?.int ?? 0, bytes: i["bytes"]?.int ?? 0,
                   startedAt: i["started_at"]?.string ?? "", finishedAt: i["finished_at"]?.string, error: i["error"]?.string)
    }

    static func number(_ n: Int64) -> Value { .n(String(n)) }
    static func optional(_ s: String?) -> Value? { s.map { .s($0) } }
    static func optional(_ n: Int64?) -> Value? { n.map { .n(String($0)) } }

    /// An update expression (`SET`/`REMOVE`/`ADD`/`DELETE`) and a condition, with their placeholders numbered apart.
    struct Change {
        var set: [String: Value] = [:]
        var remove: [String] = []
        var add: [String: Value] = [:]
        var delete: [String: Value] = [:]
        var condition: String?
        var conditionValues: Item = [:]
        var conditionNames: [String: String] = [:]

        func write(_ table: String, key: Item) -> DynamoDBClient.Write {
            var names: [String: String] = [:], values: Item = [:], clauses: [String] = []
            func placeholders(_ pairs: [String: Value], _ tag: String) -> [String] {
                pairs.keys.sorted().enumerated().map { i, attribute in
                    names["#\(tag)\(i)"] = attribute
                    values[":\(tag)\(i)"] = pairs[attribute]
                    return "#\(tag)\(i) :\(tag)\(i)"
                }
            }
            let sets = placeholders(set, "s").map { $0.replacingOccurrences(of: " :", with: " = :") }
            if !sets.isEmpty { clauses.append("SET " + sets.joined(separator: ", ")) }
            if !remove.isEmpty {
                clauses.append("REMOVE " + remove.enumerated().map { i, attribute in names["#r\(i)"] = attribute; return "#r\(i)" }.joined(separator: ", "))
            }
            let adds = placeholders(add, "a")
            if !adds.isEmpty { clauses.append("ADD " + adds.joined(separator: ", ")) }
            let deletes = placeholders(delete, "d")
            if !deletes.isEmpty { clauses.append("DELETE " + deletes.joined(separator: ", ")) }
            let update = DynamoDBClient.Expression(clauses.joined(separator: " "), names: names, values: values)
            let check = condition.map { DynamoDBClient.Expression($0, names: conditionNames, values: conditionValues) }
            return .update(table: table, key: key, update: update, condition: check)
        }
    }

    // MARK: the lifecycles' writes (the only changes of a file's `state` or a load's `status`)

    /// Moves `file` by `event`: only from the machine's legal sources (or the subset `from`), and, with `claimedBy`,
    /// only while that load holds it. Entering `pending` puts the file in the pending index; leaving takes it out.
    func moveFile(_ file: FileRecord, _ event: FileState.Event, from subset: [FileState]? = nil, set: [String: Value] = [:],
                  remove: [String] = [], claimedBy load: Int64? = nil) -> DynamoDBClient.Write {
        let (legal, target) = FileState.transition(event)
        let from = subset ?? legal
        assert(from.allSatisfy(legal.contains), "\(from) ⊄ legal sources of \(event)")
        var change = Change(set: set, remove: remove)
        change.set["state"] = .s(target.rawValue)
        if target == .pending {
            change.set["pending_table"] = .s(file.table)
            change.set["pending_order"] = .s(Self.pendingOrder(file))
        } else {
            change.remove += ["pending_table", "pending_order"]
        }
        change.conditionNames = ["#cs": "state"]
        var condition = "#cs IN (" + from.enumerated().map { i, state in
            change.conditionValues[":c\(i)"] = .s(state.rawValue)
            return ":c\(i)"
        }.joined(separator: ", ") + ")"
        if let load {
            change.conditionNames["#cl"] = "load_id"
            change.conditionValues[":cl"] = Self.number(load)
            condition += " AND #cl = :cl"
        }
        change.condition = condition
        return change.write(name, key: Self.fileKey(table: file.table, id: file.id))
    }

    func moveLoad(_ id: Int64, _ event: LoadStatus.Event, set: [String: Value] = [:]) -> DynamoDBClient.Write {
        let (from, target) = LoadStatus.transition(event)
        var change = Change(set: set)
        change.set["status"] = .s(target.rawValue)
        change.conditionNames = ["#cs": "status"]
        change.condition = "#cs IN (" + from.enumerated().map { i, status in
            change.conditionValues[":c\(i)"] = .s(status.rawValue)
            return ":c\(i)"
        }.joined(separator: ", ") + ")"
        return change.write(name, key: Self.loadKey(id))
    }

    // MARK: versions

    /// Creates the table on first use (on-demand, with the pending index) and records the catalog's version; refuses
    /// a catalog a newer autoloader wrote. Without dynamodb:CreateTable, says so.
    public func prepare(readOnly: Bool) throws {
        var status = try call { try db.tableStatus(name) }
        if status == nil {
            do {
                try call { try db.createTable(name, hash: "pk", range: "sk", indexes: [Self.pendingIndex]) }
            } catch let AutoloaderError.warehouse(reason, _) where reason.contains("ResourceInUseException") {
                // Another loader is creating it.
            } catch let AutoloaderError.warehouse(reason, _) where reason.contains("was denied") {
                throw AutoloaderError.warehouse(reason: "the DynamoDB catalog table \(name) does not exist, and this identity may not create it "
                    + "(\(reason)). Create it as deploy/cloudformation.yaml does (keys pk and sk, strings; the global index pending on "
                    + "pending_table and pending_order), or grant dynamodb:CreateTable", transient: false)
            }
            status = "CREATING"
        }
        // A new table takes seconds to become ACTIVE.
        let deadline = Date().addingTimeInterval(120)
        while status != "ACTIVE" {
            guard Date() < deadline else {
                throw AutoloaderError.warehouse(reason: "the DynamoDB catalog table \(name) is still \(status ?? "missing") after 120 s", transient: true)
            }
            usleep(500_000)
            status = try call { try db.tableStatus(name) }
        }
        let version = try get(Self.key("meta", "version"))?["version"]?.int ?? 0
        if version > Self.currentVersion {
            throw AutoloaderError.warehouse(reason: "the catalog is at version \(version), newer than this autoloader (\(Self.currentVersion)): upgrade autoloader", transient: false)
        }
        if version < Self.currentVersion {
            try apply(.put(table: name, item: Self.key("meta", "version").merging(["version": Self.number(Self.currentVersion)]) { $1 },
                           condition: .init("attribute_not_exists(pk) OR #v < :v", names: ["#v": "version"], values: [":v": Self.number(Self.currentVersion)])))
        }
    }

    /// `count` new ids of `kind` (files, loads), from the catalog's counter.
    func nextIDs(_ kind: String, count: Int) throws -> ClosedRange<Int64> {
        let after = try call {
            try db.update(name, key: Self.key("meta", "counter#" + kind), .init("ADD #n :c", names: ["#n": "n"], values: [":c": Self.number(Int64(count))]))
        }
        guard let last = after["n"]?.int else { throw AutoloaderError.warehouse(reason: "the DynamoDB catalog \(name): its \(kind) counter has no value", transient: true) }
        return (last - Int64(count) + 1)...last
    }

    // MARK: discovery

    func tableName(for landing: LandingKey) throws -> String {
        if let known = tableOfFolder[landing.sourceFolder] { return known }
        let assigned = try assignTable(landing)
        tableOfFolder[landing.sourceFolder] = assigned
        return assigned
    }

    /// As `SQLCatalog`: the first folder keeps the sanitised name, later ones that sanitise alike get `_2`, `_3`…
    private func assignTable(_ landing: LandingKey) throws -> String {
        let folderKey = Self.key("folders", landing.sourceFolder)
        if let known = try get(folderKey)?["table"]?.string { return known }
        var candidate = landing.table, n = 1
        while true {
            let now = WallClock.nowISO()
            var table = Self.key("tables", candidate)
            table["source_folder"] = .s(landing.sourceFolder)
            table["status"] = .s(TableStatus.active.rawValue)
            table["options"] = .s(newTableOptions.jsonString())
            table["partition_columns"] = .s("[]")
            table["created_at"] = .s(now)
            table["updated_at"] = .s(now)
            let folder = folderKey.merging(["table": .s(candidate)]) { $1 }
            let absent = DynamoDBClient.Expression("attribute_not_exists(pk)")
            if try applyAll([.put(table: name, item: table, condition: absent), .put(table: name, item: folder, condition: absent)]) {
                return candidate
            }
            // Taken: this folder was assigned meanwhile (another process), or the name is a table of the same folder
            // (its options were set before its first file), or of another folder that sanitises alike.
            if let known = try get(folderKey)?["table"]?.string { return known }
            if try get(Self.key("tables", candidate))?["source_folder"]?.string == landing.sourceFolder {
                try apply(.put(table: name, item: folder, condition: absent))
                return try get(folderKey)?["table"]?.string ?? candidate
            }
            n += 1
            candidate = SQLIdentifier.numbered(landing.table, n)
        }
    }

    /// Records a listing in a few calls per hundred objects (a bucket's first listing is thousands): which are
    /// known and which keys have a version already, read in batches; the new ones written 33 to a transaction, each
    /// as its identity (conditional on not existing), its file item and its key's marker. A transaction that meets
    /// an identity another process wrote meanwhile is retried object by object, and that object is `.known`:
    /// recording the same listing twice, from one process or two, records it once.
    public func record(objects: [(ObjectInfo, LandingKey)]) throws -> [RecordOutcome] {
        guard !objects.isEmpty else { return [] }
        func id(_ key: Item) -> String { (key["pk"]?.string ?? "") + "\u{0}" + (key["sk"]?.string ?? "") }
        let known = Set(try call { try db.batchGet(name, keys: objects.map { Self.identityKey($0.0) }) }.map(id))
        var outcomes = [RecordOutcome](repeating: .known, count: objects.count)
        let fresh = objects.indices.filter { !known.contains(id(Self.identityKey(objects[$0].0))) }
        guard !fresh.isEmpty else { return outcomes }
        let markers = Array(Set(fresh.map { objects[$0].0.key })).map { Self.key("keys", $0) }
        var versioned = Set(try call { try db.batchGet(name, keys: markers) }.compactMap { $0["sk"]?.string })
        let ids = try nextIDs("file", count: fresh.count)
        var writes: [(index: Int, items: [DynamoDBClient.Write], outcome: RecordOutcome)] = []
        for (n, index) in fresh.enumerated() {
            let (object, landing) = objects[index]
            let table = try tableName(for: landing)
            var partitions: [String: String] = [:]
            for p in landing.partitions { partitions[p.name] = p.value }
            let fileID = ids.lowerBound + Int64(n)
            let file = FileRecord(id: fileID, table: table, key: object.key, size: object.size, modifiedNanos: object.modifiedNanos,
                                  partitions: partitions, state: .pending, discoveredAt: WallClock.nowISO(), version: object.version)
            var item = Self.fileKey(table: table, id: fileID)
            item["id"] = Self.number(fileID)
            item["table"] = .s(table)
            item["key"] = .s(object.key)
            item["size"] = Self.number(object.size)
            item["mtime"] = Self.number(object.modifiedNanos)
            item["version"] = .s(object.version)
            item["partitions"] = .s(partitions.isEmpty ? "{}" : CatalogJSON.text(partitions))
            item["state"] = .s(FileState.pending.rawValue)
            item["discovered_at"] = .s(file.discoveredAt)
            item["pending_table"] = .s(table)
            item["pending_order"] = .s(Self.pendingOrder(file))
            let identity = Self.identityKey(object).merging(["table": .s(table), "id": Self.number(fileID)]) { $1 }
            // A key listed before (or earlier in this listing) makes this a new version of it.
            let outcome: RecordOutcome = versioned.insert(object.key).inserted ? .new(file) : .newVersion(file)
            writes.append((index, [.put(table: name, item: identity, condition: .init("attribute_not_exists(pk)")),
                                   .put(table: name, item: item, condition: nil),
                                   .put(table: name, item: Self.key("keys", object.key), condition: nil)], outcome))
        }
        for start in stride(from: 0, to: writes.count, by: 33) {
            let group = writes[start..<min(writes.count, start + 33)]
            if try applyAll(group.flatMap(\.items)) {
                for w in group { outcomes[w.index] = w.outcome }
                continue
            }
            for w in group where try applyAll(w.items) { outcomes[w.index] = w.outcome }
        }
        return outcomes
    }

    // MARK: reads

    public func tables() throws -> [TableRecord] { try query("tables").map(Self.tableRecord) }

    public func table(named table: String) throws -> TableRecord? { try get(Self.key("tables", table)).map(Self.tableRecord) }

    public func setStatus(table: String, _ status: TableStatus) throws {
        let write = Change(set: ["status": .s(status.rawValue), "updated_at": .s(WallClock.nowISO())], condition: "attribute_exists(pk)")
            .write(name, key: Self.key("tables", table))
        guard try apply(write) else { throw AutoloaderError.unknownTable(table) }
    }

    public func setOptions(table: String, _ options: TableOptions) throws {
        let now = WallClock.nowISO()
        // A table with no files yet is kept for the folder of the same name (as SQLCatalog does).
        var created = Self.key("tables", table)
        created["source_folder"] = .s(table)
        created["status"] = .s(TableStatus.active.rawValue)
        created["options"] = .s(options.jsonString())
        created["partition_columns"] = .s("[]")
        created["created_at"] = .s(now)
        created["updated_at"] = .s(now)
        if try apply(.put(table: name, item: created, condition: .init("attribute_not_exists(pk)"))) { return }
        try apply(Change(set: ["options": .s(options.jsonString()), "updated_at": .s(now)]).write(name, key: Self.key("tables", table)))
    }

    /// Files of one table with their items, in the SQL catalog's order (modification time, key, id).
    func fileItems(table: String) throws -> [(FileRecord, Item)] {
        try query("files#" + table).map { (Self.fileRecord($0), $0) }
            .sorted { ($0.0.modifiedNanos, $0.0.key, $0.0.id) < ($1.0.modifiedNanos, $1.0.key, $1.0.id) }
    }

    public func files(table: String?, state: FileState?) throws -> [FileRecord] {
        let names = try table.map { [$0] } ?? tables().map(\.name)
        return try names.flatMap { try fileItems(table: $0).map(\.0) }
            .filter { state == nil || $0.state == state }
            .sorted { ($0.modifiedNanos, $0.key, $0.id) < ($1.modifiedNanos, $1.key, $1.id) }
    }

    public func loads(table: String?, status: LoadStatus?) throws -> [LoadRecord] {
        try query("loads").map(Self.loadRecord).filter { (table == nil || $0.table == table) && (status == nil || $0.status == status) }
    }

    public func load(id: Int64) throws -> LoadRecord? { try get(Self.loadKey(id)).map(Self.loadRecord) }

    public func errors(loadID: Int64) throws -> [LoadErrorRecord] {
        try query("errors#" + Self.padded(loadID)).map { i in
            LoadErrorRecord(loadID: loadID, file: i["file"]?.string ?? "", line: i["line"]?.int.map { Int($0) }, column: i["column"]?.string,
                            rawText: i["raw_text"]?.string ?? "", reason: i["reason"]?.string ?? "")
        }
    }

    public func schemaChanges(loadID: Int64) throws -> [String] {
        guard let table = try load(id: loadID)?.table else { return [] }
        return try query("schema#" + table, skPrefix: Self.padded(loadID) + "#").compactMap { $0["change"]?.string }
    }

    public func schemaHistory(table: String) throws -> [SchemaChange] {
        try query("schema#" + table).map { i in
            SchemaChange(table: table, loadID: i["load_id"]?.int, change: i["change"]?.string ?? "", at: i["at"]?.string ?? "")
        }
    }

    public func backlog() throws -> [Backlog] {
        try tables().compactMap { table in
            let files = try pending(table.name)
            guard !files.isEmpty else { return nil }
            return Backlog(table: table.name, files: Int64(files.count), bytes: files.reduce(0) { $0 + $1.size },
                           oldestDiscoveredAt: files.map(\.discoveredAt).min() ?? "")
        }
    }

    public func tablesWithPendingFiles() throws -> [String] {
        // Tables whose loads died holding claims first: their files are pending once `nextBatch` recovers them.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for lock in try query("lock") where Self.hasDeadLoads(lock, nowMillis: now) {
            if let table = lock["sk"]?.string { try recover(table: table) }
        }
        // The pending index is read oldest first: one item per active table.
        return try tables().filter { $0.status == .active }
            .compactMap { table in try pending(table.name, limit: 1).first.map { (table.name, $0.modifiedNanos) } }
            .sorted { ($0.1, $0.0) < ($1.1, $1.0) }.map(\.0)
    }

    public func nextBatch(table: String, maxFiles: Int, maxBytes: Int64) throws -> [FileRecord] {
        // The index is eventually consistent: a file it lists may have just been claimed, which the claim's
        // condition finds (the load then retries as contention).
        try recover(table: table)
        return AutoloaderCore.nextBatch(of: try pending(table, limit: max(1, maxFiles)), maxFiles: maxFiles, maxBytes: maxBytes)
    }

    /// Every recorded version of `key`: (table, id).
    func versions(of key: String) throws -> [(table: String, id: Int64)] {
        try query("key#" + key).compactMap { i in
            guard let table = i["table"]?.string, let id = i["id"]?.int else { return nil }
            return (table, id)
        }
    }

    func versionItems(of key: String) throws -> [(FileRecord, Item)] {
        try versions(of: key).compactMap { v in try get(Self.fileKey(table: v.table, id: v.id)).map { (Self.fileRecord($0), $0) } }
            .sorted { ($0.0.modifiedNanos, $0.0.key, $0.0.id) < ($1.0.modifiedNanos, $1.0.key, $1.0.id) }
    }

    public func loadedVersion(key: String, excludingID: Int64) throws -> FileRecord? {
        try versionItems(of: key).map(\.0).filter { $0.id != excludingID && $0.state.keepsRows }.last
    }

    // MARK: operations (each file moves by its own conditional write: a file another process moved meanwhile is left)

    public func reload(table: String, sinceNanos: Int64) throws -> Int {
        guard try self.table(named: table) != nil else { throw AutoloaderError.unknownTable(table) }
        let (legal, _) = FileState.transition(.requeue)
        return try fileItems(table: table).filter { $0.0.modifiedNanos > sinceNanos && !Self.superseded($0.1) && legal.contains($0.0.state) }
            .reduce(0) { n, f in try apply(moveFile(f.0, .requeue, remove: ["error"])) ? n + 1 : n }
    }

    public func retry(loadID: Int64) throws -> Int {
        guard let load = try load(id: loadID) else { throw AutoloaderError.unknownLoad(loadID) }
        return try fileItems(table: load.table).map(\.0).filter { $0.loadID == loadID && $0.state == .failed }
            .reduce(0) { n, f in try apply(moveFile(f, .requeue, from: [.failed], remove: ["error"])) ? n + 1 : n }
    }

    public func approve(table: String) throws -> Int {
        guard try self.table(named: table) != nil else { throw AutoloaderError.unknownTable(table) }
        return try fileItems(table: table).map(\.0).filter { $0.state == .held }
            .reduce(0) { n, f in try apply(moveFile(f, .approve, set: ["approved": .bool(true)])) ? n + 1 : n }
    }

    public func reject(table: String, reason: String) throws -> Int {
        guard try self.table(named: table) != nil else { throw AutoloaderError.unknownTable(table) }
        return try fileItems(table: table).map(\.0).filter { $0.state == .held }
            .reduce(0) { n, f in try apply(moveFile(f, .reject, set: ["error": .s(reason + " — " + (f.error ?? ""))])) ? n + 1 : n }
    }

    // MARK: the load protocol

    public var capabilities: WarehouseCapabilities {
        WarehouseCapabilities(name: "DynamoDB catalog", transactionalCatalog: false, maxVarcharBytes: nil) { _ in "" }
    }

    /// Opens a load: logged `queued`, the table's lock taken, dead loads closed, the load started, its files claimed.
    /// A failure leaves nothing claimed and the log line closed.
    public func beginLoad(table: String, files: [FileRecord], statement: String) throws -> any LoadTransaction {
        let load = try DynamoDBLoad.open(catalog: self, table: table, files: files, statement: statement)
        return DynamoDBLoadTransaction(load: load)
    }

    /// Takes `table`'s lock for `owner` (a conditional write: free, expired, or already `owner`'s) and returns the
    /// table's open loads; nil when another owner holds it.
    func takeLock(table: String, owner: String, holder: Int64) throws -> [Int64]? {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let take = Change(set: ["owner": .s(owner), "expires": Self.number(now + Int64(leaseSeconds * 1000)), "holder": Self.number(holder)],
                          condition: "attribute_not_exists(#o) OR #e < :now OR #o = :me",
                          conditionValues: [":now": Self.number(now), ":me": .s(owner)], conditionNames: ["#o": "owner", "#e": "expires"])
        guard try apply(take.write(name, key: Self.lockKey(table))) else { return nil }
        return Self.openLoads(try get(Self.lockKey(table)))
    }

    /// Frees `table`'s lock if `owner` still holds it, and takes `leaving` out of its open loads.
    func freeLock(table: String, owner: String?, leaving: Int64?) throws {
        var change = Change(delete: leaving.map { ["open": .ns([String($0)])] } ?? [:])
        if let owner {
            change.remove = ["owner", "expires", "holder"]
            change.condition = "#o = :me"
            change.conditionNames = ["#o": "owner"]
            change.conditionValues = [":me": .s(owner)]
        }
        if try !apply(change.write(name, key: Self.lockKey(table))), let leaving {
            // The lease ran out and another load holds the lock: only leave the open loads.
            try apply(Change(delete: ["open": .ns([String(leaving)])]).write(name, key: Self.lockKey(table)))
        }
    }

    static func openLoads(_ lock: Item?) -> [Int64] {
        if case let .ns(ids)? = lock?["open"] { return ids.compactMap { Int64($0) } }
        return []
    }

    /// Whether a lock item shows a holder that died: an owner whose lease ran out (a live one renews it). Only a
    /// holder can have claimed files. A load still queued without the lock is not dead, only not yet started: taking
    /// it for dead made two busy loaders abort each other's loads between their queueing and their lock (the table's
    /// next load closes a queued load that really died, under the lock, as SQLCatalog does).
    static func hasDeadLoads(_ lock: Item, nowMillis: Int64) -> Bool {
        lock["owner"] != nil && (lock["expires"]?.int ?? 0) < nowMillis
    }

    /// Closes loads of `table` whose process died (they are still open and the lock was free): `aborted`, their
    /// claims given back.
    func closeDeadLoads(table: String, open: [Int64], except current: Int64?) throws {
        let dead = open.filter { $0 != current }
        guard !dead.isEmpty else { return }
        let files = try fileItems(table: table).map(\.0)
        for id in dead {
            try apply(moveLoad(id, .interrupted, set: ["finished_at": .s(WallClock.nowISO()),
                                                       "error": .s("interrupted before commit (crash, kill or lost connection); its files are pending again")]))
            for file in files where file.state == .loading && file.loadID == id {
                try apply(moveFile(file, .release, claimedBy: id))
            }
            try apply(Change(delete: ["open": .ns([String(id)])]).write(name, key: Self.lockKey(table)))
        }
    }

    /// A table whose loads died holding claims has files no load would list (they are `loading`): closed here,
    /// under the lock, before its pending files are read. Nothing to do (one read) otherwise.
    func recover(table: String) throws {
        guard let lock = try get(Self.lockKey(table)), Self.hasDeadLoads(lock, nowMillis: Int64(Date().timeIntervalSince1970 * 1000)) else { return }
        let owner = "recovery " + UUID().uuidString
        guard let open = try takeLock(table: table, owner: owner, holder: 0) else { return }
        defer {
            // Not freed (catalog unreachable): it expires with its lease.
            do { try freeLock(table: table, owner: owner, leaving: nil) } catch {}
        }
        try closeDeadLoads(table: table, open: open, except: nil)
    }
}

/// One load's conversation with the DynamoDB catalog: its claim and lock, and the writes that end it, held until
/// commit (they are the load's outcome, written only when the warehouse committed).
final class DynamoDBLoad: LoadLog {
    let catalog: DynamoDBCatalog
    let table: String
    let files: [FileRecord]
    let id: Int64
    /// This load's name on the table's lock.
    let owner = UUID().uuidString
    private var pendingErrors: [LoadErrorRecord] = []
    private var errorCount: Int64 = 0
    private var ends: [DynamoDBClient.Write] = []
    private var afterEnds: [DynamoDBClient.Write] = []
    private var schemaChanges = 0
    private var finish: DynamoDBClient.Write?
    private var tableChanges: [DynamoDBClient.Write] = []
    private var holdsLock = false
    private var heartbeat: LeaseHeartbeat?

    private init(catalog: DynamoDBCatalog, table: String, files: [FileRecord], id: Int64) {
        self.catalog = catalog
        self.table = table
        self.files = files
        self.id = id
    }

    typealias Value = DynamoDBClient.Value
    var name: String { catalog.name }
    var lockKey: DynamoDBCatalog.Item { DynamoDBCatalog.lockKey(table) }

    static func open(catalog: DynamoDBCatalog, table: String, files: [FileRecord], statement: String) throws -> DynamoDBLoad {
        // Another process loading this table is the common contention: asked first, so waiting is not logged as a load.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        if let lock = try catalog.get(DynamoDBCatalog.lockKey(table)), lock["owner"] != nil, (lock["expires"]?.int ?? 0) >= now {
            throw AutoloaderError.contention("table \(table) is being loaded by another process")
        }
        let id = try catalog.nextIDs("load", count: 1).lowerBound
        let load = DynamoDBLoad(catalog: catalog, table: table, files: files, id: id)
        var item = DynamoDBCatalog.loadKey(id)
        item["id"] = DynamoDBCatalog.number(id)
        item["table"] = .s(table)
        item["files"] = .s(CatalogJSON.text(files.map(\.key)))
        item["statement"] = .s(statement)
        item["status"] = .s(LoadStatus.queued.rawValue)
        item["rows_loaded"] = .n("0")
        item["rows_rejected"] = .n("0")
        item["bytes"] = DynamoDBCatalog.number(files.reduce(0) { $0 + $1.size })
        item["started_at"] = .s(WallClock.nowISO())
        // The log line and its place among the table's open loads, together: a load never outlives its process unseen.
        guard try catalog.applyAll([
            .put(table: catalog.name, item: item, condition: .init("attribute_not_exists(pk)")),
            DynamoDBCatalog.Change(add: ["open": .ns([String(id)])]).write(catalog.name, key: load.lockKey),
        ]) else {
            throw AutoloaderError.warehouse(reason: "the DynamoDB catalog \(catalog.name) already has a load \(id): its load counter was reset", transient: false)
        }
        do {
            try load.start()
        } catch {
            load.rollback()
            load.abandonLoad(id, files: files, reason: "\(error)", transient: AutoloaderError.isTransient(error))
            throw error
        }
        return load
    }

    /// The lock (a conditional write: free, expired, or already ours), dead loads closed, started, files claimed.
    private func start() throws {
        guard let open = try catalog.takeLock(table: table, owner: owner, holder: id) else {
            throw AutoloaderError.contention("table \(table) is being loaded by another process")
        }
        holdsLock = true
        heartbeat = LeaseHeartbeat(db: catalog.db, table: name, lock: lockKey, owner: owner, leaseSeconds: catalog.leaseSeconds)
        try catalog.closeDeadLoads(table: table, open: open, except: id)
        guard try catalog.apply(catalog.moveLoad(id, .start)) else {
            throw AutoloaderError.contention("load \(id) was closed by another process before it started")
        }
        guard try catalog.applyAll(files.map { catalog.moveFile($0, .claim, set: ["load_id": DynamoDBCatalog.number(id)]) }) else {
            throw AutoloaderError.contention("file(s) of the batch are no longer pending (loaded by another process)")
        }
    }

    func bufferError(_ error: LoadErrorRecord) { pendingErrors.append(error) }

    func endFile(loadID: Int64, file: FileRecord, state: FileState, sha256: String?, rows: Int64, duplicateOf: Int64?, error: String?) throws {
        var set: [String: Value] = ["load_id": DynamoDBCatalog.number(loadID)]
        var remove: [String] = []
        func put(_ attribute: String, _ value: Value?) { if let value { set[attribute] = value } else { remove.append(attribute) } }
        put("sha256", DynamoDBCatalog.optional(sha256))
        // rows only for a loaded file: a requeued file with rows is a reload of loaded rows.
        put("rows", state.keepsRows ? DynamoDBCatalog.number(rows) : nil)
        put("duplicate_of", DynamoDBCatalog.optional(duplicateOf))
        put("error", DynamoDBCatalog.optional(error))
        ends.append(catalog.moveFile(file, FileState.endEvent(for: state), set: set, remove: remove, claimedBy: id))
        if state.keepsRows { afterEnds += try supersede(key: file.key, by: file) }
        for e in pendingErrors {
            errorCount += 1
            var item = DynamoDBCatalog.key("errors#" + DynamoDBCatalog.padded(id), DynamoDBCatalog.padded(errorCount))
            item["file"] = .s(e.file)
            item["raw_text"] = .s(String(e.rawText.prefix(16_384)))
            item["reason"] = .s(String(e.reason.prefix(16_384)))
            if let line = e.line { item["line"] = DynamoDBCatalog.number(Int64(line)) }
            if let column = e.column { item["column"] = .s(column) }
            afterEnds.append(.put(table: name, item: item, condition: nil))
        }
        pendingErrors.removeAll()
    }

    /// Earlier versions of `key` are superseded (a reload never brings them back).
    private func supersede(key: String, by file: FileRecord) throws -> [DynamoDBClient.Write] {
        try catalog.versions(of: key).filter { $0.id != file.id }.map { v in
            DynamoDBCatalog.Change(set: ["superseded": .bool(true)]).write(name, key: DynamoDBCatalog.fileKey(table: v.table, id: v.id))
        }
    }

    func replaced(key: String, by file: FileRecord) throws {
        let earlier = Set(try catalog.versions(of: key).filter { $0.id != file.id }.map(\.id))
        for twin in try catalog.fileItems(table: file.table).map(\.0) where twin.state == .duplicate && twin.duplicateOf.map(earlier.contains) == true {
            afterEnds.append(catalog.moveFile(twin, .requeue, from: [.duplicate], remove: ["duplicate_of", "error"]))
        }
        afterEnds += try supersede(key: key, by: file)
    }

    func recordSchemaChange(table: String, loadID: Int64, change: String) throws {
        schemaChanges += 1
        var item = DynamoDBCatalog.key("schema#" + table, DynamoDBCatalog.padded(loadID) + "#" + DynamoDBCatalog.padded(Int64(schemaChanges)))
        item["load_id"] = DynamoDBCatalog.number(loadID)
        item["change"] = .s(change)
        item["at"] = .s(WallClock.nowISO())
        tableChanges.append(.put(table: name, item: item, condition: nil))
    }

    /// Written at once: the statement is what the load is doing (`autoloader loads` shows it while it runs).
    func recordStatement(loadID: Int64, statement: String) throws {
        // An item holds 400 KB; a COPY batch of thousands of files is cut (the manifests in S3 list them all).
        try catalog.apply(DynamoDBCatalog.Change(set: ["statement": .s(String(statement.prefix(200_000)))]).write(name, key: DynamoDBCatalog.loadKey(loadID)))
    }

    func loadedTwin(table: String, sha256: String, size: Int64, excludingID: Int64) throws -> FileRecord? {
        try catalog.fileItems(table: table).first { f, item in
            f.sha256 == sha256 && f.size == size && f.id != excludingID && f.state.keepsRows && !DynamoDBCatalog.superseded(item)
        }?.0
    }

    func finishLoad(_ id: Int64, table: String, status: LoadStatus, rowsLoaded: Int64, rowsRejected: Int64, error: String?,
                    schema: TableSchema?, dialect: Dialect?, partitionColumns: [String], checkpointNanos: Int64?) throws {
        var set: [String: Value] = ["rows_loaded": DynamoDBCatalog.number(rowsLoaded), "rows_rejected": DynamoDBCatalog.number(rowsRejected),
                                    "finished_at": .s(WallClock.nowISO())]
        if let error { set["error"] = .s(error) }
        finish = catalog.moveLoad(id, status == .finished ? .succeeded : .someFilesFailed, set: set)
        let tableKey = DynamoDBCatalog.key("tables", table)
        if let schema {
            var change: [String: Value] = ["schema": .s(CatalogJSON.text(schema)), "partition_columns": .s(CatalogJSON.text(partitionColumns)),
                                           "updated_at": .s(WallClock.nowISO())]
            if let dialect { change["dialect"] = .s(CatalogJSON.text(dialect)) }
            tableChanges.append(DynamoDBCatalog.Change(set: change).write(name, key: tableKey))
        }
        if let checkpointNanos {
            // Only forward: a later checkpoint written by another load stays.
            tableChanges.append(DynamoDBCatalog.Change(set: ["checkpoint_ns": DynamoDBCatalog.number(checkpointNanos)],
                                                       condition: "attribute_not_exists(#c) OR #c < :c",
                                                       conditionValues: [":c": DynamoDBCatalog.number(checkpointNanos)],
                                                       conditionNames: ["#c": "checkpoint_ns"]).write(name, key: tableKey))
        }
    }

    /// The load's outcome, after the warehouse committed: each file's end (conditional on this load's claim), what
    /// follows from it, the table's changes, the load's status; then the lock is freed. Should this die half way,
    /// the table's next load gives the rest of the claims back and those files load again — the warehouse's ledger
    /// has them, so they are marked loaded without being copied twice.
    func commit() throws {
        guard try catalog.applyAll(ends) else {
            throw AutoloaderError.warehouse(reason: "files of load \(id) are no longer claimed by it (its lease of \(Int(catalog.leaseSeconds)) s could not "
                + "be renewed, and another loader took the table over); they are loaded by that load, from the ledger", transient: true)
        }
        for write in afterEnds { try catalog.apply(write) }
        for write in tableChanges { try catalog.apply(write) }
        if let finish, try !catalog.apply(finish) {
            throw AutoloaderError.warehouse(reason: "load \(id) is no longer running (closed by another process)", transient: true)
        }
        release()
        ends = []; afterEnds = []; tableChanges = []; finish = nil
    }

    /// Gives the load's claims back (each conditional on still being this load's).
    func rollback() {
        pendingErrors.removeAll()
        ends = []; afterEnds = []; tableChanges = []; finish = nil
        for file in files {
            do { try catalog.apply(catalog.moveFile(file, .release, claimedBy: id)) } catch {
                // Unreachable catalog: the claim stays until the table's next load closes this one and gives it back.
                return
            }
        }
    }

    func abandonLoad(_ id: Int64, files: [FileRecord], reason: String, transient: Bool) {
        // Best effort, as SQLCatalog's: what is not written here (catalog unreachable) the table's next load closes.
        do {
            try catalog.apply(catalog.moveLoad(id, transient ? .interrupted : .refused, set: ["finished_at": .s(WallClock.nowISO()), "error": .s(reason)]))
            if !transient {
                for file in files {
                    try catalog.apply(catalog.moveFile(file, .abandon, set: ["error": .s(reason), "load_id": DynamoDBCatalog.number(id)]))
                }
            }
        } catch {}
        release()
    }

    /// Frees the table's lock (if still ours) and leaves its open loads.
    private func release() {
        heartbeat?.stop()
        heartbeat = nil
        // Unreachable catalog: the lease frees the lock, and the table's next load closes this one.
        do { try catalog.freeLock(table: table, owner: holdsLock ? owner : nil, leaving: id) } catch {}
        holdsLock = false
    }
}

/// Keeps a load's lock while the load lives, however long its COPY runs: the lease is renewed every third of it
/// (conditional on the lock still being the load's). Only a process that stopped renewing — killed, or cut off from
/// DynamoDB for a whole lease — loses the lock to the table's next load.
final class LeaseHeartbeat: @unchecked Sendable {
    private let stopping = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var running = true

    init(db: DynamoDBClient, table: String, lock key: DynamoDBClient.Item, owner: String, leaseSeconds: Double) {
        let stopping = stopping
        let thread = Thread {
            while stopping.wait(timeout: .now() + leaseSeconds / 3) == .timedOut {
                let expires = Int64(Date().timeIntervalSince1970 * 1000) + Int64(leaseSeconds * 1000)
                do {
                    try db.update(table, key: key, .init("SET #e = :e", names: ["#e": "expires"], values: [":e": .n(String(expires))]),
                                  condition: .init("#o = :me", names: ["#o": "owner"], values: [":me": .s(owner)]))
                } catch is DynamoDBClient.ConditionFailed {
                    break  // no longer ours: the load's end finds out by its own conditions
                } catch {
                    continue  // unreachable for now: the next beat tries again, within the lease
                }
            }
        }
        thread.name = "lease \(owner)"
        thread.start()
    }

    /// Stops renewing, without waiting for a renewal in flight (against an unreachable DynamoDB that can take the
    /// client's whole retry budget): one that lands after the lock is freed finds no owner and changes nothing.
    /// Once; later calls do nothing.
    func stop() {
        let first = lock.withLock { () -> Bool in
            defer { running = false }
            return running
        }
        if first { stopping.signal() }
    }

    deinit { stop() }
}

/// A load whose rows the warehouse writes itself (Redshift's COPY): the transaction is the catalog's bookkeeping.
final class DynamoDBLoadTransaction: LoadTransaction {
    let load: DynamoDBLoad
    init(load: DynamoDBLoad) { self.load = load }
    var loadID: Int64 { load.id }
    var table: String { load.table }
    var files: [FileRecord] { load.files }
    var log: any LoadLog { load }

    private func noRows() -> AutoloaderError {
        .warehouse(reason: "the DynamoDB catalog keeps no rows: it serves a warehouse that copies files itself (Redshift)", transient: false)
    }
    func existingTable(_ table: String) throws -> TableSchema? { throw noRows() }
    func prepareTable(_ table: String, schema: TableSchema, partitionColumns: [String]) throws -> PreparedTable { throw noRows() }
    func beginFile(_ file: FileRecord) throws {}
    func endSavepoint(keep: Bool) throws {}
    func deleteRows(table: String, key: String) throws -> Int64 { throw noRows() }
    func beginInsert(table: String, columns: [String]) throws { throw noRows() }
    func insertStatement(table: String, columns: [String]) -> String { "" }
    func insert(_ batch: RowBatch) throws { throw noRows() }
}
