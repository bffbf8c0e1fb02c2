import AutoloaderCore
import Dispatch
import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO

/// Runs async postgres-nio calls from synchronous code and waits for them. The pipeline's seams are
/// synchronous; this is the one bridge. The async side runs on its own executor, never on Swift's
/// cooperative pool: the waiting thread may itself be a pool thread (tests, 2 cores), and waiting for
/// pool work from the pool deadlocks.
///
/// Every wait is bounded: after `timeout` seconds the caller gets `TimedOut` (and the work goes on in the
/// background until the connection is dropped).
/// `late`: what to do with a result that arrives after the caller gave up (close a connection nobody holds).
/// `closed`: asked every second; true gives up at once with `ConnectionClosed`. A query whose connection the
/// server closed can never be answered, yet postgres-nio was seen to leave one waiting after a restart during
/// a COPY (a RELEASE SAVEPOINT held a table's loads for the whole statement timeout).
func blocking<T: Sendable>(timeout: Double, late: (@Sendable (T) async -> Void)? = nil, closed: (() -> Bool)? = nil,
                           _ body: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let box = ResultBox<T>()
    Task(executorPreference: BridgeExecutor.shared) {
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        if !box.set(result), case let .success(value) = result { await late?(value) }
        done.signal()
    }
    let deadline = DispatchTime.now() + timeout
    while done.wait(timeout: min(deadline, .now() + 1)) == .timedOut {
        if closed?() == true, box.take() == nil { throw ConnectionClosed() }
        if DispatchTime.now() >= deadline { break }
    }
    guard let result = box.take() else { throw TimedOut(seconds: timeout) }
    return try result.get()
}

struct TimedOut: Error { var seconds: Double }
struct ConnectionClosed: Error {}

/// The result of a bridged call, handed over once: to the waiter, or (after it gave up) back to the task.
final class ResultBox<T>: @unchecked Sendable {
    private var result: Result<T, any Error>?
    private var abandoned = false
    private let lock = NSLock()
    /// false when the waiter already gave up: the result is the task's to dispose of.
    func set(_ r: Result<T, any Error>) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard !abandoned else { return false }
        result = r
        return true
    }
    /// The result, or nil (and the box abandoned) when it has not arrived.
    func take() -> Result<T, any Error>? {
        lock.lock(); defer { lock.unlock() }
        if result == nil { abandoned = true }
        return result
    }
}

/// A task executor on a dedicated dispatch queue (see `blocking`).
final class BridgeExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = BridgeExecutor()
    private let queue = DispatchQueue(label: "autoloader.postgres.bridge", attributes: .concurrent)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// A task executor that runs its jobs on one NIO event loop (the COPY's, see `CopyIn`).
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    let loop: any EventLoop
    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// One PostgreSQL connection with synchronous calls. Errors become AutoloaderError.warehouse, transient
/// when the connection was lost (the load rolls back and is retried with backoff).
public final class PostgresSession: @unchecked Sendable {
    let connection: PostgresConnection
    let logger: Logger
    public let url: PostgresURL
    private let state = NSLock()
    private var closed = false
    /// Set when a wait timed out: the connection may be half dead, so it is never used again.
    private var dropped = false
    /// Longest wait for one statement's answer, or for the server to take COPY data (seconds). A statement
    /// that runs longer is abandoned and its load retried; it bounds a hang on a connection that died silently.
    public var statementTimeout: Double = 600
    /// Longest wait to connect (TCP, TLS and authentication).
    public static let connectTimeout: Double = 30

    static let ids = IDs()
    final class IDs: @unchecked Sendable {
        private var next = 0
        private let lock = NSLock()
        func take() -> Int { lock.lock(); defer { lock.unlock() }; next += 1; return next }
    }

    public init(url: PostgresURL) throws {
        self.url = url
        var logger = Logger(label: "autoloader.postgres")
        logger.logLevel = .critical
        self.logger = logger
        let tls: PostgresConnection.Configuration.TLS
        switch url.sslMode {
        case .disable, .allow: tls = .disable
        case .prefer, .require, .verifyCA, .verifyFull:
            var configuration = TLSConfiguration.makeClientConfiguration()
            // libpq: prefer/require encrypt without checking the certificate; verify-* check it.
            if url.sslMode != .verifyCA && url.sslMode != .verifyFull { configuration.certificateVerification = .none }
            if url.sslMode == .verifyCA { configuration.certificateVerification = .noHostnameVerification }
            let context = try NIOSSLContext(configuration: configuration)
            tls = url.sslMode == .prefer ? .prefer(context) : .require(context)
        }
        var configuration = PostgresConnection.Configuration(host: url.host, port: url.port, username: url.user,
                                                             password: url.password, database: url.database, tls: tls)
        configuration.options.connectTimeout = .seconds(10)
        let id = Self.ids.take()
        do {
            // A connection that arrives after we gave up is closed; nobody holds it, so a failure to close has no one to tell.
            connection = try blocking(timeout: Self.connectTimeout, late: { try? await $0.close() }) { [configuration, logger] in
                try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
            }
        } catch {
            throw Self.classify(error, context: "cannot connect to \(url)")
        }
    }

