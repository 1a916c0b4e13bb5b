#!/usr/bin/env python3
"""A small webhook receiver on loopback that verifies every delivery with the `standardwebhooks`
package (PyPI) — independently of Paystream's own signing code — and logs one JSON line each.

    webhook-receiver.py --secret NAME=whsec_... [--secret ...] --log FILE [--port-file FILE]

A request's path chooses the secret it is verified with and how the receiver answers:

    /NAME/ok                 200
    /NAME/fail               500, always
    /NAME/flaky/N            500 to the first N deliveries of a webhook-id, then 200
    /NAME/slow/S             waits S seconds, then 200
    /NAME/limited/S          429 with Retry-After: S to a webhook-id's first delivery, then 200
    /NAME/unavailable/S      503 with Retry-After: S to a webhook-id's first delivery, then 200
    /NAME/gone               410
    /NAME/hold               waits until the file LOG.release exists (at most 60 s), then 200

A delivery that does not verify is answered 400 (and logged with "verified": false). The log line
has the path, webhook-id, timestamp, whether it verified, the status answered, the event type and
how many times this webhook-id reached this path. Serves until SIGTERM or SIGINT.
"""
import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

lock = threading.Lock()
seen = {}  # (path, webhook-id) -> deliveries so far


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--secret", action="append", default=[], help="NAME=whsec_... (repeatable)")
    parser.add_argument("--log", required=True, help="JSON Lines file, one line per delivery")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", help="written with the port once listening")
    args = parser.parse_args()
    secrets = {}
    for entry in args.secret:
        name, _, secret = entry.partition("=")
        secrets[name] = Webhook(secret)
    log = open(args.log, "a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            parts = [p for p in self.path.split("/") if p]
            name, mode, arg = (parts + ["", "", ""])[:3]
            webhook_id = self.headers.get("webhook-id", "")
            entry = {"path": self.path, "webhook_id": webhook_id, "timestamp": self.headers.get("webhook-timestamp"),
                     "received_at": time.time()}
            try:
                payload = secrets[name].verify(body, dict(self.headers))
                entry["verified"] = True
                entry["type"] = payload.get("type")
            except (KeyError, WebhookVerificationError) as error:
                entry["verified"] = False
                entry["error"] = repr(error)
            with lock:
                count = seen.get((self.path, webhook_id), 0) + 1
                seen[(self.path, webhook_id)] = count
            entry["delivery"] = count
            status, headers = 200, {}
            if not entry["verified"]:
                status = 400
            elif mode == "fail":
                status = 500
            elif mode == "flaky" and count <= int(arg or 1):
                status = 500
            elif mode == "slow":
                time.sleep(float(arg or 1))
            elif mode in ("limited", "unavailable") and count == 1:
                status = 429 if mode == "limited" else 503
                headers["Retry-After"] = arg or "1"
            elif mode == "gone":
                status = 410
            elif mode == "hold":
                # Logged at once (a line without a status), answered once released.
                with lock:
                    log.write(json.dumps(dict(entry, status=None, held=True)) + "\n")
                deadline = time.time() + 60
                while not os.path.exists(args.log + ".release") and time.time() < deadline:
                    time.sleep(0.05)
            entry["status"] = status
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", "0")
                self.end_headers()
            except (BrokenPipeError, ConnectionResetError):
                entry["status"] = "client gone"
            with lock:
                log.write(json.dumps(entry) + "\n")

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"webhook receiver listening on 127.0.0.1:{port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
