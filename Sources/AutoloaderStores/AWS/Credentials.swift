import AutoloaderCore
import Foundation

/// What the AWS SDKs read from the environment and `~/.aws`, resolved once at start-up.
public struct AWSConfiguration: Sendable {
    public var region: String
    public var profile: String
    /// `AWS_ENDPOINT_URL` / `--endpoint` (S3-compatible stores, moto); per service `AWS_ENDPOINT_URL_<SERVICE>`.
    public var endpoints: [String: String]
    public var defaultEndpoint: String?
    let environment: [String: String]
    let home: String

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, endpoint: String? = nil) {
        self.environment = environment
        home = environment["HOME"] ?? NSHomeDirectory()
        profile = environment["AWS_PROFILE"] ?? environment["AWS_DEFAULT_PROFILE"] ?? "default"
        let config = INIFile.load(environment["AWS_CONFIG_FILE"] ?? home + "/.aws/config")
        let section = config[profile == "default" ? "default" : "profile \(profile)"] ?? config[profile] ?? [:]
        region = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? section["region"] ?? "us-east-1"
        defaultEndpoint = endpoint ?? environment["AWS_ENDPOINT_URL"] ?? section["endpoint_url"]
        var endpoints: [String: String] = [:]
        for (service, suffix) in [("s3", "S3"), ("sqs", "SQS"), ("redshift-data", "REDSHIFT_DATA"), ("sts", "STS"), ("sns", "SNS")] {
            if let url = environment["AWS_ENDPOINT_URL_" + suffix] { endpoints[service] = url }
        }
        if let endpoint { endpoints["s3"] = endpoint }
        self.endpoints = endpoints
    }

    /// The base URL for a service: an override, else AWS's regional endpoint.
    public func endpoint(for service: String) -> (url: String, custom: Bool) {
        if let url = endpoints[service] ?? defaultEndpoint {
            var u = url
            while u.hasSuffix("/") { u.removeLast() }
            return (u, true)
        }
        return ("https://\(service).\(region).amazonaws.com", false)
    }

    var sharedCredentialsFile: String { environment["AWS_SHARED_CREDENTIALS_FILE"] ?? home + "/.aws/credentials" }
    var configFile: String { environment["AWS_CONFIG_FILE"] ?? home + "/.aws/config" }
}

public enum AWSError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The service answered with an error. `action` is the IAM action the call needs (for 403s).
    case service(status: Int, code: String, message: String, action: String, resource: String)
    case transport(String)
    case credentials(String)
    case protocolError(String)

    public var description: String {
        switch self {
        case let .service(status, code, message, action, resource):
            if status == 403 || code == "AccessDenied" || code.hasSuffix("AccessDeniedException") {
                return "\(action) on \(resource) was denied (\(code)\(message.isEmpty ? "" : ": \(message)")); "
                    + "grant the loader's identity \(action) on \(resource)"
            }
            switch code {
            case "NoSuchBucket": return "\(resource): no such bucket; check --source (and --endpoint / AWS_REGION)"
            case "NoSuchKey": return "\(resource): no such key (deleted since it was listed)"
            case "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist":
                return "\(resource): no such queue; create it with `autoloader setup-events`"
            default: return "\(action) on \(resource) failed: HTTP \(status) \(code)\(message.isEmpty ? "" : ": \(message)")"
            }
        case let .transport(s): return "network: \(s)"
        case let .credentials(s): return "AWS credentials: \(s)"
        case let .protocolError(s): return "unexpected AWS response: \(s)"
        }
    }

    /// Worth retrying with backoff: throttling, server errors, timeouts, dropped connections.
    public var isRetryable: Bool {
        switch self {
        case let .service(status, code, _, _, _):
            return status >= 500 || status == 429
                || ["SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed", "InternalError",
                    "ServiceUnavailable", "RequestThrottled", "ProvisionedThroughputExceededException",
                    "ActiveStatementsExceededException"].contains(code)
        case .transport: return true
        case .credentials, .protocolError: return false
        }
    }
}

/// The SDKs' default chain: environment, shared files (profile), ECS container endpoint, EC2 instance
/// metadata (IMDSv2). Temporary credentials are cached and refreshed five minutes before they expire.
public final class AWSCredentialsProvider: @unchecked Sendable {
    private let configuration: AWSConfiguration
    private let transport: HTTPTransport
    private let lock = NSLock()
    private var cached: AWSCredentials?

