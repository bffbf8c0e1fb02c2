import AutoloaderCore
import Foundation

/// The SQS calls for S3 event notifications (JSON protocol, as the current SDKs speak it).
public final class SQSClient: Sendable {
    public let aws: AWSClient
    public init(aws: AWSClient) { self.aws = aws }

    func call(_ operation: String, resource: String, _ body: [String: Any], timeoutSeconds: Double = 60) throws -> [String: Any] {
        try aws.json(service: "sqs", target: "AmazonSQS.\(operation)", version: "1.0", action: "sqs:\(operation)",
                     resource: resource, body, timeoutSeconds: timeoutSeconds)
    }

    /// nil when there is no such queue.
    public func queueURL(name: String) throws -> String? {
        do {
            return try call("GetQueueUrl", resource: name, ["QueueName": name])["QueueUrl"] as? String
        } catch let AWSError.service(_, code, _, _, _) where code.contains("NonExistentQueue") || code.contains("QueueDoesNotExist") {
            return nil
        }
    }

    public func createQueue(name: String) throws -> String {
        guard let url = try call("CreateQueue", resource: name, ["QueueName": name])["QueueUrl"] as? String else {
            throw AWSError.protocolError("CreateQueue \(name): no QueueUrl")
        }
        return url
    }

    public func attributes(queueURL: String) throws -> [String: String] {
        let r = try call("GetQueueAttributes", resource: queueURL, ["QueueUrl": queueURL, "AttributeNames": ["All"]])
        return r["Attributes"] as? [String: String] ?? [:]
    }

    public func setAttributes(queueURL: String, _ attributes: [String: String]) throws {
        _ = try call("SetQueueAttributes", resource: queueURL, ["QueueUrl": queueURL, "Attributes": attributes])
    }

    public struct Message: Sendable {
        public var id: String
        public var receiptHandle: String
        public var body: String
    }

    /// Long polling: waits up to `waitSeconds` for a message.
    public func receive(queueURL: String, waitSeconds: Int = 20, max: Int = 10) throws -> [Message] {
        let r = try call("ReceiveMessage", resource: queueURL,
                         ["QueueUrl": queueURL, "MaxNumberOfMessages": max, "WaitTimeSeconds": waitSeconds],
                         timeoutSeconds: Double(waitSeconds) + 15)
        return (r["Messages"] as? [[String: Any]] ?? []).compactMap { m in
            guard let id = m["MessageId"] as? String, let handle = m["ReceiptHandle"] as? String else { return nil }
            return Message(id: id, receiptHandle: handle, body: m["Body"] as? String ?? "")
        }
    }

    public func delete(queueURL: String, receiptHandles: [String]) throws {
        for chunk in stride(from: 0, to: receiptHandles.count, by: 10).map({ Array(receiptHandles[$0..<min($0 + 10, receiptHandles.count)]) }) {
            let entries = chunk.enumerated().map { ["Id": "m\($0.offset)", "ReceiptHandle": $0.element] }
            _ = try call("DeleteMessageBatch", resource: queueURL, ["QueueUrl": queueURL, "Entries": entries])
        }
    }
}

/// One object change announced by an event notification.
public struct S3Event: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case created, removed }
    public var kind: Kind
    public var bucket: String
    public var key: String
    public var size: Int64?
    public var etag: String?

    /// The events in one SQS message body: S3's own format, the same wrapped in SNS, or EventBridge's.
    /// `s3:TestEvent` (sent when a notification is configured) and anything else yield no events.
    public static func parse(messageBody: String) -> [S3Event] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(messageBody.utf8)) as? [String: Any] else { return [] }
        if let inner = object["Message"] as? String, object["Type"] as? String == "Notification" {
            return parse(messageBody: inner)
        }
        if let detail = object["detail"] as? [String: Any], let type = object["detail-type"] as? String {
            guard let bucket = (detail["bucket"] as? [String: Any])?["name"] as? String,
                  let o = detail["object"] as? [String: Any], let key = o["key"] as? String else { return [] }
            let kind: Kind = type.contains("Deleted") ? .removed : .created
            return [S3Event(kind: kind, bucket: bucket, key: key, size: (o["size"] as? NSNumber)?.int64Value, etag: o["etag"] as? String)]
        }
        return (object["Records"] as? [[String: Any]] ?? []).compactMap { record in
            guard let name = record["eventName"] as? String, let s3 = record["s3"] as? [String: Any],
                  let bucket = (s3["bucket"] as? [String: Any])?["name"] as? String,
                  let o = s3["object"] as? [String: Any], let rawKey = o["key"] as? String else { return nil }
            let kind: Kind
            if name.hasPrefix("ObjectCreated") { kind = .created } else if name.hasPrefix("ObjectRemoved") { kind = .removed } else { return nil }
            return S3Event(kind: kind, bucket: bucket, key: rawKey.percentDecoded(plusAsSpace: true),
                           size: (o["size"] as? NSNumber)?.int64Value, etag: o["eTag"] as? String)
        }
    }
}
