import AutoloaderCore
import AutoloaderPipeline
import AutoloaderStores
import Dispatch
import Foundation
import Logging

/// Delivers notices to a webhook (JSON, signed) and an SNS topic, on its own thread: `send` only queues, so a slow
/// or dead receiver never holds up a load. Each delivery is retried with backoff; notices beyond the rate limit,
/// or beyond the queue while a receiver is down, are dropped and counted in the log.
public final class Notifier: @unchecked Sendable {
    public struct Webhook: Sendable {
        public var url: String
        /// HMAC-SHA256 key: the body's signature goes in `X-Autoloader-Signature: sha256=HEX`.
        public var secret: String?
        public init(url: String, secret: String?) {
            self.url = url
            self.secret = secret
        }
    }

    public struct Limits: Sendable {
        /// Notices sent per minute at most (a burst of failing files must not flood a channel).
        public var perMinute = 30
        /// Attempts per delivery, waiting 1, 2, 4… s between them.
        public var attempts = 5
        public var firstDelay = 1.0
        public var queue = 1_000
        public var timeoutSeconds = 10.0
        public init() {}
    }

    let webhook: Webhook?
    let sns: (topic: String, aws: AWSClient)?
    let transport: HTTPTransport
    let limits: Limits
    let logger: Logger
    private let lock = NSLock()
    private var queue: [Notice] = []
    private var dropped = 0
    private var sentTimes: [Double] = []
    private let wake = DispatchSemaphore(value: 0)
    private var thread: Thread?

    public init(webhook: Webhook?, snsTopic: String?, aws: AWSClient?, transport: HTTPTransport = HTTPTransport(),
                limits: Limits = Limits(), logger: Logger) {
        self.webhook = webhook
        sns = snsTopic.flatMap { topic in aws.map { (topic, $0) } }
        self.transport = transport
        self.limits = limits
        self.logger = logger
    }

    /// Queues a notice; returns at once.
    public func send(_ notice: Notice) {
        lock.lock()
        if queue.count >= limits.queue {
            queue.removeFirst()
            dropped += 1
        }
        queue.append(notice)
        lock.unlock()
        startIfNeeded()
        wake.signal()
    }

    private func startIfNeeded() {
        lock.lock()
        defer { lock.unlock() }
        guard thread == nil else { return }
        let thread = Thread { [self] in deliverForever() }
        thread.name = "autoloader.notifier"
        self.thread = thread
        thread.start()
    }

    private func next() -> (Notice, droppedBefore: Int)? {
        lock.lock()
        defer { lock.unlock() }
        guard !queue.isEmpty else { return nil }
        let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
        sentTimes.removeAll { now - $0 > 60 }
        let notice = queue.removeFirst()
        guard sentTimes.count < limits.perMinute else {
            dropped += 1
            return next()
        }
        sentTimes.append(now)
        let before = dropped
        dropped = 0
        return (notice, before)
    }

    private func deliverForever() {
        while true {
            guard let (notice, droppedBefore) = next() else {
                wake.wait()
                continue
            }
            if droppedBefore > 0 {
                logger.warning("notifications: \(droppedBefore) notice(s) dropped (more than \(limits.perMinute) a minute, or the queue was full)")
            }
            deliver(notice)
        }
    }

    /// Both targets, each retried on its own; a target that still fails is logged and the notice given up.
    func deliver(_ notice: Notice) {
        let body: [UInt8]
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            body = [UInt8](try encoder.encode(notice))
        } catch {
            logger.error("notifications: cannot encode \(notice.kind.rawValue): \(error)")
            return
        }
        if let webhook {
            retrying("webhook \(webhook.url)", notice) { try self.post(body, to: webhook) }
        }
        if let sns {
            retrying("SNS \(sns.topic)", notice) { try self.publish(notice, body: body, topic: sns.topic, aws: sns.aws) }
        }
    }

    struct Refused: Error, CustomStringConvertible {
        var status: Int
        var text: String
        var retryable: Bool { status == 429 || status >= 500 }
        var description: String { "HTTP \(status)\(text.isEmpty ? "" : ": \(text.prefix(200))")" }
    }

    private func retrying(_ target: String, _ notice: Notice, _ attempt: () throws -> Void) {
        var delay = limits.firstDelay
        for n in 1...limits.attempts {
            do {
                try attempt()
                return
            } catch {
                let retryable = (error as? Refused)?.retryable ?? true  // a transport error (refused, timeout) is worth retrying
                if !retryable || n == limits.attempts {
                    logger.error("notifications: \(notice.kind.rawValue) for \(notice.table) not delivered to \(target) after \(n) attempt(s): \(error)")
                    return
                }
                logger.warning("notifications: \(target) failed (\(error)); retry \(n) in \(delay) s")
                Thread.sleep(forTimeInterval: delay)
                delay *= 2
            }
        }
    }

    /// The webhook's signature header: `sha256=` and the hex HMAC-SHA256 of the body under the secret.
    public static func signature(body: [UInt8], secret: String) -> String {
        "sha256=" + SHA256.hexString(hmacSHA256(key: Array(secret.utf8), body))
    }

    func post(_ body: [UInt8], to webhook: Webhook) throws {
        var headers = [("Content-Type", "application/json"), ("User-Agent", "autoloader")]
        if let secret = webhook.secret { headers.append(("X-Autoloader-Signature", Self.signature(body: body, secret: secret))) }
        let response = try transport.send(method: "POST", url: webhook.url, headers: headers, body: body, timeoutSeconds: limits.timeoutSeconds)
        guard (200..<300).contains(response.status) else { throw Refused(status: response.status, text: response.text) }
    }

    /// SNS Publish (query protocol): the message is the notice's JSON; the subject its first line, as e-mail shows it.
    func publish(_ notice: Notice, body: [UInt8], topic: String, aws: AWSClient) throws {
        var call = AWSClient.Call(service: "sns", action: "sns:Publish", resource: topic, method: "POST",
                                  baseURL: aws.configuration.endpoint(for: "sns").url)
        let subject = String("autoloader: \(notice.kind.rawValue) \(notice.table)".prefix(99))
        let form = [("Action", "Publish"), ("Version", "2010-03-31"), ("TopicArn", topic), ("Subject", subject),
                    ("Message", String(decoding: body, as: UTF8.self))]
        call.headers = [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")]
        call.body = Array(form.map { "\($0.0)=\(Self.formEncode($0.1))" }.joined(separator: "&").utf8)
        call.timeoutSeconds = limits.timeoutSeconds
        _ = try aws.send(call)
    }

    static func formEncode(_ s: String) -> String {
        // RFC 3986 unreserved, ASCII only (CharacterSet.alphanumerics would let non-ASCII letters through unencoded).
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }
}
