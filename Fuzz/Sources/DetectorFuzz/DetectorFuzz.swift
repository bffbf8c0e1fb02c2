import AutoloaderDetection
import AutoloaderFormats

/// One input → one detection verdict. Any crash, hang or sanitizer report is a bug: bad input must get
/// a verdict. The sample limit is small so that libFuzzer explores dialect and type paths quickly.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    var options = DetectionOptions()
    options.sampleBytes = 1 << 16
    options.sampleRows = 2000
    for complete in [true, false] {
        _ = Detector.detect(sample: bytes, complete: complete, compression: .none, name: "fuzz", options: options)
    }
    // The same bytes through the decompressors (gzip/bzip2/zstd headers are easy for libFuzzer to find).
    _ = try? Detector.detect(reader: BytesReader(bytes), name: "fuzz", options: options)
    return 0
}
