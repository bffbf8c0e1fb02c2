// swift-tools-version:6.1
import PackageDescription

// Targets mirror the flow in DESIGN.md: stores → formats/detection → pipeline → warehouses.
// Only the `autoloader` executable (and tests) wires concrete backends together.
// The byte-level hot paths (tokenizing, converting, encoding, hashing) run with dynamic exclusivity checks
// off in release builds: profiling showed them at ~8% of a PostgreSQL load. Debug builds and tests keep them.
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "autoloader",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "autoloader", targets: ["autoloader"]),
        // For Fuzz/ (a separate package, so the libFuzzer build never touches the main build).
        .library(name: "AutoloaderDetection", targets: ["AutoloaderDetection", "AutoloaderFormats"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // S3, SQS and the Redshift Data API over HTTP: FoundationNetworking's URLSession kept a core busy while a
        // request waited (an SQS long poll: 75-90 % of a core idle).
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // The configuration file: Yams's node tree keeps each key's line, for located errors (see ConfigFile.swift).
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // The HTTP API, dashboard and /metrics while `run` runs. Without its default traits: they add
        // swift-configuration, which we do not use, to every build.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        // zlib, libbz2 and libzstd from the system (Debian: zlib1g-dev, libbz2-dev, libzstd-dev).
        .systemLibrary(name: "CCompression", path: "Sources/CCompression"),
        // SHA-256 from OpenSSL's libcrypto (Debian: libssl-dev).
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto"),
        .target(name: "AutoloaderCore", dependencies: ["CCrypto"], swiftSettings: hotPath),
        .target(name: "AutoloaderFormats", dependencies: ["AutoloaderCore", "CCompression"], swiftSettings: hotPath),
        .target(name: "AutoloaderDetection", dependencies: ["AutoloaderCore", "AutoloaderFormats"]),
        .target(name: "AutoloaderStores", dependencies: [
            "AutoloaderCore", "AutoloaderFormats", .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .target(name: "AutoloaderSQLite", dependencies: ["AutoloaderCore", "CSQLite"]),
        .target(
            name: "AutoloaderPostgres",
            dependencies: [
                "AutoloaderCore",
                "AutoloaderFormats",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: hotPath
        ),
        // Redshift reads the files itself (COPY from S3 manifests); it shares the S3 client's credentials and signing.
        .target(name: "AutoloaderRedshift", dependencies: ["AutoloaderCore", "AutoloaderStores", "AutoloaderPostgres"]),
        .target(name: "AutoloaderPipeline", dependencies: [
            "AutoloaderCore", "AutoloaderFormats", "AutoloaderDetection",
            .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics"),
        ], swiftSettings: hotPath),
        // The program built from a plain Configuration: the CLI and the tests both use it.
        .target(name: "AutoloaderApp", dependencies: [
            "AutoloaderCore", "AutoloaderStores", "AutoloaderSQLite", "AutoloaderPostgres", "AutoloaderRedshift", "AutoloaderPipeline",
            .product(name: "Yams", package: "Yams"), .product(name: "Logging", package: "swift-log"),
        ]),
        // Operating the service: the HTTP API and dashboard, Prometheus metrics, notifications.
        .target(name: "AutoloaderOps", dependencies: [
            "AutoloaderCore", "AutoloaderPipeline", "AutoloaderStores",
            .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .executableTarget(
            name: "autoloader",
            dependencies: [
                "AutoloaderCore", "AutoloaderDetection", "AutoloaderStores", "AutoloaderSQLite", "AutoloaderPostgres", "AutoloaderRedshift",
                "AutoloaderPipeline", "AutoloaderApp", "AutoloaderOps",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The one gate for tests that need a service (skipped without it, failed under CI=true).
        .target(name: "AutoloaderTestSupport", path: "Sources/AutoloaderTestSupport"),
        .testTarget(name: "AutoloaderCoreTests", dependencies: ["AutoloaderCore"]),
        .testTarget(name: "AutoloaderFormatsTests", dependencies: ["AutoloaderFormats", "CCompression"]),
        .testTarget(name: "AutoloaderStoresTests", dependencies: ["AutoloaderStores", "AutoloaderCore", "AutoloaderTestSupport"]),
        .testTarget(name: "AutoloaderRedshiftTests", dependencies: ["AutoloaderRedshift", "AutoloaderStores", "AutoloaderPostgres", "AutoloaderCore", "AutoloaderTestSupport"]),
        .testTarget(name: "AutoloaderDetectionTests", dependencies: ["AutoloaderDetection"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "AutoloaderPipelineTests",
            dependencies: ["AutoloaderCore", "AutoloaderStores", "AutoloaderSQLite", "AutoloaderPostgres", "AutoloaderPipeline", "CSQLite", "AutoloaderTestSupport", "AutoloaderApp", "AutoloaderOps"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "autoloaderTests", dependencies: ["autoloader", "CSQLite", "AutoloaderTestSupport"]),
    ]
)
