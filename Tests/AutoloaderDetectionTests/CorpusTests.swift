import AutoloaderCore
import Foundation
import Testing
@testable import AutoloaderDetection

/// The detection corpus (`Fixtures/corpus`, copied byte for byte from shared/corpus with its README):
/// every file's expected.jsonl entry is compared as the corpus README's "A detector passes a file when…".
enum Corpus {
    static let folder = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/corpus")

    static func entries() throws -> [[String: Any]] {
        let text = try String(contentsOf: folder.appendingPathComponent("expected.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
        }
    }

    /// Differences between detection and the truth, in words; empty when the file passes.
    static func differences(_ entry: [String: Any]) throws -> [String] {
        let name = entry["file"] as? String ?? ""
        let path = folder.appendingPathComponent(name).path
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        guard SHA256.hex(bytes) == entry["sha256"] as? String else { return ["fixture bytes differ from expected.jsonl's sha256"] }
        let d = Detector.detect(path: path)
        var diffs: [String] = []
        func check(_ key: String, _ got: Any?, _ want: Any?) {
            if let g = got as? Bool {  // JSON booleans arrive as NSNumber
                if g != (want as? NSNumber)?.boolValue { diffs.append("\(key): got \(g), want \(want ?? "nil")") }
                return
            }
            let g = got.map { "\($0)" } ?? "nil"
            let w = (want is NSNull ? nil : want).map { "\($0)" } ?? "nil"
            if g != w { diffs.append("\(key): got \(g), want \(w)") }
        }
        let format = entry["format"] as? String
        check("format", d.format.rawValue, format)
        check("compression", d.compression.rawValue, entry["compression"])
        if format == "invalid" {
            if d.error == nil { diffs.append("no rejection verdict") }
            return diffs
        }
        check("encoding", d.encoding, entry["encoding"])
        if format == "csv" {
            check("delimiter", d.delimiter, entry["delimiter"])
            if entry["quote_observed"] as? Bool == true { check("quote", d.quote, entry["quote"]) }
            check("escape", d.escape, entry["escape"])
            check("header", d.header, entry["header"])
            check("skip_lines", d.skipLines, entry["skip_lines"])
            check("line_ending", d.lineEnding, entry["line_ending"])
            check("trailing_delimiter", d.trailingDelimiter, entry["trailing_delimiter"])
            check("bad_rows", (d.badRows ?? []).map(String.init).joined(separator: ","), (entry["bad_rows"] as? [Int] ?? []).map(String.init).joined(separator: ","))
        }
        if format == "json" { check("json_layout", d.jsonLayout, entry["json_layout"]) }
        if format == "parquet" { check("parquet_codec", d.parquetCodec, entry["parquet_codec"]) }
        check("rows", d.rows, entry["rows"])
        let want = entry["columns"] as? [[String: Any]] ?? []
        let got = d.columns ?? []
        check("column count", got.count, want.count)
        for (g, w) in zip(got, want) {
            let column = w["name"] as? String ?? "?"
            check("\(column).name", g.name, w["name"])
            check("\(column).type", g.type, w["type"])
            check("\(column).nullable", g.nullable, w["nullable"])
            if w["type"] as? String == "decimal" {
                check("\(column).precision", g.precision, w["precision"])
                check("\(column).scale", g.scale, w["scale"])
            }
            if w["type"] as? String == "varchar" { check("\(column).max_length", g.maxLength, w["max_length"]) }
            if let f = w["format"] as? String { check("\(column).format", g.format, f) }
        }
        return diffs
    }
}

@Suite struct CorpusTests {
    /// Files whose truth detection does not meet yet, each with the reason. The test fails when one of
    /// these starts passing (shrink the list) or another file starts failing (a regression).
    static let knownGaps: [String: String] = [
        "bad_invalid_utf8.csv": "issue 12 decides that UTF-8 with a stray Windows-1252 byte is read as a person reads it "
            + "(M\u{FC}nchen, encoding utf-8+windows-1252), not refused; this entry, written before, asks for an error",
    ]

    @Test func everyCorpusFileMeetsItsTruthOrIsAKnownGap() throws {
        var failing: [String: [String]] = [:]
        for entry in try Corpus.entries() {
            let diffs = try Corpus.differences(entry)
            if !diffs.isEmpty { failing[entry["file"] as? String ?? "?"] = diffs }
        }
        let report = failing.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.joined(separator: "; "))" }.joined(separator: "\n")
        #expect(Set(failing.keys) == Set(Self.knownGaps.keys), "\n\(report)")
    }
}
