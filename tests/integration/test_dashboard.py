"""test_dashboard.py — the dashboard (GET /, /web/*, /api/dashboard) of `inferd serve` and
`inferd gateway`: the JSON directly (models, rolling windows, recent errors, the admin key,
bad parameters), then Debian's Chromium through npm playwright-core
(dashboard_browser.mjs): pages load without console errors, charts count traffic, the
playground streams tokens and runs a v2 request built from the model's metadata, the gateway
shows its channels, a key-protected page asks for the key.

Skips (77) when /usr/bin/chromium (or $CHROMIUM), node, node_modules/playwright-core,
python3-onnx or the tiny LLM in ../shared/testdata are missing (scripts/setup installs them).
"""
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Gateway, Server, make_mlp, skip, wait_until, write_json  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("INFERD_ROOT", os.path.join(HERE, "..", ".."))
SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
GGUF = os.path.join(SHARED, "testdata", "llm", "aidreams260K.gguf")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
X = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}


class SlowLLM(http.server.BaseHTTPRequestHandler):
    """A fake OpenAI upstream for the gateway (model "slowllm") whose chat stream sends three
    token events, then holds until GET /release, then three more and [DONE]: the browser
    test sees the text on the page while the stream is still open, then growing again."""
    release = threading.Event()
    PIECES = ["Once", " upon", " a", " time", " there", " was"]

    def log_message(self, *a):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/v1/models":
            self.reply(200, {"object": "list", "data": [{"id": "slowllm", "object": "model"}]})
        elif self.path == "/release":
            SlowLLM.release.set()
            self.reply(200, {"released": True})
        else:
            self.reply(404, {"error": "no route"})

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        if self.path != "/v1/chat/completions" or not req.get("stream"):
            self.reply(400, {"error": {"message": "only streamed chat here"}})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()

        def event(delta, finish=None):
            chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "slowllm",
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.flush()
        event({"role": "assistant", "content": ""})
        for i, piece in enumerate(self.PIECES):
            if i == 3:
                SlowLLM.release.wait(120)
            event({"content": piece})
        event({}, "stop")
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def json_checks(ck, s, admin):
    r = s.get("/")
    ck.check(r.status == 200 and r.headers.get("content-type", "").startswith("text/html")
             and b"/web/dash.js" in r.body, "GET / serves the page: %r" % r)
    ck.check("default-src 'self'" in r.headers.get("content-security-policy", ""), "CSP: only this origin")
    r = s.get("/web/dash.js")
    ck.check(r.status == 200 and "javascript" in r.headers.get("content-type", ""), "GET /web/dash.js: %r" % r)
    ck.check(s.get("/web/nope.js").status == 404, "unknown asset: 404")
    ck.check(s.get("/web/..%2fCMakeLists.txt").status == 404, "no path escapes")
    for _ in range(3):
        ck.check(s.post_json("/v2/models/mlp/infer", X).status == 200, "v2 infer")
    ck.check(s.post_json("/v2/models/mlp/infer", {"inputs": [{"name": "x"}]}).status == 400, "bad v2 request: 400")
    r = s.post_json("/v1/chat/completions", {"model": "aid", "messages": [{"role": "user", "content": "Hi"}],
                                             "max_tokens": 8})
    ck.check(r.status == 200, "chat: %r" % r)
    # the completion hook runs once the answer is out, so a client can ask before it ran
    def counted():
        d = s.get("/api/dashboard?seconds=60").json()
        return d["series"].get("mlp", {}).get("total", {}).get("requests") == 4 and \
            d["series"].get("aid", {}).get("total", {}).get("requests") == 1
    ck.check(wait_until(counted, 60), "the window counted every request")
    d = s.get("/api/dashboard?seconds=60").json()
    ck.check(d["kind"] == "server" and d["seconds"] == 60, "kind and window")
    models = {m["name"]: m for m in d["models"]}
    ck.check(models.get("mlp", {}).get("caps") == ["tensor"] and models["mlp"]["versions"][0]["state"] == "READY"
             and models["mlp"]["versions"][0]["version"] == "1", "mlp listed with version and state: %s" % models)
    ck.check("generate" in models.get("aid", {}).get("caps", []), "aid listed as an LLM")
    mlp = d["series"].get("mlp", {})
    ck.check(len(mlp.get("requests", [])) == 60, "one bucket per second")
    tot = mlp.get("total", {})
    ck.check(tot.get("requests") == 4 and tot.get("client_errors") == 1 and tot.get("errors") == 0,
             "mlp: 4 requests, 1 client error: %s" % tot)
    ck.check(tot.get("p50_ms") is not None and tot["p50_ms"] <= tot["p95_ms"] <= tot["p99_ms"],
             "quantiles ordered: %s" % tot)
    aid = d["series"].get("aid", {}).get("total", {})
    ck.check(aid.get("requests") == 1 and aid.get("tokens_per_s", 0) > 0 and aid.get("ttft_ms") is not None,
             "aid: tokens and TTFT: %s" % aid)
    ck.check(isinstance(d["errors"], list), "recent errors listed")
    ck.check(s.get("/api/dashboard?seconds=0").status == 400, "seconds=0: 400")
    ck.check(s.get("/api/dashboard?seconds=abc").status == 400, "seconds=abc: 400")
    # the key-protected server
    ck.check(admin.get("/").status == 200, "the page itself is open (it holds no data)")
    r = admin.get("/api/dashboard")
    ck.check(r.status == 401 and "Bearer" in r.headers.get("www-authenticate", ""), "JSON without the key: 401")
    ck.check(admin.get("/api/dashboard", headers={"Authorization": "Bearer nope"}).status == 401, "wrong key: 401")
    ck.check(admin.get("/api/dashboard", headers={"Authorization": "Bearer dash-admin-key"}).status == 200,
             "with the key: 200")


