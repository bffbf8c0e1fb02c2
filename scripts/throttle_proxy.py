#!/usr/bin/env python3
"""An HTTP proxy in front of an S3 endpoint (moto) that throttles object reads for a while, the way S3 does
under load: GET and HEAD of an object answer 503 SlowDown for the first SECONDS, listings pass. Fault tests
only; it binds to 127.0.0.1, prints its port, and stops by itself after STOP_AFTER seconds.

Usage: throttle_proxy.py UPSTREAM SECONDS [STOP_AFTER]
"""
import http.client, http.server, sys, threading, time, urllib.parse

upstream = urllib.parse.urlparse(sys.argv[1])
throttle_until = time.time() + float(sys.argv[2])
stop_after = float(sys.argv[3]) if len(sys.argv) > 3 else 600
throttled = 0

SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
             b'<Message>Please reduce your request rate.</Message></Error>')


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        global throttled
        path = urllib.parse.urlparse(self.path).path
        is_object = self.command in ("GET", "HEAD") and path.strip("/").count("/") >= 1
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if is_object and time.time() < throttle_until:
            throttled += 1
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(SLOW_DOWN)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(SLOW_DOWN)
            return
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        headers["Host"] = upstream.netloc
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        # HEAD carries the object's length without its body.
        self.send_header("Content-Length", resp.getheader("Content-Length", "0") if self.command == "HEAD" else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = handle_any


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
print(server.server_address[1], flush=True)
threading.Timer(stop_after, server.shutdown).start()
server.serve_forever()
