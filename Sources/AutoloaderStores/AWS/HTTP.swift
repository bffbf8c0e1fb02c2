import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Lower-cased names.
    public var headers: [String: String]
    public var body: [UInt8]
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// Blocking HTTP over Foundation's URLSession (libcurl on Linux): the pipeline's seams are synchronous,
/// and the toolchain already ships it, so S3, SQS and the Redshift Data API cost no extra dependency.
public final class HTTPTransport: @unchecked Sendable {
    private let session: URLSession

    public init() {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 16
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        session = URLSession(configuration: configuration)
    }

    public struct TransportError: Error, CustomStringConvertible, Sendable {
        public var reason: String
        public var timedOut: Bool
        public var description: String { reason }
    }

    public func send(method: String, url: String, headers: [(String, String)], body: [UInt8]? = nil,
                     timeoutSeconds: Double = 60) throws -> HTTPResponse {
        guard let target = URL(string: url) else { throw TransportError(reason: "not a URL: \(url)", timedOut: false) }
        var request = URLRequest(url: target, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeoutSeconds)
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let body { request.httpBody = Data(body) }
        final class Box: @unchecked Sendable { var result: Result<HTTPResponse, TransportError>? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let task = session.dataTask(with: request) { data, response, error in
            if let error {
                let ns = error as NSError
                box.result = .failure(TransportError(reason: "\(method) \(target.host ?? url): \(ns.localizedDescription)",
                                                     timedOut: ns.code == NSURLErrorTimedOut))
            } else if let http = response as? HTTPURLResponse {
                var names: [String: String] = [:]
                for (k, v) in http.allHeaderFields { names[String(describing: k).lowercased()] = String(describing: v) }
                box.result = .success(HTTPResponse(status: http.statusCode, headers: names, body: data.map { [UInt8]($0) } ?? []))
            } else {
                box.result = .failure(TransportError(reason: "\(method) \(url): no HTTP response", timedOut: false))
            }
            done.signal()
        }
        task.resume()
        // URLSession's own timeout on Linux is an idle timer that an answer held back by the server does not always
        // trip: the wait is bounded here too, and the request cancelled (the AWS client then retries it).
        if done.wait(timeout: .now() + timeoutSeconds) == .timedOut {
            task.cancel()
            _ = done.wait(timeout: .now() + 5)  // the cancelled task's completion, so `box` is no longer written to
            throw TransportError(reason: "\(method) \(target.host ?? url): no answer within \(timeoutSeconds) s", timedOut: true)
        }
        switch box.result {
        case let .success(r)?: return r
        case let .failure(e)?: throw e
        case nil: throw TransportError(reason: "\(method) \(url): no result", timedOut: false)
        }
    }
}
