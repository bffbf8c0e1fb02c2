import AutoloaderCore
import AutoloaderPipeline
import Foundation
import Hummingbird
import Metrics
import NIOCore
import Prometheus

/// The routes: `/health`, `/ready`, `/metrics`, and JSON under `/api/v1/` (documented in `docs/openapi.yaml`).
struct API: Sendable {
    let access: CatalogAccess
    let service: LoaderService?
    let token: String?
    let registry: PrometheusCollectorRegistry

    /// What a handler answers with when it cannot do what was asked; the body is `{"error": reason}`.
    struct Failure: Error {
        var status: HTTPResponse.Status
        var reason: String
        var retryAfter: Int?
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/health") { _, _ in try json(["status": "alive"]) }
        router.get("/ready") { _, _ in await ready() }
        router.get("/metrics") { _, _ in try await metrics() }
        router.get("/") { _, _ in try await handle { try await Dashboard(access: access, changesEnabled: token != nil).page(tables: try await tables()) } }

        let v1 = router.group("/api/v1")
        v1.get("/tables") { _, _ in try await handle { try json(try await tables()) } }
        v1.get("/tables/{table}") { _, context in
            try await handle {
                let name = try context.parameters.require("table")
                guard let table = try await tables().first(where: { $0.name == name }) else { throw Failure(status: .notFound, reason: "\(AutoloaderError.unknownTable(name))") }
                return try json(table)
            }
        }
        v1.get("/tables/{table}/schema-history") { _, context in
            try await handle {
                let table = try context.parameters.require("table")
                return try json(try await access.run { catalog in
                    guard try catalog.table(named: table) != nil else { throw AutoloaderError.unknownTable(table) }
                    return try catalog.schemaHistory(table: table)
                })
            }
        }
        v1.get("/files") { request, _ in
            try await handle {
                let q = request.uri.queryParameters
                let table = q.get("table")
                let state = try q.get("state").map { try FileState.named($0, what: "state") }
                let limit = try Self.limit(q.get("limit"))
                return try json(try await access.run { Array(try $0.files(table: table, state: state).suffix(limit).reversed()) })
            }
        }
        v1.get("/loads") { request, _ in
            try await handle {
                let q = request.uri.queryParameters
                let table = q.get("table")
                let status = try q.get("status").map { try LoadStatus.named($0, what: "status") }
                let limit = try Self.limit(q.get("limit"))
                return try json(try await access.run { Array(try $0.loads(table: table, status: status).suffix(limit).reversed()) })
            }
        }
        v1.get("/changes") { request, _ in
            try await handle {
                let table = request.uri.queryParameters.get("table")
                return try json(try await access.run { try $0.files(table: table, state: .held) })
            }
        }
        v1.get("/loads/{id}") { _, context in
            try await handle {
                let id = try Self.loadID(context)
                return try json(try await access.run { catalog in
                    guard let load = try catalog.load(id: id) else { throw AutoloaderError.unknownLoad(id) }
                    return load
                })
            }
        }
        v1.get("/loads/{id}/errors") { _, context in
            try await handle {
                let id = try Self.loadID(context)
                return try json(try await access.run { catalog in
                    guard try catalog.load(id: id) != nil else { throw AutoloaderError.unknownLoad(id) }
                    return try catalog.errors(loadID: id)
                })
            }
        }

