import ArgumentParser
import AutoloaderStores
import Foundation

struct SetupEventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup-events",
        abstract: "Send a bucket's object events for the landing root to an SQS queue (created if needed).",
        discussion: """
        Adds one queue notification (Id autoloader-QUEUE) for s3:ObjectCreated:* and s3:ObjectRemoved:* under \
        the root prefix, and keeps every other notification of the bucket. The queue gets a policy that lets \
        this bucket send to it. --remove takes out only that notification. Then: autoloader run --source … --queue QUEUE.
        """
    )

    @Option(help: ArgumentHelp("s3://bucket/prefix/ (default prefix: s3-to-redshift-loader-utility/).", valueName: "url"))
    var source: String
    @Option(help: "SQS queue name.")
    var queue: String
    @Option(help: ArgumentHelp("S3/SQS endpoint (moto, MinIO…). Default: AWS_ENDPOINT_URL, else AWS.", valueName: "url"))
    var endpoint: String?
    @Flag(help: "Remove our notification (the queue stays).")
    var remove = false

    func run() throws {
        let aws = AWSClient(configuration: AWSConfiguration(endpoint: endpoint))
        let store = try S3Store(url: source, aws: aws)
        store.log = Log.line
        try store.resolveRoot()
        let id = "autoloader-\(queue)"
        let current = try store.s3.notificationConfiguration(bucket: store.bucket)
        let others = current.children.filter { !($0.name == "QueueConfiguration" && $0.value("Id") == id) }
        if remove {
            current.children = others
            try store.s3.putNotificationConfiguration(bucket: store.bucket, current)
            print("removed notification \(id) from s3://\(store.bucket); \(others.count) other notification(s) kept")
            return
        }
        let url = try store.sqs.queueURL(name: queue) ?? store.sqs.createQueue(name: queue)
        let attributes = try store.sqs.attributes(queueURL: url)
        guard let arn = attributes["QueueArn"] else { throw ValidationError("queue \(queue) has no QueueArn attribute") }
        try store.sqs.setAttributes(queueURL: url, ["Policy": Self.policy(existing: attributes["Policy"], queueARN: arn, bucket: store.bucket)])

        let ours = XMLNode.element("QueueConfiguration", [
            XMLNode.element("Id", text: id),
            XMLNode.element("Queue", text: arn),
            XMLNode.element("Event", text: "s3:ObjectCreated:*"),
            XMLNode.element("Event", text: "s3:ObjectRemoved:*"),
            XMLNode.element("Filter", [XMLNode.element("S3Key", [XMLNode.element("FilterRule", [
                XMLNode.element("Name", text: "prefix"), XMLNode.element("Value", text: store.root),
            ])])]),
        ])
        // S3's schema orders Topic, Queue, CloudFunction configurations: ours goes after the last queue or topic one.
        var children = others
        let at = (children.lastIndex { $0.name == "QueueConfiguration" || $0.name == "TopicConfiguration" }).map { $0 + 1 } ?? 0
        children.insert(ours, at: at)
        current.children = children
        try store.s3.putNotificationConfiguration(bucket: store.bucket, current)
        print("s3://\(store.bucket)/\(store.root) → \(arn) (notification \(id)); \(others.count) other notification(s) kept")
        print("now: autoloader run --source \(source) --queue \(queue)\(endpoint.map { " --endpoint \($0)" } ?? "")")
    }

    /// The queue's policy with one more statement letting the bucket send; statements already there stay.
    static func policy(existing: String?, queueARN: String, bucket: String) throws -> String {
        var policy = (existing.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
            ?? ["Version": "2012-10-17"]
        var statements = policy["Statement"] as? [[String: Any]] ?? []
        let sid = "autoloader-s3-\(bucket)"
        statements.removeAll { $0["Sid"] as? String == sid }
        statements.append([
            "Sid": sid, "Effect": "Allow", "Principal": ["Service": "s3.amazonaws.com"], "Action": "sqs:SendMessage",
            "Resource": queueARN, "Condition": ["ArnLike": ["aws:SourceArn": "arn:aws:s3:::\(bucket)"]],
        ])
        policy["Statement"] = statements
        return String(decoding: try JSONSerialization.data(withJSONObject: policy, options: [.sortedKeys]), as: UTF8.self)
    }
}
