import AutoloaderCore
import AutoloaderFormats
import Foundation
import Testing
@testable import AutoloaderDetection

/// csv-spectrum (BSD-2-Clause, Fixtures/csv-spectrum/LICENSE): each csvs/NAME.csv must parse, with the
/// dialect detection picks, to the records in json/NAME.json (header row, every value a string).
@Suite struct SpectrumTests {
    static let folder = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/csv-spectrum")

    static var names: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("csvs").path)) ?? [])
            .filter { $0.hasSuffix(".csv") }.map { String($0.dropLast(4)) }.sorted()
    }

    @Test func theSuiteIsThere() {
        #expect(Self.names.count == 11)
    }

    @Test(arguments: names) func parsesToTheExpectedRecords(name: String) throws {
        let csv = Self.folder.appendingPathComponent("csvs/\(name).csv").path
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.folder.appendingPathComponent("json/\(name).json"))) as? [[String: String]] ?? []
        let detection = Detector.detect(path: csv, options: { var o = DetectionOptions(); o.forcedHeader = true; return o }())
        let dialect = try #require(detection.dialect)
        let reader = CSVRecordReader(source: try FileByteReader(path: csv), dialect: dialect)
        var header: [String] = []
        var records: [[String: String]] = []
        while try reader.next() {
            let fields = reader.fieldStrings()
            if header.isEmpty { header = fields; continue }
            records.append(Dictionary(zip(header, fields), uniquingKeysWith: { a, _ in a }))
        }
        #expect(records == expected)
    }
}