        v1.post("/tables/{table}/pause") { request, context in
            try await mutation(request) {
                let table = try context.parameters.require("table")
                try await access.run { try $0.setStatus(table: table, .paused) }
                return try json(["table": table, "status": TableStatus.paused.rawValue])
            }
        }
        v1.post("/tables/{table}/resume") { request, context in
            try await mutation(request) {
                let table = try context.parameters.require("table")
                try await access.run { try $0.setStatus(table: table, .active) }
                service?.nudge()
                return try json(["table": table, "status": TableStatus.active.rawValue])
            }
        }
        v1.post("/tables/{table}/reload") { request, context in
            try await mutation(request) {
                let table = try context.parameters.require("table")
                let since: Int64 = try request.uri.queryParameters.get("since").map { text in
                    guard let nanos = WallClock.parseNanos(text) else { throw Failure(status: .badRequest, reason: "since must be a date or time such as 2024-01-31T10:00:00Z, got '\(text)'") }
                    return nanos
                } ?? 0
                let n = try await access.run { catalog in
                    guard try catalog.table(named: table) != nil else { throw AutoloaderError.unknownTable(table) }
                    return try catalog.reload(table: table, sinceNanos: since)
                }
                service?.nudge()
                return try json(ReloadAnswer(table: table, files: n))
            }
        }
        v1.post("/tables/{table}/approve") { request, context in
            try await mutation(request) {
                let table = try context.parameters.require("table")
                let n = try await access.run { try $0.approve(table: table) }
                service?.nudge()
                return try json(ReloadAnswer(table: table, files: n))
            }
        }
        v1.post("/tables/{table}/reject") { request, context in
            try await mutation(request) {
                let table = try context.parameters.require("table")
                let reason: String = request.uri.queryParameters.get("reason") ?? "schema change rejected"
                let n = try await access.run { try $0.reject(table: table, reason: reason) }
                return try json(ReloadAnswer(table: table, files: n))
            }
        }
        v1.post("/loads/{id}/retry") { request, context in
            try await mutation(request) {
                let id = try Self.loadID(context)
                let n = try await access.run { catalog in
                    guard try catalog.load(id: id) != nil else { throw AutoloaderError.unknownLoad(id) }
                    return try catalog.retry(loadID: id)
                }
                service?.nudge()
                return try json(RetryAnswer(load: id, files: n))
            }
        }
        v1.post("/tables/{table}/options") { request, context in
            try await mutation(request) {
                let table = try context.parameters.require("table")
                let body = try await request.body.collect(upTo: 1 << 16)
                let patch = String(buffer: body)
                let options = try await access.run { catalog in
                    let current = try catalog.table(named: table)?.options ?? catalog.newTableOptions
                    let options = try current.merging(json: patch)
                    try catalog.setOptions(table: table, options)
                    return options
                }
                return try json(options)
            }
        }
        return router
    }

    struct ReloadAnswer: Codable { var table: String; var files: Int }
    struct RetryAnswer: Codable { var load: Int64; var files: Int }

    /// A table as the API shows it: its record, its backlog and its last load.
    struct TableView: Codable, Sendable {
        var name: String
        var sourceFolder: String
        var status: String
        var options: TableOptions
        var columns: [ColumnView]
        var createdAt: String
        var backlogFiles: Int64
        var backlogBytes: Int64
        var oldestPendingDiscoveredAt: String?
        var lastLoad: LoadRecord?
        var rowsLoadedToday: Int64
    }

    struct ColumnView: Codable, Sendable {
        var name: String
        var type: String
        var original: String?
    }

    func tables() async throws -> [TableView] {
        try await access.run { catalog in
            let backlog = Dictionary(try catalog.backlog().map { ($0.table, $0) }, uniquingKeysWith: { a, _ in a })
            let loads = try catalog.loads(table: nil, status: nil)
            var last: [String: LoadRecord] = [:]
            var today: [String: Int64] = [:]
            let day = String(WallClock.nowISO().prefix(10))
            for load in loads {
                last[load.table] = load
                if load.startedAt.hasPrefix(day) { today[load.table, default: 0] += load.rowsLoaded }
            }
            return try catalog.tables().map { t in
                TableView(name: t.name, sourceFolder: t.sourceFolder, status: t.status.rawValue, options: t.options,
                          columns: t.schema?.columns.map { ColumnView(name: $0.name, type: $0.type.description.trimmingCharacters(in: .whitespaces), original: $0.original) } ?? [],
                          createdAt: t.createdAt, backlogFiles: backlog[t.name]?.files ?? 0, backlogBytes: backlog[t.name]?.bytes ?? 0,
                          oldestPendingDiscoveredAt: backlog[t.name]?.oldestDiscoveredAt, lastLoad: last[t.name], rowsLoadedToday: today[t.name] ?? 0)
            }
        }
    }

