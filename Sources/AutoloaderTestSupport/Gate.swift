import Foundation
import Testing

/// The one environment gate for tests that need a service. `scripts/test` starts a throwaway PostgreSQL and
/// moto_server and exports where they are. Without a service, its tests are reported skipped (with the reason);
/// under `CI=true` they run and fail instead, because CI must start what the tests need.
public enum Gate {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }
    public static var isCI: Bool { environment["CI"] == "true" }
    public static var postgresURL: String? { environment["AUTOLOADER_TEST_POSTGRES"] }
    public static var s3Endpoint: String? { environment["AUTOLOADER_TEST_S3_ENDPOINT"] }

    /// Whether tests that need PostgreSQL run: it is here, or CI must have it.
    public static var postgres: Bool { postgresURL != nil || isCI }
    public static var s3: Bool { s3Endpoint != nil || isCI }

    public struct Missing: Error, CustomStringConvertible {
        public var description: String
    }

    /// The test server's URL; reached without one only under CI=true, where it is a failure.
    public static func requirePostgres() throws -> String {
        guard let url = postgresURL else { throw Missing(description: "CI=true but AUTOLOADER_TEST_POSTGRES is not set: scripts/test must start PostgreSQL") }
        return url
    }

    public static func requireS3() throws -> String {
        guard let endpoint = s3Endpoint else { throw Missing(description: "CI=true but AUTOLOADER_TEST_S3_ENDPOINT is not set: scripts/test must start moto_server") }
        return endpoint
    }

    /// A program on PATH (chromium, schemathesis): `scripts/test-tools` installs them.
    public static func tool(_ name: String) -> String? {
        for dir in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    public static func requireTool(_ name: String) throws -> String {
        guard let path = tool(name) else { throw Missing(description: "CI=true but \(name) is not on PATH: scripts/test-tools installs it") }
        return path
    }

    /// Whether this process may mount file systems (tests of a full disk mount a small tmpfs).
    public static var canMount: Bool { getuid() == 0 || isCI }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test when PostgreSQL is here (or under CI=true); otherwise reports it skipped.
    public static var needsPostgres: Self {
        .enabled(if: Gate.postgres, "needs PostgreSQL: AUTOLOADER_TEST_POSTGRES (scripts/test starts one)")
    }

    public static var needsS3: Self {
        .enabled(if: Gate.s3, "needs moto_server: AUTOLOADER_TEST_S3_ENDPOINT (scripts/test starts one)")
    }

    /// Runs the test when the program is on PATH (or under CI=true); otherwise reports it skipped.
    public static func needsTool(_ name: String) -> Self {
        .enabled(if: Gate.tool(name) != nil || Gate.isCI, "needs \(name) on PATH (scripts/test-tools installs it)")
    }

    /// Mounting a tmpfs needs root (CI runs as root).
    public static var needsRoot: Self {
        .enabled(if: Gate.canMount, "needs root, to mount a small tmpfs")
    }
}
