import AutoloaderCore
import AutoloaderFormats

/// HMAC-SHA256 (RFC 2104) on the package's own SHA-256: signing needs nothing more, and swift-crypto
/// would cost CI minutes of BoringSSL for four hash calls per request.
public func hmacSHA256(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
    var k = key.count > 64 ? { var h = SHA256(); h.update(key); return h.finalize() }() : key
    k += [UInt8](repeating: 0, count: 64 - k.count)
    var inner = SHA256()
    inner.update(k.map { $0 ^ 0x36 })
    inner.update(message)
    var outer = SHA256()
    outer.update(k.map { $0 ^ 0x5c })
    outer.update(inner.finalize())
    return outer.finalize()
}

public struct AWSCredentials: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// When temporary credentials (role, container) stop working; nil for long-term keys.
    public var expiresAtNanos: Int64?
    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiresAtNanos: Int64? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiresAtNanos = expiresAtNanos
    }
}

/// A request as SigV4 sees it. `path` is already URI-encoded (S3 keys: `AWSURI.encode(key, keepSlash: true)`),
/// query values are raw and encoded here, the way the canonical request wants them.
public struct SignableRequest: Sendable {
    public var method: String
    public var host: String
    public var path: String
    public var query: [(String, String)]
    /// Header names in any case; they are lower-cased for signing.
    public var headers: [(String, String)]
    public var payloadSHA256: String

    public init(method: String, host: String, path: String, query: [(String, String)] = [], headers: [(String, String)] = [],
                payloadSHA256: String = SigV4.emptyPayloadSHA256) {
        self.method = method
        self.host = host
        self.path = path
        self.query = query
        self.headers = headers
        self.payloadSHA256 = payloadSHA256
    }

    /// The query string as sent: the canonical form (sorted, encoded) is also a valid request form.
    public var canonicalQuery: String {
        query.map { (AWSURI.encode($0.0), AWSURI.encode($0.1)) }
            .sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }
}

/// AWS Signature Version 4 (header form), as the docs' "Create a canonical request" defines it. Checked
/// against AWS's published test-suite vectors and the S3 API reference examples.
public struct SigV4: Sendable {
    public static let emptyPayloadSHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    public var region: String
    public var service: String

    public init(region: String, service: String) {
        self.region = region
        self.service = service
    }

    /// `20150830T123600Z` and `20150830` for a time in seconds since the epoch.
    public static func timestamp(_ seconds: Int64) -> (amzDate: String, day: String) {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secs = seconds - days * 86_400
        let (y, m, d) = TemporalFormat.civilFromDays(Int(days))
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let day = "\(y)\(two(m))\(two(d))"
        return (day + "T" + two(Int(secs / 3600)) + two(Int(secs / 60 % 60)) + two(Int(secs % 60)) + "Z", day)
    }

    func signedHeaders(_ request: SignableRequest, amzDate: String, token: String?) -> [(String, String)] {
        var headers = request.headers.map { ($0.0.lowercased(), Self.trimAll($0.1)) }
        if !headers.contains(where: { $0.0 == "host" }) { headers.append(("host", request.host)) }
        headers.append(("x-amz-date", amzDate))
        if let token { headers.append(("x-amz-security-token", token)) }
        return headers.sorted { $0.0 < $1.0 }
    }

    public func canonicalRequest(_ request: SignableRequest, amzDate: String, token: String? = nil) -> String {
        let headers = signedHeaders(request, amzDate: amzDate, token: token)
        return [
            request.method,
            request.path.isEmpty ? "/" : request.path,
            request.canonicalQuery,
            headers.map { "\($0.0):\($0.1)\n" }.joined(),
            headers.map(\.0).joined(separator: ";"),
            request.payloadSHA256,
        ].joined(separator: "\n")
    }

    public func stringToSign(canonicalRequest: String, amzDate: String) -> String {
        let scope = "\(amzDate.prefix(8))/\(region)/\(service)/aws4_request"
        return "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(SHA256.hex(Array(canonicalRequest.utf8)))"
    }

    /// The headers to add to the request: `x-amz-date`, the token when there is one, and `Authorization`.
    public func sign(_ request: SignableRequest, credentials: AWSCredentials, atSeconds: Int64) -> [(String, String)] {
        let (amzDate, day) = Self.timestamp(atSeconds)
        let canonical = canonicalRequest(request, amzDate: amzDate, token: credentials.sessionToken)
        let toSign = stringToSign(canonicalRequest: canonical, amzDate: amzDate)
        var key = hmacSHA256(key: Array(("AWS4" + credentials.secretAccessKey).utf8), Array(day.utf8))
        for part in [region, service, "aws4_request"] { key = hmacSHA256(key: key, Array(part.utf8)) }
        let signature = SHA256.hexString(hmacSHA256(key: key, Array(toSign.utf8)))
        let names = signedHeaders(request, amzDate: amzDate, token: credentials.sessionToken).map(\.0).joined(separator: ";")
        var out = [("x-amz-date", amzDate)]
        if let token = credentials.sessionToken { out.append(("x-amz-security-token", token)) }
        out.append(("Authorization",
                    "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(day)/\(region)/\(service)/aws4_request, SignedHeaders=\(names), Signature=\(signature)"))
        return out
    }

    /// Header values: leading/trailing space removed, inner runs of spaces collapsed to one.
    static func trimAll(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }
}

/// RFC 3986 percent-encoding as AWS wants it: unreserved characters stay, everything else is %XX (upper case).
public enum AWSURI {
    public static func encode(_ s: String, keepSlash: Bool = false) -> String {
        var out: [UInt8] = []
        let hex = Array("0123456789ABCDEF".utf8)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.append(b)
            case UInt8(ascii: "/") where keepSlash:
                out.append(b)
            default:
                out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0xf)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
