import AutoloaderCore
import Foundation
import Testing
@testable import AutoloaderDetection

/// DuckDB's CSV test files (MIT, Fixtures/duckdb/LICENSE): real-world oddities with no written truth.
/// Every file must get a verdict — a schema or a clear error — never a crash or a hang.
@Suite struct RobustnessTests {
    static let folder = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/duckdb")

    @Test func everyDuckDBTestFileGetsAVerdict() throws {
        let files = FileManager.default.enumerator(atPath: Self.folder.path)?.compactMap { $0 as? String }
            .filter { !$0.hasSuffix("LICENSE") && !$0.hasPrefix(".") } ?? []
        var verdicts = 0
        for file in files {
            let url = Self.folder.appendingPathComponent(file)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue else { continue }
            let d = Detector.detect(path: url.path)
            #expect(d.schema != nil || d.error != nil, "\(file): neither a schema nor an error")
            if d.error == nil { #expect(d.columns?.isEmpty == false, "\(file): a schema without columns") }
            verdicts += 1
        }
        #expect(verdicts >= 60)
    }
}
