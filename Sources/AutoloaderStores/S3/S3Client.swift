import AutoloaderCore
import AutoloaderFormats
import Foundation

/// An S3 object as listed: `key` is the full key in the bucket.
public struct S3Object: Sendable, Equatable {
    public var key: String
    public var size: Int64
    /// Whole seconds (listings give milliseconds, HEAD gives seconds: one resolution for both), as nanoseconds.
    public var modifiedNanos: Int64
    public var etag: String
}

/// The S3 REST calls the loader needs, on `AWSClient`. Path-style addressing for custom endpoints
/// (moto, MinIO, R2…), virtual-hosted style on AWS.
public final class S3Client: Sendable {
    public let aws: AWSClient
    public init(aws: AWSClient) { self.aws = aws }

    func call(_ action: String, bucket: String, key: String = "", method: String = "GET") -> AWSClient.Call {
        let (base, custom) = aws.configuration.endpoint(for: "s3")
        let encodedKey = AWSURI.encode(key, keepSlash: true)
        let resource = key.isEmpty ? "arn:aws:s3:::\(bucket)" : "arn:aws:s3:::\(bucket)/\(key)"
        if custom || bucket.contains(".") {
            let root = custom ? base : "https://s3.\(aws.configuration.region).amazonaws.com"
            return AWSClient.Call(service: "s3", action: action, resource: resource, method: method, baseURL: root,
                                  path: "/\(bucket)" + (key.isEmpty ? "" : "/" + encodedKey))
        }
        return AWSClient.Call(service: "s3", action: action, resource: resource, method: method,
                              baseURL: "https://\(bucket).s3.\(aws.configuration.region).amazonaws.com", path: "/" + encodedKey)
    }

    public struct ListPage: Sendable {
        public var objects: [S3Object] = []
        public var commonPrefixes: [String] = []
        public var nextToken: String?
    }

    public func listPage(bucket: String, prefix: String, startAfter: String? = nil, delimiter: String? = nil,
                         token: String? = nil, maxKeys: Int = 1000) throws -> ListPage {
        var c = call("s3:ListBucket", bucket: bucket)
        c.query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(maxKeys))]
        if let startAfter { c.query.append(("start-after", startAfter)) }
        if let delimiter { c.query.append(("delimiter", delimiter)) }
        if let token { c.query.append(("continuation-token", token)) }
        let response = try aws.send(c)
        guard let root = XMLNode.parse(response.body), root.name == "ListBucketResult" else {
            throw AWSError.protocolError("ListObjectsV2 s3://\(bucket)/\(prefix): not a ListBucketResult")
        }
        var page = ListPage()
        for item in root.all("Contents") {
            guard let key = item.value("Key") else { continue }
            page.objects.append(S3Object(key: key, size: Int64(item.value("Size") ?? "") ?? 0,
                                         modifiedNanos: Self.wholeSeconds(WallClock.parseNanos(item.value("LastModified") ?? "") ?? 0),
                                         etag: item.value("ETag") ?? ""))
        }
        page.commonPrefixes = root.all("CommonPrefixes").compactMap { $0.value("Prefix") }
        if root.value("IsTruncated") == "true" { page.nextToken = root.value("NextContinuationToken") }
        return page
    }

    /// Every page, following continuation tokens.
    public func list(bucket: String, prefix: String, startAfter: String? = nil, delimiter: String? = nil, pageSize: Int = 1000) throws -> ListPage {
        var all = ListPage()
        var token: String?
        repeat {
            let page = try listPage(bucket: bucket, prefix: prefix, startAfter: startAfter, delimiter: delimiter, token: token, maxKeys: pageSize)
            all.objects += page.objects
            all.commonPrefixes += page.commonPrefixes
            token = page.nextToken
        } while token != nil
        return all
    }

    /// nil when the object does not exist.
    public func head(bucket: String, key: String) throws -> S3Object? {
        var c = call("s3:GetObject", bucket: bucket, key: key, method: "HEAD")
        c.accept = [404]
        let response = try aws.send(c)
        if response.status == 404 { return nil }
        return S3Object(key: key, size: Int64(response.headers["content-length"] ?? "") ?? 0,
                        modifiedNanos: HTTPDate.parseNanos(response.headers["last-modified"] ?? "") ?? 0,
                        etag: response.headers["etag"] ?? "")
    }

    /// Bytes `[offset, offset+count)`. With `ifMatch`, a replaced object fails (412) instead of mixing versions.
    public func get(bucket: String, key: String, offset: Int64, count: Int, ifMatch: String?) throws -> [UInt8] {
        var c = call("s3:GetObject", bucket: bucket, key: key)
        c.headers = [("Range", "bytes=\(offset)-\(offset + Int64(count) - 1)")]
        if let ifMatch, !ifMatch.isEmpty { c.headers.append(("If-Match", ifMatch)) }
        c.accept = [416]
        let response = try aws.send(c)
        if response.status == 416 { return [] }
        return response.body
    }

    /// For tests and set-up scripts (the loader itself never creates buckets).
    public func createBucket(_ bucket: String) throws {
        var c = call("s3:CreateBucket", bucket: bucket, method: "PUT")
        c.body = []
        _ = try aws.send(c)
    }

    public func put(bucket: String, key: String, body: [UInt8], contentType: String = "application/octet-stream") throws {
        var c = call("s3:PutObject", bucket: bucket, key: key, method: "PUT")
        c.headers = [("Content-Type", contentType)]
        c.body = body
        _ = try aws.send(c)
    }

    public func getObject(bucket: String, key: String) throws -> [UInt8] {
        try aws.send(call("s3:GetObject", bucket: bucket, key: key)).body
    }

    public func notificationConfiguration(bucket: String) throws -> XMLNode {
        var c = call("s3:GetBucketNotification", bucket: bucket)
        c.query = [("notification", "")]
        let response = try aws.send(c)
        // The root's name varies between S3-compatible stores (moto answers an empty one differently).
        return XMLNode.element("NotificationConfiguration", XMLNode.parse(response.body)?.children ?? [])
    }

    public func putNotificationConfiguration(bucket: String, _ configuration: XMLNode) throws {
        var c = call("s3:PutBucketNotification", bucket: bucket, method: "PUT")
        c.query = [("notification", "")]
        c.headers = [("Content-Type", "application/xml")]
        c.body = Array(("<?xml version=\"1.0\" encoding=\"UTF-8\"?>" + configuration.xml()
            .replacingOccurrences(of: "<NotificationConfiguration>",
                                  with: "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">")).utf8)
        _ = try aws.send(c)
    }

    static func wholeSeconds(_ nanos: Int64) -> Int64 { nanos - nanos % 1_000_000_000 }
}

/// `Thu, 26 Nov 2026 13:00:00 GMT` (RFC 7231 IMF-fixdate), as HEAD's Last-Modified gives it.
enum HTTPDate {
    static func parseNanos(_ s: String) -> Int64? {
        let parts = s.split(separator: " ")
        guard parts.count >= 5 else { return nil }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let day = Int(parts[1]), let m = months.firstIndex(of: String(parts[2])), let year = Int(parts[3]) else { return nil }
        let hms = parts[4].split(separator: ":").compactMap { Int($0) }
        guard hms.count == 3 else { return nil }
        let days = Int64(TemporalFormat.daysFromCivil(year, m + 1, day))
        return (days * 86_400 + Int64(hms[0] * 3600 + hms[1] * 60 + hms[2])) * 1_000_000_000
    }
}
