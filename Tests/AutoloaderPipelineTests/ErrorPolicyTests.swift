import AutoloaderStores
import AutoloaderCore
import Foundation
import Testing

let ragged = "id,name,score\n1,a,10\n2,b,20\n3,c\n4,d,40\n5,e,50,extra\n6,f,60\n"

@Suite struct ErrorPolicyTests {
    /// Issue 12: by default a file with a few ragged rows loads its good rows, records each bad one, and is
    /// `loaded_with_errors` (a ragged row among 80 no longer costs the other 79).
    @Test func byDefaultTheGoodRowsLoadAndEachBadRowIsRecorded() throws {
        let box = try Sandbox()
        var eighty = "id,name,score\n"
        for i in 1...80 { eighty += i == 40 ? "40,ragged\n" : "\(i),n\(i),\(i)\n" }
        try box.write("scores/eighty.csv", eighty)
        try box.write("scores/ragged.csv", ragged, mtimeOffset: -4)
        try box.loadOnce()
        #expect(try box.count("scores") == 79 + 4)
        let files = try box.catalog().files(table: "scores", state: .loadedWithErrors)
        #expect(Set(files.map(\.key)) == ["scores/eighty.csv", "scores/ragged.csv"])
        #expect(files.first { $0.key == "scores/eighty.csv" }?.rows == 79)
        let load = try #require(try box.catalog().loads(table: "scores", status: nil).last)
        #expect(load.rowsRejected == 3)
        #expect(try box.catalog().errors(loadID: load.id).map { "\($0.file):\($0.line ?? 0)" }.sorted()
            == ["scores/eighty.csv:41", "scores/ragged.csv:4", "scores/ragged.csv:6"])
    }

    /// ... while a file whose rows are mostly bad (here: values its typed column cannot take) loads nothing.
    @Test(.needsPostgres) func aFileOfMostlyBadRowsLoadsNothing() throws {
        let box = try Sandbox(.postgres)
        try box.catalog().setOptions(table: "scores", try TableOptions().merging(json: #"{"types": {"score": "integer"}}"#))
        var mostlyBad = "id,name,score\n1,a,10\n2,b,20\n"
        for i in 3...30 { mostlyBad += "\(i),n,x\(i)\n" }
        try box.write("scores/mostly-bad.csv", mostlyBad)
        try box.loadOnce()
        let refused = try #require(try box.catalog().files(table: "scores", state: .failed).first)
        #expect(refused.error?.contains("more than half of its rows are bad") == true, "\(refused.error ?? "")")
        #expect(try box.catalog().loads(table: "scores", status: .failed).count == 1)
    }

    @Test func abortFileLoadsNothingOfItAndSaysWhere() throws {
        let box = try Sandbox()
        try box.catalog().setOptions(table: "scores", try TableOptions().merging(json: #"{"on_error": "abort_file"}"#))
        try box.write("scores/good.csv", "id,name,score\n7,g,70\n")
        try box.write("scores/ragged.csv", ragged, mtimeOffset: -4)
        try box.loadOnce()
        #expect(try box.count("scores") == 1)  // the good file loaded; the ragged one not at all
        let file = try #require(try box.catalog().files(table: "scores", state: .failed).first)
        #expect(file.key == "scores/ragged.csv")
        #expect(file.error?.contains("scores/ragged.csv:4") == true)
        #expect(file.error?.contains("expected 3 fields, found 2") == true)
        let load = try #require(try box.catalog().loads(table: "scores", status: .failed).first)
        let errors = try box.catalog().errors(loadID: load.id)
        #expect(errors.map(\.line) == [4])
        #expect(errors.first?.rawText == "3,c")
    }

    @Test func skipRowsLoadsTheRestAndRecordsEachRejectedRow() throws {
        let box = try Sandbox()
        try box.write("scores/seed.csv", "id,name,score\n0,z,0\n")
        try box.loadOnce()
        try box.catalog().setOptions(table: "scores", try TableOptions().merging(json: #"{"on_error": "skip_rows", "max_errors": 5}"#))
        try box.write("scores/ragged.csv", ragged)
        try box.loadOnce()
        #expect(try box.count("scores") == 5)
        let load = try #require(try box.catalog().loads(table: "scores", status: nil).last)
        #expect(load.status == .finished)
        #expect(load.rowsRejected == 2)
        let errors = try box.catalog().errors(loadID: load.id)
        #expect(errors.map(\.line) == [4, 6])
        #expect(errors.map(\.reason) == ["expected 3 fields, found 2", "expected 3 fields, found 4"])
    }

    @Test func skipRowsStillFailsPastMaxErrors() throws {
        let box = try Sandbox()
        try box.write("scores/seed.csv", "id,name,score\n0,z,0\n")
        try box.loadOnce()
        try box.catalog().setOptions(table: "scores", try TableOptions().merging(json: #"{"on_error": "skip_rows", "max_errors": 1}"#))
        try box.write("scores/ragged.csv", ragged)
        try box.loadOnce()
        #expect(try box.count("scores") == 1)
        #expect(try box.catalog().files(table: "scores", state: .failed).first?.error?.contains("max_errors=1") == true)
    }

    /// Issue 12: UTF-8 with Windows-1252 bytes in it (a file two programs wrote) loads as a person reads it, and
    /// the catalog records the encoding; it used to be refused as "invalid UTF-8".
    @Test func utf8MixedWithWindows1252Loads() throws {
        let box = try Sandbox()
        let bytes = Array("id,name\n1,caf\u{e9}\n2,ok\n".utf8) + Array("3,".utf8) + [0x93, 0x71, 0x94] + Array("\n".utf8)
        try box.write("names/a.csv", bytes: bytes)
        try box.loadOnce()
        let file = try #require(try box.catalog().files(table: "names", state: nil).first)
        #expect(file.state == .loaded, "\(file.error ?? "")")
        #expect(try box.column("SELECT name FROM names ORDER BY id") == ["café", "ok", "\u{201C}q\u{201D}"])
        #expect(try box.catalog().table(named: "names")?.dialect?.encoding == .utf8Mixed)
    }

    @Test func emptyAndBinaryFilesGetAVerdictAndTheServiceGoesOn() throws {
        let box = try Sandbox()
        try box.write("mixed/empty.csv", "")
        try box.write("mixed/binary.csv", bytes: (0..<512).map { UInt8(truncatingIfNeeded: $0 &* 7919) })
        try box.write("mixed/good.csv", "a,b\n1,2\n", mtimeOffset: -1.5)
        try box.loadOnce()
        #expect(try box.count("mixed") == 1)
        let failed = try box.catalog().files(table: "mixed", state: .failed)
        #expect(failed.map(\.key) == ["mixed/binary.csv"])
        // Issue 12: a zero-byte file is loaded with no rows, not failed.
        let empty = try #require(try box.catalog().files(table: "mixed", state: .loaded).first { $0.key == "mixed/empty.csv" })
        #expect(empty.rows == 0 && empty.error?.contains("empty file") == true)
    }

    @Test func vanishedFileFailsWithAReasonAndOthersLoad() throws {
        let box = try Sandbox()
        let url = try box.write("orders/gone.csv", orders)
        try box.write("orders/here.csv", moreOrders)
        let catalog = try box.catalog()
        // Record both, then delete one before the load runs.
        let service = try box.service()
        _ = service
        let store = AutoloaderStores.LocalFolderStore(root: box.landing.path)
        for object in try store.list() { _ = try catalog.record(object: object, as: LandingKey.classify(object)!) }
        try FileManager.default.removeItem(at: url)
        try box.loadOnce()
        #expect(try box.count("orders") == 2)
        let gone = try #require(try catalog.files(table: "orders", state: .failed).first)
        #expect(gone.key == "orders/gone.csv")
        #expect(gone.error?.contains("cannot read") == true)
    }
}

@Suite struct ContinuePolicyTests {
    @Test func continueLoadsEveryGoodRowWhateverTheCount() throws {
        let box = try Sandbox()
        try box.write("scores/seed.csv", "id,name,score\n0,z,0\n")
        try box.loadOnce()
        try box.catalog().setOptions(table: "scores", try TableOptions().merging(json: #"{"on_error": "continue", "max_errors": 0}"#))
        try box.write("scores/ragged.csv", ragged)
        try box.loadOnce()
        #expect(try box.count("scores") == 5)
        let load = try #require(try box.catalog().loads(table: "scores", status: nil).last)
        #expect(load.status == .finished)
        #expect(load.rowsRejected == 2)
    }
}
