"""A webhook receiver for the serve specs, on 127.0.0.1.

usage: webhook_receiver.py PORT_FILE LOG_FILE

Every POST is appended to LOG_FILE as one line: path, X-Mailcast-Event,
X-Mailcast-Timestamp, X-Mailcast-Signature and body, separated by tabs.
The path chooses the answer: /ok answers 200; /flaky answers 500 to the
first two tries of a body and 200 to the third; /hang never answers.
"""
import http.server
import os
import sys
import threading
import time

port_file, log_file = sys.argv[1], sys.argv[2]
tries = {}
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        h = self.headers
        with lock:
            with open(log_file, "a") as f:
                f.write("\t".join([self.path, h.get("X-Mailcast-Event", ""),
                                   h.get("X-Mailcast-Timestamp", ""),
                                   h.get("X-Mailcast-Signature", ""), body]) + "\n")
            tries[(self.path, body)] = tries.get((self.path, body), 0) + 1
            n = tries[(self.path, body)]
        if self.path == "/hang":
            time.sleep(3600)
            return
        code = 500 if self.path == "/flaky" and n <= 2 else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % server.server_address[1])
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
