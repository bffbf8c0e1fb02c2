// swift-tools-version:5.4
// (5.4: executables keep a plain `main`, which -parse-as-library leaves to libFuzzer.)
import PackageDescription

// libFuzzer targets over the detector (format, encoding, dialect and type sniffers, decompression).
// Build and run (see README, Development):
//   swift build -c debug --package-path Fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//   Fuzz/.build/debug/DetectorFuzz -max_total_time=600 -max_len=65536 Fuzz/corpus
let package = Package(
    name: "AutoloaderFuzz",
    dependencies: [.package(name: "autoloader", path: "..")],
    targets: [
        .executableTarget(name: "DetectorFuzz", dependencies: [.product(name: "AutoloaderDetection", package: "autoloader")]),
    ]
)
