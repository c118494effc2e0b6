"""test_client_retry.py — `inferd infer` (the client library) against a fault-injecting
server: Retry-After honoured, 400 not retried, fail-over from a dead URL, overall deadline,
one idempotency key across retries, 429 and HTTP-date Retry-After, /predict and v2 bodies,
API key header."""
import email.utils
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_client_fault_server import FaultServer, dead_url  # noqa: E402

BIN = os.environ.get("INFERD_BIN")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def infer(urls, model, body, *args, env=None, timeout=60):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(body, f)
        path = f.name
    e = dict(os.environ)
    e.pop("INFERD_API_KEY", None)
    e.update(env or {})
    try:
        p = subprocess.run([BIN, "infer", urls, model, path, "--backoff-base", "0.05", *args],
                           capture_output=True, text=True, timeout=timeout, env=e)
    finally:
        os.unlink(path)
    return p


V2 = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}


def test_retry_after_then_ok():
    busy = {"status": 503, "headers": {"Retry-After": "1"}, "body": {"error": "warming up"}}
    ok = {"status": 200, "body": {"model_name": "m", "outputs": [{"name": "y", "data": [3]}]}}
    with FaultServer([busy, busy, ok]) as s:
        p = infer(s.url, "m", V2, "--retries", "3")
        reqs = s.requests
    check(p.returncode == 0, "503x2 then 200 succeeds (rc %d, %s)" % (p.returncode, p.stderr))
    check(json.loads(p.stdout)["outputs"][0]["data"] == [3], "answer printed on stdout")
    lines = [l for l in p.stderr.splitlines() if l.startswith("retry ")]
    check(len(lines) == 2, "two retry lines: %r" % lines)
    m = re.match(r"retry 1/3 after (\d+\.\d\d)s: HTTP 503 from (\S+)", lines[0] if lines else "")
    check(m is not None, "retry line format: %r" % lines)
    if m:
        check(float(m.group(1)) >= 1.0, "Retry-After: 1 honoured in the delay")
        check(m.group(2) == s.url + "/v2/models/m/infer", "URL in retry line")
    check(len(reqs) == 3, "three attempts reached the server")
    keys = {r["headers"].get("idempotency-key") for r in reqs}
    check(len(keys) == 1 and re.fullmatch(r"[0-9a-f]{32}", next(iter(keys)) or ""),
          "one idempotency key on every attempt: %r" % keys)
    if len(reqs) == 3:
        check(reqs[1]["time"] - reqs[0]["time"] >= 0.95, "waited Retry-After before retry 1")
        check(all(json.loads(r["body"]) == V2 for r in reqs), "same body on every attempt")
        check(all(r["path"] == "/v2/models/m/infer" for r in reqs), "v2 infer path")
    check("ok: HTTP 200" in p.stderr and "after 3 attempts" in p.stderr, "summary line")


def test_400_not_retried():
    with FaultServer([{"status": 400, "body": {"error": "input 'x' has the wrong shape"}}]) as s:
        p = infer(s.url, "m", V2, "--retries", "5")
        n = len(s.requests)
    check(p.returncode == 1, "400 fails")
    check(n == 1, "400 is not retried (%d requests)" % n)
    check("retry " not in p.stderr, "no retry lines after 400")
    check("wrong shape" in p.stderr, "server's error shown")
    for code in (404, 409):
        with FaultServer([{"status": code, "body": {"error": "no"}}]) as s:
            infer(s.url, "m", V2, "--retries", "3")
            check(len(s.requests) == 1, "%d is not retried" % code)


def test_429_and_http_date():
    when = email.utils.formatdate(time.time() + 1, usegmt=True)
    script = [{"status": 429, "headers": {"Retry-After": when}},
              {"status": 502}, {"status": 200, "body": {"outputs": []}}]
    with FaultServer(script) as s:
        p = infer(s.url, "m", V2, "--retries", "2")
        n = len(s.requests)
    check(p.returncode == 0, "429 and 502 are retried (%s)" % p.stderr)
    check(n == 3, "three attempts for 429, 502, 200")
    check("HTTP 429" in p.stderr and "HTTP 502" in p.stderr, "reasons in retry lines")
    check("(Retry-After 1s)" in p.stderr or "(Retry-After 0s)" in p.stderr,
          "HTTP-date Retry-After parsed: %s" % p.stderr)


def test_failover_from_dead_url():
    dead = dead_url()
    with FaultServer() as s:
        p = infer(dead + "," + s.url, "m", V2, "--retries", "2")
        n = len(s.requests)
    check(p.returncode == 0, "fail-over to the second URL succeeds (%s)" % p.stderr)
    check(n == 1, "second server got exactly one request")
    check(re.search(r"retry 1/2 after \S+s: connect failed: .* from " + re.escape(dead),
                    p.stderr) is not None, "connect failure reported: %s" % p.stderr)
    check("ok: HTTP 200 from " + s.url in p.stderr, "answer came from the second URL")
    # retries exhausted on dead URLs only
    p = infer(dead_url() + "," + dead_url(), "m", V2, "--retries", "1")
    check(p.returncode == 1 and "gave up after 2 attempts" in p.stderr,
          "all URLs dead: gives up (%s)" % p.stderr)


