import Foundation
import Testing
@testable import AutoloaderCore

@Suite struct SHA256Tests {
    @Test func publishedVectors() {
        #expect(SHA256.hex(Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func streamingInOddPiecesEqualsOneShot() {
        let data = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var hasher = SHA256()
        var i = 0
        var step = 1
        while i < data.count {
            let end = min(data.count, i + step)
            data[i..<end].withUnsafeBytes { hasher.update($0) }
            i = end
            step = step * 3 % 97 + 1
        }
        #expect(hasher.finalizeHex() == SHA256.hex(data))
    }
}

@Suite struct WallClockTests {
    /// The hand-written ISO-8601 stamp says what Foundation's formatter says, around the epoch and leap days.
    @Test func isoMatchesFoundation() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        // Whole milliseconds where negative: the stamp floors, and Foundation's rounding of sub-millisecond
        // negatives is its own affair.
        for nanos: Int64 in [0, 1, 999_999_999, -1_000_000, -1_500_000_000, 951_782_400_123_456_789, 1_709_164_800_999_000_000, 4_102_444_799_000_000_000] {
            let millis = nanos / 1_000_000
            #expect(WallClock.iso(nanos: nanos) == formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1e3)), "\(nanos)")
            #expect(WallClock.parseNanos(WallClock.iso(nanos: nanos)) == millis * 1_000_000, "\(nanos)")
        }
        #expect(WallClock.parseNanos("2024-01-31") == 1_706_659_200_000_000_000)
        #expect(WallClock.parseNanos("2024-01-31 10:00:00+02:00") == 1_706_688_000_000_000_000)
        #expect(WallClock.parseNanos("2024-01-31T08:00:00.000000001Z") == 1_706_688_000_000_000_001)
        #expect(WallClock.parseNanos("2024-01-31T08:00") == 1_706_688_000_000_000_000)
        // Nanoseconds since 1970 fit from 1677 to 2262: a time outside (schemathesis sent year 3393 to `reload?since=`,
        // which trapped) is the nearest end.
        #expect(WallClock.parseNanos("3393-07-04T14:08:41.0677+06:56") == Int64.max)
        #expect(WallClock.parseNanos("2262-04-11T23:47:16.854775807Z") == Int64.max)
        #expect(WallClock.parseNanos("2262-04-11T23:47:16.854775808Z") == Int64.max)
        #expect(WallClock.parseNanos("2262-04-11T23:47:16.854775806Z") == Int64.max - 1)
        #expect(WallClock.parseNanos("1171-07-14T15:41:05.15+23:35") == Int64.min)
        #expect(WallClock.parseNanos("yesterday") == nil && WallClock.parseNanos("2024-13-01") == nil && WallClock.parseNanos("2024-01-31T08:00:00Zx") == nil)
    }
}

@Suite struct IdentifierTests {
    @Test func tableNamesAreSafe() {
        #expect(SQLIdentifier.tableName(fromFolder: "Orders") == "orders")
        #expect(SQLIdentifier.tableName(fromFolder: "Sales Data-2024") == "sales_data_2024")
        #expect(SQLIdentifier.tableName(fromFolder: "2024_orders") == "t_2024_orders")
        #expect(SQLIdentifier.tableName(fromFolder: "Café") == "caf")
        #expect(SQLIdentifier.tableName(fromFolder: "!!!") == "table")
        #expect(SQLIdentifier.tableName(fromFolder: "_autoloader_files") == "t_autoloader_files")
    }

    @Test func quotingDoublesQuotes() {
        #expect(SQLIdentifier.quoted("select") == "\"select\"")
        #expect(SQLIdentifier.quoted("a\"b") == "\"a\"\"b\"")
    }

    @Test func columnNamesAreSnakeCased() {
        #expect(SQLIdentifier.columnName("Order Date") == "order_date")
        #expect(SQLIdentifier.columnName("e-mail") == "e_mail")
        #expect(SQLIdentifier.columnName("  Amount ($) ") == "amount")
        #expect(SQLIdentifier.columnName("_id") == "_id")
        #expect(SQLIdentifier.columnName("2019") == "_2019")
        #expect(SQLIdentifier.columnName("Prénom") == "prénom")
        #expect(SQLIdentifier.columnName("売上 金額") == "売上_金額")
        #expect(SQLIdentifier.columnName("$") == "")
        // Table names keep what they always were.
        #expect(SQLIdentifier.tableName(fromFolder: "_staging") == "_staging")
        #expect(SQLIdentifier.tableName(fromFolder: "a--b__") == "a_b")
    }

