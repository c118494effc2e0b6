"""--max-connections and --conn-timeout. Over the cap, libmicrohttpd stops accepting: a new
connection waits in the kernel's listen backlog unanswered (its request is not read) and is
served once an open one closes. An idle connection is closed after the timeout (bounded: a
few seconds); a busy one is not."""
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server  # noqa: E402

REQ = b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n"


def ask(sock, timeout=10):
    """Sends one keep-alive request. Returns "ok" (a 200 came back), "waiting" (no answer
    within timeout) or "closed" (the server closed or reset the connection)."""
    try:
        sock.sendall(REQ)
        return answer(sock, timeout)
    except OSError:
        return "closed"


def answer(sock, timeout=10):
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return "closed"
            data += chunk
    except socket.timeout:
        return "waiting"
    except OSError:
        return "closed"
    return "ok" if data.startswith(b"HTTP/1.1 200") else "closed"


def closed_within(sock, seconds):
    """Seconds until the server closed sock (EOF or reset), or None if still open."""
    t0 = time.time()
    sock.settimeout(seconds)
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return time.time() - t0
    except socket.timeout:
        return None
    except OSError:
        return time.time() - t0


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s


c = Checker()
models = os.path.join(tempfile.mkdtemp(prefix="inferd-conn-"), "models")
os.makedirs(models)

# -- the cap: 2 worker threads, 4 connections in all (libmicrohttpd gives each worker 2)
with Server(models, "--threads", "2", "--max-connections", "4", "--poll-ms", "0") as s:
    served, waiting = [], []
    for i in range(8):
        k = connect(s.port)
        # generous: under a loaded CI machine a served answer can take over a second
        got = ask(k, timeout=3 if len(served) >= 2 else 10)
        (served if got == "ok" else waiting if got == "waiting" else []).append(k)
    c.check(2 <= len(served) <= 4, "at most 4 of 8 connections served, got %d" % len(served))
    c.check(len(served) + len(waiting) == 8, "the others wait unanswered (%d)" % len(waiting))
    c.check(all(ask(k) == "ok" for k in served), "connections under the cap keep serving")
    c.check(all(answer(k, 1.0) == "waiting" for k in waiting), "still no answer over the cap")
    for k in served:
        k.close()
    # freed slots: the waiting connections are accepted and their requests answered
    c.check(all(answer(k, 10) == "ok" for k in waiting[:2]), "a waiting connection is served once slots free")
    for k in waiting:
        k.close()
    c.check(s.stop() == 0, "clean exit")

# -- the idle timeout: 1 second
with Server(models, "--conn-timeout", "1", "--poll-ms", "0") as s:
    k = connect(s.port)
    busy = True
    for _ in range(4):  # requests 0.4 s apart keep it open past the timeout
        busy = busy and ask(k)
        time.sleep(0.4)
    c.check(busy, "a connection in use is not cut by the timeout")
    took = closed_within(k, 8)
    c.check(took is not None, "idle keep-alive connection closed within 8 s (took %r)" % took)
    k.close()
    k = connect(s.port)  # never sends a byte
    took = closed_within(k, 8)
    c.check(took is not None, "silent connection closed within 8 s (took %r)" % took)
    k.close()
    c.check(s.stop() == 0, "clean exit")

c.finish()
