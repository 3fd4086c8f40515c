# The peer of bench/serve and bench/serve_dashboard: Python's
# http.server answering the open pixel from memory, with the one setting
# its documentation gives for a server of small replies:
# disable_nagle_algorithm (headers and body go in two writes, and Nagle's
# algorithm holds the second back for the client's delayed ACK, 40 ms a
# request). Writes its port to argv[1].
import base64, http.server, sys
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "image/gif")
        self.send_header("Content-Length", str(len(GIF)))
        self.end_headers()
        self.wfile.write(GIF)
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]) + "\n")
s.serve_forever()