    @Test func fittedNamesKeepTheOriginalAndRecordCollisions() {
        var columns = ["id", "", "Order Date", "Order", "order", "name", "name", "$"].map { Column(name: $0, type: .integer) }
        var partitions = ["Order-Date": "20100101"]
        let renames = ColumnNames.fit(columns: &columns, partitions: &partitions, maxBytes: 63)
        #expect(columns.map(\.name) == ["id", "column2", "order_date", "order", "order_2", "name", "name_2", "column8"])
        #expect(columns.map(\.original) == [nil, "", "Order Date", "Order", "order", nil, "name", "$"])
        // Spelling alone is kept in `original`; what changes more than spelling is recorded with the load.
        #expect(renames.map(\.from) == ["order", "name", "$", "Order-Date"])
        #expect(renames[0].reason.contains("another column of the file is also named order"))
        #expect(partitions == ["order_date_2": "20100101"])

        // A table that already holds a name as written keeps taking it.
        var again = ["Order Date", "e-mail"].map { Column(name: $0, type: .integer) }
        var none: [String: String] = [:]
        #expect(ColumnNames.fit(columns: &again, partitions: &none, maxBytes: 63, existing: ["order date"]).isEmpty)
        #expect(again.map(\.name) == ["order date", "e_mail"])
    }

    @Test func hintsMatchEitherSpelling() throws {
        let options = try TableOptions().merging(json: #"{"types": {"Order Date": "varchar", "zip": "varchar(5)"}}"#)
        #expect(options.hints("order_date"))
        #expect(options.hints("zip"))
        #expect(!options.hints("amount"))
    }
}

@Suite struct LandingKeyTests {
    func classify(_ key: String, size: Int64 = 10) -> LandingKey? {
        LandingKey.classify(ObjectInfo(key: key, size: size, modifiedNanos: 0))
    }

    @Test func firstFolderIsTheTable() {
        #expect(classify("Orders/a.csv")?.table == "orders")
        #expect(classify("Orders/a.csv")?.sourceFolder == "Orders")
        #expect(classify("orders/2024/01/a.csv")?.table == "orders")
        #expect(classify("a.csv") == nil)
    }

    /// The seed's `schema.table` folders: that table in that schema where the warehouse has schemas.
    @Test func schemaDotTableFolders() {
        func table(_ key: String, schemas: Bool) -> String? { LandingKey.classify(ObjectInfo(key: key, size: 1, modifiedNanos: 0), schemas: schemas)?.table }
        #expect(table("Sales.Orders/a.csv", schemas: true) == "sales.orders")
        #expect(table("Sales.Orders/a.csv", schemas: false) == "sales_orders")
        #expect(table("a.b.c/x.csv", schemas: true) == "a.b_c")
        #expect(table(".hidden/x.csv", schemas: true) == nil)
        #expect(table("trailing./x.csv", schemas: true) == "trailing")
        #expect(table("2024.x/x.csv", schemas: true) == "t_2024.x")
        #expect(SQLIdentifier.split("sales.orders") == ("sales", "orders"))
        #expect(SQLIdentifier.split("orders") == (nil, "orders"))
        #expect(SQLIdentifier.qualified("sales.orders", defaultSchema: "public") == "\"sales\".\"orders\"")
        #expect(SQLIdentifier.qualified("orders", defaultSchema: "public") == "\"public\".\"orders\"")
    }

    @Test func partitionFolders() {
        let key = classify("orders/order_date=20240101/region=eu%2Fwest/a.csv")
        #expect(key?.partitions.map(\.name) == ["order_date", "region"])
        #expect(key?.partitions.map(\.value) == ["20240101", "eu/west"])
    }

