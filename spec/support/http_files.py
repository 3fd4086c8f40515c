#!/usr/bin/python3
"""A small HTTP server of files for the specs of pages with remote images,
on 127.0.0.1 only.

usage: http_files.py DIR PORT_FILE LOG_FILE

Serves the files of DIR; every request's path is appended to LOG_FILE
(one line each). A file asked for with ?charset=NAME has that charset
in its Content-Type. /big answers 200 with more bytes than a message may
embed (8 MiB); /hang never answers.
"""
import http.server
import os
import sys
import threading
import time

root, port_file, log_file = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with lock, open(log_file, "a") as f:
            f.write(self.path + "\n")
        if self.path == "/hang":
            time.sleep(300)
            return
        if self.path.startswith("/redirect/"):   # /redirect/N/PATH: N redirects, then PATH
            hops, _, rest = self.path[len("/redirect/"):].partition("/")
            self.send_response(302)
            target = "/" + rest if int(hops) <= 1 else "/redirect/%d/%s" % (int(hops) - 1, rest)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            chunk = b"\0" * 65536
            try:
                for _ in range(128):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        path = os.path.normpath(os.path.join(root, self.path.lstrip("/").split("?")[0]))
        if not path.startswith(os.path.abspath(root) + os.sep) or not os.path.isfile(path):
            self.send_error(404)
            return
        with open(path, "rb") as f:
            data = f.read()
        self.send_response(200)
        ctype = {".png": "image/png", ".css": "text/css"}.get(os.path.splitext(path)[1], "application/octet-stream")
        query = self.path.partition("?")[2]
        if query.startswith("charset="):
            ctype += "; charset=" + query[len("charset="):]
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
