import AutoloaderCore
import AutoloaderPipeline
import Dispatch
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus

/// The HTTP API, dashboard and `/metrics` of a running service (Hummingbird 2). The catalog is the source of
/// truth for everything shown: handlers read it (and change it, for the POSTs) through `CatalogAccess`, one
/// connection used from one thread, off the event loop.
public final class OpsServer: @unchecked Sendable {
    public struct Options: Sendable {
        public var address: HTTPAddress
        /// Bearer token the POSTs need; without one they are refused.
        public var token: String?
        public init(address: HTTPAddress, token: String?) {
            self.address = address
            self.token = token
        }
    }

    public enum StartError: Error, CustomStringConvertible {
        case tokenRequired(String)
        case cannotListen(String, reason: String)
        public var description: String {
            switch self {
            case let .tokenRequired(address):
                return "refusing to serve the HTTP API on \(address) without a token: anyone who can reach it could pause tables; "
                    + "set AUTOLOADER_API_TOKEN (16+ characters), or use a loopback address such as 127.0.0.1:8080"
            case let .cannotListen(address, reason): return "cannot serve the HTTP API on \(address): \(reason)"
            }
        }
    }

    let options: Options
    let api: API
    private var task: Task<Void, any Error>?
    /// The port bound (useful with port 0).
    public private(set) var boundPort: Int?

    public init(options: Options, catalog: @escaping @Sendable () throws -> any Catalog, service: LoaderService?,
                registry: PrometheusCollectorRegistry, logger: Logger) throws {
        if !options.address.isLoopback && options.token == nil { throw StartError.tokenRequired("\(options.address)") }
        self.options = options
        api = API(access: CatalogAccess(open: catalog, logger: logger), service: service, token: options.token, registry: registry)
    }

    /// Binds and starts serving; returns once the socket listens (or throws why it cannot).
    public func start(logger: Logger) throws {
        let router = api.router()
        let ready = DispatchSemaphore(value: 0)
        final class Outcome: @unchecked Sendable {
            var port: Int?
            var error: (any Error)?
        }
        let outcome = Outcome()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(options.address.host, port: options.address.port), serverName: "autoloader"),
            onServerRunning: { channel in
                outcome.port = channel.localAddress?.port
                ready.signal()
            },
            logger: logger
        )
        task = Task.detached {
            do {
                try await app.runService(gracefulShutdownSignals: [])
            } catch {
                outcome.error = error
                ready.signal()
                throw error
            }
        }
        guard ready.wait(timeout: .now() + 30) == .success else {
            throw StartError.cannotListen("\(options.address)", reason: "the server did not start within 30 s")
        }
        if let error = outcome.error { throw StartError.cannotListen("\(options.address)", reason: "\(error)") }
        boundPort = outcome.port
    }

    /// Stops serving (requests in flight finish).
    public func stop() {
        task?.cancel()
        task = nil
    }
}

/// One catalog connection for the API, used from one serial queue (SQLCatalog is not thread-safe), opened on
/// first use and again after a connection was lost.
final class CatalogAccess: @unchecked Sendable {
    private let open: @Sendable () throws -> any Catalog
    private var catalog: (any Catalog)?
    private let queue = DispatchQueue(label: "autoloader.api.catalog")
    let logger: Logger

    init(open: @escaping @Sendable () throws -> any Catalog, logger: Logger) {
        self.open = open
        self.logger = logger
    }

    func run<T: Sendable>(_ work: @escaping @Sendable (any Catalog) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { [self] in
                do {
                    let catalog = try self.catalog ?? open()
                    self.catalog = catalog
                    continuation.resume(returning: try work(catalog))
                } catch {
                    if AutoloaderError.isTransient(error) && !AutoloaderError.isContention(error) { self.catalog = nil }
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
