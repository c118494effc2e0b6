"""Every inference route of `inferd serve` against numpy: KServe v2 (JSON and binary),
/predict, TF-Serving rows and columns, metadata, readiness, repository index, X-Request-Id,
and /metrics through `promtool check metrics`."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server, make_mlp, mlp_ref, skip  # noqa: E402

try:
    import numpy as np
except ImportError:
    skip("numpy missing")

tmp = tempfile.mkdtemp(prefix="inferd-routes-")
models = os.path.join(tmp, "models")
w = make_mlp(os.path.join(models, "mlp", "1", "model.onnx"), seed=1, din=4, dh=16, dout=3)
c = Checker()

# serve --help names both kinds of model and the OpenAI routes
from harness import BIN  # noqa: E402
h = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True)
c.check(h.returncode == 0 and "model.gguf" in h.stdout and "/v1/chat/completions" in h.stdout
        and "model.onnx" in h.stdout, "serve --help mentions GGUF and OpenAI routes %r" % h.stdout)
x = np.arange(8, dtype=np.float32).reshape(2, 4) / 7.0 - 0.3
ref = mlp_ref(w, x)

with Server(models) as s:
    r = s.get("/v2/health/live")
    c.check(r.status == 200, "live")
    r = s.get("/v2")
    c.check(r.status == 200 and r.json()["name"] == "inferd", "server metadata %r" % r)
    r = s.get("/v2/models/mlp")
    meta = r.json()
    c.check(r.status == 200 and meta["inputs"][0]["name"] == "x" and meta["inputs"][0]["shape"] == [-1, 4]
            and meta["outputs"][0]["datatype"] == "FP32" and meta["versions"] == ["1"], "model metadata %r" % r)
    # inferd infer prints the answer byte for byte as the server sent it
    req = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": x.ravel().tolist()}]}
    rf = os.path.join(tmp, "req.json")
    with open(rf, "w") as f:
        json.dump(req, f)
    direct = s.post("/v2/models/mlp/infer", json.dumps(req).encode()).body.decode()
    p = subprocess.run([BIN, "infer", "http://127.0.0.1:%d" % s.port, "mlp", rf], capture_output=True, text=True)
    c.check(p.returncode == 0 and p.stdout.rstrip("\n") == direct.rstrip("\n"),
            "infer prints the body as received %r vs %r" % (p.stdout[:200], direct[:200]))
    r = s.get("/v2/models/mlp/versions/1")
    c.check(r.status == 200 and r.json()["versions"] == ["1"], "version metadata %r" % r)
    c.check(s.get("/v2/models/mlp/ready").status == 200, "model ready")
    c.check(s.get("/v2/models/mlp/versions/1/ready").status == 200, "version ready")
    c.check(s.get("/v2/models/mlp/versions/2/ready").status == 404, "missing version not ready")

    # v2 JSON
    req = {"id": "abc", "inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": x.ravel().tolist()}]}
    r = s.post_json("/v2/models/mlp/infer", req)
    c.check(r.status == 200, "v2 infer status %r" % r)
    out = r.json()
    c.check(out.get("id") == "abc" and out["model_name"] == "mlp" and out["model_version"] == "1", "v2 ids %r" % out)
    y = np.array(out["outputs"][0]["data"], np.float32).reshape(out["outputs"][0]["shape"])
    c.check(y.shape == (2, 3) and np.allclose(y, ref, atol=1e-4), "v2 numbers %r vs %r" % (y, ref))
    # nested data is accepted too
    req2 = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": x.tolist()}]}
    r = s.post_json("/v2/models/mlp/versions/1/infer", req2)
    c.check(r.status == 200 and np.allclose(np.array(r.json()["outputs"][0]["data"]).reshape(2, 3), ref, atol=1e-4),
            "v2 nested + version route %r" % r)

    # v2 binary in, binary out
    hdr = json.dumps({"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32",
                                  "parameters": {"binary_data_size": 32}}],
                      "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}).encode()
    r = s.post("/v2/models/mlp/infer", hdr + x.astype("<f4").tobytes(),
               headers={"Inference-Header-Content-Length": str(len(hdr)), "Content-Type": "application/octet-stream"})
    c.check(r.status == 200, "v2 binary status %r" % r)
    hl = int(r.headers.get("inference-header-content-length", "-1"))
    c.check(hl > 0, "binary response header length")
    if hl > 0:
        head = json.loads(r.body[:hl])
        o = head["outputs"][0]
        c.check(o["parameters"]["binary_data_size"] == 24 and len(r.body) == hl + 24, "binary size %r" % head)
        yb = np.frombuffer(r.body[hl:hl + 24], "<f4").reshape(2, 3)
        c.check(np.allclose(yb, ref, atol=1e-4), "binary numbers")
    # binary in, JSON out
    hdr = json.dumps({"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32",
                                  "parameters": {"binary_data_size": 32}}]}).encode()
    r = s.post("/v2/models/mlp/infer", hdr + x.astype("<f4").tobytes(),
               headers={"Inference-Header-Content-Length": str(len(hdr))})
    c.check(r.status == 200 and np.allclose(np.array(r.json()["outputs"][0]["data"]).reshape(2, 3), ref, atol=1e-4),
            "binary in, json out %r" % r)

    # /predict
    r = s.post_json("/predict", {"model": "mlp", "input_data": x[0].tolist()})
    p = r.json()
    c.check(r.status == 200 and p["status"] == "success" and np.allclose(p["prediction"], ref[0], atol=1e-4),
            "predict one row %r" % r)
    r = s.post_json("/predict", {"model": "mlp", "input_data": x.tolist()})
    c.check(r.status == 200 and np.allclose(r.json()["prediction"], ref, atol=1e-4), "predict batch %r" % r)
    r = s.post_json("/predict", {"model": "nope", "input_data": [1]})
    c.check(r.status == 404 and r.json()["status"] == "error" and "nope" in r.json()["error"], "predict unknown %r" % r)

    # TF-Serving
    r = s.post_json("/v1/models/mlp:predict", {"instances": x.tolist()})
    c.check(r.status == 200 and np.allclose(r.json()["predictions"], ref, atol=1e-4), "tfs instances %r" % r)
    r = s.post_json("/v1/models/mlp/versions/1:predict", {"instances": [{"x": row} for row in x.tolist()]})
    c.check(r.status == 200 and np.allclose(r.json()["predictions"], ref, atol=1e-4), "tfs named instances %r" % r)
    r = s.post_json("/v1/models/mlp:predict", {"inputs": {"x": x.tolist()}})
    c.check(r.status == 200 and np.allclose(r.json()["outputs"], ref, atol=1e-4), "tfs columnar %r" % r)
    r = s.post_json("/v1/models/mlp:predict", {"inputs": x.tolist()})
    c.check(r.status == 200 and np.allclose(r.json()["outputs"], ref, atol=1e-4), "tfs columnar bare %r" % r)
    r = s.get("/v1/models/mlp")
    st = r.json()
    c.check(r.status == 200 and st["model_version_status"][0]["state"] == "AVAILABLE"
            and st["model_version_status"][0]["version"] == "1", "tfs status %r" % r)
    c.check(s.get("/v1/models/nope").status == 404, "tfs status unknown")

    # repository index
    r = s.post("/v2/repository/index", b"{}")
    idx = r.json()
    c.check(r.status == 200 and {"name": "mlp", "version": "1", "state": "READY", "reason": ""} in idx,
            "repository index %r" % r)

    # X-Request-Id honoured and generated
    r = s.get("/v2/health/ready", headers={"X-Request-Id": "req-42.a"})
    c.check(r.headers.get("x-request-id") == "req-42.a", "X-Request-Id echoed %r" % r.headers)
    r1, r2 = s.get("/v2/health/ready"), s.get("/v2/health/ready")
    c.check(r1.headers.get("x-request-id") and r1.headers.get("x-request-id") != r2.headers.get("x-request-id"),
            "X-Request-Id generated and unique")

    # /metrics
    r = s.get("/metrics")
    text = r.body.decode()
    c.check(r.status == 200 and "inferd_requests_total" in text and 'model="mlp"' in text, "metrics content")
    c.check('inferd_batch_size_bucket{model="mlp",version="1"' in text or "inferd_batch_size" in text, "batch metric")
    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=r.body, capture_output=True)
        c.check(p.returncode == 0, "promtool check metrics: %s %s" % (p.stdout, p.stderr))
    else:
        print("promtool not installed; skipping that check")
    c.check(s.get("/nope").status == 404, "unknown route 404")
    c.check(s.request("DELETE", "/v2/health/live").status == 405, "wrong method 405")

c.check(s.returncode == 0, "exit status after SIGTERM %r" % s.returncode)
c.finish()
