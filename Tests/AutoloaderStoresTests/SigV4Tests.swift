import AutoloaderCore
@testable import AutoloaderStores
import Testing

/// AWS's published vectors: the Signature Version 4 test suite (credentials AKIDEXAMPLE, service `service`,
/// 2015-08-30T12:36:00Z) and the S3 API reference's "Signature Calculations for the Authorization Header"
/// examples (AKIAIOSFODNN7EXAMPLE, 2013-05-24).
struct SigV4Tests {
    static let suite = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    static let suiteTime: Int64 = 1_440_938_160
    static let s3doc = AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    static let s3Time: Int64 = 1_369_353_600

    @Test func getVanillaCanonicalRequestStringToSignAndSignature() {
        let signer = SigV4(region: "us-east-1", service: "service")
        let request = SignableRequest(method: "GET", host: "example.amazonaws.com", path: "/")
        let canonical = signer.canonicalRequest(request, amzDate: "20150830T123600Z")
        #expect(canonical == """
            GET
            /

            host:example.amazonaws.com
            x-amz-date:20150830T123600Z

            host;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(signer.stringToSign(canonicalRequest: canonical, amzDate: "20150830T123600Z") == """
            AWS4-HMAC-SHA256
            20150830T123600Z
            20150830/us-east-1/service/aws4_request
            bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63
            """)
        #expect(authorization(signer, request, Self.suite, Self.suiteTime) ==
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    @Test(arguments: [
        ("get-vanilla-query-order-key-case", "GET", [("Param2", "value2"), ("Param1", "value1")], "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        ("post-vanilla", "POST", [], "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ])
    func testSuiteVectors(name: String, method: String, query: [(String, String)], signature: String) {
        let signer = SigV4(region: "us-east-1", service: "service")
        let request = SignableRequest(method: method, host: "example.amazonaws.com", path: "/", query: query)
        #expect(authorization(signer, request, Self.suite, Self.suiteTime).hasSuffix("Signature=\(signature)"), "\(name)")
    }

    @Test func s3DocumentationExamples() {
        let s3 = SigV4(region: "us-east-1", service: "s3")
        let empty = SigV4.emptyPayloadSHA256
        // GET Object with a range.
        var request = SignableRequest(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt",
                                      headers: [("Range", "bytes=0-9"), ("x-amz-content-sha256", empty)])
        #expect(authorization(s3, request, Self.s3doc, Self.s3Time) ==
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        // PUT Object: a key with `$` (encoded), a Date header, a payload hash.
        let payload = SHA256.hex(Array("Welcome to Amazon S3.".utf8))
        #expect(payload == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        request = SignableRequest(method: "PUT", host: "examplebucket.s3.amazonaws.com", path: "/" + AWSURI.encode("test$file.text", keepSlash: true),
                                  headers: [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                                            ("x-amz-content-sha256", payload)], payloadSHA256: payload)
        #expect(authorization(s3, request, Self.s3doc, Self.s3Time).hasSuffix("Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"))
        // GET Bucket lifecycle: a query parameter without a value.
        request = SignableRequest(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/", query: [("lifecycle", "")],
                                  headers: [("x-amz-content-sha256", empty)])
        #expect(authorization(s3, request, Self.s3doc, Self.s3Time).hasSuffix("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"))
        // GET Bucket (list objects): query parameters sorted.
        request = SignableRequest(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/", query: [("prefix", "J"), ("max-keys", "2")],
                                  headers: [("x-amz-content-sha256", empty)])
        #expect(authorization(s3, request, Self.s3doc, Self.s3Time).hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"))
    }

    @Test func sessionTokenIsSignedAndSent() {
        var credentials = Self.suite
        credentials.sessionToken = "TOKEN"
        let headers = SigV4(region: "us-east-1", service: "service")
            .sign(SignableRequest(method: "GET", host: "example.amazonaws.com", path: "/"), credentials: credentials, atSeconds: Self.suiteTime)
        #expect(headers.contains { $0 == ("x-amz-security-token", "TOKEN") })
        #expect(headers.last?.1.contains("SignedHeaders=host;x-amz-date;x-amz-security-token") == true)
    }

    @Test func hmacMatchesRFC4231() {
        // RFC 4231 test case 2.
        let mac = hmacSHA256(key: Array("Jefe".utf8), Array("what do ya want for nothing?".utf8))
        #expect(SHA256.hexString(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // Test case 6: a key longer than the block.
        let long = hmacSHA256(key: [UInt8](repeating: 0xaa, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))
        #expect(SHA256.hexString(long) == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test func timestampsAndEncoding() {
        #expect(SigV4.timestamp(0) == ("19700101T000000Z", "19700101"))
        #expect(SigV4.timestamp(1_709_164_800) == ("20240229T000000Z", "20240229"))
        #expect(AWSURI.encode("a b/c~d+e$é", keepSlash: true) == "a%20b/c~d%2Be%24%C3%A9")
        #expect(AWSURI.encode("a/b") == "a%2Fb")
        #expect("orders/my+file%2B1.csv".percentDecoded(plusAsSpace: true) == "orders/my file+1.csv")
        #expect(HTTPDate.parseNanos("Fri, 24 May 2013 00:00:00 GMT") == Int64(1_369_353_600) * 1_000_000_000)
    }

    func authorization(_ signer: SigV4, _ request: SignableRequest, _ credentials: AWSCredentials, _ time: Int64) -> String {
        signer.sign(request, credentials: credentials, atSeconds: time).first { $0.0 == "Authorization" }?.1 ?? ""
    }
}
