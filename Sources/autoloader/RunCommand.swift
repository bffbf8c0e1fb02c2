import ArgumentParser
import AutoloaderPipeline
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Watch the landing folder and load new files continuously.",
        discussion: """
        Files are noticed within a second (inotify on Linux, plus a full listing every few seconds so a lost \
        event never loses a file). SIGINT/SIGTERM: loads in progress finish or roll back, then it exits; \
        a second signal exits at once (an uncommitted load rolls back by itself).
        """
    )

    @Option(help: ArgumentHelp("The landing folder, or s3://bucket/prefix/ (default prefix: s3-to-redshift-loader-utility/); each first-level folder is a table.", valueName: "path|url"))
    var source = "./landing"
    @OptionGroup var sourceOptions: SourceOptions
    @OptionGroup var warehouse: WarehouseOptions
    @Option(help: "Seconds between full reconciliation listings.")
    var reconcile: Double = 5
    @Option(help: "Tables loaded at the same time.")
    var workers = 2
    @Option(help: ArgumentHelp("Seconds a file must look unchanged before it is loaded (a writer that pauses longer exposes a partial file; a table's settle_seconds or marker option overrides it).", valueName: "seconds"))
    var settle: Double = 1

    func run() throws {
        // A fresh checkout has no landing folder yet: make it, so `autoloader run` works as the first command.
        if !source.contains("://") { try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true) }
        var configuration = LoaderService.Configuration()
        configuration.reconcileSeconds = reconcile
        configuration.workers = max(1, workers)
        configuration.settleSeconds = max(0, settle)
        let service = try Wiring.service(source: source, options: warehouse, configuration: configuration, sourceOptions: sourceOptions)
        let signals = SignalHandling.install { service.stop() }
        defer { _ = signals }
        try service.run()
    }
}

enum SignalHandling {
    /// First SIGINT/SIGTERM calls `onStop`; a second one exits immediately.
    static func install(onStop: @escaping @Sendable () -> Void) -> [any DispatchSourceSignal] {
        let queue = DispatchQueue(label: "autoloader.signals")
        let count = ManagedCounter()
        return [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                if count.increment() > 1 { exit(130) }
                Log.line("signal \(sig): finishing loads in progress, then stopping (again to exit now)")
                onStop()
            }
            source.resume()
            return source
        }
    }
}

final class ManagedCounter: @unchecked Sendable {
    private var value = 0
    private let queue = DispatchQueue(label: "autoloader.counter")
    func increment() -> Int { queue.sync { value += 1; return value } }
}
