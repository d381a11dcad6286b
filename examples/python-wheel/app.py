"""Answers with the output of napgreeting, a dependency installed at staging from vendor/."""
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import napgreeting


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        index = os.environ.get("NAP_INSTANCE_INDEX", "?")
        body = f"{napgreeting.greeting()} (python-wheel instance {index})\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


port = int(os.environ.get("PORT", "8080"))
print(f"listening on {port}")
ThreadingHTTPServer(("", port), Hello).serve_forever()
