import ArgumentParser
import AutoloaderCore
import AutoloaderPipeline
import AutoloaderStores
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load files or landing folders once, then exit.",
        discussion: """
        A folder is read like the landing folder (each first-level folder is a table). A file goes into \
        --table, or a table named after the file. Files already loaded are recognised and not loaded twice. \
        Exit status is 1 if any file failed, 2 if none failed but bad rows were skipped (files loaded_with_errors).
        """
    )

    @Argument(help: ArgumentHelp("Files, landing folders, or s3://bucket/prefix/ landing areas.", valueName: "path"))
    var paths: [String]
    @OptionGroup var sourceOptions: SourceOptions
    @Option(help: "Table for files given directly (default: from the file name).")
    var table: String?
    @OptionGroup var warehouse: WarehouseOptions
    @OptionGroup var output: OutputOptions
    @Flag(help: ArgumentHelp("Show the plan and change nothing: per table the files, the detected schema, the DDL and the statements (for Redshift the manifests and each whole batch); every row is parsed and checked."))
    var dryRun = false

    func run() throws {
        let started = Date()
        // Ctrl-C: the load in progress rolls back at its next batch (its files stay pending) and this exits 130.
        let stopper = Stopper()
        let signals = SignalHandling.install { stopper.stop() }
        defer { _ = signals }
        do {
            try load(started: started, stopper: stopper)
        } catch where stopper.isStopped {
            ProgressBar.clear()
            FileHandle.standardError.write(Data("stopped: the load in progress was rolled back; its files are pending\n".utf8))
            throw ExitCode(130)
        }
    }

    private func load(started: Date, stopper: Stopper) throws {
        var summaries: [LoadSummary] = []
        var files: [String: String] = [:]
        // One pass over a source: for real, or as a dry run whose changes are undone once its report is printed.
        func once(source: String, store: (any ObjectStore)? = nil) throws -> [LoadSummary] {
            guard dryRun else {
                return try stopper.attach(Wiring.service(source: source, options: warehouse, flags: sourceOptions.flags, store: store, staged: false))
                    .runOnce(progress: ProgressBar.callback())
            }
            let plan = try Wiring.dryRun(source: source, options: warehouse, flags: sourceOptions.flags, store: store)
            do {
                let summaries = try stopper.attach(plan.service).runOnce()
                print(try plan.report(summaries), terminator: "")
                try plan.finish()
                return summaries
            } catch {
                try plan.finish()
                throw error
            }
        }
        for path in paths {
            if path.hasPrefix("s3://") {
                summaries += try once(source: path)
                continue
            }
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                throw ValidationError("\(path): no such file or folder")
            }
            if isDir.boolValue {
                summaries += try once(source: path)
            } else {
                let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
                let name = table ?? SQLIdentifier.tableName(fromFolder: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent)
                files[name + absolute] = absolute  // absolute starts with '/': key is table/abs/path
            }
        }
        if !files.isEmpty {
            summaries += try once(source: "", store: FileListStore(files: files))
        }
        ProgressBar.clear()
        let all = summaries.flatMap(\.files)
        let failed = all.filter { $0.state == .failed }
        let rows = summaries.reduce(0) { $0 + $1.rowsLoaded }
        let seconds = Date().timeIntervalSince(started)
        let withErrors = all.filter { $0.state == .loadedWithErrors }.count
        if dryRun {
            FileHandle.standardError.write(Data(("dry run: nothing was changed; \(all.count) file(s) would be loaded into \(Set(summaries.map(\.table)).count) "
                + "table(s), \(failed.count) would fail, \(withErrors) would skip bad rows\n").utf8))
            if !failed.isEmpty { throw ExitCode(1) }
            if withErrors > 0 { throw ExitCode(2) }
            return
        }
        if output.json {
            try Output.json(all.map { ["file": $0.key, "state": $0.state.rawValue, "rows": String($0.rows), "error": $0.error ?? ""] })
        } else {
            for s in summaries where s.status != .finished || s.files.contains(where: { $0.state != .loaded }) {
                print(LoaderService.describe(s))
            }
        }
        let others = all.filter { $0.state == .duplicate || $0.state == .skipped }.count
        let rejected = summaries.reduce(0) { $0 + $1.rowsRejected }
        let tables = Set(summaries.map(\.table)).count
        FileHandle.standardError.write(Data(("loaded \(all.count - failed.count - others) file(s), \(rows) rows into \(tables) table(s) in "
            + String(format: "%.2f", seconds) + "s; \(failed.count) failed, \(others) duplicate/unchanged"
            + (withErrors > 0 ? "; \(withErrors) loaded with \(rejected) bad row(s) skipped (`autoloader errors LOAD_ID`)" : "") + "\n").utf8))
        if stopper.isStopped { throw ExitCode(130) }
        if !failed.isEmpty { throw ExitCode(1) }
        if withErrors > 0 { throw ExitCode(2) }
    }
}

/// Passes a stop request to whichever service is running now (and to any started later).
final class Stopper: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var service: LoaderService?

    var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    func attach(_ service: LoaderService) -> LoaderService {
        lock.lock()
        self.service = service
        let stop = stopped
        lock.unlock()
        if stop { service.stop() }
        return service
    }

    func stop() {
        lock.lock()
        stopped = true
        let service = service
        lock.unlock()
        service?.stop()
    }
}

/// A progress bar on stderr when it is a terminal; silent otherwise.
enum ProgressBar {
    static func callback() -> (@Sendable (String, Int64, Int64) -> Void)? {
        guard isatty(STDERR_FILENO) == 1 else { return nil }
        return { table, done, total in
            let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
            let filled = Int(fraction * 30)
            let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: 30 - filled)
            FileHandle.standardError.write(Data("\r\(table) [\(bar)] \(Int(fraction * 100))% \(done >> 20)/\(total >> 20) MB".utf8))
        }
    }

    static func clear() {
        if isatty(STDERR_FILENO) == 1 { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