    public init(configuration: AWSConfiguration, transport: HTTPTransport) {
        self.configuration = configuration
        self.transport = transport
    }

    public func credentials() throws -> AWSCredentials {
        lock.lock()
        defer { lock.unlock() }
        if let c = cached, c.expiresAtNanos.map({ $0 - 300_000_000_000 > WallClock.nowNanos() }) ?? true { return c }
        let fresh = try resolve()
        cached = fresh
        return fresh
    }

    func resolve() throws -> AWSCredentials {
        let env = configuration.environment
        if let id = env["AWS_ACCESS_KEY_ID"], let secret = env["AWS_SECRET_ACCESS_KEY"], !id.isEmpty {
            return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: env["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 })
        }
        if let c = fromProfile() { return c }
        if let c = try fromContainer() { return c }
        if env["AWS_EC2_METADATA_DISABLED"]?.lowercased() != "true", let c = fromInstanceMetadata() { return c }
        throw AWSError.credentials("none found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials, "
            + "or run with an ECS task role or EC2 instance profile")
    }

    func fromProfile() -> AWSCredentials? {
        let profile = configuration.profile
        let shared = INIFile.load(configuration.sharedCredentialsFile)[profile]
        let config = INIFile.load(configuration.configFile)
        let section = shared ?? config[profile == "default" ? "default" : "profile \(profile)"]
        guard let s = section, let id = s["aws_access_key_id"], let secret = s["aws_secret_access_key"] else { return nil }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: s["aws_session_token"])
    }

    /// ECS/Fargate task roles (and EKS Pod Identity): a local endpoint named by the environment.
    func fromContainer() throws -> AWSCredentials? {
        let env = configuration.environment
        let url: String
        if let relative = env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] {
            url = "http://169.254.170.2" + relative
        } else if let full = env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] {
            url = full
        } else {
            return nil
        }
        var headers: [(String, String)] = []
        if let file = env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"], let token = try? String(contentsOfFile: file, encoding: .utf8) {
            headers.append(("Authorization", token.trimmingCharacters(in: .whitespacesAndNewlines)))
        } else if let token = env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] {
            headers.append(("Authorization", token))
        }
        do {
            let response = try transport.send(method: "GET", url: url, headers: headers, timeoutSeconds: 2)
            guard response.status == 200 else { throw AWSError.credentials("container endpoint \(url) answered HTTP \(response.status)") }
            return try Self.parseTemporary(response.body, source: "container endpoint")
        } catch let e as HTTPTransport.TransportError {
            throw AWSError.credentials("container endpoint \(url): \(e.reason)")
        }
    }

    /// IMDSv2: a session token first (PUT), then the role's credentials.
    func fromInstanceMetadata() -> AWSCredentials? {
        let base = configuration.environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"].map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
            ?? "http://169.254.169.254"
        guard let token = try? transport.send(method: "PUT", url: base + "/latest/api/token",
                                              headers: [("X-aws-ec2-metadata-token-ttl-seconds", "21600")], timeoutSeconds: 1),
              token.status == 200 else { return nil }
        let auth = [("X-aws-ec2-metadata-token", token.text)]
        let path = base + "/latest/meta-data/iam/security-credentials/"
        guard let roles = try? transport.send(method: "GET", url: path, headers: auth, timeoutSeconds: 1), roles.status == 200,
              let role = roles.text.split(separator: "\n").first,
              let creds = try? transport.send(method: "GET", url: path + role, headers: auth, timeoutSeconds: 1), creds.status == 200
        else { return nil }
        return try? Self.parseTemporary(creds.body, source: "instance metadata")
    }

    static func parseTemporary(_ body: [UInt8], source: String) throws -> AWSCredentials {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let id = object["AccessKeyId"] as? String, let secret = object["SecretAccessKey"] as? String
        else { throw AWSError.credentials("\(source) returned no AccessKeyId/SecretAccessKey") }
        let expires = (object["Expiration"] as? String).flatMap(WallClock.parseNanos)
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: object["Token"] as? String, expiresAtNanos: expires)
    }
}

/// `~/.aws/credentials` and `~/.aws/config`: `[section]` headers and `key = value` lines.
enum INIFile {
    static func load(_ path: String) -> [String: [String: String]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        return parse(text)
    }

    static func parse(_ text: String) -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        var current: String?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                current = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                continue
            }
            guard let section = current, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            out[section, default: [:]][key] = value
        }
        return out
    }
}
