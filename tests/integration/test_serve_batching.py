"""Dynamic batching: concurrent requests merged into one engine run and split back
correctly; a full queue answers 503 with Retry-After; expired deadlines (header
X-Request-Timeout-Ms and v2 parameters.timeout) answer 504 without compute."""
import os
import re
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server, make_mlp, mlp_ref, skip, write_json  # noqa: E402

try:
    import numpy as np
except ImportError:
    skip("numpy missing")

tmp = tempfile.mkdtemp(prefix="inferd-batch-")
models = os.path.join(tmp, "models")
wb = make_mlp(os.path.join(models, "b", "1", "model.onnx"), seed=3)
write_json(os.path.join(models, "b", "config.json"),
           {"max_batch_size": 8, "dynamic_batching": {"preferred_batch_size": [8], "max_queue_delay_microseconds": 3000000}})
wq = make_mlp(os.path.join(models, "q", "1", "model.onnx"), seed=4)
write_json(os.path.join(models, "q", "config.json"),
           {"max_batch_size": 4, "max_queue_size": 2,
            "dynamic_batching": {"preferred_batch_size": [4], "max_queue_delay_microseconds": 3000000}})
wd = make_mlp(os.path.join(models, "d", "1", "model.onnx"), seed=6)
write_json(os.path.join(models, "d", "config.json"),
           {"max_batch_size": 4, "dynamic_batching": {"preferred_batch_size": [4], "max_queue_delay_microseconds": 600000}})
c = Checker()


def body(xi):
    return {"inputs": [{"name": "x", "shape": list(xi.shape), "datatype": "FP32", "data": xi.ravel().tolist()}]}


def run_parallel(fn, n):
    out = [None] * n
    ts = [threading.Thread(target=lambda i=i: out.__setitem__(i, fn(i))) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def metric(text, name, labels):
    m = re.search(r"^%s\{%s\} ([0-9.e+-]+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else None


with Server(models) as s:
    xs = [np.full((1, 4), i / 10.0, np.float32) + np.arange(4, dtype=np.float32) / 5 for i in range(8)]

    def one(i):
        r = s.post_json("/v2/models/b/infer", body(xs[i]))
        if r.status != 200:
            return (False, r.status)
        y = np.array(r.json()["outputs"][0]["data"], np.float32).reshape(1, 3)
        return (np.allclose(y, mlp_ref(wb, xs[i]), atol=1e-4), r.status)

    res = run_parallel(one, 8)
    c.check(all(ok for ok, _ in res), "batched results split back correctly: %r" % res)
    text = s.get("/metrics").body.decode()
    runs = metric(text, "inferd_batch_size_count", 'model="b",version="1"')
    reqs = metric(text, "inferd_batch_size_sum", 'model="b",version="1"')
    c.check(runs is not None and reqs == 8 and runs < 8, "requests merged: %r runs for %r requests" % (runs, reqs))
    # a request of several rows in a batch
    x3 = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    r = s.post_json("/v2/models/b/infer", body(x3))
    c.check(r.status == 200 and np.allclose(np.array(r.json()["outputs"][0]["data"]).reshape(3, 3), mlp_ref(wb, x3),
                                            atol=1e-4), "multi-row request %r" % r)
    text = s.get("/metrics").body.decode()
    runs2 = metric(text, "inferd_batch_size_count", 'model="b",version="1"')
    rows2 = metric(text, "inferd_batch_size_sum", 'model="b",version="1"')
    c.check(runs2 == runs + 1 and rows2 == reqs + 3, "inferd_batch_size counts rows: %r %r" % (runs2, rows2))
    r = s.post_json("/v2/models/b/infer", body(np.zeros((9, 4), np.float32)))
    c.check(r.status == 400 and "max_batch_size" in r.json()["error"], "batch above max_batch_size %r" % r)

    # queue full -> 503 + Retry-After
    def q(i):
        r = s.post_json("/v2/models/q/infer", body(xs[i]))
        return r

    res = run_parallel(q, 6)
    busy = [r for r in res if r.status == 503]
    okr = [r for r in res if r.status == 200]
    c.check(len(busy) >= 1 and all(r.headers.get("retry-after") for r in busy)
            and all("max_queue_size" in r.json()["error"] for r in busy), "queue full 503: %r" % res)
    c.check(len(okr) >= 1 and len(okr) + len(busy) == 6, "queued ones answered: %r" % res)
    c.check("inferd_errors_total" in s.get("/metrics").body.decode(), "errors counted")

    # deadlines: the request waits in the batching queue longer than its timeout
    r = s.post_json("/v2/models/d/infer", body(xs[0]), headers={"X-Request-Timeout-Ms": "100"})
    c.check(r.status == 504 and "deadline" in r.json()["error"], "header deadline 504 %r" % r)
    b = body(xs[0])
    b["parameters"] = {"timeout": 100000}
    r = s.post_json("/v2/models/d/infer", b)
    c.check(r.status == 504 and "deadline" in r.json()["error"], "parameters.timeout 504 %r" % r)
    r = s.post_json("/v2/models/d/infer", body(xs[0]), headers={"X-Request-Timeout-Ms": "20000"})
    c.check(r.status == 200, "generous deadline passes %r" % r)

c.check(s.returncode == 0, "clean exit %r" % s.returncode)
c.finish()