    deinit { close() }

    public func close() {
        state.lock()
        let wasClosed = closed
        closed = true
        state.unlock()
        guard !wasClosed else { return }
        let connection = connection
        // Closing is best effort and bounded: a connection the server already dropped has nothing to close.
        do { try blocking(timeout: 5) { try await connection.close() } } catch {}
    }

    /// Stops using this connection after a wait timed out (without waiting for it to close).
    func drop() {
        state.lock()
        dropped = true
        state.unlock()
        let connection = connection
        Task(executorPreference: BridgeExecutor.shared) { try? await connection.close() }
    }

    var isUsable: Bool {
        state.lock(); defer { state.unlock() }
        return !dropped && !connection.isClosed
    }

    /// Maps postgres-nio errors to ours: server errors (bad SQL, constraint, bad data) are terminal;
    /// a lost connection is transient.
    static func classify(_ error: any Error, context: String) -> AutoloaderError {
        if let e = error as? AutoloaderError { return e }
        if let e = error as? TimedOut {
            return .warehouse(reason: "\(context): no answer within \(Int(e.seconds)) s; the connection is dropped and the work retried", transient: true)
        }
        if error is ConnectionClosed {
            return .warehouse(reason: "\(context): the connection closed while waiting for an answer; the work is retried", transient: true)
        }
        if let e = error as? PSQLError {
            let message = e.serverInfo?[.message] ?? "\(e.code)"
            let location = e.serverInfo?[.locationContext].map { " (\($0))" } ?? ""
            let transient = e.code == .server ? isTransient(sqlState: e.serverInfo?[.sqlState] ?? "") : transientCodes.contains(e.code)
            if e.serverInfo?[.sqlState] == "55P03" { return .contention("\(context): \(message)\(location)") }
            return .warehouse(reason: "\(context): \(message)\(location)", transient: transient)
        }
        return .warehouse(reason: "\(context): \(error)", transient: true)
    }

    /// Client-side failures that are about the connection, not about what was sent.
    static let transientCodes: [PSQLError.Code] = [.clientClosedConnection, .serverClosedConnection, .connectionError, .uncleanShutdown, .poolClosed, .queryCancelled]

    /// Server errors worth retrying: connection exceptions (08, but a protocol violation is ours), the server
    /// shutting down (57P), serialization failures and deadlocks, a lock not had within the lock timeout (55P03),
    /// insufficient resources (53: disk full, out of memory, too many connections).
    static func isTransient(sqlState: String) -> Bool {
        (sqlState.hasPrefix("08") && sqlState != "08P01") || sqlState.hasPrefix("57P") || sqlState.hasPrefix("53")
            || ["40001", "40P01", "55P03", "57014"].contains(sqlState)
    }

    /// A dry run (`Enclosure`): from `enclose` on, nothing this session does is committed; `discardEnclosure`
    /// undoes it all.
    public private(set) var enclosed = false

    public func enclose() throws {
        try query("BEGIN")
        enclosed = true
    }

    public func discardEnclosure() throws {
        enclosed = false
        try query("ROLLBACK")
    }

    func enclosing(_ sql: String) -> String { enclosed ? Enclosure.statement(sql) : sql }

    /// Runs one statement (no parameters needed, or with `binds`); returns the rows as text.
    @discardableResult
    public func query(_ sql: String, _ binds: [String?] = []) throws -> [[String?]] {
        var bindings = PostgresBindings()
        for b in binds {
            if let b { bindings.append(b) } else { bindings.appendNull() }
        }
        return try rows(PostgresQuery(unsafeSQL: enclosing(sql), binds: bindings)) { Self.text(of: $0) }
    }

