import AutoloaderCore
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Signs, sends and retries requests to one AWS (or S3-compatible) service. Retries use exponential
/// backoff with full jitter on throttling, 5xx, timeouts and dropped connections; other errors are final.
public final class AWSClient: @unchecked Sendable {
    public let configuration: AWSConfiguration
    public let credentials: AWSCredentialsProvider
    public let transport: HTTPTransport
    public var maxAttempts = 6
    public var baseDelaySeconds = 0.1
    /// Called before each retry, for the log.
    public var onRetry: (@Sendable (String) -> Void)?

    public init(configuration: AWSConfiguration, transport: HTTPTransport = HTTPTransport()) {
        self.configuration = configuration
        self.transport = transport
        credentials = AWSCredentialsProvider(configuration: configuration, transport: transport)
    }

    public struct Call {
        public var service: String
        /// The IAM action this call needs, named in errors (e.g. `s3:GetObject`).
        public var action: String
        public var resource: String
        public var method = "GET"
        /// Full base URL (scheme, host, port), no trailing slash.
        public var baseURL: String
        /// URI-encoded path, starting with `/`.
        public var path = "/"
        public var query: [(String, String)] = []
        public var headers: [(String, String)] = []
        public var body: [UInt8]? = nil
        public var timeoutSeconds = 60.0
        /// Statuses that are answers, not errors (e.g. 404 for HEAD, 304/412 for conditional GETs).
        public var accept: Set<Int> = []

        public init(service: String, action: String, resource: String, method: String = "GET", baseURL: String, path: String = "/") {
            self.service = service
            self.action = action
            self.resource = resource
            self.method = method
            self.baseURL = baseURL
            self.path = path
        }
    }

    public func send(_ call: Call) throws -> HTTPResponse {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try sendOnce(call)
            } catch let error as AWSError where error.isRetryable && attempt < maxAttempts {
                let cap = min(20.0, baseDelaySeconds * Double(1 << min(attempt, 10)))
                let delay = Double.random(in: 0...cap)
                onRetry?("\(call.action) \(call.resource): \(error); retry \(attempt) in \(String(format: "%.2f", delay))s")
                usleep(UInt32(delay * 1_000_000))
            }
        }
    }

    func sendOnce(_ call: Call) throws -> HTTPResponse {
        let credentials = try self.credentials.credentials()
        guard let url = URL(string: call.baseURL), let host = url.host else { throw AWSError.protocolError("bad endpoint \(call.baseURL)") }
        let hostHeader = url.port.map { "\(host):\($0)" } ?? host
        let payload = call.body.map { SHA256.hex($0) } ?? SigV4.emptyPayloadSHA256
        var headers = call.headers
        if call.service == "s3" { headers.append(("x-amz-content-sha256", payload)) }
        let request = SignableRequest(method: call.method, host: hostHeader, path: call.path, query: call.query,
                                      headers: headers + [("host", hostHeader)], payloadSHA256: payload)
        let signer = SigV4(region: configuration.region, service: call.service)
        let signed = signer.sign(request, credentials: credentials, atSeconds: Int64(Date().timeIntervalSince1970))
        let query = request.canonicalQuery
        let target = call.baseURL + call.path + (query.isEmpty ? "" : "?" + query)
        let response: HTTPResponse
        do {
            response = try transport.send(method: call.method, url: target, headers: headers + signed, body: call.body,
                                          timeoutSeconds: call.timeoutSeconds)
        } catch let e as HTTPTransport.TransportError {
            throw AWSError.transport(e.reason)
        }
        if (200..<300).contains(response.status) || call.accept.contains(response.status) { return response }
        let (code, message) = Self.errorCode(response)
        throw AWSError.service(status: response.status, code: code, message: message, action: call.action, resource: call.resource)
    }

    /// S3 answers errors in XML (`<Error><Code>`), JSON protocols in `__type` / `message`; HEAD has no body.
    static func errorCode(_ response: HTTPResponse) -> (String, String) {
        if let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] {
            let type = (object["__type"] as? String ?? object["code"] as? String ?? "").split(separator: "#").last.map(String.init) ?? ""
            return (type, object["message"] as? String ?? object["Message"] as? String ?? "")
        }
        if let xml = XMLNode.parse(response.body) {
            let error = xml.name == "Error" ? xml : xml.first("Error") ?? xml
            return (error.first("Code")?.text ?? "HTTP\(response.status)", error.first("Message")?.text ?? "")
        }
        switch response.status {
        case 404: return ("NotFound", "")
        case 403: return ("AccessDenied", "")
        case 503: return ("SlowDown", "")
        default: return ("HTTP\(response.status)", "")
        }
    }

    /// One JSON-protocol call (SQS, Redshift Data API): POST with `X-Amz-Target`.
    public func json(service: String, target: String, version: String, action: String, resource: String,
                     _ body: [String: Any], timeoutSeconds: Double = 60) throws -> [String: Any] {
        var call = Call(service: service, action: action, resource: resource, method: "POST",
                        baseURL: configuration.endpoint(for: service).url)
        call.headers = [("Content-Type", "application/x-amz-json-\(version)"), ("X-Amz-Target", target)]
        call.body = [UInt8](try JSONSerialization.data(withJSONObject: body))
        call.timeoutSeconds = timeoutSeconds
        let response = try send(call)
        if response.body.isEmpty { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
            throw AWSError.protocolError("\(target): not a JSON object: \(response.text.prefix(200))")
        }
        return object
    }
}

/// A parsed XML element: enough for S3's listings, errors and notification configurations.
public final class XMLNode {
    public let name: String
    public var text = ""
    public var children: [XMLNode] = []

    init(name: String) { self.name = name }

    public func first(_ name: String) -> XMLNode? { children.first { $0.name == name } }
    public func all(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }
    public func value(_ name: String) -> String? { first(name)?.text }

    public static func parse(_ bytes: [UInt8]) -> XMLNode? {
        guard !bytes.isEmpty else { return nil }
        let parser = XMLParser(data: Data(bytes))
        let builder = Builder()
        parser.delegate = builder
        guard parser.parse() else { return nil }
        return builder.root
    }

    /// Serialises back (for notification configurations we read, edit and put back).
    public func xml() -> String {
        if children.isEmpty { return "<\(name)>\(Self.escape(text))</\(name)>" }
        return "<\(name)>" + children.map { $0.xml() }.joined() + "</\(name)>"
    }

    public static func element(_ name: String, _ children: [XMLNode] = [], text: String = "") -> XMLNode {
        let node = XMLNode(name: name)
        node.children = children
        node.text = text
        return node
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    final class Builder: NSObject, XMLParserDelegate {
        var stack: [XMLNode] = []
        var root: XMLNode?
        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            let node = XMLNode(name: elementName)
            stack.last?.children.append(node)
            if root == nil { root = node }
            stack.append(node)
        }
        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
            if let node = stack.popLast(), !node.children.isEmpty { node.text = "" }
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) {
            stack.last?.text += string
        }
    }
}
