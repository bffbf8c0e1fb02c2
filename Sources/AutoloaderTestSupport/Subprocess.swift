import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one way tests run other programs: the real `autoloader` binary, sqlite3, psql, the AWS CLI, servers.
/// Output goes through files, never pipes: a server that a script starts keeps a pipe open forever.
public enum Subprocess {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `executable` (a path, or a name looked up on PATH) and waits for it.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], in directory: URL? = nil,
                           environment: [String: String] = [:]) throws -> Result {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("subprocess-\(UUID().uuidString)")
        let out = scratch.appendingPathExtension("out"), err = scratch.appendingPathExtension("err")
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        let process = try start(executable, arguments, in: directory, environment: environment, stdout: out, stderr: err)
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    /// Starts `executable` in the background; its output is appended to `stdout` (and `stderr`, by default the same file).
    public static func start(_ executable: String, _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:],
                             stdout: URL, stderr: URL? = nil) throws -> Process {
        let process = Process()
        if executable.hasPrefix("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        if let directory { process.currentDirectoryURL = directory }
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try appending(stdout)
        process.standardError = try stderr.map(appending) ?? process.standardOutput
        try process.run()
        return process
    }

    /// A Python HTTP server on loopback that misbehaves on purpose (`script` prints its port, then serves): the
    /// server and its port; `stop` ends it.
    public static func loopbackServer(_ script: String) throws -> (port: Int, stop: () -> Void) {
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("server-\(UUID().uuidString).port")
        let process = try start("python3", ["-c", script], stdout: portFile, stderr: URL(fileURLWithPath: "/dev/null"))
        let stop = {
            process.terminate()
            try? FileManager.default.removeItem(at: portFile)
        }
        var portText = ""
        for _ in 0..<500 where !portText.hasSuffix("\n") {
            portText = (try? String(contentsOf: portFile, encoding: .utf8)) ?? ""
            usleep(10_000)
        }
        guard let port = Int(portText.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            stop()
            throw Gate.Missing(description: "the loopback server did not say its port: '\(portText)'")
        }
        return (port, stop)
    }

    private static func appending(_ url: URL) throws -> FileHandle {
        if !FileManager.default.fileExists(atPath: url.path) { FileManager.default.createFile(atPath: url.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: url)
        handle.seekToEndOfFile()
        return handle
    }

    /// `sh -c command`, waited for with waitpid: Foundation's Process can miss the exit of a shell whose
    /// grandchild (a PostgreSQL server) lives on. Returns the exit status.
    @discardableResult
    public static func shell(_ command: String) -> Int32 {
        var pid: pid_t = 0
        let args = ["/bin/sh", "-c", command]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status >> 8) & 0xFF
    }

    /// Every thread's stack of a running process (gdb, where installed): what a test that found the service
    /// stuck reports, so a hang seen once in CI can be read rather than guessed.
    public static func stacks(of pid: Int32) -> String {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gdb") else { return "(no gdb here to show the stacks of \(pid))" }
        let r: Result
        do { r = try run("/usr/bin/gdb", ["-p", "\(pid)", "-batch", "-ex", "thread apply all bt 30"]) } catch { return "(gdb did not run: \(error))" }
        return r.stdout.split(separator: "\n").filter { $0.hasPrefix("#") || $0.hasPrefix("Thread") }.joined(separator: "\n")
    }
}
