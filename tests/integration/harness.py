"""harness.py — start the real `inferd serve` on loopback for integration tests.

Other tests import it:

    from harness import Server, make_mlp, mlp_ref, skip
    with Server(models_dir, "--poll-ms", "200") as s:
        status, body = s.post_json("/v2/models/mlp/infer", {...})
    # s.stderr_text() holds the server's log; s.returncode its exit status

Environment (set by CTest): INFERD_BIN (the binary), INFERD_ROOT, INFERD_SHARED,
INFERD_BUILD. Standard library only, plus numpy/onnx for the model helpers (Debian's
/usr/bin/python3 has both).
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("INFERD_BIN", os.path.join(os.environ.get("INFERD_BUILD", "build"), "inferd"))


def skip(why):
    print("SKIP:", why)
    sys.exit(77)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # dict, lower-case names
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "Response(%d, %r)" % (self.status, self.body[:300])


class Server:
    """One `inferd serve` process. Extra args are passed through (flags)."""

    def __init__(self, models_dir, *flags, ready_timeout=30.0, env=None, workdir=None, port=None,
                 netns=None, addr=None):
        """netns: run inside that network namespace (ip netns exec), listening on every
        address there; addr: the address requests go to (default 127.0.0.1)."""
        self.models_dir = models_dir
        self.netns = netns
        self.addr = addr or "127.0.0.1"
        self.fixed_port = port
        self.flags = list(flags)
        self.ready_timeout = ready_timeout
        self.env = env
        self.workdir = workdir or tempfile.mkdtemp(prefix="inferd-it-")
        self.port = None
        self.proc = None
        self.returncode = None
        self.stderr_path = os.path.join(self.workdir, "stderr.log")
        self.stdout_path = os.path.join(self.workdir, "stdout.log")

    # -- lifecycle --
    def start(self):
        for attempt in range(5):
            self.port = self.fixed_port or free_port()
            args = self.argv()
            if self.netns:
                args = ["ip", "netns", "exec", self.netns] + args  # ip execs: the pid is inferd's
                args[args.index("--host") + 1] = "0.0.0.0"
            env = dict(os.environ)
            if self.env:
                env.update(self.env)
            self._err = open(self.stderr_path, "ab")
            self._out = open(self.stdout_path, "ab")
            self.proc = subprocess.Popen(args, stdout=self._out, stderr=self._err, env=env)
            if self._wait_ready():
                return self
            self.proc.poll()
            if self.proc.returncode is None:
                self.proc.kill()
                self.proc.wait()
            self._close_files()
            if "cannot listen" not in self.stderr_text() or self.fixed_port:
                break
        raise RuntimeError("%s did not become ready; log:\n%s" % (self.argv()[1], self.stderr_text()))

    def argv(self):
        return [BIN, "serve", "--models", self.models_dir, "--host", "127.0.0.1",
                "--port", str(self.port)] + self.flags

    ready_path = "/v2/health/ready"

    def _wait_ready(self):
        deadline = time.time() + self.ready_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                r = self.request("GET", self.ready_path, timeout=2)
                if r.status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Sends sig, waits, returns the exit status."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.returncode = self.proc.returncode
        self.proc = None
        self._close_files()
        log = self.stderr_text()
        if self.returncode != 0:
            # said once here so that a failed "clean exit" check shows why (status and log)
            print("%s exited with status %s; the end of its log:\n%s"
                  % (self.argv()[1], self.returncode, log[-2000:]))
        if "Sanitizer" in log or "runtime error:" in log:
            # sanitizer builds: a report fails the test even if the exit status was 0
            print(log[-4000:])
            self.returncode = self.returncode or 99
        return self.returncode

    def _close_files(self):
        for f in (getattr(self, "_err", None), getattr(self, "_out", None)):
            if f:
                f.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def stderr_text(self):
        try:
            with open(self.stderr_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- HTTP --
    def request(self, method, path, body=None, headers=None, timeout=30):
        c = http.client.HTTPConnection(self.addr, self.port, timeout=timeout)
        try:
            if isinstance(body, str):
                body = body.encode()
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            c.close()

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def post(self, path, body, headers=None):
        return self.request("POST", path, body=body, headers=headers)

    def post_json(self, path, obj, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return self.request("POST", path, body=json.dumps(obj), headers=h)


class Gateway(Server):
    """One `inferd gateway` process: Gateway(state_path, "--channels", f, ...). Ready means
    it answers /v2/health/live (its readiness needs a healthy channel)."""

    ready_path = "/v2/health/live"

    def __init__(self, state, *flags, **kw):
        super().__init__(None, *flags, **kw)
        self.state = state

    def argv(self):
        return [BIN, "gateway", "--state", self.state, "--host", "127.0.0.1",
                "--port", str(self.port)] + self.flags


# -- models --

def make_mlp(path, seed=0, din=4, dh=16, dout=3, batch="N", opset=13):
    """Writes a 2-layer MLP (Gemm-Relu-Gemm) ONNX model with input x [batch, din] and
    output y [batch, dout]; returns its weights for mlp_ref."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    w = {
        "W1": rng.standard_normal((din, dh)).astype(np.float32) * 0.5,
        "b1": rng.standard_normal(dh).astype(np.float32) * 0.1,
        "W2": rng.standard_normal((dh, dout)).astype(np.float32) * 0.5,
        "b2": rng.standard_normal(dout).astype(np.float32) * 0.1,
    }
    nodes = [helper.make_node("Gemm", ["x", "W1", "b1"], ["h"]),
             helper.make_node("Relu", ["h"], ["hr"]),
             helper.make_node("Gemm", ["hr", "W2", "b2"], ["y"])]
    g = helper.make_graph(nodes, "mlp",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, din])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, dout])],
                          [numpy_helper.from_array(v, k) for k, v in w.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(m, path)
    return w


def mlp_ref(w, x):
    import numpy as np
    h = np.maximum(np.asarray(x, np.float32) @ w["W1"] + w["b1"], 0)
    return h @ w["W2"] + w["b2"]


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)


