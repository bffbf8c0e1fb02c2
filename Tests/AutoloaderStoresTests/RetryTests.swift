import AutoloaderCore
import AutoloaderTestSupport
import Foundation
@testable import AutoloaderStores
import Testing

/// A real HTTP server on loopback that misbehaves on purpose (Python's http.server): the client must retry
/// throttling and server errors with backoff, resume a streamed object chunk by chunk, and stop at once on 403.
struct RetryTests {
    /// Serves `/bucket/key` (bytes 0..<4096, ranges honoured): the first two GETs of each range answer 503
    /// SlowDown; `/denied/…` answers 403 AccessDenied; HEAD gives length, ETag and Last-Modified.
    static let script = #"""
    import http.server, sys, threading
    data = bytes(i % 251 for i in range(4096))
    seen = {}
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def fail(self, status, code):
            body = f"<Error><Code>{code}</Code><Message>m</Message></Error>".encode()
            self.send_response(status); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
        def do_HEAD(self):
            if self.path.startswith("/denied"): return self.fail(403, "AccessDenied")
            self.send_response(200); self.send_header("Content-Length", str(len(data))); self.send_header("ETag", '"e1"')
            self.send_header("Last-Modified", "Fri, 24 May 2013 00:00:00 GMT"); self.end_headers()
        def do_GET(self):
            if self.path.startswith("/denied"): return self.fail(403, "AccessDenied")
            r = self.headers.get("Range", "bytes=0-4095")[6:].split("-")
            a, b = int(r[0]), min(int(r[1]), len(data) - 1)
            seen[a] = seen.get(a, 0) + 1
            if seen[a] <= 2: return self.fail(503, "SlowDown")
            body = data[a:b + 1]
            self.send_response(206); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    print(s.server_address[1], flush=True)
    threading.Timer(120, s.shutdown).start()  # bounded: no server outlives the test by long
    s.serve_forever()
    
    """#

    @Test func throttlingIsRetriedStreamsResumeByRangeAndDenialIsFinal() throws {
        let (port, stop) = try Subprocess.loopbackServer(Self.script)
        defer { stop() }
        let aws = AWSClient(configuration: AWSConfiguration(environment: ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "HOME": "/nonexistent"],
                                                            endpoint: "http://127.0.0.1:\(port)"))
        aws.baseDelaySeconds = 0.01
        final class Retries: @unchecked Sendable { var lines: [String] = []; let lock = NSLock() }
        let retries = Retries()
        aws.onRetry = { line in retries.lock.withLock { retries.lines.append(line) } }
        let store = try S3Store(url: "s3://bucket/", aws: aws)
        store.chunkBytes = 1000
        let reader = try store.open(key: "k")
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 300)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { break }
            bytes += buffer[0..<n]
        }
        #expect(bytes == (0..<4096).map { UInt8($0 % 251) })
        // Five ranges of 1,000 bytes, each throttled twice before it was served.
        #expect(retries.lines.count == 10)
        #expect(retries.lines.first?.contains("SlowDown") == true)
        let denied = try S3Store(url: "s3://denied/", aws: aws)
        #expect {
            _ = try denied.open(key: "x.csv")
        } throws: { error in
            "\(error)".contains("grant the loader's identity s3:GetObject on arn:aws:s3:::denied/s3-to-redshift-loader-utility/x.csv")
        }
        #expect(retries.lines.count == 10)  // 403 is not retried
    }
}