def test_deadline():
    busy = {"status": 503, "headers": {"Retry-After": "2"}}
    with FaultServer(default=busy) as s:
        p = infer(s.url, "m", V2, "--retries", "10", "--timeout", "3")
        n = len(s.requests)
    check(p.returncode == 1, "always-503 fails")
    check("deadline" in p.stderr, "deadline named: %s" % p.stderr)
    check(n <= 2, "deadline stops retries (%d attempts with Retry-After 2 in 3s)" % n)
    # a server slower than the deadline: the attempt is cut at the deadline
    with FaultServer(default={"status": 200, "delay": 30}) as s:
        p = infer(s.url, "m", V2, "--retries", "3", "--timeout", "1", timeout=20)
    check(p.returncode == 1 and "deadline" in p.stderr, "slow server hits deadline: %s"
          % p.stderr)


def test_hung_server_fails_over():
    with FaultServer(default={"status": 200, "delay": 30}) as hung, FaultServer() as live:
        p = infer(hung.url + "," + live.url, "m", V2, "--attempt-timeout", "1",
                  "--timeout", "20", timeout=25)
        n = len(live.requests)
    check(p.returncode == 0, "hung first server is failed over: %s" % p.stderr)
    check(re.search(r"retry 1/3 after \S+s: timeout: .* from " + re.escape(hung.url),
                    p.stderr) is not None, "timeout reported: %s" % p.stderr)
    check(n == 1 and ("ok: HTTP 200 from " + live.url) in p.stderr, "answered by the live one")


def test_predict_and_api_key():
    with FaultServer([{"status": 200, "body": {"status": "success", "prediction": [1]}}]) as s:
        p = infer(s.url, "iris", [[5.1, 3.5, 1.4, 0.2]], env={"INFERD_API_KEY": "sekret"})
        reqs = s.requests
    check(p.returncode == 0, "predict call works")
    check(reqs and reqs[0]["path"] == "/predict", "plain array goes to /predict")
    if reqs:
        check(json.loads(reqs[0]["body"]) == {"model": "iris",
                                              "input_data": [[5.1, 3.5, 1.4, 0.2]]},
              "predict body")
        check(reqs[0]["headers"].get("authorization") == "Bearer sekret", "api key from env")
    check("sekret" not in p.stderr + p.stdout, "api key never printed")
    with FaultServer() as s:
        p = infer(s.url, "iris", {"input_data": [1, 2]}, "--api-key", "k2",
                  "--protocol", "predict")
        reqs = s.requests
    check(reqs and json.loads(reqs[0]["body"]) == {"model": "iris", "input_data": [1, 2]},
          "{input_data} file goes to /predict")
    check(reqs and reqs[0]["headers"].get("authorization") == "Bearer k2", "--api-key")
    with FaultServer() as s:
        p = infer(s.url, "m/x y", V2, "--model-version", "3")
        reqs = s.requests
    check(reqs and reqs[0]["path"] == "/v2/models/m%2Fx%20y/versions/3/infer",
          "model and version escaped in the path: %r" % (reqs and reqs[0]["path"]))
    p = infer("ftp://x", "m", V2)
    check(p.returncode == 2, "bad URL is a usage error")


def test_stdin_and_usage():
    with FaultServer() as s:
        p = subprocess.run([BIN, "infer", s.url, "m", "-"], input=json.dumps(V2),
                           capture_output=True, text=True, timeout=60)
        reqs = s.requests
    check(p.returncode == 0 and reqs and json.loads(reqs[0]["body"]) == V2,
          "request read from stdin with '-'")
    p = subprocess.run([BIN, "infer", "http://127.0.0.1:1", "m"], capture_output=True,
                       text=True, timeout=60)
    check(p.returncode == 2 and "usage" in p.stderr, "missing FILE is a usage error")
    p = subprocess.run([BIN, "infer", "http://127.0.0.1:1", "m", "-", "--retries", "x"],
                       input="{}", capture_output=True, text=True, timeout=60)
    check(p.returncode == 2, "bad --retries is a usage error")
    p = subprocess.run([BIN, "infer", "http://127.0.0.1:1", "m", "-"], input="{not json",
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 1 and "not JSON" in p.stderr, "bad JSON named: %s" % p.stderr)


def main():
    if not BIN or not os.path.exists(BIN):
        print("INFERD_BIN not set", file=sys.stderr)
        return 77
    for t in (test_retry_after_then_ok, test_400_not_retried, test_429_and_http_date,
              test_failover_from_dead_url, test_deadline, test_hung_server_fails_over,
              test_predict_and_api_key,
              test_stdin_and_usage):
        t()
    print("%d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
