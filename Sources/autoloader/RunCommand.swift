import ArgumentParser
import AutoloaderApp
import AutoloaderOps
import AutoloaderPipeline
import AutoloaderStores
import Dispatch
import Foundation
import Logging
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

    @Option(help: ArgumentHelp("The landing folder, or s3://bucket/prefix/ (default prefix: s3-to-redshift-loader-utility/); each first-level folder is a table. Default: the configuration's `source`, else ./landing.", valueName: "path|url"))
    var source: String?
    @OptionGroup var sourceOptions: SourceOptions
    @OptionGroup var warehouse: WarehouseOptions
    @OptionGroup var logOptions: LogOptions
    @Option(help: "Seconds between full reconciliation listings. Default 5.")
    var reconcile: Double?
    @Option(help: "Tables loaded at the same time. Default 2.")
    var workers: Int?
    @Option(help: ArgumentHelp("Seconds a file must look unchanged before it is loaded (a writer that pauses longer exposes a partial file; a table's settle_seconds or marker option overrides it). Default 1.", valueName: "seconds"))
    var settle: Double?
    @Option(help: ArgumentHelp("Serve the HTTP API, dashboard and /metrics at HOST:PORT (loopback unless AUTOLOADER_API_TOKEN is set). Default: the configuration's `http`, else none.", valueName: "host:port"))
    var http: String?

    func run() throws {
        var flags = sourceOptions.flags.merging(logOptions.flags) { $1 }
        flags[Settings.source.name] = source
        flags[Settings.reconcile.name] = reconcile.map { "\($0)" }
        flags[Settings.workers.name] = workers.map { "\($0)" }
        flags[Settings.settle.name] = settle.map { "\($0)" }
        flags[Settings.http.name] = http
        var (settings, configuration) = try Wiring.settingsAndConfiguration(warehouse, flags: flags)
        for note in settings.notes { Log.logger.notice("\(note)") }
        // A fresh checkout has no landing folder yet: make it, so `autoloader run` works as the first command.
        if !configuration.source.contains("://") {
            try FileManager.default.createDirectory(atPath: configuration.source, withIntermediateDirectories: true)
        }
        let registry = Telemetry.bootstrap()
        if settings[Settings.webhookURL] != nil || settings[Settings.snsTopic] != nil {
            let notifier = Notifier(webhook: settings[Settings.webhookURL].map { .init(url: $0, secret: settings[Settings.webhookSecret]) },
                                    snsTopic: settings[Settings.snsTopic],
                                    aws: settings[Settings.snsTopic].map { _ in AWSClient(configuration: AWSConfiguration(endpoint: configuration.endpoint)) },
                                    logger: Log.logger)
            configuration.service.notify = { notifier.send($0) }
        }
        let service = try Build.service(configuration)
        var server: OpsServer?
        if let address = configuration.http {
            let ops = try OpsServer(options: .init(address: address, token: configuration.apiToken),
                                    catalog: { [configuration] in try Build.catalog(configuration, readOnly: false) }, service: service,
                                    registry: registry, logger: Log.logger)
            try ops.start(logger: Log.logger)
            Log.logger.notice("HTTP API and dashboard on http://\(address.host):\(ops.boundPort ?? address.port)/",
                              metadata: ["changes": "\(configuration.apiToken == nil ? "off (no AUTOLOADER_API_TOKEN)" : "need the bearer token")"])
            server = ops
        }
        let signals = SignalHandling.install { service.stop() }
        defer {
            _ = signals
            server?.stop()
        }
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