    /// Runs a query and maps every cell; the one place a query waits on the server.
    func rows<Value: Sendable>(_ query: PostgresQuery, _ cell: @escaping @Sendable (PostgresCell) -> Value) throws -> [[Value]] {
        let connection = connection, logger = logger
        // A connection the server closed (restart, failover) fails here, at once: the caller reconnects.
        if !isUsable { throw AutoloaderError.warehouse(reason: "PostgreSQL connection to \(url) was closed", transient: true) }
        do {
            return try blocking(timeout: statementTimeout, closed: { [weak self] in self?.isUsable != true }) {
                var rows: [[Value]] = []
                for try await row in try await connection.query(query, logger: logger) {
                    var values: [Value] = []
                    for c in row { values.append(cell(c)) }
                    rows.append(values)
                }
                return rows
            }
        } catch {
            if error is TimedOut { drop() }  // a closed connection has nothing left to close
            throw Self.classify(error, context: "PostgreSQL")
        }
    }

    public func execute(_ sql: String) throws { try query(sql) }

    /// A result cell as text, whatever format the server sent it in (postgres-nio asks for binary).
    static func text(of cell: PostgresCell) -> String? {
        guard let bytes = cell.bytes else { return nil }
        if cell.format == .text { return String(buffer: bytes) }
        switch cell.dataType {
        case .int2: return (try? cell.decode(Int16.self)).map { String($0) }
        case .int4: return (try? cell.decode(Int32.self)).map { String($0) }
        case .int8: return (try? cell.decode(Int64.self)).map { String($0) }
        case .bool: return (try? cell.decode(Bool.self)).map { $0 ? "true" : "false" }
        case .float4, .float8: return (try? cell.decode(Double.self)).map { "\($0)" }
        case .numeric: return (try? cell.decode(Decimal.self)).map { "\($0)" }
        case .jsonb:
            var copy = bytes
            _ = copy.readInteger(as: UInt8.self)  // jsonb's binary form starts with a version byte
            return String(buffer: copy)
        default:
            return (try? cell.decode(String.self)) ?? String(buffer: bytes)
        }
    }

    /// COPY … FROM STDIN (text or binary format) fed by `write` calls from this thread; bounded to a few buffers.
    public func beginCopy(schema: String, table: String, columns: [String], binary: Bool = false) -> CopyIn {
        CopyIn(session: self, schema: schema, table: table, columns: columns, binary: binary)
    }
}

/// One streaming COPY. postgres-nio pastes the table and column names into the COPY statement as given,
/// so they are passed pre-quoted (inner quotes doubled) to keep every identifier safe. Its `copyFrom` offers the
/// text format only; binary is asked for by ending the column list ourselves and commenting out the rest:
/// `COPY "s"."t"("a","b") FROM STDIN WITH (FORMAT binary) --") FROM STDIN WITH (FORMAT text)`. Should a
/// postgres-nio release build the statement differently, binary data sent as text fails the COPY loudly
/// (PostgresBinaryCopyTests), never loading wrong values.
public final class CopyIn: @unchecked Sendable {
    private let continuation: AsyncStream<ByteBuffer>.Continuation
    /// Room for buffers in flight. Created at 0 and signalled up: libdispatch traps (SIGILL) when a semaphore is
    /// freed with a value below the one it was created with, which is what a COPY cut short leaves behind.
    private let credits = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let timeout: Double
    private let lock = NSLock()
    private var outcome: Result<Void, any Error>?
    private var onStall: @Sendable () -> Void = {}

    init(session: PostgresSession, schema: String, table: String, columns: [String], binary: Bool) {
        for _ in 0..<8 { credits.signal() }
        timeout = session.statementTimeout
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
        self.continuation = continuation
        let escapedTable = schema.replacingOccurrences(of: "\"", with: "\"\"") + "\".\"" + table.replacingOccurrences(of: "\"", with: "\"\"")
        var escapedColumns = columns.map { $0.replacingOccurrences(of: "\"", with: "\"\"") }
        if binary, let last = escapedColumns.popLast() { escapedColumns.append(last + "\") FROM STDIN WITH (FORMAT binary) --") }
        let connection = session.connection, logger = session.logger, credits = credits
        onStall = { [weak session] in session?.drop() }
        // postgres-nio traps (preconditionFailure "Copy mode is only supported for extended queries") when a write,
        // or the CopyDone/CopyFail that `copyFrom` sends after this closure, reaches a connection its server just
        // closed (a restart) before the channel's handlers are removed. So the closure runs on the connection's own
        // event loop (a check of `isClosed` and the call after it are one event-loop job, nothing closes between),
        // and once closed it waits for `closeFuture`, which NIO completes right after removing the handlers; then
        // postgres-nio answers with an error instead of trapping.
        Task(executorPreference: EventLoopTaskExecutor(connection.eventLoop)) { [self] in
            let result: Result<Void, any Error>
            do {
                try await connection.copyFrom(table: escapedTable, columns: escapedColumns, logger: logger) { writer in
                    do {
                        for await buffer in stream {
                            if connection.isClosed { throw ConnectionClosed() }
                            try await writer.write(buffer)
                            credits.signal()
                        }
                        if connection.isClosed { throw ConnectionClosed() }
                    } catch {
                        if connection.isClosed {
                            do { try await connection.closeFuture.get() } catch {
                                // A failed close still ends the channel; the COPY's error below is what counts.
                            }
                        }
                        throw error
                    }
                }
                result = .success(())
            } catch {
                result = .failure(error)
            }
            setOutcome(result)
            finished.signal()
            credits.signal()  // unblock a writer waiting for room
        }
    }

