"""The smallest Python app nap runs: the standard library's HTTP server, no dependencies."""
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"Hello from nap! (hello-python instance {os.environ.get('NAP_INSTANCE_INDEX', '?')})\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


port = int(os.environ.get("PORT", "8080"))
print(f"listening on {port}")
ThreadingHTTPServer(("", port), Hello).serve_forever()