def main():
    try:
        import onnx  # noqa: F401
    except ImportError:
        skip("python3-onnx is not installed")
    if not os.path.exists(GGUF):
        skip("aidreams260K.gguf is absent from ../shared/testdata")
    browser = True
    node = shutil.which("node")
    if not os.access(CHROMIUM, os.X_OK) or not node or \
            not os.path.isdir(os.path.join(ROOT, "node_modules", "playwright-core")):
        browser = False
    root = tempfile.mkdtemp(prefix="inferd-dash-")
    repo = os.path.join(root, "models")
    make_mlp(os.path.join(repo, "mlp", "1", "model.onnx"), seed=3)
    os.makedirs(os.path.join(repo, "aid", "1"))
    os.symlink(GGUF, os.path.join(repo, "aid", "1", "model.gguf"))
    write_json(os.path.join(repo, "aid", "config.json"), {"context_size": 512, "parallel": 2})
    keyfile = os.path.join(root, "admin.keys")
    with open(keyfile, "w") as f:
        f.write("dash-admin-key\n")
    ck = Checker()
    servers = []
    try:
        s = Server(repo, "--threads", "2").start()
        servers.append(s)
        admin = Server(repo, "--threads", "2", "--admin-key-file", keyfile).start()
        servers.append(admin)
        json_checks(ck, s, admin)
        fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowLLM)
        fake.daemon_threads = True
        threading.Thread(target=fake.serve_forever, daemon=True).start()
        fake_url = "http://127.0.0.1:%d" % fake.server_address[1]
        chan_file = os.path.join(root, "channels.json")
        write_json(chan_file, [{"id": "s0", "base_url": "http://127.0.0.1:%d" % s.port},
                               {"id": "fake", "base_url": fake_url, "protocol": "openai"}])
        gw = Gateway(os.path.join(root, "gw.db"), "--channels", chan_file, "--probe-interval", "300",
                     "--canary-interval", "600", "--threads", "2").start()
        servers.append(gw)

        def gw_ready():
            chans = gw.get("/api/dashboard").json().get("channels", [])
            return any(c["id"] == "s0" and c.get("state") == "healthy" and "mlp" in c.get("models", [])
                       for c in chans) and \
                any(c["id"] == "fake" and c.get("state") == "healthy" and "slowllm" in c.get("models", [])
                    for c in chans)
        ck.check(wait_until(gw_ready, 60), "gateway: channels s0 (mlp) and fake (slowllm) healthy")
        ck.check(gw.post_json("/v2/models/mlp/infer", X).status == 200, "gateway infer")
        ck.check(wait_until(lambda: gw.get("/api/dashboard").json()["channel_series"].get("s0", {})
                            .get("total", {}).get("requests", 0) >= 1, 60), "gateway: per-channel window counts")
        ck.check(wait_until(lambda: gw.get("/api/dashboard").json()["series"].get("mlp", {})
                            .get("total", {}).get("requests", 0) >= 1, 60), "gateway: per-model window counts")
        ck.check(gw.get("/api/dashboard").json()["kind"] == "gateway", "gateway: kind")
        ck.check(gw.get("/").status == 200, "gateway: GET / serves the page")
        if not browser:
            if ck.failures:
                ck.finish()
            skip("browser part: %s, node or node_modules/playwright-core is missing (scripts/setup installs them)"
                 % CHROMIUM)
        cfg = {"chromium": CHROMIUM, "root": ROOT, "server": "http://127.0.0.1:%d" % s.port,
               "gateway": "http://127.0.0.1:%d" % gw.port, "admin": "http://127.0.0.1:%d" % admin.port,
               "admin_key": "dash-admin-key", "llm": "aid", "tensor": "mlp", "channel": "s0",
               "slow_llm": "slowllm", "release": fake_url + "/release", "slow_pieces": SlowLLM.PIECES}
        p = subprocess.run([node, os.path.join(HERE, "dashboard_browser.mjs"), json.dumps(cfg)],
                           capture_output=True, timeout=400)
        SlowLLM.release.set()  # never leave the fake stream held, whatever the script did
        print(p.stdout.decode()[-6000:], p.stderr.decode()[-3000:])
        ck.check(p.returncode == 0, "browser checks passed")
    finally:
        for x in reversed(servers):
            x.stop()
            ck.check(x.returncode == 0, "process exited 0 without a sanitizer report: %r" % x.returncode)
    ck.finish()


if __name__ == "__main__":
    main()
