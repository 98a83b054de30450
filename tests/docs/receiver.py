#!/usr/bin/env python3
"""Local endpoints for the tool-action snippets (stdlib only): an HTTP server that answers
200 "ok" to every request and an SMTP server that accepts every message, both on
127.0.0.1. Each request or message is appended to LOG as one JSON line; the two ports are
written to PORTS as "HTTP_PORT SMTP_PORT" once both listen. Runs until killed.

    receiver.py PORTS LOG
"""

import json
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTS, LOG = sys.argv[1], sys.argv[2]
lock = threading.Lock()


def record(entry):
    with lock, open(LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


class Http(BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        record({"kind": "http", "method": self.command, "path": self.path, "body": body})
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

    def log_message(self, *args):
        pass


class Smtp(socketserver.StreamRequestHandler):
    timeout = 10

    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        self.reply("220 localhost ready")
        message = {"kind": "smtp", "rcpt": [], "data": ""}
        while True:
            line = self.rfile.readline().decode("utf-8", "replace")
            if not line:
                return
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 localhost")
            elif verb == "MAIL":
                message["from"] = line[10:].strip()
            elif verb == "RCPT":
                message["rcpt"].append(line[8:].strip())
            if verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go on")
                lines = []
                while True:
                    data = self.rfile.readline().decode("utf-8", "replace")
                    if data in (".\r\n", ".\n", ""):
                        break
                    lines.append(data)
                message["data"] = "".join(lines)
                record(message)
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            elif verb not in ("EHLO", "HELO"):
                self.reply("502 not implemented")


class SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


http = ThreadingHTTPServer(("127.0.0.1", 0), Http)
smtp = SmtpServer(("127.0.0.1", 0), Smtp)
threading.Thread(target=smtp.serve_forever, daemon=True).start()
with open(PORTS + ".tmp", "w", encoding="utf-8") as f:
    f.write(f"{http.server_address[1]} {smtp.server_address[1]}\n")
__import__("os").replace(PORTS + ".tmp", PORTS)
http.serve_forever()