    /// 200 when the service reached the warehouse and catalog and its last listing of the source worked.
    func ready() async -> Response {
        var checks: [String: Bool] = [:]
        do {
            checks["catalog"] = try await access.run { _ = try $0.tables(); return true }
        } catch {
            access.logger.warning("/ready: the catalog did not answer: \(error)")
            checks["catalog"] = false
        }
        if let service {
            checks["warehouse"] = service.isConnected
            checks["source"] = service.isSourceReachable
        }
        let ok = !checks.values.contains(false)
        var response = (try? json(checks)) ?? Response(status: .internalServerError)
        response.status = ok ? .ok : .serviceUnavailable
        return response
    }

    /// The Prometheus text format; the backlog gauges are read from the catalog at each scrape.
    func metrics() async throws -> Response {
        // The counters are served even when the catalog cannot be read; the gauges keep their last values then.
        let read: ([Backlog], [String])?
        do {
            read = try await access.run { catalog in (try catalog.backlog(), try catalog.tables().map(\.name)) }
        } catch {
            access.logger.warning("/metrics: backlog gauges not updated, the catalog did not answer: \(error)")
            read = nil
        }
        if let backlog = read {
            let now = WallClock.nowNanos()
            let pending = Dictionary(backlog.0.map { ($0.table, $0) }, uniquingKeysWith: { a, _ in a })
            for table in backlog.1 {
                let b = pending[table]
                Gauge(label: Metric.backlogFiles, dimensions: [("table", table)]).record(b?.files ?? 0)
                Gauge(label: Metric.backlogBytes, dimensions: [("table", table)]).record(b?.bytes ?? 0)
                let age = b.flatMap { WallClock.parseNanos($0.oldestDiscoveredAt) }.map { max(0, Double(now - $0) / 1e9) } ?? 0
                Gauge(label: Metric.backlogAge, dimensions: [("table", table)]).record(age)
            }
        }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
    }

    /// A change: needs the bearer token; refused when none is configured.
    func mutation(_ request: Request, _ work: () async throws -> Response) async throws -> Response {
        try await handle {
            guard let token else {
                throw Failure(status: .forbidden, reason: "changes through the API are off: start `autoloader run` with AUTOLOADER_API_TOKEN set")
            }
            guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
                  Self.constantTimeEqual(Array(header.dropFirst("Bearer ".count).utf8), Array(token.utf8)) else {
                throw Failure(status: .unauthorized, reason: "send the API token as Authorization: Bearer TOKEN")
            }
            return try await work()
        }
    }

    /// Errors as JSON with the status they mean: unknown names 404, bad input 400, a busy or unreachable catalog 503.
    func handle(_ work: () async throws -> Response) async throws -> Response {
        do {
            return try await work()
        } catch let failure as Failure {
            var response = try json(["error": failure.reason], status: failure.status)
            if let after = failure.retryAfter { response.headers[.retryAfter] = String(after) }
            return response
        } catch let error as AutoloaderError {
            switch error {
            case .unknownTable, .unknownLoad: return try json(["error": "\(error)"], status: .notFound)
            case .invalidOptions, .usage: return try json(["error": "\(error)"], status: .badRequest)
            default:
                if AutoloaderError.isTransient(error) {
                    var response = try json(["error": "\(error)"], status: .serviceUnavailable)
                    response.headers[.retryAfter] = "1"
                    return response
                }
                return try json(["error": "\(error)"], status: .internalServerError)
            }
        } catch let error as HTTPError {
            throw error
        } catch {
            return try json(["error": "\(error)"], status: .internalServerError)
        }
    }

    static func loadID(_ context: BasicRequestContext) throws -> Int64 {
        let text = try context.parameters.require("id")
        guard let id = Int64(text) else { throw Failure(status: .badRequest, reason: "a load id is a number, got '\(text)'") }
        return id
    }

    static func limit(_ text: String?) throws -> Int {
        guard let text else { return 100 }
        guard let n = Int(text), (1...10_000).contains(n) else { throw Failure(status: .badRequest, reason: "limit must be 1 to 10000, got '\(text)'") }
        return n
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}

func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let data = try API.encoder.encode(value)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
