#!/usr/bin/env python3
"""A metrics endpoint whose values tests control: GET /metrics returns every *.prom file in DIR,
concatenated. Tests write their own file (atomically, by rename), so parallel tests never share one.

    metrics-endpoint.py DIR PORT"""
import http.server, os, sys

DIR, PORT = sys.argv[1], int(sys.argv[2])

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?")[0] != "/metrics":
            self.send_error(404)
            return
        body = b""
        for name in sorted(os.listdir(DIR)):
            if name.endswith(".prom"):
                try:
                    with open(os.path.join(DIR, name), "rb") as f:
                        body += f.read().rstrip(b"\n") + b"\n"
                except FileNotFoundError:
                    pass
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
