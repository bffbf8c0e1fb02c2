import AutoloaderTestSupport
import Foundation
import Testing

/// Runs the real `autoloader` binary, the way users do.
enum CLI {
    static var binary: URL {
        // The test bundle sits next to the products of the same build.
        let products = Bundle.main.bundleURL.deletingLastPathComponent()
        for dir in [Bundle.main.bundleURL, products] {
            let candidate = dir.appendingPathComponent("autoloader")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/autoloader")
    }

    typealias Result = Subprocess.Result

    /// `asNobody`: when this test runs as root (CI), run the binary as `nobody` (setpriv), for what root never meets.
    /// `viaEnv`: the arguments are a whole command line (a wrapper such as /usr/bin/time first).
    @discardableResult
    static func run(_ arguments: [String], in directory: URL, environment: [String: String] = [:], asNobody: Bool = false,
                    viaEnv: Bool = false) throws -> Result {
        if viaEnv { return try Subprocess.run(arguments[0], Array(arguments.dropFirst()), in: directory, environment: environment) }
        if asNobody && getuid() == 0 {
            return try Subprocess.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", binary.path] + arguments,
                                      in: directory, environment: environment)
        }
        return try Subprocess.run(binary.path, arguments, in: directory, environment: environment)
    }

    /// Starts `autoloader run` in the background; its log goes to a file in the sandbox.
    static func start(_ arguments: [String], in directory: URL, log: URL) throws -> Process {
        try Subprocess.start(binary.path, arguments, in: directory, stdout: log)
    }

    static func sqlite(_ database: URL, _ sql: String) -> String {
        let result = try? Subprocess.run("sqlite3", ["-cmd", ".timeout 5000", database.path, sql])
        return (result?.stdout ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func cp(_ from: URL, _ to: URL) throws {
        try Subprocess.run("/bin/cp", [from.path, to.path])
    }

    /// Polls until `condition` holds or `seconds` pass; returns the seconds it took, or nil.
    static func waitFor(seconds: Double, _ condition: () -> Bool) -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            if condition() { return Date().timeIntervalSince(start) }
            usleep(20_000)
        }
        return condition() ? Date().timeIntervalSince(start) : nil
    }
}

final class Workdir: @unchecked Sendable {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("autoloader-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url.appendingPathComponent("landing"), withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    var landing: URL { url.appendingPathComponent("landing") }
    var database: URL { url.appendingPathComponent("autoloader.sqlite") }

    @discardableResult
    func file(_ name: String, _ text: String) throws -> URL {
        let u = url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: u)
        return u
    }
}
