"""test_metrics_serve.py — the real `inferd serve`'s /metrics and access log: promtool
accepts the exposition with no warnings, request counters and histograms count exactly the
requests made, process metrics are present, and the access log holds one JSON line per
request (fields filled, no secrets) and is reopened on SIGHUP; made-up model names and
versions do not create metric series."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Checker, Server, make_mlp, skip, wait_until  # noqa: E402


def sample(text, name, labels):
    """Value of the sample name{labels...} (labels: dict that must all match), or None."""
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


def read_lines(path):
    """Complete lines only: a line still being written (no '\n' yet) is not read."""
    try:
        with open(path) as f:
            return [json.loads(l) for l in f if l.endswith("\n") and l.strip()]
    except FileNotFoundError:
        return []


def main():
    try:
        import numpy  # noqa: F401
    except ImportError:
        skip("numpy/onnx not available")
    if not os.path.exists(harness.BIN):
        skip("no inferd binary")
    ck = Checker()
    work = tempfile.mkdtemp(prefix="inferd-metrics-")
    models = os.path.join(work, "models")
    make_mlp(os.path.join(models, "mlp", "1", "model.onnx"), seed=1)
    alog = os.path.join(work, "access.log")
    v2 = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    n_ok = 5
    with Server(models, "--access-log", alog) as s:
        for _ in range(n_ok):
            r = s.post_json("/v2/models/mlp/infer", v2,
                            headers={"User-Agent": "metrics-test/1",
                                     "Authorization": "Bearer topsecret"})
            ck.check(r.status == 200, "infer ok: %r" % r)
        r = s.post_json("/v2/models/mlp/infer", {"inputs": []})
        ck.check(r.status == 400, "bad request is 400: %r" % r)

        # Requests are counted when libmicrohttpd reports the response sent, which can be a
        # moment after the client has read it: wait for the last one to land, then check exactly.
        wait_until(lambda: sample(s.get("/metrics").body.decode(), "inferd_requests_total",
                                  {"model": "mlp", "code": "400"}) is not None, timeout=10)
        m = s.get("/metrics")
        ck.check(m.status == 200, "GET /metrics")
        ck.check(m.headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
                 "content type %r" % m.headers.get("content-type"))
        text = m.body.decode()
        total = sample(text, "inferd_requests_total",
                       {"model": "mlp", "code": "200"})
        ck.check(total == n_ok, "inferd_requests_total{mlp,200} == %d: %r" % (n_ok, total))
        ck.check(sample(text, "inferd_requests_total", {"model": "mlp", "code": "400"}) == 1,
                 "the 400 is counted")
        cnt = sample(text, "inferd_request_duration_seconds_count", {"model": "mlp"})
        inf = sample(text, "inferd_request_duration_seconds_bucket", {"model": "mlp", "le": "+Inf"})
        ck.check(cnt is not None and cnt >= n_ok and cnt == inf,
                 "duration histogram count %r == +Inf bucket %r" % (cnt, inf))
        # the phases of a tensor request: decode and encode, once per request that ran
        for fam in ("inferd_decode_duration_seconds", "inferd_encode_duration_seconds",
                    "inferd_batch_wait_duration_seconds",
                    "inferd_queue_duration_seconds", "inferd_compute_duration_seconds"):
            n = sample(text, fam + "_count", {"model": "mlp", "version": "1"})
            ck.check(n == n_ok, "%s counts the %d requests that ran: %r" % (fam, n_ok, n))
        ck.check(sample(text, "inferd_models_loaded", {}) == 1, "one model loaded")
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                     "process_start_time_seconds"):
            v = sample(text, name, {})
            ck.check(v is not None and v > 0, "%s present and > 0: %r" % (name, v))
        for fam in ("inferd_llm_time_to_first_token_seconds", "inferd_queue_depth",
                    "inferd_batch_size", "inferd_errors_total"):
            ck.check("# TYPE %s " % fam in text, "family %s exposed" % fam)

        if shutil.which("promtool"):
            p = subprocess.run(["promtool", "check", "metrics"], input=m.body,
                               capture_output=True, timeout=60)
            ck.check(p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(),
                     "promtool check metrics clean: %r %r" % (p.stdout, p.stderr))
        else:
            print("promtool absent: format check skipped")

        # access log: one line per request above (+ the /metrics scrape)
        ck.check(wait_until(lambda: len(read_lines(alog)) >= n_ok + 2),
                 "access log has the requests")
        lines = read_lines(alog)
        infer_lines = [l for l in lines if l.get("path") == "/v2/models/mlp/infer"]
        ck.check(len(infer_lines) == n_ok + 1, "one line per infer request: %d" % len(infer_lines))
        if infer_lines:
            l0 = infer_lines[0]
            for key in ("ts", "request_id", "method", "path", "status", "model", "version",
                        "protocol", "bytes_in", "bytes_out", "duration_ms", "queue_ms",
                        "compute_ms", "decode_ms", "batch_wait_ms", "encode_ms", "remote_addr",
                        "user_agent"):
                ck.check(key in l0, "access line has %s" % key)
            ck.check(l0["decode_ms"] + l0["queue_ms"] + l0["compute_ms"] + l0["encode_ms"] <= l0["duration_ms"] + 0.01
                     and 0 <= l0["batch_wait_ms"] <= l0["queue_ms"] + 0.001,
                     "the phases fit in the request's time, batch wait in the queue time: %r" % l0)
            ck.check(l0.get("status") == 200 and l0.get("model") == "mlp" and
                     l0.get("method") == "POST", "access line values: %r" % l0)
            ck.check(l0.get("user_agent") == "metrics-test/1", "user agent logged")
            ck.check(l0.get("remote_addr", "").startswith("127.0.0.1"), "remote addr logged")
            ck.check(re.fullmatch(r"[0-9a-f]{8,32}", l0.get("request_id", "")) is not None,
                     "request id is hex: %r" % l0.get("request_id"))
            ck.check(len({l["request_id"] for l in infer_lines}) == len(infer_lines),
                     "request ids unique")
            ck.check(l0.get("bytes_in", 0) > 0 and l0.get("bytes_out", 0) > 0, "byte counts")
        with open(alog) as f:
            ck.check("topsecret" not in f.read(), "no secrets in the access log")

        # made-up model names and versions share one label: they cannot fill the series cap
        for i in range(60):
            s.post_json("/v2/models/nosuch%d/infer" % i, v2)
            s.post_json("/v2/models/mlp/versions/%d/infer" % (1000 + i), v2)
        wait_until(lambda: (sample(s.get("/metrics").body.decode(), "inferd_requests_total",
                                   {"model": "_unknown", "code": "404"}) or 0) >= 60, timeout=10)
        text = s.get("/metrics").body.decode()
        ck.check(sample(text, "inferd_requests_total", {"model": "_unknown", "code": "404"}) == 60,
                 "unknown models counted under model=\"_unknown\"")
        ck.check("nosuch" not in text and 'version="10' not in text,
                 "no series for made-up model names or versions")
        ck.check(sample(text, "inferd_requests_total", {"model": "mlp", "version": "", "code": "404"}) == 60,
                 "a made-up version of a real model is counted without its version")

        # rotation: move the file, SIGHUP, the next request lands in a new file
        os.rename(alog, alog + ".1")
        s.proc.send_signal(signal.SIGHUP)
        ck.check(wait_until(lambda: os.path.exists(alog)), "SIGHUP reopened the access log")
        r = s.get("/v2/health/live")
        ck.check(wait_until(lambda: any(l.get("path") == "/v2/health/live"
                                        for l in read_lines(alog))),
                 "request after SIGHUP logged in the new file")
        ck.check(not any(l.get("path") == "/v2/health/live" for l in read_lines(alog + ".1")),
                 "nothing after the rotation went to the old file")

        # hygiene: the series of a version that is unloaded, and of a model that is removed,
        # leave /metrics; the model back, its series come back with traffic
        def loaded():  # the index, not /v2/models/mlp2/ready: that would be counted for mlp2
            r = s.post("/v2/repository/index", b"")
            return r.status == 200 and any(m["name"] == "mlp2" and m.get("state") == "READY" for m in r.json())

        make_mlp(os.path.join(models, "mlp2", "1", "model.onnx"), seed=2)
        ck.check(wait_until(loaded, 30), "mlp2 loaded")
        for _ in range(3):
            s.post_json("/v2/models/mlp2/infer", v2)
        def count(version):  # counted when the response is sent: a moment after it is read
            return sample(s.get("/metrics").body.decode(), "inferd_requests_total",
                          {"model": "mlp2", "version": version, "code": "200"})

        ck.check(wait_until(lambda: count("1") == 3, 10), "mlp2 counted: %s" % count("1"))
        make_mlp(os.path.join(models, "mlp2", "2", "model.onnx"), seed=3)  # policy latest: 1 goes
        ck.check(wait_until(lambda: 'model="mlp2",version="1"' not in s.get("/metrics").body.decode(), 30),
                 "an unloaded version's series leave /metrics")
        s.post_json("/v2/models/mlp2/infer", v2)
        ck.check(wait_until(lambda: count("2") == 1, 10), "the new version is counted: %s" % count("2"))
        shutil.rmtree(os.path.join(models, "mlp2"))
        ck.check(wait_until(lambda: 'model="mlp2"' not in s.get("/metrics").body.decode(), 30),
                 "a removed model's series leave /metrics")
        ck.check('model="mlp"' in s.get("/metrics").body.decode(), "other models' series stay")
        make_mlp(os.path.join(models, "mlp2", "2", "model.onnx"), seed=3)
        ck.check(wait_until(loaded, 30), "mlp2 back")
        s.post_json("/v2/models/mlp2/infer", v2)
        ck.check(wait_until(lambda: count("2") == 2, 10),
                 "back: its series return, counting on from where they were: %s" % count("2"))
    ck.finish()


if __name__ == "__main__":
    main()
