"""test_pack_put.py — registering packages in a running server:
PUT /v2/repository/models/{m}/versions/{v} with the package as a tar stream and
DELETE to retire a version (admin key).

- a package larger than --max-body-bytes uploads (the body is streamed to disk, not
  collected), is verified, goes live at once (201) and answers like the model;
- the same upload again is 200; one over --max-upload-bytes is 413 before the body;
- refused with 400 and nothing left behind: garbage, a truncated tar, a tar whose entry
  climbs out ("../"), an entry for another version, a changed model file (named);
- under --trust: an unsigned package and a tampered signed one are refused, a signed one
  is READY with signature_verified;
- DELETE retires a version (then 404), an inference key is refused (401);
- kill -9 of the server at random points of a PUT (mid-body, just after the last byte):
  after a restart the old version serves, the new one is absent or whole, and the next PUT
  sweeps the dead server's staging folder and completes."""
import hashlib
import http.client
import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Checker, Server, make_mlp, mlp_ref, skip, verify_repo  # noqa: E402

try:
    import numpy as np
except ImportError:
    skip("numpy missing")

tmp = tempfile.mkdtemp(prefix="inferd-put-")
c = Checker()
ADMIN = "admin-key-1"
INFER = "infer-key-1"
with open(os.path.join(tmp, "admin.keys"), "w") as f:
    f.write(ADMIN + "\n")
with open(os.path.join(tmp, "infer.keys"), "w") as f:
    f.write(INFER + "\n")


def run(*args):
    p = subprocess.run([BIN] + list(args), cwd=tmp, capture_output=True, text=True, timeout=120)
    if p.returncode:
        print("command failed:", args, p.stderr)
    return p


def tar_of(pkg, mutate=None):
    """The package folder as a tar (bytes); mutate(tarfile) may add entries."""
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT) as t:
        t.add(os.path.join(tmp, pkg), arcname=".")
        if mutate:
            mutate(t)
    return b.getvalue()


