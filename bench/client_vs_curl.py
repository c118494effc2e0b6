#!/usr/bin/python3
"""client_vs_curl.py — `inferd infer` (the client library) against `curl` on the same
request to a real `inferd serve` on loopback, side by side; prints per-call times and ratios.

Measures what a user sees per call (process start, connect, request, parse, print) for:
  0. process start alone (`inferd version` vs `curl --version`), to separate start-up
     cost (the inferd binary links OpenBLAS, ICU, ...) from the request itself;
  1. a healthy server (no retries): inferd infer vs curl -X POST;
  2. a dead first URL (fail-over): inferd infer "dead,live" vs curl --retry ... on live only
     (curl cannot fail over; shown for the cost of the extra connect attempt).
Bounded: N calls per side (default 100), each with a 30 s timeout.

Then, in-process (bench/client_bench.c, built as the client_bench target):
  3. inferd_client_infer_v2 vs the same POST on a raw libcurl handle, 10*N calls;
  4. the metrics hot path vs a bare atomic add.

usage: /usr/bin/python3 bench/client_vs_curl.py [N]   (after a build; INFERD_BUILD defaults
       to build/, INFERD_BIN to $INFERD_BUILD/inferd)
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
BUILD = os.environ.setdefault("INFERD_BUILD", os.path.join(ROOT, "build"))
os.environ.setdefault("INFERD_BIN", os.path.join(BUILD, "inferd"))
BENCH = os.path.join(BUILD, "tests", "unit", "client", "client_bench")
import harness  # noqa: E402
from test_client_fault_server import dead_url  # noqa: E402


def timed(cmd, n):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, timeout=30)
        out.append(time.perf_counter() - t0)
        if p.returncode != 0:
            raise SystemExit("failed: %s\n%s" % (" ".join(cmd), p.stderr.decode()))
    return out


def row(name, a, b):
    ma, mb = statistics.median(a), statistics.median(b)
    print("%-34s inferd %7.2f ms   curl %7.2f ms   ratio inferd/curl %.2f"
          % (name, ma * 1e3, mb * 1e3, ma / mb))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    work = tempfile.mkdtemp(prefix="inferd-bench-")
    models = os.path.join(work, "models")
    harness.make_mlp(os.path.join(models, "mlp", "1", "model.onnx"), din=64, dh=256, dout=10)
    req = {"inputs": [{"name": "x", "shape": [8, 64], "datatype": "FP32",
                       "data": [((i * 7) % 13) / 13.0 for i in range(8 * 64)]}]}
    path = os.path.join(work, "req.json")
    with open(path, "w") as f:
        json.dump(req, f)
    with harness.Server(models) as s:
        url = "http://127.0.0.1:%d" % s.port
        inferd = [harness.BIN, "infer", url, "mlp", path]
        curl = ["curl", "-sf", "-X", "POST", "-H", "Content-Type: application/json",
                "--data-binary", "@" + path, url + "/v2/models/mlp/infer"]
        timed(inferd, 3), timed(curl, 3)  # warm up
        sa, sb = timed([harness.BIN, "version"], n), timed(["curl", "--version"], n)
        row("process start only (version)", sa, sb)
        a, b = timed(inferd, n), timed(curl, n)
        row("healthy server (median of %d)" % n, a, b)
        dead = dead_url()
        a = timed([harness.BIN, "infer", dead + "," + url, "mlp", path,
                   "--backoff-base", "0.001"], n)
        b = timed(curl, n)
        row("dead first URL, fail-over", a, b)
        if not os.path.exists(BENCH):
            subprocess.run(["cmake", "--build", BUILD, "--target", "client_bench", "-j2"],
                           check=True, capture_output=True)
        subprocess.run([BENCH, "http", url, "mlp", path, str(10 * n)], check=True, timeout=300)
    subprocess.run([BENCH, "metrics", "20000000"], check=True, timeout=300)


if __name__ == "__main__":
    main()
