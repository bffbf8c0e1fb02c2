import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Lower-cased names.
    public var headers: [String: String]
    public var body: [UInt8]
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// Blocking HTTP for S3, SQS, the Redshift Data API and instance credentials: the pipeline's seams are synchronous.
/// On AsyncHTTPClient (SwiftNIO, as postgres-nio): FoundationNetworking's URLSession, used before, kept a core
/// busy through libdispatch while a request waited, so an idle `run --queue` (an SQS long poll always open)
/// burned 75-90 % of a core. Every request has a deadline, and the waiting thread is never an event loop's.
public final class HTTPTransport: @unchecked Sendable {
    /// One client and connection pool for the process, on NIO's shared event loops; it lives as long as the
    /// process (so it is never shut down, and never deinitialised while in use). Up to 64 connections per host: a
    /// request beyond the pool's limit waits for a connection, and long polls and stalled statements hold theirs.
    private static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = HTTPClient.Configuration.Timeout(connect: .seconds(10))
        configuration.connectionPool = HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(50),
                                                                               concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        configuration.decompression = .disabled
        configuration.redirectConfiguration = .disallow
        configuration.httpVersion = .http1Only
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    public init() {}

    public struct TransportError: Error, CustomStringConvertible, Sendable {
        public var reason: String
        public var timedOut: Bool
        public var description: String { reason }
    }

    public func send(method: String, url: String, headers: [(String, String)], body: [UInt8]? = nil,
                     timeoutSeconds: Double = 60) throws -> HTTPResponse {
        guard let target = URL(string: url), let host = target.host else { throw TransportError(reason: "not a URL: \(url)", timedOut: false) }
        let request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(url: url, method: HTTPMethod(rawValue: method), headers: HTTPHeaders(headers),
                                             body: body.map { .bytes($0) })
        } catch {
            throw TransportError(reason: "\(method) \(url): \(error)", timedOut: false)
        }
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeoutSeconds * 1000))
        do {
            let response = try Self.client.execute(request: request, deadline: deadline).wait()
            var names: [String: String] = [:]
            for (name, value) in response.headers { names[name.lowercased()] = value }
            return HTTPResponse(status: Int(response.status.code), headers: names, body: response.body.map { Array(buffer: $0) } ?? [])
        } catch let error as HTTPClientError {
            let timedOut = error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout
            throw TransportError(reason: timedOut ? "\(method) \(host): no answer within \(timeoutSeconds) s" : "\(method) \(host): \(error)",
                                 timedOut: timedOut)
        } catch {
            throw TransportError(reason: "\(method) \(host): \(error)", timedOut: false)
        }
    }
}
