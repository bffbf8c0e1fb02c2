import Foundation
@testable import AutoloaderStores
import Testing

struct EventsAndConfigurationTests {
    @Test func s3EventsDirectWrappedInSNSAndFromEventBridge() {
        let direct = #"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"in/orders/my+file%3D1.csv","size":12,"eTag":"abc"}}},{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"in/orders/old.csv"}}}]}"#
        #expect(S3Event.parse(messageBody: direct) == [
            S3Event(kind: .created, bucket: "b", key: "in/orders/my file=1.csv", size: 12, etag: "abc"),
            S3Event(kind: .removed, bucket: "b", key: "in/orders/old.csv", size: nil, etag: nil),
        ])
        let escaped = direct.replacingOccurrences(of: "\"", with: "\\\"")
        let sns = #"{"Type":"Notification","Message":"\#(escaped)"}"#
        #expect(S3Event.parse(messageBody: sns).count == 2)
        let bridge = #"{"detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{"key":"in/x.csv","size":3,"etag":"e"}}}"#
        #expect(S3Event.parse(messageBody: bridge) == [S3Event(kind: .created, bucket: "b", key: "in/x.csv", size: 3, etag: "e")])
        // The test event S3 sends when a notification is set up, and junk: nothing to record.
        #expect(S3Event.parse(messageBody: #"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#).isEmpty)
        #expect(S3Event.parse(messageBody: "not json").isEmpty)
    }

    @Test func profilesRegionAndEndpointsFromTheEnvironmentAndFiles() throws {
        let dir = "/tmp/autoloader-aws-\(UInt64.random(in: 0...UInt64.max))"
        try FileManagerShim.write(dir + "/credentials", """
            [default]
            aws_access_key_id = AKDEFAULT
            aws_secret_access_key = sdefault
            [work]
            aws_access_key_id=AKWORK
            aws_secret_access_key=swork
            aws_session_token = tok
            """)
        try FileManagerShim.write(dir + "/config", """
            [default]
            region = eu-west-1
            [profile work]
            region = ap-south-1
            """)
        var env = ["HOME": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials", "AWS_CONFIG_FILE": dir + "/config",
                   "AWS_EC2_METADATA_DISABLED": "true"]
        var config = AWSConfiguration(environment: env)
        #expect(config.region == "eu-west-1")
        #expect(config.endpoint(for: "s3") == ("https://s3.eu-west-1.amazonaws.com", false))
        #expect(try AWSCredentialsProvider(configuration: config, transport: HTTPTransport()).credentials().accessKeyID == "AKDEFAULT")
        env["AWS_PROFILE"] = "work"
        config = AWSConfiguration(environment: env)
        #expect(config.region == "ap-south-1")
        let work = try AWSCredentialsProvider(configuration: config, transport: HTTPTransport()).credentials()
        #expect(work.accessKeyID == "AKWORK" && work.sessionToken == "tok")
        // Environment variables win over files; AWS_REGION over the profile; --endpoint over AWS_ENDPOINT_URL
        // (for every service: an S3-compatible store's events come from the same place); per-service variables first.
        env["AWS_ACCESS_KEY_ID"] = "AKENV"
        env["AWS_SECRET_ACCESS_KEY"] = "senv"
        env["AWS_REGION"] = "us-west-2"
        env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9000/"
        env["AWS_ENDPOINT_URL_SQS"] = "http://127.0.0.1:9001"
        config = AWSConfiguration(environment: env)
        #expect(config.endpoint(for: "s3") == ("http://127.0.0.1:9000", true))
        #expect(config.endpoint(for: "sqs") == ("http://127.0.0.1:9001", true))
        config = AWSConfiguration(environment: env, endpoint: "http://127.0.0.1:5000")
        #expect(config.region == "us-west-2")
        #expect(config.endpoint(for: "s3") == ("http://127.0.0.1:5000", true))
        #expect(config.endpoint(for: "redshift-data") == ("http://127.0.0.1:5000", true))
        #expect(try AWSCredentialsProvider(configuration: config, transport: HTTPTransport()).credentials().accessKeyID == "AKENV")
        // Nothing anywhere: a clear error naming what to set.
        let none = AWSConfiguration(environment: ["HOME": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"])
        #expect(throws: AWSError.self) { try AWSCredentialsProvider(configuration: none, transport: HTTPTransport()).credentials() }
    }

    @Test func errorsNameThePermissionAndWhatToDo() {
        let denied = AWSError.service(status: 403, code: "AccessDenied", message: "Access Denied", action: "s3:GetObject",
                                      resource: "arn:aws:s3:::b/in/x.csv")
        #expect(denied.description.contains("grant the loader's identity s3:GetObject on arn:aws:s3:::b/in/x.csv"))
        #expect(!denied.isRetryable)
        #expect(AWSError.service(status: 503, code: "SlowDown", message: "", action: "s3:GetObject", resource: "r").isRetryable)
        #expect(AWSError.service(status: 400, code: "ThrottlingException", message: "", action: "sqs:ReceiveMessage", resource: "q").isRetryable)
        #expect(AWSError.transport("timed out").isRetryable)
        #expect(AWSError.service(status: 404, code: "NoSuchBucket", message: "", action: "s3:ListBucket", resource: "arn:aws:s3:::b")
            .description.contains("no such bucket"))
    }

    @Test func sourceURLsAndTheSeedsDefaultRoot() throws {
        let aws = AWSClient(configuration: AWSConfiguration(environment: ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"]))
        #expect(try S3Store(url: "s3://bucket", aws: aws).root == "s3-to-redshift-loader-utility/")
        #expect(try S3Store(url: "s3://bucket/", aws: aws).root == "s3-to-redshift-loader-utility/")
        #expect(try S3Store(url: "s3://bucket/landing", aws: aws).root == "landing/")
        #expect(try S3Store(url: "s3://bucket/a/b/", aws: aws).location == "s3://bucket/a/b/")
        #expect(throws: (any Error).self) { try S3Store(url: "s3:///x", aws: aws) }
    }
}

/// Writes a file, making its folder.
enum FileManagerShim {
    static func write(_ path: String, _ text: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