    @Test func ignoredNames() {
        for key in ["orders/.hidden.csv", "orders/a.csv.tmp", "orders/a.csv.part", "orders/a.csv~", "orders/.staging/a.csv",
                    "orders/_SUCCESS"] {
            #expect(classify(key) == nil, "\(key) must be ignored")
        }
        #expect(classify("orders/sub_$folder$", size: 0) == nil)
        #expect(classify("orders/empty.csv", size: 0) != nil)  // an empty data file is data (it fails with a clear verdict)
    }
}

@Suite struct LifecycleTests {
    @Test func fileTransitions() {
        #expect(FileState.pending.apply(.claim) == .loading)
        #expect(FileState.loading.apply(.committed) == .loaded)
        #expect(FileState.loading.apply(.duplicate) == .duplicate)
        #expect(FileState.loading.apply(.unchanged) == .skipped)
        #expect(FileState.loading.apply(.failed) == .failed)
        #expect(FileState.failed.apply(.requeue) == .pending)
        #expect(FileState.loaded.apply(.requeue) == .pending)
        // A loaded file can never be claimed or committed again without going back to pending first.
        #expect(FileState.loaded.apply(.claim) == nil)
        #expect(FileState.loaded.apply(.committed) == nil)
        #expect(FileState.pending.apply(.committed) == nil)
    }

    @Test func loadTransitions() {
        #expect(LoadStatus.queued.apply(.start) == .running)
        #expect(LoadStatus.running.apply(.succeeded) == .finished)
        #expect(LoadStatus.running.apply(.someFilesFailed) == .failed)
        #expect(LoadStatus.running.apply(.interrupted) == .aborted)
        #expect(LoadStatus.finished.apply(.interrupted) == nil)
        #expect(LoadStatus.queued.apply(.refused) == .failed)
        #expect(LoadStatus.queued.apply(.interrupted) == .aborted)
        // A load ends once: a finished or failed load is never restarted or closed again.
        #expect(LoadStatus.finished.apply(.start) == nil)
        #expect(LoadStatus.failed.apply(.succeeded) == nil)
        #expect(LoadStatus.aborted.apply(.start) == nil)
        #expect(LoadStatus.queued.apply(.succeeded) == nil)
    }

    /// What the catalog's UPDATEs are built from: the legal sources and the target of each event.
    @Test func transitionsAreWhatTheCatalogWrites() {
        #expect(FileState.transition(.claim).from == [.pending])
        #expect(FileState.transition(.committed) .from == [.loading])
        #expect(FileState.transition(.abandon) == (from: [.pending], to: .failed))
        #expect(Set(FileState.transition(.requeue).from) == [.loaded, .loadedWithErrors, .failed, .skipped, .duplicate])
        #expect(FileState.transition(.committedWithErrors) == (from: [.loading], to: .loadedWithErrors))
        #expect(FileState.rowsKept.allSatisfy(\.keepsRows) && !FileState.failed.keepsRows)
        #expect(FileState.transition(.requeue).to == .pending)
        // A file being loaded can only be ended by its load, never requeued from outside.
        #expect(!FileState.transition(.requeue).from.contains(.loading))
        #expect(LoadStatus.transition(.interrupted).from == [.queued, .running])
        #expect(LoadStatus.transition(.start) == (from: [.queued], to: .running))
        for state in [FileState.loaded, .duplicate, .skipped, .failed] {
            #expect(FileState.loading.apply(FileState.endEvent(for: state)) == state)
        }
        // Every event leads somewhere from some state, and every state is reachable.
        for event in FileState.Event.allCases { #expect(!FileState.transition(event).from.isEmpty) }
        let reachable = Set(FileState.Event.allCases.map { FileState.transition($0).to })
        #expect(reachable.union([.pending]) == Set(FileState.allCases))
    }
}

@Suite struct OptionsTests {
    @Test func mergeKnownKeys() throws {
        let o = try TableOptions().merging(json: #"{"on_error": "skip_rows", "max_errors": 3}"#)
        #expect(o.onError == .skipRows)
        #expect(o.maxErrors == 3)
        #expect(o.overwrite == .replace)
    }

    @Test func unknownKeysAndBadValuesAreRejected() {
        #expect(throws: AutoloaderError.self) { try TableOptions().merging(json: #"{"on_eror": "skip_rows"}"#) }
        #expect(throws: AutoloaderError.self) { try TableOptions().merging(json: #"{"on_error": "explode"}"#) }
        #expect(throws: AutoloaderError.self) { try TableOptions().merging(json: "not json") }
    }

    @Test func typeJoinWidens() {
        #expect(ColumnType.smallint.joined(with: .bigint) == .bigint)
        #expect(ColumnType.integer.joined(with: .decimal(6, 2)).kind == .decimal)
        #expect(ColumnType.integer.joined(with: .varchar(3)).kind == .varchar)
        #expect(ColumnType(kind: .date, format: "%Y-%m-%d").joined(with: .integer).kind == .varchar)
    }
}

@Suite struct BatchingTests {
    func file(_ id: Int64, _ key: String, _ size: Int64) -> FileRecord {
        FileRecord(id: id, table: "t", key: key, size: size, modifiedNanos: id)
    }

