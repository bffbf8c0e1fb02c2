import AutoloaderCore
import Foundation
@testable import AutoloaderStores
import AutoloaderTestSupport
import Testing

/// S3Client against moto_server (scripts/test starts it): listing pages, StartAfter, delimiters, ranges, HEAD.
struct S3ClientTests {
    @Test(.needsS3) func listingFollowsPagesStartAfterAndDelimiters() throws {
        let endpoint = try Gate.requireS3()
        let aws = AWSClient(configuration: AWSConfiguration(environment: ["AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "HOME": "/nonexistent"],
                                                            endpoint: endpoint))
        let s3 = S3Client(aws: aws)
        let bucket = "pages-\(UUID().uuidString.lowercased().prefix(8))"
        try s3.createBucket(bucket)
        let keys = ["in/a/1.csv", "in/a/2.csv", "in/a/3 with space+plus.csv", "in/b/1.csv", "in/b/ü.csv", "other/x.csv", "in/root.csv"]
        for key in keys { try s3.put(bucket: bucket, key: key, body: Array("id\n\(key.count)\n".utf8)) }

        let all = try s3.list(bucket: bucket, prefix: "in/", pageSize: 2)  // four pages
        #expect(Set(all.objects.map(\.key)) == Set(keys.filter { $0.hasPrefix("in/") }))
        #expect(all.objects.allSatisfy { $0.modifiedNanos % 1_000_000_000 == 0 && $0.etag.hasPrefix("\"") && $0.size > 0 })
        #expect(try s3.list(bucket: bucket, prefix: "in/a/", startAfter: "in/a/2.csv").objects.map(\.key) == ["in/a/3 with space+plus.csv"])
        #expect(try s3.list(bucket: bucket, prefix: "in/", delimiter: "/", pageSize: 1).commonPrefixes.sorted() == ["in/a/", "in/b/"])

        // HEAD agrees with the listing (size, whole-second time, ETag); ranges read what was written.
        let listed = try #require(all.objects.first { $0.key == "in/b/ü.csv" })
        #expect(try s3.head(bucket: bucket, key: "in/b/ü.csv") == listed)
        #expect(try s3.head(bucket: bucket, key: "in/b/none.csv") == nil)
        #expect(String(decoding: try s3.get(bucket: bucket, key: "in/a/3 with space+plus.csv", offset: 3, count: 2, ifMatch: nil), as: UTF8.self) == "26")
    }
}
