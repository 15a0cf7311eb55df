"""A tiny stand-in for the mlship runtime (stdlib only): /readyz, /healthz, POST /predict.

Its behaviour comes from the environment baked in at build time, so the deploy tests can make
a good version, one that never becomes ready, and one that answers wrongly.
"""

import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("T_VERSION", "0")
BROKEN = os.environ.get("T_BROKEN", "")  # "", "readiness", "answer" or "others" (only x=2 answers)
READY_AFTER = float(os.environ.get("T_READY_AFTER", "0.5"))
STARTED = time.monotonic()


def _predict(record):
    value = float(record.get("x", 0)) * 2
    return value + 1 if BROKEN == "answer" else value


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # An idle kept-alive connection is closed after a while, as the real runtime does (uvicorn's
    # keep-alive timeout): a client that pools connections must not hold a stop up for ever.
    timeout = 2

    def log_message(self, *args):
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            self._send(200, {"status": "ok", "model_version": VERSION})
        elif self.path == "/readyz":
            ready = BROKEN != "readiness" and time.monotonic() - STARTED >= READY_AFTER
            self._send(200 if ready else 503, {"ready": ready, "model_version": VERSION})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            records = body["records"]
            predictions = [_predict(r) for r in records]
            if BROKEN == "others" and any(float(r.get("x", 0)) != 2 for r in records):
                raise RuntimeError("this version fails every input but the gate's example")
        except RuntimeError as exc:
            self._send(500, {"error": str(exc)})
            return
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self._send(422, {"error": str(exc)})
            return
        if self.path != "/predict":
            self._send(404, {"error": "not found"})
            return
        self._send(200, {"predictions": predictions, "model_version": VERSION, "request_id": "t"})


if __name__ == "__main__":
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler)
    server.daemon_threads = False  # server_close() then waits for requests in flight
    # Like the real runtime: on SIGTERM stop accepting, finish the requests in flight, exit.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    server.server_close()