def put(s, model, v, body, key=ADMIN, chunked=False):
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
    headers = {"Authorization": "Bearer " + key, "Content-Type": "application/x-tar"}
    path = "/v2/repository/models/%s/versions/%s" % (model, v)
    if chunked:
        conn.request("PUT", path, body=iter([body[i:i + 65536] for i in range(0, len(body), 65536)]),
                     headers=headers, encode_chunked=True)
    else:
        conn.request("PUT", path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    try:
        return r.status, json.loads(data)
    except ValueError:
        return r.status, {"raw": data}


def put_headers_only(s, model, v, length):
    """A PUT that declares length bytes and sends none: the answer must come first."""
    import socket
    with socket.create_connection(("127.0.0.1", s.port), timeout=30) as so:
        so.sendall(("PUT /v2/repository/models/%s/versions/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                    "Content-Length: %d\r\n\r\n" % (model, v, ADMIN, length)).encode())
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 10:
            chunk = so.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head else 0
    try:
        return status, json.loads(body)
    except ValueError:
        return status, {"raw": body}


def leftovers(repo):
    out = []
    for root, dirs, files in os.walk(repo):
        out += [d for d in dirs if d.startswith(".put-") or d.startswith(".reg-")]
    return out


def index(s):
    r = s.request("POST", "/v2/repository/index", b"", headers={"Authorization": "Bearer " + ADMIN})
    return {(e["name"], e.get("version")): e for e in r.json()}


def infer(s, x):
    r = s.post_json("/v2/models/big/infer",
                    {"inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]},
                    headers={"Authorization": "Bearer " + INFER})
    return np.array(r.json()["outputs"][0]["data"], np.float32).reshape(x.shape[0], -1) if r.status == 200 else None


w = make_mlp(os.path.join(tmp, "src", "big.onnx"), seed=7, din=64, dh=1024, dout=8)  # ~300 KiB
make_mlp(os.path.join(tmp, "src", "small.onnx"), seed=8)
c.check(run("pack", "src/big.onnx", "--name", "big", "--version", "3", "-o", "p3", "-q").returncode == 0, "pack")
run("pack", "src/small.onnx", "--name", "big", "--version", "4", "-o", "p4", "-q")
run("keygen", "k")
run("pack", "src/small.onnx", "--name", "big", "--version", "5", "-o", "p5", "--sign", "k.key", "-q")
body3 = tar_of("p3")
repo = os.path.join(tmp, "repo")
os.makedirs(repo)
x = np.linspace(-1, 1, 128, dtype=np.float32).reshape(2, 64)

with Server(repo, "--admin-key-file", os.path.join(tmp, "admin.keys"), "--api-key-file",
            os.path.join(tmp, "infer.keys"), "--max-body-bytes", "65536", "--max-upload-bytes", "4000000",
            "--poll-ms", "0") as s:
    c.check(len(body3) > 65536 * 4, "the package is larger than --max-body-bytes (%d bytes)" % len(body3))
    st, o = put(s, "big", 3, body3, chunked=True)
    c.check(st == 201 and o.get("state") == "READY", "PUT a package (chunked): %r %r" % (st, o))
    y = infer(s, x)
    c.check(y is not None and np.allclose(y, mlp_ref(w, x), atol=1e-3), "the uploaded version serves its answers")
    c.check(os.path.isfile(os.path.join(repo, "big", "3", "manifest.json")), "registered in the repository folder")
    st, o = put(s, "big", 3, body3)
    c.check(st == 200 and o.get("state") == "READY", "the same PUT again is 200: %r %r" % (st, o))
    st, o = put(s, "big", 3, body3, key=INFER)
    c.check(st == 401, "an inference key cannot register: %r" % st)
    st, o = put_headers_only(s, "big", 9, 4000001)
    c.check(st == 413 and "--max-upload-bytes" in o.get("error", ""), "over --max-upload-bytes: %r %r" % (st, o))

    def refused(body, what, needle, v=4):
        st, o = put(s, "big", v, body)
        c.check(st == 400 and needle in o.get("error", ""), "%s refused: %r %r" % (what, st, o))
        c.check(not os.path.exists(os.path.join(repo, "big", str(v))), "%s: nothing registered" % what)
        c.check(not leftovers(repo), "%s: no staging folder left: %r" % (what, leftovers(repo)))

    refused(b"this is not a tar archive" * 40, "garbage", "tar")
    body4 = tar_of("p4")
    refused(body4[:len(body4) // 2], "a truncated tar", "truncated")

    def evil(t):
        info = tarfile.TarInfo("big/4/../../../evil.txt")
        info.size = 4
        t.addfile(info, io.BytesIO(b"evil"))
    refused(tar_of("p4", evil), "a '..' entry", "unsafe entry name")
    c.check(not os.path.exists(os.path.join(tmp, "evil.txt")), "nothing written outside the repository")

    def extra(t):
        info = tarfile.TarInfo("big/4/notlisted.bin")
        info.size = 3
        t.addfile(info, io.BytesIO(b"abc"))
    refused(tar_of("p4", extra), "an unlisted file", "notlisted.bin")
    refused(body4, "a package for another version", "big/4", v=6)
    shutil.copytree(os.path.join(tmp, "p4"), os.path.join(tmp, "p4bad"))
    with open(os.path.join(tmp, "p4bad/big/4/model.onnx"), "r+b") as f:
        f.seek(50)
        f.write(b"\xff\xfe")
    refused(tar_of("p4bad"), "a changed model file", "model.onnx: sha256 mismatch")

    # verified but not loadable (a consistent manifest over a model file inferd cannot read):
    # answered 400 with the load error and taken out again
    shutil.copytree(os.path.join(tmp, "p4"), os.path.join(tmp, "p7"))
    os.rename(os.path.join(tmp, "p7/big/4"), os.path.join(tmp, "p7/big/7"))
    junk = b"\x0a\x05hello" * 10
    with open(os.path.join(tmp, "p7/big/7/model.onnx"), "wb") as f:
        f.write(junk)
    mp = os.path.join(tmp, "p7/big/7/manifest.json")
    m7 = json.load(open(mp))
    m7["version"] = 7
    m7["files"]["model.onnx"] = {"sha256": hashlib.sha256(junk).hexdigest(), "size": len(junk)}
    with open(mp, "w") as f:
        json.dump(m7, f)
    cfg_before = open(os.path.join(repo, "big", "config.json"), "rb").read()
    with open(os.path.join(tmp, "p7/big/config.json")) as f:
        c7 = json.load(f)
    c7["max_batch_size"] = 2  # the failed upload's model config: must not stay behind
    with open(os.path.join(tmp, "p7/big/config.json"), "w") as f:
        json.dump(c7, f)
    st, o = put(s, "big", 7, tar_of("p7"))
    c.check(open(os.path.join(repo, "big", "config.json"), "rb").read() == cfg_before,
            "the model's config.json is put back after the failed load")
    c.check(st == 400 and "does not load" in o.get("error", "") and not os.path.exists(os.path.join(repo, "big", "7")),
            "a verified package that does not load is refused and removed: %r %r" % (st, o))
    y = infer(s, x)
    c.check(y is not None and np.allclose(y, mlp_ref(w, x), atol=1e-3), "v3 keeps serving after the failed v7")

    st, o = put(s, "big", 4, body4)
    c.check(st == 201, "PUT v4: %r %r" % (st, o))
    r = s.request("DELETE", "/v2/repository/models/big/versions/4", headers={"Authorization": "Bearer " + ADMIN})
    c.check(r.status == 200 and not os.path.exists(os.path.join(repo, "big", "4")), "DELETE v4: %r" % r)
    r = s.request("DELETE", "/v2/repository/models/big/versions/4", headers={"Authorization": "Bearer " + ADMIN})
    c.check(r.status == 404, "DELETE v4 again: 404 %r" % r)
    y = infer(s, x)
    c.check(y is not None and np.allclose(y, mlp_ref(w, x), atol=1e-3), "v3 serves again after v4 is retired")

trepo = os.path.join(tmp, "trepo")
os.makedirs(trepo)
with Server(trepo, "--trust", os.path.join(tmp, "k.pub"), "--poll-ms", "0") as s:
    st, o = put(s, "big", 4, tar_of("p4"))
    c.check(st == 400 and "unsigned" in o.get("error", "") and not os.path.exists(os.path.join(trepo, "big")),
            "--trust: an unsigned package refused: %r %r" % (st, o))
    st, o = put(s, "big", 5, tar_of("p5"))
    c.check(st == 201 and o.get("signature_verified") is True, "--trust: a signed package READY: %r %r" % (st, o))
    shutil.copytree(os.path.join(tmp, "p5"), os.path.join(tmp, "p5bad"))
    os.rename(os.path.join(tmp, "p5bad/big/5"), os.path.join(tmp, "p5bad/big/6"))
    st, o = put(s, "big", 6, tar_of("p5bad"))
    c.check(st == 400 and "big version 5" in o.get("error", ""),
            "--trust: a signed package renamed to another version refused: %r %r" % (st, o))
    c.check(index(s).get(("big", "5"), {}).get("state") == "READY", "v5 still READY")
    c.check(not leftovers(trepo), "no staging folder left")

# -- kill -9 of the server during a PUT --
krepo = os.path.join(tmp, "krepo")
os.makedirs(krepo)
c.check(run("register", "p3", "--repo", krepo).returncode == 0, "register v3 as the old state")
run("pack", "src/big.onnx", "--name", "big", "--version", "6", "-o", "p6", "-q")
body6 = tar_of("p6")
rng = random.Random(77)
flags = ("--admin-key-file", os.path.join(tmp, "admin.keys"), "--api-key-file", os.path.join(tmp, "infer.keys"),
         "--poll-ms", "0")
for i in range(6):
    s = Server(krepo, *flags).start()
    so = None
    try:
        # send the head and a random share of the body (all of it on even tries), then kill -9
        share = 1.0 if i % 2 == 0 else rng.uniform(0.05, 0.95)
        so = socket.create_connection(("127.0.0.1", s.port), timeout=30)
        so.sendall(("PUT /v2/repository/models/big/versions/6 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                    "Content-Type: application/x-tar\r\nContent-Length: %d\r\n\r\n" % (ADMIN, len(body6))).encode())
        so.sendall(body6[:int(len(body6) * share)])
        if share == 1.0:
            time.sleep(rng.uniform(0, 0.05))
    finally:
        s.proc.kill()
        s.proc.wait()
        if so:
            so.close()
        s.stop()
    c.check(verify_repo(krepo) and os.path.isdir(os.path.join(krepo, "big", "3")),
            "after kill -9 #%d (%.0f%% of the body sent) v3 is there and every version is whole" % (i, share * 100))
    with Server(krepo, *flags) as s:
        y = infer(s, x)
        c.check(y is not None and np.allclose(y, mlp_ref(w, x), atol=1e-3),
                "after kill -9 #%d the model serves (v3, or a whole v6 of the same weights)" % i)
        st, o = put(s, "big", 6, body6)
        c.check(st in (200, 201) and o.get("state") == "READY", "the PUT after kill -9 #%d completes: %r %r" % (i, st, o))
        c.check(not leftovers(krepo), "and the dead server's staging folder is swept: %r" % leftovers(krepo))
    shutil.rmtree(os.path.join(krepo, "big", "6"))

shutil.rmtree(tmp, ignore_errors=True)
c.finish()