def sha256_manifest(version_dir):
    """Writes version_dir/manifest.json listing the sha256 of every file in it."""
    import hashlib
    files = {}
    for name in sorted(os.listdir(version_dir)):
        p = os.path.join(version_dir, name)
        if name != "manifest.json" and os.path.isfile(p):
            with open(p, "rb") as f:
                files[name] = hashlib.sha256(f.read()).hexdigest()
    write_json(os.path.join(version_dir, "manifest.json"), {"files": files})


def verify_repo(repo):
    """Every version folder in a repository passes `inferd verify` and every config.json
    parses (what a crash mid-register or mid-upload must leave)."""
    good = True
    for m in os.listdir(repo):
        md = os.path.join(repo, m)
        if m.startswith(".") or not os.path.isdir(md):
            continue
        with open(os.path.join(md, "config.json")) as f:
            json.load(f)
        for v in os.listdir(md):
            if v.isdigit():
                p = subprocess.run([BIN, "verify", os.path.join(md, v)], capture_output=True, text=True, timeout=120)
                if p.returncode:
                    print("not whole:", md, v, p.stderr)
                good = good and p.returncode == 0
    return good


def binary_outputs(r):
    """(header JSON, {name: raw bytes}) of a v2 response with binary outputs."""
    h = int(r.headers.get("inference-header-content-length", "-1"))
    hdr = json.loads(r.body[:h])
    parts, at = {}, h
    for o in hdr["outputs"]:
        size = o.get("parameters", {}).get("binary_data_size")
        if size is not None:
            parts[o["name"]] = r.body[at:at + size]
            at += size
    return hdr, parts


def wait_until(pred, timeout=15.0, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False


def metric_value(server, name, labels):
    """Value of one sample from /metrics, e.g. metric_value(s, "inferd_queue_depth",
    'model="m",version="1"'); None when absent."""
    import re
    text = server.get("/metrics").body.decode()
    m = re.search(r"^%s\{%s\} ([0-9.e+-]+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else None


class Checker:
    """Collects failures so one run reports every broken case; exit code at the end."""

    def __init__(self):
        self.failures = 0
        self.count = 0

    def check(self, cond, what):
        self.count += 1
        if not cond:
            self.failures += 1
            print("FAIL:", what, flush=True)
        return cond

    def finish(self):
        print("%d checks, %d failed" % (self.count, self.failures))
        sys.exit(1 if self.failures else 0)