    private func setOutcome(_ result: Result<Void, any Error>) {
        lock.lock(); outcome = result; lock.unlock()
    }

    private var failure: (any Error)? {
        lock.lock(); defer { lock.unlock() }
        if case let .failure(e)? = outcome { return e }
        return nil
    }

    public func write(_ buffer: ByteBuffer) throws {
        let deadline = DispatchTime.now() + timeout
        while credits.wait(timeout: .now() + 0.2) == .timedOut {
            if let failure { throw PostgresSession.classify(failure, context: "COPY") }
            if DispatchTime.now() > deadline { throw stalled() }
        }
        if let failure { throw PostgresSession.classify(failure, context: "COPY") }
        continuation.yield(buffer)
    }

    /// Ends the data and waits for the server's answer.
    public func finish() throws {
        continuation.finish()
        guard finished.wait(timeout: .now() + timeout) == .success else { throw stalled() }
        finished.signal()
        if let failure { throw PostgresSession.classify(failure, context: "COPY") }
    }

    private func stalled() -> AutoloaderError {
        onStall()
        return .warehouse(reason: "PostgreSQL took no COPY data for \(Int(timeout)) s; the connection is dropped and the load retried", transient: true)
    }

    /// Abandons the COPY (the transaction is rolled back by the caller). Bounded: a server that stopped
    /// answering has its connection dropped.
    public func abandon() {
        continuation.finish()
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            onStall()
            return
        }
        finished.signal()
    }
}

extension PostgresSession: CatalogConnection {
    /// The catalog in its own schema (`autoloader` by default) of the warehouse's database.
    public var dialect: CatalogDialect {
        let schema = url.catalogSchema
        let literal = "'" + schema.replacingOccurrences(of: "'", with: "''") + "'"
        return CatalogDialect(
            name: "postgresql",
            table: { SQLIdentifier.quoted(schema) + "." + SQLIdentifier.quoted($0) },
            index: { SQLIdentifier.quoted($0) },
            parameterPrefix: "$",
            serialKey: "BIGSERIAL PRIMARY KEY",
            boolean: "BOOLEAN",
            // A lock that cannot be had within 30 s (a user's long query on a table the load must ALTER, a
            // migration waiting on a load) fails the transaction, transiently, instead of queueing forever.
            begin: ["BEGIN", "SET LOCAL lock_timeout = '30s'"],
            tryLock: "SELECT CASE WHEN pg_try_advisory_xact_lock(hashtext($1)) THEN 1 ELSE 0 END",
            lock: "SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS l",
            createNamespace: ["CREATE SCHEMA IF NOT EXISTS \(SQLIdentifier.quoted(schema))"],
            tableExists: "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = \(literal) AND tablename = $1",
            columnNames: "SELECT column_name::text FROM information_schema.columns WHERE table_schema = \(literal) AND table_name = $1",
            greatest: "GREATEST"
        )
    }

    public func run(_ sql: String, _ binds: [DBValue]) throws -> [[DBValue]] {
        var bindings = PostgresBindings()
        for b in binds {
            switch b {
            case .null: bindings.appendNull()
            case let .int(i): bindings.append(i)
            // PostgreSQL text cannot hold NUL; what the catalog records (a rejected row's raw text, a column name
            // from a JSON key) shows it as the escape a person would write.
            case let .text(s): bindings.append(s.contains("\0") ? s.replacingOccurrences(of: "\0", with: "\\u0000") : s)
            }
        }
        return try rows(PostgresQuery(unsafeSQL: enclosing(sql), binds: bindings)) { cell in
            guard cell.bytes != nil else { return .null }
            switch cell.dataType {
            case .int2, .int4, .int8: return (try? cell.decode(Int64.self)).map { .int($0) } ?? .null
            case .bool: return (try? cell.decode(Bool.self)).map { .int($0 ? 1 : 0) } ?? .null
            default: return Self.text(of: cell).map { .text($0) } ?? .null
            }
        }
    }
}
