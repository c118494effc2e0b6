"""test_serve_limits.py — what a client without a key, or with too much data, can make the
real `inferd serve --threads 2` hold.

1. Eight connections that each declare a 60 MB body and send none of it, with no key, are
   answered 401 at once (the key is checked from the headers, before any body byte), and
   the server's peak RSS (VmHWM) stays far below what buffering them would take.
2. One authorization for every route: the admin key opens the OpenAI routes too; no key
   there is OpenAI's 401 error object.
3. --max-buffered-bytes: while one request's declared body holds the budget, a second one
   is answered 503 + Retry-After before its body is read; the first is still served.
4. Strictness: Content-Length with Transfer-Encoding is refused (RFC 9112), a signed
   Inference-Header-Content-Length is refused, an FP32 value out of range is refused (not
   turned into inf), and "%00" in a path does not cut the model name.
5. A 20 MB v2 body with 5 M values against --max-elements 1000 is refused (413) by the
   pre-scan, before jansson builds a tree of it: peak RSS stays far below that tree's size.
"""
import json
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server, make_mlp, skip  # noqa: E402

SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
GGUF = os.path.join(SHARED, "testdata", "llm", "aidreams260K.gguf")
SANITIZED = os.environ.get("INFERD_SANITIZED") == "1"


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def send_headers(port, path, length, key=None):
    sk = socket.create_connection(("127.0.0.1", port), timeout=10)
    h = "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (path, length)
    if key:
        h += "Authorization: Bearer %s\r\n" % key
    sk.sendall((h + "\r\n").encode())
    return sk


def status_of(sk, timeout=10):
    sk.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sk.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    line = data.split(b"\r\n", 1)[0].decode(errors="replace")
    return (int(line.split()[1]) if line.startswith("HTTP/1.1 ") else 0), data.decode(errors="replace")


