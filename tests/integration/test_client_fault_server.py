"""test_client_fault_server.py — a scripted, fault-injecting HTTP server on 127.0.0.1 for
the client tests (not a test itself).

Each request to any path takes the next step of the script: a dict with
  status (int), headers (dict), body (bytes|str|dict), delay (s before answering),
  sse (list of str data payloads, streamed as text/event-stream with `gap` s between),
  break_after (int: with sse, close the socket after this many events, no [DONE]).
When the script is used up, `default` answers. Every request is recorded
(method, path, headers, body, time) in server.requests.
"""
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def _handle(self):
        srv = self.server
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with srv.lock:
            srv.requests.append({
                "method": self.command, "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body, "time": time.monotonic()})
            step = srv.script.pop(0) if srv.script else srv.default
        if step.get("delay"):
            time.sleep(step["delay"])
        if "sse" in step:
            self._sse(step)
            return
        payload = step.get("body", {"ok": True})
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        if isinstance(payload, str):
            payload = payload.encode()
        self.send_response(step.get("status", 200))
        self.send_header("Content-Type", "application/json")
        for k, v in step.get("headers", {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _sse(self, step):
        self.send_response(step.get("status", 200))
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for i, data in enumerate(step["sse"]):
            if step.get("break_after") is not None and i >= step["break_after"]:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(b"data: " + data.encode() + b"\n\n")
            self.wfile.flush()
            if step.get("gap"):
                time.sleep(step["gap"])

    do_GET = _handle
    do_POST = _handle
    do_PUT = _handle
    do_DELETE = _handle


class FaultServer:
    """Use as a context manager; .url is http://127.0.0.1:PORT."""

    def __init__(self, script=None, default=None):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.lock = threading.Lock()
        self.httpd.requests = []
        self.httpd.script = list(script or [])
        self.httpd.default = default or {"status": 200, "body": {"ok": True}}
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def requests(self):
        with self.httpd.lock:
            return list(self.httpd.requests)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def dead_url():
    """A loopback URL nobody listens on (a port bound and released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "http://127.0.0.1:%d" % port


def chat_chunk(text=None, finish=None):
    """One OpenAI chat.completion.chunk payload."""
    delta = {"content": text} if text is not None else {}
    return json.dumps({"id": "c1", "object": "chat.completion.chunk", "model": "m",
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
