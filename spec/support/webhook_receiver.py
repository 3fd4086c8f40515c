"""A webhook receiver for the webhook specs, on 127.0.0.1.

usage: webhook_receiver.py PORT_FILE LOG_FILE [CERT KEY]

With CERT and KEY it speaks https. Every POST is appended to LOG_FILE as
one line of JSON: path, the X-Mailcast-* headers, the body as received,
whether the body is valid UTF-8 JSON ("json_ok") and, when it is, the
events it holds; "sig_ok" says whether the signature is the HMAC-SHA256
of "TIMESTAMP.BODY" with the secret in HOOK_SECRET.
The path chooses the answer: /ok answers 200; /flaky answers 500 to the
first two tries of a body and 200 to the third; /down answers 500 while
the file LOG_FILE.down exists; /hang never answers.
"""
import hashlib
import hmac
import http.server
import json
import os
import ssl
import sys
import threading
import time

port_file, log_file = sys.argv[1], sys.argv[2]
secret = os.environ.get("HOOK_SECRET", "").encode()
tries = {}
lock = threading.Lock()


def record(path, h, raw):
    entry = {"path": path, "stamp": h.get("X-Mailcast-Timestamp", ""),
             "sig": h.get("X-Mailcast-Signature", ""),
             "count": h.get("X-Mailcast-Events", ""),
             "body": raw.decode("latin-1"), "json_ok": False, "events": None}
    try:
        entry["events"] = json.loads(raw.decode("utf-8"))
        entry["json_ok"] = True
    except ValueError:
        pass
    mac = hmac.new(secret, entry["stamp"].encode() + b"." + raw, hashlib.sha256).hexdigest()
    entry["sig_ok"] = hmac.compare_digest("sha256=" + mac, entry["sig"])
    with open(log_file, "a") as f:
        f.write(json.dumps(entry) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            record(self.path, self.headers, raw)
            tries[(self.path, raw)] = tries.get((self.path, raw), 0) + 1
            n = tries[(self.path, raw)]
        if self.path == "/hang":
            time.sleep(3600)
            return
        code = 200
        if self.path == "/flaky" and n <= 2:
            code = 500
        if self.path == "/down" and os.path.exists(log_file + ".down"):
            code = 500
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
if len(sys.argv) > 4:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % server.server_address[1])
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
