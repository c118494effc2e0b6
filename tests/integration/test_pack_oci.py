"""test_pack_oci.py — `inferd push` / `inferd pull` against Debian's docker-registry started
here on 127.0.0.1 (a config written for a free port, storage in a temp dir), and against a
small fake registry for what a real one does not do on demand:

- push (chunked upload) then pull gives the same package: `inferd verify --trust` passes,
  the pulled package serves; pushing again skips the blobs the registry has;
- an unknown tag, and a blob changed in the registry's storage, fail with a clear error and
  leave no output folder;
- fake registry: a garbage manifest, a layer named "../evil", a bearer-token registry
  (401 + WWW-Authenticate, the token service, then the token), and a registry that drops
  the connection mid-blob: the pull fails saying it can resume, and the next pull asks for
  the rest with a Range header and completes."""
import base64
import hashlib
import http.server
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Checker, Server, free_port, make_mlp, mlp_ref, skip, wait_until  # noqa: E402

REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
if not os.path.exists(REGISTRY):
    skip("docker-registry is not installed (scripts/setup installs it)")
try:
    import numpy as np
except ImportError:
    skip("numpy missing")

tmp = tempfile.mkdtemp(prefix="inferd-oci-")
c = Checker()


def run(*args, env=None):
    e = dict(os.environ)
    e.pop("INFERD_REGISTRY_AUTH", None)
    e.update(env or {})
    return subprocess.run([BIN] + list(args), cwd=tmp, capture_output=True, text=True, timeout=120, env=e)


# -- the real registry --
port = free_port()
store = os.path.join(tmp, "registry-data")
with open(os.path.join(tmp, "registry.yml"), "w") as f:
    f.write("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n"
            "  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%d\n" % (store, port))
reg_log = open(os.path.join(tmp, "registry.log"), "wb")
reg = subprocess.Popen([REGISTRY, "serve", os.path.join(tmp, "registry.yml")], stdout=reg_log, stderr=reg_log)


def registry_up():
    try:
        return urllib.request.urlopen("http://127.0.0.1:%d/v2/" % port, timeout=2).status == 200
    except OSError:
        return False


