"""test_client_serve.py — `inferd infer` against the real `inferd serve`: v2 infer and
/predict of a small ONNX MLP (answers checked against numpy), fail-over from a dead URL to
the real server, a 4xx from the real server not retried, and the API key path."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Checker, Server, make_mlp, mlp_ref, skip  # noqa: E402
from test_client_fault_server import dead_url  # noqa: E402


def infer(urls, model, body, *args, env=None):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(body, f)
        path = f.name
    e = dict(os.environ)
    e.pop("INFERD_API_KEY", None)
    e.update(env or {})
    try:
        return subprocess.run([harness.BIN, "infer", urls, model, path, "--backoff-base", "0.05",
                               *args], capture_output=True, text=True, timeout=120, env=e)
    finally:
        os.unlink(path)


def main():
    try:
        import numpy as np
    except ImportError:
        skip("numpy/onnx not available")
    if not os.path.exists(harness.BIN):
        skip("no inferd binary")
    ck = Checker()
    work = tempfile.mkdtemp(prefix="inferd-client-")
    models = os.path.join(work, "models")
    w = make_mlp(os.path.join(models, "mlp", "1", "model.onnx"), seed=3)
    x = [[0.5, -1.0, 2.0, 0.25], [1.0, 0.0, -0.5, 3.0]]
    want = mlp_ref(w, x)
    v2 = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32",
                      "data": [v for row in x for v in row]}]}
    with Server(models) as s:
        url = "http://127.0.0.1:%d" % s.port
        p = infer(url, "mlp", v2)
        ck.check(p.returncode == 0, "v2 infer succeeds: %s" % p.stderr)
        if p.returncode == 0:
            out = json.loads(p.stdout)["outputs"][0]
            ck.check(out["shape"] == [2, 3], "output shape %r" % out["shape"])
            got = np.array(out["data"], np.float32).reshape(2, 3)
            ck.check(np.allclose(got, want, atol=1e-4), "v2 output matches numpy")
        ck.check("ok: HTTP 200" in p.stderr and "after 1 attempt " in p.stderr,
                 "summary: %s" % p.stderr)

        p = infer(url, "mlp", x)  # a plain nested array goes to /predict
        ck.check(p.returncode == 0, "predict succeeds: %s" % p.stderr)
        if p.returncode == 0:
            body = json.loads(p.stdout)
            ck.check(body.get("status") == "success", "predict status: %r" % body)
            ck.check(np.allclose(np.array(body.get("prediction"), np.float32), want, atol=1e-4),
                     "predict output matches numpy")

        dead = dead_url()
        p = infer(dead + "," + url, "mlp", v2, "--model-version", "1")
        ck.check(p.returncode == 0, "fail-over to the real server: %s" % p.stderr)
        ck.check("connect failed" in p.stderr and ("ok: HTTP 200 from " + url) in p.stderr,
                 "dead URL retried, answer from the live one: %s" % p.stderr)

        bad = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}
        p = infer(url, "mlp", bad, "--retries", "3")
        ck.check(p.returncode == 1, "wrong shape fails")
        ck.check("retry " not in p.stderr and "HTTP 400" in p.stderr,
                 "real 400 is not retried: %s" % p.stderr)
        p = infer(url, "nosuchmodel", v2, "--retries", "3")
        ck.check(p.returncode == 1 and "retry " not in p.stderr and "HTTP 404" in p.stderr,
                 "unknown model: 404, not retried: %s" % p.stderr)
    ck.finish()


if __name__ == "__main__":
    main()