def main():
    t = Checker()
    root = tempfile.mkdtemp(prefix="inferd-limits-")
    make_mlp(os.path.join(root, "mlp", "1", "model.onnx"))
    if os.path.exists(GGUF):
        os.makedirs(os.path.join(root, "tiny", "1"))
        os.symlink(GGUF, os.path.join(root, "tiny", "1", "model.gguf"))
    work = tempfile.mkdtemp(prefix="inferd-limits-keys-")
    keys, admin = os.path.join(work, "keys"), os.path.join(work, "admin")
    with open(keys, "w") as f:
        f.write("infer-key\n")
    with open(admin, "w") as f:
        f.write("admin-key\n")
    body = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]})
    with Server(root, "--threads", "2", "--api-key-file", keys, "--admin-key-file", admin,
                "--max-buffered-bytes", "1000000", "--max-body-bytes", "900000") as s:
        # -- 1. no key, huge declared bodies: 401 before the body --
        socks = [send_headers(s.port, "/v2/models/mlp/infer", 62914560) for _ in range(8)]
        got = [status_of(sk)[0] for sk in socks]
        for sk in socks:
            sk.close()
        t.check(got == [401] * 8, "no key, 60 MB declared: 401 with the body unread: %r" % got)
        socks = [send_headers(s.port, "/v2/models/mlp/infer", 62914560, key="infer-key") for _ in range(8)]
        got = [status_of(sk)[0] for sk in socks]
        for sk in socks:
            sk.close()
        t.check(got == [413] * 8, "with a key, over --max-body-bytes: 413 before reading: %r" % got)
        hwm = vm_hwm_kb(s.proc.pid)
        print("VmHWM after the unauthenticated bodies: %d kB" % hwm)
        if not SANITIZED:
            t.check(hwm < 200 * 1024, "peak RSS stays under 200 MB (%d kB)" % hwm)

        # -- 2. one authorization for every route --
        if os.path.exists(GGUF):
            for key, want in (("admin-key", 200), ("infer-key", 200), (None, 401)):
                h = {"Authorization": "Bearer " + key} if key else {}
                r = s.get("/v1/models", headers=h)
                t.check(r.status == want, "/v1/models with %s: %d (%r)" % (key, want, r))
            r = s.post_json("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]})
            t.check(r.status == 401 and r.json()["error"]["code"] == "invalid_api_key"
                    and "www-authenticate" in r.headers, "OpenAI 401 shape: %r" % r)
        else:
            print("SKIP part 2: ../shared/testdata/llm/aidreams260K.gguf is absent")

        # -- 3. the body budget --
        first = send_headers(s.port, "/v2/models/mlp/infer", 600000, key="infer-key")
        first.sendall(b"{")
        time.sleep(0.2)
        second = send_headers(s.port, "/v2/models/mlp/infer", 600000, key="infer-key")
        code, text = status_of(second)
        second.close()
        t.check(code == 503 and "retry-after: 1" in text.lower() and "--max-buffered-bytes" in text,
                "a body past the budget: 503 + Retry-After before it is read: %r" % text[:300])
        first.sendall(b" " * (600000 - 2) + b"}")
        code, text = status_of(first)
        first.close()
        t.check(code == 400, "the first request is still served (its body is bad JSON on purpose): %d" % code)
        r = s.post("/v2/models/mlp/infer", body, headers={"Authorization": "Bearer infer-key"})
        t.check(r.status == 200, "the budget is given back when requests end: %r" % r)
        # -- 4. strictness --
        auth = {"Authorization": "Bearer infer-key"}
        sk = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        sk.sendall(b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer infer-key\r\n"
                   b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        code, text = status_of(sk)
        sk.close()
        t.check(code == 400 and "both Content-Length and Transfer-Encoding" in text,
                "Content-Length with Transfer-Encoding: refused, not answered (%r)" % text[:200])
        h = dict(auth, **{"Inference-Header-Content-Length": "+%d" % len(body)})
        r = s.post("/v2/models/mlp/infer", body, headers=h)
        t.check(r.status == 400 and "decimal digits" in r.json()["error"], "+N header length refused: %r" % r)
        big = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1e300, 2, 3, 4]}]})
        r = s.post("/v2/models/mlp/infer", big, headers=auth)
        t.check(r.status == 400 and "out of range" in r.json()["error"], "FP32 1e300 refused: %r" % r)
        r = s.post("/v2/models/mlp%00junk/infer", body, headers=auth)
        t.check(r.status == 404 and "mlp%00junk" in r.json()["error"], "%%00 does not cut the name: %r" % r)
    with Server(root, "--threads", "2", "--max-elements", "1000") as s:
        values = ",".join(["0.5"] * 5000000)
        huge = '{"inputs":[{"name":"x","shape":[1250000,4],"datatype":"FP32","data":[' + values + ']}]}'
        before = vm_hwm_kb(s.proc.pid)
        r = s.post("/v2/models/mlp/infer", huge)
        t.check(r.status == 413 and "refused before parsing" in r.json().get("error", ""),
                "5 M values over --max-elements: 413 from the pre-scan: %r" % r)
        r = s.post("/v1/models/mlp:predict", '{"instances":[' + values + ']}')
        t.check(r.status == 413, "TF-Serving too: %r" % r)
        r = s.post("/predict", '{"model":"mlp","input_data":[' + values + ']}')
        t.check(r.status == 413 and r.json().get("status") == "error", "/predict too: %r" % r)
        hwm = vm_hwm_kb(s.proc.pid)
        print("VmHWM %d kB before, %d kB after three 20 MB bodies" % (before, hwm))
        if SANITIZED:  # ASan's shadow memory and quarantine of freed bodies make RSS meaningless here
            print("sanitizer build: peak RSS not checked")
        else:
            t.check(hwm < 150 * 1024, "no tree was built (peak RSS %d kB; a tree of 5 M values is ~300 MB)" % hwm)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