try:
    if not wait_until(registry_up, 30):
        print(open(os.path.join(tmp, "registry.log")).read())
        c.check(False, "docker-registry did not start")
        c.finish()
    w = make_mlp(os.path.join(tmp, "mlp.onnx"), seed=3)
    run("keygen", "k")
    p = run("pack", "mlp.onnx", "--name", "mlp", "--version", "3", "-o", "pkg", "--sign", "k.key", "-q")
    c.check(p.returncode == 0, "pack: %r" % p.stderr)
    ref = "oci://127.0.0.1:%d/models/mlp:3" % port
    p = run("push", "pkg", ref, "--chunk-size", "4096")
    c.check(p.returncode == 0 and "pushed" in p.stdout, "push: %r %r" % (p.stdout, p.stderr))
    p = run("push", "pkg", ref, "-q")
    c.check(p.returncode == 0, "push again (blobs already there): %r" % p.stderr)
    # a package whose model file changed after pack: refused while it is sent, the tag not made
    shutil.copytree(os.path.join(tmp, "pkg"), os.path.join(tmp, "pkgbad"))
    with open(os.path.join(tmp, "pkgbad/mlp/3/model.onnx"), "r+b") as f:
        f.seek(100)
        f.write(b"\x7f\x7f\x7f\x7f")
    p = run("push", "pkgbad", "oci://127.0.0.1:%d/models/bad:1" % port, "-q")
    c.check(p.returncode == 1 and "sha256 mismatch" in p.stderr and "model.onnx" in p.stderr,
            "a changed file is refused by push: %r" % p.stderr)
    c.check(run("pull", "oci://127.0.0.1:%d/models/bad:1" % port, "-o", "badpull", "-q").returncode == 1,
            "and the tag was not made")
    p = run("pull", ref, "-o", "pulled")
    c.check(p.returncode == 0 and "pulled mlp version 3" in p.stdout, "pull: %r %r" % (p.stdout, p.stderr))
    p = run("verify", "pulled", "--trust", "k.pub")
    c.check(p.returncode == 0, "the pulled package verifies with its signature: %r" % p.stderr)
    with Server(os.path.join(tmp, "pulled")) as s:
        x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
        r = s.post_json("/v2/models/mlp/infer", {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32",
                                                             "data": x.ravel().tolist()}]})
        y = np.array(r.json()["outputs"][0]["data"], np.float32).reshape(2, 3) if r.status == 200 else None
        c.check(y is not None and np.allclose(y, mlp_ref(w, x), atol=1e-4), "the pulled package serves")
    # serve --models oci://...: pulled at start, and again on SIGHUP (the tag moved to v4)
    tag = "oci://127.0.0.1:%d/models/mlp:prod" % port
    c.check(run("push", "pkg", tag, "-q").returncode == 0, "push under a second tag")
    w4 = make_mlp(os.path.join(tmp, "mlp4.onnx"), seed=4)
    run("pack", "mlp4.onnx", "--name", "mlp", "--version", "4", "-o", "pkg4", "--sign", "k.key", "-q")
    ocidir = os.path.join(tmp, "oci-models")
    with Server(tag, "--oci-dir", ocidir, "--trust", os.path.join(tmp, "k.pub"), "--poll-ms", "0") as s:
        meta = s.get("/v2/models/mlp")
        c.check(meta.status == 200 and meta.json().get("versions") == ["3"], "serves the pulled v3: %r" % meta)
        c.check(run("push", "pkg4", tag, "-q").returncode == 0, "push v4 under the same tag")
        stale = os.path.join(ocidir, ".pull-00000000deadbeef.partial")  # a half pull of a reference since dropped
        os.makedirs(os.path.join(stale, "mlp", "1"))
        s.send_signal(signal.SIGHUP)
        c.check(wait_until(lambda: s.get("/v2/models/mlp").json().get("versions") == ["4"], 30),
                "after SIGHUP the server pulled and serves v4: %r" % s.get("/v2/models/mlp").body)
        c.check(not [e for e in os.listdir(ocidir) if e.startswith(".pull-")],
                "no pull folder left, and a dropped reference's half pull is swept: %r" % os.listdir(ocidir))
    # kill -9 at random points of a push: the tag keeps naming a whole package (the old one,
    # or none for a new tag); pushing again completes
    make_mlp(os.path.join(tmp, "big.onnx"), seed=9, din=64, dh=1024, dout=64)
    run("pack", "big.onnx", "--name", "mlp", "--version", "9", "-o", "pkgbig", "--sign", "k.key", "-q")
    rng = random.Random(99)
    for i in range(6):
        t = "oci://127.0.0.1:%d/models/k%d:1" % (port, i)
        if i % 2:
            run("push", "pkg", t, "-q")  # the old state: v3 under this tag
        proc = subprocess.Popen([BIN, "push", "pkgbig", t, "--chunk-size", "16384", "-q"], cwd=tmp,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, 0.3))
        proc.kill()
        proc.wait()
        out = "kill%d" % i
        p = run("pull", t, "-o", out, "-q")
        if p.returncode == 0:
            c.check(run("verify", out, "--trust", "k.pub").returncode == 0, "after kill -9 #%d the tag names a whole "
                    "package" % i)
            shutil.rmtree(os.path.join(tmp, out))
        else:
            c.check(i % 2 == 0 and "404" in p.stderr, "after kill -9 #%d: a new tag is absent, an old one stays: %r"
                    % (i, p.stderr))
        c.check(run("push", "pkgbig", t, "-q").returncode == 0, "push again after kill -9 #%d" % i)
        p = run("pull", t, "-o", out, "-q")
        c.check(p.returncode == 0 and "version 9" in p.stdout and run("verify", out, "--trust", "k.pub").returncode == 0,
                "after the re-push #%d the tag names the new package: %r" % (i, p.stdout + p.stderr))
    # kill -9 at random points of a pull: the folder is absent or whole, and the next pull into
    # the same folder resumes from what was fetched and ends whole
    bigref = "oci://127.0.0.1:%d/models/k0:1" % port
    cut = 0
    for i in range(5):
        out = "pk%d" % i
        proc = subprocess.Popen([BIN, "pull", bigref, "-o", out, "-q"], cwd=tmp, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, 0.08))
        proc.kill()
        proc.wait()
        if os.path.exists(os.path.join(tmp, out)):
            c.check(run("verify", out, "--trust", "k.pub").returncode == 0, "after kill -9 #%d of a pull the folder "
                    "is whole" % i)
            continue
        cut += 1
        p = run("pull", bigref, "-o", out, "-q")
        c.check(p.returncode == 0 and run("verify", out, "--trust", "k.pub").returncode == 0
                and not os.path.exists(os.path.join(tmp, out + ".partial")),
                "the pull after kill -9 #%d completes: %r" % (i, p.stderr))
    print("pull killed before it ended %d of 5 times" % cut)
    p = run("pull", "oci://127.0.0.1:%d/models/mlp:nope" % port, "-o", "nope")
    c.check(p.returncode == 1 and "404" in p.stderr and not os.path.exists(os.path.join(tmp, "nope")),
            "an unknown tag: %r" % p.stderr)
    p = run("pull", ref, "-o", "pulled")
    c.check(p.returncode == 1 and "already exists" in p.stderr, "pull never overwrites a folder")
    # a blob changed inside the registry's storage: refused by digest
    man = json.load(open(os.path.join(tmp, "pkg/mlp/3/manifest.json")))
    h = man["files"]["model.onnx"]["sha256"]
    blob = os.path.join(store, "docker/registry/v2/blobs/sha256", h[:2], h, "data")
    c.check(os.path.isfile(blob), "found the model blob in the registry's storage")
    with open(blob, "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02\x03")
    p = run("pull", ref, "-o", "tampered")
    c.check(p.returncode == 1 and "hash to sha256:" in p.stderr and "sha256:" + h in p.stderr
            and not os.path.exists(os.path.join(tmp, "tampered")), "a changed blob is refused: %r" % p.stderr)