    @Test func cutByCountBytesAndVersions() {
        let pending = [file(1, "a", 10), file(2, "b", 10), file(3, "c", 10), file(4, "a", 10)]
        #expect(nextBatch(of: pending, maxFiles: 2, maxBytes: 1000).map(\.id) == [1, 2])
        #expect(nextBatch(of: pending, maxFiles: 10, maxBytes: 25).map(\.id) == [1, 2])
        #expect(nextBatch(of: pending, maxFiles: 10, maxBytes: 1000).map(\.id) == [1, 2, 3])  // "a" again waits
        #expect(nextBatch(of: [file(9, "big", 5000)], maxFiles: 10, maxBytes: 100).map(\.id) == [9])  // never empty
        #expect(nextBatch(of: [], maxFiles: 10, maxBytes: 100).isEmpty)
    }
}

@Suite struct OnErrorPolicyTests {
    @Test func oneDecisionForEveryPolicy() throws {
        // The default keeps the good rows: a few bad rows never fail a file; mostly bad rows (a wrong dialect) do.
        let standard = TableOptions()
        #expect(standard.onError == .skipRows && standard.maxErrors == nil)
        #expect(!standard.failsFile(afterRejected: 1, rowsRead: 80))
        #expect(!standard.failsFile(afterRejected: 10, rowsRead: 10), "ten bad rows at the top are not 'mostly bad' yet")
        #expect(!standard.failsFile(afterRejected: 400, rowsRead: 1_000))
        #expect(standard.failsFile(afterRejected: 11, rowsRead: 12))
        #expect(standard.failsFile(afterRejected: 501, rowsRead: 1_000))
        let abort = try TableOptions().merging(json: #"{"on_error": "abort_file"}"#)
        #expect(abort.failsFile(afterRejected: 1, rowsRead: 1_000))
        let skip = try TableOptions().merging(json: #"{"on_error": "skip_rows", "max_errors": 2}"#)
        #expect(!skip.failsFile(afterRejected: 2, rowsRead: 2))
        #expect(skip.failsFile(afterRejected: 3, rowsRead: 1_000))
        let keepGoing = try TableOptions().merging(json: #"{"on_error": "continue", "max_errors": 0}"#)
        #expect(!keepGoing.failsFile(afterRejected: 1_000_000, rowsRead: 1_000_000))
        // max_errors: null goes back to the ratio rule.
        #expect(try skip.merging(json: #"{"max_errors": null}"#).maxErrors == nil)
    }
}

/// When a table on a schedule may load: rate ticks, gather windows, cron times (UTC).
struct LoadScheduleTests {
    let second: Int64 = 1_000_000_000
    func at(_ text: String) -> Int64 { WallClock.parseNanos(text)! }

    @Test func parsesWhatUsersWrite() throws {
        #expect(try LoadSchedule("continuous") == .continuous)
        #expect(try LoadSchedule("rate(5 minutes)") == .rate(seconds: 300))
        #expect(try LoadSchedule("rate(1 hour)") == .rate(seconds: 3600))
        #expect(try LoadSchedule("gather(30 seconds)") == .gather(seconds: 30))
        #expect(throws: AutoloaderError.self) { try LoadSchedule("rate(5)") }
        #expect(throws: AutoloaderError.self) { try LoadSchedule("rate(0 minutes)") }
        #expect(throws: AutoloaderError.self) { try LoadSchedule("every 5 minutes") }
        #expect(throws: AutoloaderError.self) { try LoadSchedule("cron(0 12 L * ? *)") }
        #expect(throws: AutoloaderError.self) { try LoadSchedule("cron(0 12 * *)") }
        #expect(throws: AutoloaderError.self) { try LoadSchedule("cron(30-10 * * * ? *)") }
        #expect(throws: AutoloaderError.self) { try LoadSchedule("cron(61 * * * ? *)") }
        #expect(throws: AutoloaderError.self) { try TableOptions().merging(json: #"{"schedule": "rate(five minutes)"}"#) }
        #expect(try TableOptions().merging(json: #"{"schedule": "cron(0/5 * ? * * *)"}"#).schedule == "cron(0/5 * ? * * *)")
    }

    @Test func rateLoadsWhatWasRecordedBeforeEachTick() throws {
        let rate = try LoadSchedule("rate(5 minutes)")
        let backlog = LoadSchedule.Backlog(oldestDiscoveredNanos: at("2026-01-01T10:02:30Z"), files: 1, bytes: 10)
        #expect(rate.waitsUntil(now: at("2026-01-01T10:04:59Z"), backlog: backlog, maxFiles: 100, maxBytes: 1 << 30) == at("2026-01-01T10:05:00Z"))
        #expect(rate.waitsUntil(now: at("2026-01-01T10:05:00Z"), backlog: backlog, maxFiles: 100, maxBytes: 1 << 30) == nil)
        // Still due later on (a backlog larger than one batch drains in successive loads).
        #expect(rate.waitsUntil(now: at("2026-01-01T10:07:00Z"), backlog: backlog, maxFiles: 100, maxBytes: 1 << 30) == nil)
    }

    @Test func gatherWaitsForTheWindowOrAFullBatch() throws {
        let gather = try LoadSchedule("gather(60 seconds)")
        let oldest = at("2026-01-01T10:00:00Z")
        let few = LoadSchedule.Backlog(oldestDiscoveredNanos: oldest, files: 3, bytes: 100)
        #expect(gather.waitsUntil(now: oldest + 10 * second, backlog: few, maxFiles: 100, maxBytes: 1 << 30) == oldest + 60 * second)
        #expect(gather.waitsUntil(now: oldest + 60 * second, backlog: few, maxFiles: 100, maxBytes: 1 << 30) == nil)
        #expect(gather.waitsUntil(now: oldest + 10 * second, backlog: few, maxFiles: 3, maxBytes: 1 << 30) == nil)
        #expect(gather.waitsUntil(now: oldest + 10 * second, backlog: few, maxFiles: 100, maxBytes: 100) == nil)
    }

    @Test func cronNamesTimesInUTC() throws {
        let every5 = try Cron("0/5 * ? * * *")
        #expect(every5.next(after: at("2026-01-01T10:02:30Z")) == at("2026-01-01T10:05:00Z"))
        #expect(every5.next(after: at("2026-01-01T10:05:00Z")) == at("2026-01-01T10:10:00Z"))
        // Weekdays at noon: 2026-01-02 is a Friday, so after Friday noon comes Monday 2026-01-05.
        let weekdays = try Cron("0 12 ? * MON-FRI *")
        #expect(weekdays.next(after: at("2026-01-02T12:00:00Z")) == at("2026-01-05T12:00:00Z"))
        // EventBridge numbers days from Sunday = 1: 2-6 is Monday to Friday.
        #expect(try Cron("0 12 ? * 2-6 *").next(after: at("2026-01-02T12:00:00Z")) == at("2026-01-05T12:00:00Z"))
        // Classic five fields: 02:30 on the first of each month.
        #expect(try Cron("30 2 1 * *").next(after: at("2026-01-15T00:00:00Z")) == at("2026-02-01T02:30:00Z"))
        // A year field that is over: nothing.
        #expect(try Cron("0 0 1 1 ? 2020").next(after: at("2026-01-01T00:00:00Z")) == nil)
        #expect(try Cron("0 0 1 JAN ? 2027-2030").next(after: at("2026-03-01T00:00:00Z")) == at("2027-01-01T00:00:00Z"))
        let cron = try LoadSchedule("cron(0 * ? * * *)")
        let backlog = LoadSchedule.Backlog(oldestDiscoveredNanos: at("2026-01-01T10:20:00Z"), files: 1, bytes: 1)
        #expect(cron.waitsUntil(now: at("2026-01-01T10:30:00Z"), backlog: backlog, maxFiles: 100, maxBytes: 1 << 30) == at("2026-01-01T11:00:00Z"))
        #expect(cron.waitsUntil(now: at("2026-01-01T11:00:00Z"), backlog: backlog, maxFiles: 100, maxBytes: 1 << 30) == nil)
    }
}
