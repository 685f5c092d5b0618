#!/usr/bin/env python3
"""A webhook receiver for gitiam's push-event tests.

Listens on 127.0.0.1:PORT (0: any; the port is printed as `listening PORT`),
verifies every POST with the `standardwebhooks` package (an implementation
independent of gitiam's) using the secret given for its path, answers 204
when the signature verifies and 401 when it does not, and appends one JSON
line per request to OUT: path, the webhook-id header, whether the signature
verified (and why not), and the parsed body.

    webhook_receiver.py OUT PORT PATH=whsec_... [PATH=whsec_...]

With RECEIVER_TLS_CERT and RECEIVER_TLS_KEY set (PEM files) it serves HTTPS.
"""

import json
import os
import ssl
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook

OUT = sys.argv[1]
PORT = int(sys.argv[2])
SECRETS = dict(arg.split("=", 1) for arg in sys.argv[3:])


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = {"path": self.path, "id": headers.get("webhook-id"),
                  "content_type": headers.get("content-type")}
        secret = SECRETS.get(self.path)
        try:
            if secret is None:
                raise ValueError("no secret for this path")
            record["body"] = Webhook(secret).verify(body, headers)
            record["verified"] = True
        except Exception as e:  # noqa: BLE001 - record any failure
            record["verified"] = False
            record["error"] = f"{type(e).__name__}: {e}"
            try:
                record["body"] = json.loads(body)
            except ValueError:
                record["body"] = None
        with open(OUT, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
        self.send_response(204 if record["verified"] else 401)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", PORT), Handler)
if os.environ.get("RECEIVER_TLS_CERT"):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.environ["RECEIVER_TLS_CERT"], os.environ["RECEIVER_TLS_KEY"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