finally:
    reg.kill()
    reg.wait()
    reg_log.close()

# -- a fake registry for garbage, auth and dropped connections --
files = {}
for name in ("model.onnx", "config.json", "manifest.sig"):
    with open(os.path.join(tmp, "pkg/mlp/3", name), "rb") as f:
        files[name] = f.read()
with open(os.path.join(tmp, "pkg/mlp/3/manifest.json"), "rb") as f:
    config_blob = f.read()
blobs = {"sha256:" + hashlib.sha256(b).hexdigest(): b for b in list(files.values()) + [config_blob]}


def manifest(titles=None):
    return json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.inferd.package.manifest.v1+json",
                   "digest": "sha256:" + hashlib.sha256(config_blob).hexdigest(), "size": len(config_blob)},
        "layers": [{"mediaType": "application/vnd.inferd.model.file.v1",
                    "digest": "sha256:" + hashlib.sha256(b).hexdigest(), "size": len(b),
                    "annotations": {"org.opencontainers.image.title": (titles or {}).get(n, n)}}
                   for n, b in files.items()]}).encode()


class Fake:
    mode = "ok"          # "garbage", "evil", "bearer", "drop"
    ranges = []
    dropped = set()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body, headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/token"):
            ok = self.headers.get("Authorization") == "Basic " + base64.b64encode(b"alice:s3cret").decode()
            return self.send(200, b'{"token":"t0k"}') if ok else self.send(401, b'{"errors":[]}')
        if Fake.mode == "bearer" and self.headers.get("Authorization") != "Bearer t0k":
            realm = 'Bearer realm="http://127.0.0.1:%d/token",service="fake",scope="repository:m:pull"' % fport
            return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"token needed"}]}',
                             [("WWW-Authenticate", realm)])
        if "/manifests/" in self.path:
            if Fake.mode == "garbage":
                return self.send(200, b"<html>this is not a registry</html>")
            body = manifest({"model.onnx": "../evil"} if Fake.mode == "evil" else None)
            return self.send(200, body, [("Content-Type", "application/vnd.oci.image.manifest.v1+json")])
        d = self.path.rsplit("/", 1)[-1]
        b = blobs.get(d)
        if b is None:
            return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"no such blob"}]}')
        rng = self.headers.get("Range")
        if rng:
            Fake.ranges.append(rng)
            start = int(rng.split("=")[1].split("-")[0])
            part = b[start:]
            return self.send(206, part, [("Content-Range", "bytes %d-%d/%d" % (start, len(b) - 1, len(b)))])
        if Fake.mode == "long" and b == files["model.onnx"]:  # more bytes than the manifest says
            return self.send(200, b + b"\0" * 200000)
        if Fake.mode == "drop" and b == files["model.onnx"] and d not in Fake.dropped:
            Fake.dropped.add(d)
            self.send_response(200)
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b[:len(b) // 2])
            self.wfile.flush()
            self.close_connection = True
            import socket
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send(200, b)


fport = free_port()
srv = http.server.ThreadingHTTPServer(("127.0.0.1", fport), Handler)
threading.Thread(target=srv.serve_forever, daemon=True).start()
fref = "oci://127.0.0.1:%d/m:1" % fport
try:
    Fake.mode = "garbage"
    p = run("pull", fref, "-o", "g")
    c.check(p.returncode == 1 and "registry manifest: not JSON" in p.stderr, "garbage manifest: %r" % p.stderr)
    Fake.mode = "evil"
    p = run("pull", fref, "-o", "e")
    c.check(p.returncode == 1 and "not a plain file name" in p.stderr and not os.path.exists(os.path.join(tmp, "e")),
            "a layer named ../evil: %r" % p.stderr)
    Fake.mode = "bearer"
    p = run("pull", fref, "-o", "nb")
    c.check(p.returncode == 1 and "401" in p.stderr, "bearer registry without credentials: %r" % p.stderr)
    p = run("pull", fref, "-o", "b", env={"INFERD_REGISTRY_AUTH": "alice:s3cret"})
    c.check(p.returncode == 0 and run("verify", "b", "--trust", "k.pub").returncode == 0,
            "bearer token flow: %r" % p.stderr)
    Fake.mode = "long"
    p = run("pull", fref, "-o", "l")
    c.check(p.returncode == 1 and "more than the" in p.stderr and "resume" not in p.stderr
            and not os.path.exists(os.path.join(tmp, "l")), "a blob longer than declared is refused: %r" % p.stderr)
    c.check(not [f for _, _, fs in os.walk(os.path.join(tmp, "l.partial")) for f in fs if f.endswith(".part")],
            "and nothing of it is kept to resume from")
    Fake.mode = "drop"
    p = run("pull", fref, "-o", "d")
    c.check(p.returncode == 1 and "pull again to resume" in p.stderr and os.path.isdir(os.path.join(tmp, "d.partial")),
            "a dropped connection mid-blob: %r" % p.stderr)
    p = run("pull", fref, "-o", "d")
    c.check(p.returncode == 0 and not os.path.exists(os.path.join(tmp, "d.partial")), "the next pull completes: %r"
            % p.stderr)
    c.check(any(r.startswith("bytes=") and not r.startswith("bytes=0-") for r in Fake.ranges),
            "it resumed with a Range request: %r" % Fake.ranges)
    c.check(run("verify", "d", "--trust", "k.pub").returncode == 0, "the resumed package verifies")
    # what a pull killed -9 leaves besides .part files (the kill loop above hits it only now and
    # then): the temp files of atomic writes it did not rename yet, and a version folder of the
    # package the tag named before it moved. The next pull ends with the package and nothing else.
    Fake.mode = "ok"
    half = os.path.join(tmp, "h.partial")
    os.makedirs(os.path.join(half, "mlp", "3"))
    os.makedirs(os.path.join(half, "mlp", "2"))
    os.makedirs(os.path.join(half, "old"))
    for f in ("mlp/3/manifest.json.tmp.4242.0", "mlp/config.json.tmp.4242.1", "mlp/2/model.onnx.part", "old/x"):
        with open(os.path.join(half, f), "wb") as fh:
            fh.write(b"{}")
    with open(os.path.join(half, "mlp/3/model.onnx.part"), "wb") as fh:
        fh.write(files["model.onnx"][:len(files["model.onnx"]) // 2])
    Fake.ranges = []
    p = run("pull", fref, "-o", "h")
    got = sorted(os.path.relpath(os.path.join(d, f), os.path.join(tmp, "h"))
                 for d, _, fs in os.walk(os.path.join(tmp, "h")) for f in fs)
    c.check(p.returncode == 0 and run("verify", "h", "--trust", "k.pub").returncode == 0
            and got == ["mlp/3/config.json", "mlp/3/manifest.json", "mlp/3/manifest.sig", "mlp/3/model.onnx",
                        "mlp/config.json"] and not os.path.exists(half),
            "a pull resumed after kill -9 holds the package alone: %r %r" % (p.stderr, got))
    c.check(Fake.ranges == ["bytes=%d-" % (len(files["model.onnx"]) // 2)], "and it resumed model.onnx.part: %r"
            % Fake.ranges)
finally:
    srv.shutdown()

shutil.rmtree(tmp, ignore_errors=True)
c.finish()
