"""Access log lines with request ids, SIGHUP reopening both log files (logrotate style),
and SIGTERM draining: in-flight requests finish, then the process exits 0."""
import json
import os
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server, make_mlp, metric_value, mlp_ref, skip, wait_until, write_json  # noqa: E402

try:
    import numpy as np
except ImportError:
    skip("numpy missing")

tmp = tempfile.mkdtemp(prefix="inferd-signals-")
models = os.path.join(tmp, "models")
w = make_mlp(os.path.join(models, "held", "1", "model.onnx"), seed=5)
write_json(os.path.join(models, "held", "config.json"),
           {"max_batch_size": 16, "dynamic_batching": {"preferred_batch_size": [16], "max_queue_delay_microseconds": 5000000}})
access = os.path.join(tmp, "access.log")
errlog = os.path.join(tmp, "error.log")
c = Checker()
x = np.ones((1, 4), np.float32)
body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": x.ravel().tolist()}]}


def lines(path):
    try:
        with open(path) as f:
            return [json.loads(l) for l in f if l.strip()]
    except OSError:
        return []


s = Server(models, "--access-log", access, "--error-log", errlog).start()
r = s.post_json("/v2/models/held/infer", body, headers={"X-Request-Id": "trace-1"})
c.check(r.status == 200 and r.headers.get("x-request-id") == "trace-1", "infer with request id %r" % r)
c.check(wait_until(lambda: any(l.get("request_id") == "trace-1" for l in lines(access))), "access log has trace-1")
rec = [l for l in lines(access) if l.get("request_id") == "trace-1"]
if rec:
    l = rec[0]
    c.check(l["status"] == 200 and l["model"] == "held" and l["version"] == "1" and l["protocol"] == "v2"
            and l["path"] == "/v2/models/held/infer" and l["queue_ms"] > 0, "access log fields %r" % l)
    # alone on an idle engine, its whole wait was the batch filling (the 5 s batching delay)
    c.check(l.get("batch_wait_ms") == l["queue_ms"] and l["queue_ms"] >= 4000,
            "batch wait = queue time on an idle engine: %r" % l)
c.check(any(l.get("msg") == "model version loaded" for l in lines(errlog)), "error log is JSON lines in the file")
# a long client id (up to 128 chars) is echoed and logged whole; generated ids are 32 hex
long_id = "t" * 100 + "-" + "9" * 27
r = s.get("/v2/health/ready", headers={"X-Request-Id": long_id})
c.check(r.headers.get("x-request-id") == long_id, "long id echoed %r" % r.headers.get("x-request-id"))
c.check(wait_until(lambda: any(l.get("request_id") == long_id for l in lines(access))), "long id logged whole")
r = s.get("/v2/health/ready")
gen = r.headers.get("x-request-id") or ""
c.check(len(gen) == 32 and all(ch in "0123456789abcdef" for ch in gen), "generated id is 32 hex %r" % gen)
c.check(wait_until(lambda: any(l.get("request_id") == gen for l in lines(access))), "generated id logged")

# SIGHUP: rotate both files
os.rename(access, access + ".1")
os.rename(errlog, errlog + ".1")
s.send_signal(signal.SIGHUP)
c.check(wait_until(lambda: os.path.exists(errlog)), "error log reopened after SIGHUP")
r = s.get("/v2/health/ready", headers={"X-Request-Id": "after-hup"})
c.check(wait_until(lambda: any(l.get("request_id") == "after-hup" for l in lines(access))), "access log reopened")
c.check(not any(l.get("request_id") == "after-hup" for l in lines(access + ".1")), "old file not written after HUP")

# SIGTERM drain: requests held in the batching queue complete before exit
results = []


def worker(i):
    xi = x + i
    rr = s.post_json("/v2/models/held/infer",
                     {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": xi.ravel().tolist()}]})
    ok = rr.status == 200 and np.allclose(np.array(rr.json()["outputs"][0]["data"]).reshape(1, 3), mlp_ref(w, xi),
                                          atol=1e-4)
    results.append((ok, rr.status))


ts = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
for t in ts:
    t.start()
c.check(wait_until(lambda: metric_value(s, "inferd_queue_depth", 'model="held",version="1"') == 3),
        "three requests queued before SIGTERM")
s.send_signal(signal.SIGTERM)
# while the three wait out their 5 s batch delay, a new request is turned away at once
t0 = time.time()
while True:  # the signal is taken asynchronously: until then the request is served as usual
    r = s.get("/v2/health/live")
    if r.status != 200 or time.time() - t0 > 20:
        break
    time.sleep(0.02)
c.check(r.status == 503 and r.headers.get("retry-after") == "1" and r.headers.get("connection") == "close"
        and "shutting down" in r.body.decode(), "a request begun during the drain: 503 draining, Retry-After, close: %r %r"
        % (r.status, r.headers))
c.check(not results, "it was answered while the queued requests still waited (%r)" % results)
for t in ts:
    t.join()
rc = s.stop(timeout=30)
c.check(len(results) == 3 and all(ok for ok, _ in results), "in-flight finished during drain: %r" % results)
c.check(rc == 0, "exit 0 after drain, got %r" % rc)
try:
    s.get("/v2/health/live")
    c.check(False, "port closed after exit")
except OSError:
    pass
c.check(any(l.get("msg") == "drained" for l in lines(errlog)), "drain logged")
if c.failures:
    print(s.stderr_text()[-3000:])
c.finish()
