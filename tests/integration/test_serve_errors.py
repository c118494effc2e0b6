"""Bad input of every kind gets a 4xx with {"error": ...} naming the field and reason,
and the server keeps serving: malformed JSON, wrong dtype, wrong shape, unknown
model/version/input/output, oversize body (413), too many elements, bad binary sizes,
bad timeouts; plus API/admin key auth (401)."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server, make_mlp, skip  # noqa: E402

try:
    import numpy as np  # noqa: F401
except ImportError:
    skip("numpy missing")

tmp = tempfile.mkdtemp(prefix="inferd-errors-")
models = os.path.join(tmp, "models")
make_mlp(os.path.join(models, "mlp", "1", "model.onnx"), din=4, dout=3)
c = Checker()


def good(n=1):
    return {"inputs": [{"name": "x", "shape": [n, 4], "datatype": "FP32", "data": [0.5] * (4 * n)}]}


def expect(s, path, body, status, words, headers=None, raw=False):
    if raw:
        r = s.post(path, body, headers=headers)
    else:
        r = s.post_json(path, body, headers=headers)
    try:
        msg = r.json().get("error", "")
    except ValueError:
        msg = ""
    ok = r.status == status and all(w in msg for w in words)
    c.check(ok, "%s -> %d %r (wanted %d with %r)" % (str(body)[:80], r.status, msg, status, words))
    # still serving after every error
    c.check(s.post_json("/v2/models/mlp/infer", good()).status == 200, "still serving after %r" % words)
    return r


keys = os.path.join(tmp, "keys.txt")
admin = os.path.join(tmp, "admin.txt")
with open(keys, "w") as f:
    f.write("# inference keys\nsecret-one\n\n  secret-two  \n")
with open(admin, "w") as f:
    f.write("admin-key\n")

with Server(models, "--max-body-bytes", "20000", "--max-elements", "1000") as s:
    v2 = "/v2/models/mlp/infer"
    expect(s, v2, "{not json", 400, ["malformed JSON"], raw=True)
    expect(s, v2, "[1,2]", 400, ["not a JSON object"], raw=True)
    expect(s, v2, {"inputs": []}, 400, ["inputs"])
    b = good(); b["inputs"][0]["datatype"] = "INT64"; b["inputs"][0]["data"] = [1] * 4
    expect(s, v2, b, 400, ["input 'x'", "INT64", "FP32"])
    b = good(); b["inputs"][0]["datatype"] = "FLOAT99"
    expect(s, v2, b, 400, ["datatype", "FLOAT99"])
    b = good(); b["inputs"][0]["shape"] = [1, 5]; b["inputs"][0]["data"] = [0.1] * 5
    expect(s, v2, b, 400, ["input 'x'", "shape [1,5]", "[-1,4]"])
    b = good(); b["inputs"][0]["data"] = [0.1] * 3
    expect(s, v2, b, 400, ["data", "4 elements"])
    b = good(); b["inputs"][0]["data"] = ["a", "b", "c", "d"]
    expect(s, v2, b, 400, ["data", "not a number"])
    b = good(); b["inputs"][0]["name"] = "zzz"
    expect(s, v2, b, 404, ["zzz", "not an input"])
    b = good(); del b["inputs"][0]["shape"]
    expect(s, v2, b, 400, ["shape"])
    b = good(); b["outputs"] = [{"name": "nope"}]
    expect(s, v2, b, 400, ["outputs[0].name", "nope"])
    expect(s, "/v2/models/ghost/infer", good(), 404, ["ghost"])
    expect(s, "/v2/models/mlp/versions/7/infer", good(), 404, ["version 7"])
    expect(s, "/v2/models/mlp/versions/x1/infer", good(), 400, ["version"])
    expect(s, v2, good(300), 413, ["elements", "1000"])
    big = json.dumps(good(1)) + " " * 30000
    expect(s, v2, big, 413, ["request body", "20000"], raw=True)
    # binary sizes
    hdr = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                                  "parameters": {"binary_data_size": 12}}]}).encode()
    expect(s, v2, hdr + b"\0" * 12, 400, ["binary_data_size", "16"], raw=True,
           headers={"Inference-Header-Content-Length": str(len(hdr))})
    hdr = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                                  "parameters": {"binary_data_size": 16}}]}).encode()
    expect(s, v2, hdr + b"\0" * 8, 400, ["binary_data_size", "left"], raw=True,
           headers={"Inference-Header-Content-Length": str(len(hdr))})
    expect(s, v2, hdr + b"\0" * 20, 400, ["binary", "20"], raw=True,
           headers={"Inference-Header-Content-Length": str(len(hdr))})
    expect(s, v2, hdr, 400, ["Inference-Header-Content-Length"], raw=True,
           headers={"Inference-Header-Content-Length": "99999"})
    expect(s, v2, hdr, 400, ["Inference-Header-Content-Length"], raw=True,
           headers={"Inference-Header-Content-Length": "-3"})
    expect(s, v2, good(), 400, ["X-Request-Timeout-Ms"], headers={"X-Request-Timeout-Ms": "soon"})
    expect(s, v2, good(), 400, ["X-Request-Timeout-Ms"], headers={"X-Request-Timeout-Ms": "-5"})
    expect(s, v2, good(), 400, ["X-Request-Timeout-Ms"], headers={"X-Request-Timeout-Ms": "+5"})
    # huge timeouts are clamped, not overflowed into a deadline in the past
    expect(s, v2, good(), 200, [], headers={"X-Request-Timeout-Ms": "99999999999999999999999"})
    b = good(); b["parameters"] = {"timeout": 9223372036854775807}
    expect(s, v2, b, 200, [])
    b = good(); b["parameters"] = {"timeout": "x"}
    expect(s, v2, b, 400, ["parameters.timeout"])
    # predict / TF-Serving errors
    r = expect(s, "/predict", {"input_data": [1, 2, 3, 4]}, 400, ["model"])
    c.check(r.json().get("status") == "error", "predict error has status:error")
    expect(s, "/predict", {"model": "mlp", "input_data": [[1, 2], [3]]}, 400, ["input_data"])
    expect(s, "/predict", {"model": "mlp", "input_data": [1, 2, 3]}, 400, ["shape"])
    expect(s, "/predict", {"model": "mlp"}, 400, ["input_data"])
    expect(s, "/v1/models/mlp:predict", {"nothing": 1}, 400, ["instances", "inputs"])
    expect(s, "/v1/models/mlp:predict", {"instances": [[1, 2, 3, 4], [1, 2]]}, 400, ["instances"])
    expect(s, "/v1/models/mlp:predict", {"instances": [[True, 2, 3, 4]]}, 400, ["instances", "not a number"])

# auth
with Server(models, "--api-key-file", keys, "--admin-key-file", admin) as s:
    r = s.post_json("/v2/models/mlp/infer", good())
    c.check(r.status == 401 and "Authorization" in r.json()["error"], "no key 401 %r" % r)
    r = s.post_json("/v2/models/mlp/infer", good(), headers={"Authorization": "Bearer wrong"})
    c.check(r.status == 401 and "unknown api key" in r.json()["error"] and "wrong" not in r.json()["error"],
            "bad key 401 %r" % r)
    for k in ("secret-one", "secret-two"):
        r = s.post_json("/v2/models/mlp/infer", good(), headers={"Authorization": "Bearer " + k})
        c.check(r.status == 200, "key %s accepted %r" % (k, r))
    r = s.post_json("/predict", {"model": "mlp", "input_data": [1, 2, 3, 4]})
    c.check(r.status == 401, "predict needs key")
    c.check(s.get("/v2/health/ready").status == 200, "health open")
    c.check(s.get("/metrics").status == 200, "metrics open")
    r = s.post("/v2/repository/index", b"", headers={"Authorization": "Bearer secret-one"})
    c.check(r.status == 401 and "not an admin key" in r.json()["error"], "repository needs admin key %r" % r)
    r = s.post("/v2/repository/index", b"", headers={"Authorization": "Bearer admin-key"})
    c.check(r.status == 200, "admin key opens repository %r" % r)
    log = s.stderr_text()
c.check(s.returncode == 0, "clean exit %r" % s.returncode)
c.check("secret-one" not in log and "admin-key" not in log, "keys never logged")
c.finish()
