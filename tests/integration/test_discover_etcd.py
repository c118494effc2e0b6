"""`inferd serve --register etcd://...` against a real etcd on loopback: both servers' keys
appear under the prefix with their channel definitions; /api/peers on one lists the other
(and its --peer flags, not itself); a lease etcd forgets is replaced (key back with a new
lease); SIGTERM revokes the lease (key gone at once); kill -9 leaves the key until the TTL
ends. Skips (77) when etcd is not installed."""
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Checker, Server, free_port, make_mlp, skip  # noqa: E402

ETCD = shutil.which("etcd") or ("/usr/bin/etcd" if os.access("/usr/bin/etcd", os.X_OK) else None)
if not ETCD:
    skip("etcd is not installed (apt-get install etcd-server)")
try:
    import numpy  # noqa: F401
    import onnx  # noqa: F401
except ImportError:
    skip("numpy/onnx missing (needed to build the test model)")

PREFIX = "inferd/test"
TTL = 2
tmp = tempfile.mkdtemp(prefix="inferd-etcd-")
models = os.path.join(tmp, "models")
make_mlp(os.path.join(models, "mlp", "1", "model.onnx"))
c = Checker()


def b64(s):
    return base64.b64encode(s.encode()).decode()


class Etcd:
    def __init__(self):
        self.proc = None

    def start(self):
        for _ in range(5):
            self.port, peer = free_port(), free_port()
            self.url = "http://127.0.0.1:%d" % self.port
            data = tempfile.mkdtemp(prefix="data-", dir=tmp)
            self.log = open(os.path.join(tmp, "etcd.log"), "ab")
            self.proc = subprocess.Popen(
                [ETCD, "--name", "t", "--data-dir", data, "--listen-client-urls", self.url,
                 "--advertise-client-urls", self.url,
                 "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
                 "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
                 "--initial-cluster", "t=http://127.0.0.1:%d" % peer],
                stdout=self.log, stderr=self.log)
            deadline = time.time() + 20
            while time.time() < deadline and self.proc.poll() is None:
                try:
                    self.call("/v3/kv/range", {"key": b64("x")})
                    return self
                except OSError:
                    time.sleep(0.1)
            self.stop()
        raise RuntimeError("etcd did not start; see %s/etcd.log" % tmp)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def call(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def keys(self):
        """{key: (value as JSON, lease)} under PREFIX/."""
        ans = self.call("/v3/kv/range", {"key": b64(PREFIX + "/"), "range_end": b64(PREFIX + "0")})
        out = {}
        for kv in ans.get("kvs", []):
            out[base64.b64decode(kv["key"]).decode()] = (json.loads(base64.b64decode(kv["value"])),
                                                         kv.get("lease"))
        return out


def wait_for(what, pred, timeout=10.0):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() > deadline:
            return c.check(v, what)
        time.sleep(0.05)


etcd = Etcd().start()
reg = "etcd://127.0.0.1:%d/%s" % (etcd.port, PREFIX)
a = Server(models, "--register", reg, "--register-ttl", str(TTL), "--peer", "http://10.1.2.3:8080")
b = Server(models, "--register", reg, "--register-ttl", str(TTL))
try:
    a.start()
    b.start()
    ka, kb = "%s/127.0.0.1_%d" % (PREFIX, a.port), "%s/127.0.0.1_%d" % (PREFIX, b.port)
    ua, ub = "http://127.0.0.1:%d" % a.port, "http://127.0.0.1:%d" % b.port

    # Registered just after serve starts answering (it registers only a URL that answers,
    # so /v2/health/ready can come first).
    wait_for("both keys under the prefix", lambda: set(etcd.keys()) == {ka, kb}, timeout=5)
    keys = etcd.keys()
    if set(keys) != {ka, kb}:
        print("a's log:\n" + a.stderr_text()[-3000:] + "\nb's log:\n" + b.stderr_text()[-3000:])
    va = keys.get(ka, ({}, None))[0]
    c.check(va.get("base_url") == ua and va.get("id") == "127.0.0.1_%d" % a.port
            and va.get("protocol") == "inferd", "a's channel definition %r" % va)
    c.check(keys.get(ka, (0, None))[1] not in (None, "0"), "a's key has a lease")

    # /api/peers: the --peer flag and the other registration, not itself.
    def peers_of_a():
        r = a.get("/api/peers")
        if r.status != 200:
            return None
        urls = [p["base_url"] for p in r.json()["peers"]]
        return urls if ub in urls else None
    wait_for("a's /api/peers lists b", peers_of_a)
    urls = peers_of_a() or []
    c.check("http://10.1.2.3:8080" in urls and ua not in urls, "a's peers: flag in, self out: %r" % urls)
    r = b.get("/api/peers")
    c.check(r.status == 200 and [p["base_url"] for p in r.json()["peers"]] == [ua],
            "b's peers are [a]: %r" % r)

    # A lease etcd no longer has (revoked behind b's back): b registers again.
    old = keys[kb][1]
    etcd.call("/v3/lease/revoke", {"ID": old})
    c.check(kb not in etcd.keys(), "b's key went with its lease")
    wait_for("b registered again with a new lease",
             lambda: kb in etcd.keys() and etcd.keys()[kb][1] != old, timeout=3 * TTL + 5)

    # SIGTERM: the lease is revoked on the way out, the key is gone at once.
    rc = a.stop(signal.SIGTERM)
    c.check(rc == 0, "a exits 0 on SIGTERM (%r)" % rc)
    keys = etcd.keys()
    c.check(ka not in keys and kb in keys, "a's key gone right after its exit: %r" % sorted(keys))
    c.check("etcd registration: revoked" in a.stderr_text(), "a logged the revoke")

    # kill -9: nothing revokes; the key lives until the lease's TTL ends.
    b.proc.kill()
    b.proc.wait()
    c.check(kb in etcd.keys(), "b's key outlives kill -9 for a while")
    wait_for("b's key gone after the TTL", lambda: kb not in etcd.keys(), timeout=TTL + 8)
    b.stop()

    # A bad --register URL is a usage error at start, naming the flag.
    p = subprocess.run([BIN, "serve", "--models", models, "--port", "0",
                        "--register", "http://127.0.0.1:1/x"], capture_output=True, text=True, timeout=30)
    c.check(p.returncode != 0 and "--register" in p.stderr, "bad --register refused: %r" % p.stderr)
    p = subprocess.run([BIN, "serve", "--models", models, "--advertise", "http://x:1"],
                       capture_output=True, text=True, timeout=30)
    c.check(p.returncode == 2 and "--register" in p.stderr, "--advertise alone refused: %r" % p.stderr)
finally:
    for s in (a, b):
        if s.proc:
            s.stop(signal.SIGKILL)
    etcd.stop()
    shutil.rmtree(tmp, ignore_errors=True)
c.finish()
