"""Model repository while serving: version hot-add, a broken new version keeps the old
one serving, manifest sha256 mismatch refused, version policies (latest/all/specific),
bare models without config, unload/load through the API, and unload during in-flight
requests (they finish on the version they started on)."""
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Checker, Server, make_mlp, metric_value, mlp_ref, sha256_manifest, skip,  # noqa: E402
                     wait_until, write_json)

try:
    import numpy as np
except ImportError:
    skip("numpy missing")

tmp = tempfile.mkdtemp(prefix="inferd-repo-")
models = os.path.join(tmp, "models")
stage = os.path.join(tmp, "stage")
c = Checker()
x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)


def add_version(model, v, seed, manifest=False, corrupt_manifest=False):
    """Writes a version in a staging folder and renames it into place (atomic)."""
    d = os.path.join(stage, "%s-%d" % (model, v))
    w = make_mlp(os.path.join(d, "model.onnx"), seed=seed)
    if manifest:
        sha256_manifest(d)
        if corrupt_manifest:
            with open(os.path.join(d, "model.onnx"), "ab") as f:
                f.write(b"\0")  # file no longer matches its digest
    os.rename(d, os.path.join(models, model, str(v)))
    return w


def infer(s, model, version=None):
    path = "/v2/models/%s%s/infer" % (model, "" if version is None else "/versions/%d" % version)
    r = s.post_json(path, {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": x.ravel().tolist()}]})
    if r.status != 200:
        return r, None
    o = r.json()
    return r, (o["model_version"], np.array(o["outputs"][0]["data"], np.float32).reshape(2, 3))


os.makedirs(os.path.join(models, "mlp"))
os.makedirs(stage)
w1 = add_version("mlp", 1, seed=1)
# policy models
for v in (1, 2, 3):
    make_mlp(os.path.join(models, "every", str(v), "model.onnx"), seed=v)
    make_mlp(os.path.join(models, "some", str(v), "model.onnx"), seed=v)
    make_mlp(os.path.join(models, "two", str(v), "model.onnx"), seed=v)
write_json(os.path.join(models, "two", "config.json"), {"version_policy": {"latest": {"num_versions": 2}}})
write_json(os.path.join(models, "every", "config.json"), {"version_policy": {"all": {}}})
write_json(os.path.join(models, "some", "config.json"), {"version_policy": {"specific": {"versions": [1, 3]}}})
# a slow-batching model for the in-flight unload test
wb = make_mlp(os.path.join(models, "held", "1", "model.onnx"), seed=9)
write_json(os.path.join(models, "held", "config.json"),
           {"max_batch_size": 16, "dynamic_batching": {"preferred_batch_size": [16], "max_queue_delay_microseconds": 5000000}})
# a model with a broken config
os.makedirs(os.path.join(models, "badcfg", "1"))
shutil.copy(os.path.join(models, "every", "1", "model.onnx"), os.path.join(models, "badcfg", "1"))
with open(os.path.join(models, "badcfg", "config.json"), "w") as f:
    f.write('{"max_batch_size": "lots"}')

with Server(models, "--poll-ms", "100") as s:
    r, out = infer(s, "mlp")
    c.check(out is not None and out[0] == "1" and np.allclose(out[1], mlp_ref(w1, x), atol=1e-4), "v1 serves %r" % r)
    # policies
    meta = s.get("/v2/models/every").json()
    c.check(meta["versions"] == ["1", "2", "3"], "all policy loads every version %r" % meta)
    meta = s.get("/v2/models/two").json()
    c.check(meta["versions"] == ["2", "3"], "latest-2 policy %r" % meta)
    c.check(infer(s, "two")[1][0] == "3", "newest version answers by default")
    meta = s.get("/v2/models/some").json()
    c.check(meta["versions"] == ["1", "3"], "specific policy %r" % meta)
    c.check(infer(s, "some", 2)[0].status == 404, "version outside specific policy is 404")
    r = s.get("/v2/models/badcfg")
    c.check(r.status in (503, 404) and "max_batch_size" in r.json()["error"], "bad config reason shown %r" % r)
    c.check("max_batch_size" in s.stderr_text(), "bad config logged")

    # hot-add version 2
    w2 = add_version("mlp", 2, seed=2)
    c.check(wait_until(lambda: (infer(s, "mlp")[1] or ("0",))[0] == "2"), "v2 picked up while serving")
    r, out = infer(s, "mlp")
    c.check(out is not None and np.allclose(out[1], mlp_ref(w2, x), atol=1e-4), "v2 numbers")
    c.check(wait_until(lambda: infer(s, "mlp", 1)[0].status == 404), "latest-1 policy unloads v1")

    # broken version 3: error logged, v2 keeps serving
    os.makedirs(os.path.join(stage, "mlp-3"))
    with open(os.path.join(stage, "mlp-3", "model.onnx"), "wb") as f:
        f.write(b"this is not an onnx model" * 10)
    os.rename(os.path.join(stage, "mlp-3"), os.path.join(models, "mlp", "3"))
    c.check(wait_until(lambda: '"version":3' in s.stderr_text() and "failed to load" in s.stderr_text()),
            "broken v3 logged")
    r, out = infer(s, "mlp")
    c.check(out is not None and out[0] == "2", "v2 still serving after broken v3 %r" % r)
    v3_lines = [l for l in s.stderr_text().splitlines() if '"version":3' in l and "failed to load" in l]
    c.check(v3_lines and v3_lines[0].count(os.path.join("mlp", "3", "model.onnx")) == 1,
            "the error names the file once %r" % v3_lines[:1])
    idx = s.post("/v2/repository/index", b"").json()
    bad3 = [e for e in idx if e.get("name") == "mlp" and e.get("version") == "3"]
    c.check(len(bad3) == 1 and bad3[0]["state"] == "UNAVAILABLE" and bad3[0]["reason"],
            "index lists failed v3 as UNAVAILABLE with a reason %r" % idx)
    c.check({"name": "mlp", "version": "2", "state": "READY", "reason": ""} in idx, "index still shows v2 %r" % idx)

    # manifest mismatch: refused
    add_version("mlp", 4, seed=4, manifest=True, corrupt_manifest=True)
    c.check(wait_until(lambda: "sha256 mismatch" in s.stderr_text()), "manifest mismatch logged")
    r, out = infer(s, "mlp")
    c.check(out is not None and out[0] == "2", "v2 still serving after bad manifest %r" % r)
    # a good manifest loads
    w5 = add_version("mlp", 5, seed=5, manifest=True)
    c.check(wait_until(lambda: (infer(s, "mlp")[1] or ("0",))[0] == "5"), "v5 with a valid manifest loads")
    r, out = infer(s, "mlp")
    c.check(out is not None and np.allclose(out[1], mlp_ref(w5, x), atol=1e-4), "v5 numbers")
    idx = s.post("/v2/repository/index", b"").json()
    c.check({"name": "mlp", "version": "5", "state": "READY", "reason": ""} in idx, "index shows v5 %r" % idx)

    # unload / load through the API
    r = s.post("/v2/repository/models/mlp/unload", b"")
    c.check(r.status == 200, "unload %r" % r)
    r, _ = infer(s, "mlp")
    c.check(r.status in (404, 503) and "mlp" in r.json()["error"], "unloaded model refuses %r" % r)
    time.sleep(0.3)  # polling must not bring it back
    c.check(infer(s, "mlp")[0].status in (404, 503), "stays unloaded across polls")
    r = s.post("/v2/repository/models/mlp/load", b"")
    c.check(r.status == 200, "load %r" % r)
    c.check(infer(s, "mlp")[1] is not None, "serves again after load")
    r = s.post("/v2/repository/models/ghost/load", b"")
    c.check(r.status == 404 and "ghost" in r.json()["error"], "load unknown model 404 %r" % r)

    # unload while requests are in flight (held in the batching queue)
    results = []

    def worker(i):
        xi = x + i
        r = s.post_json("/v2/models/held/infer",
                        {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": xi.ravel().tolist()}]})
        ok = r.status == 200 and np.allclose(np.array(r.json()["outputs"][0]["data"]).reshape(2, 3),
                                             mlp_ref(wb, xi), atol=1e-4)
        results.append((ok, r.status))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in ts:
        t.start()
    c.check(wait_until(lambda: metric_value(s, "inferd_queue_depth", 'model="held",version="1"') == 3),
            "three requests queued")
    r = s.post("/v2/repository/models/held/unload", b"")
    c.check(r.status == 200, "unload held %r" % r)
    for t in ts:
        t.join()
    c.check(len(results) == 3 and all(ok for ok, _ in results), "in-flight requests finished: %r" % results)
    c.check(infer(s, "held")[0].status in (404, 503), "held unloaded afterwards")

    # bare model added while serving (no config, no manifest)
    os.makedirs(os.path.join(stage, "fresh"))
    wf = make_mlp(os.path.join(stage, "fresh", "1", "model.onnx"), seed=11)
    os.rename(os.path.join(stage, "fresh"), os.path.join(models, "fresh"))
    c.check(wait_until(lambda: infer(s, "fresh")[1] is not None), "new model picked up")
    r, out = infer(s, "fresh")
    c.check(out is not None and np.allclose(out[1], mlp_ref(wf, x), atol=1e-4), "new model numbers")

c.check(s.returncode == 0, "clean exit %r" % s.returncode)
c.finish()
