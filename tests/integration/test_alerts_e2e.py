"""Alerts end to end on 127.0.0.1: real Alertmanager (prometheus-alertmanager) and real
Prometheus, inferd serve and gateway running the shipped rule files (deploy/alerts/*.json,
deploy/prometheus/inferd-rules.yml) with their windows and `for` shortened.

1. inferd serve sends its alerts to Alertmanager and to a plain webhook that is down at
   first; Prometheus scrapes serve and gateway, evaluates the rules file and sends to the
   same Alertmanager.
2. Fault: model versions that fail to load (serve) and a channel that refuses connections
   (gateway: 5xx). InferdModelLoadFailures is firing in GET /api/alerts (Prometheus's
   /api/v1/alerts shape, behind the admin key), and Alertmanager's /api/v2/alerts holds it
   from both senders (inferd's generatorURL and Prometheus's); the gateway's
   InferdGatewayHighErrorRatio reaches Alertmanager from the gateway too.
3. The webhook comes up: the firing notice queued while it was down arrives (Alertmanager's
   webhook JSON, version 4), and the failed tries were counted.
4. The fault stops: the alerts resolve in inferd, the webhook gets the resolved notice, and
   Alertmanager no longer lists them from either sender.
"""
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Gateway, Server, free_port, skip, wait_until, write_json  # noqa: E402

ROOT = os.environ.get("INFERD_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
if not PROMETHEUS or not ALERTMANAGER:
    skip("prometheus and prometheus-alertmanager must be installed (scripts/setup installs both)")

tmp = tempfile.mkdtemp(prefix="inferd-alerts-e2e-")
c = Checker()
procs = []


class Hook:
    """A webhook receiver on 127.0.0.1 that records (path, JSON body)."""

    def __init__(self, port=0):
        self.got = []
        self.lock = threading.Lock()
        hook = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with hook.lock:
                    hook.got.append((self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def messages(self):
        with self.lock:
            return list(self.got)

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def http_json(url, headers=None, timeout=5):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, None
    except (OSError, ValueError):
        return None, None


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def start(args, name):
    log = open(os.path.join(tmp, name + ".log"), "wb")
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    procs.append((p, log, name))
    return p


def fast_rules(path, out, **extra):
    """The shipped JSON rule file with test speed: 1 s evaluation, 5 s windows, for_s <= 1."""
    doc = json.load(open(path))
    for r in doc["rules"]:
        if "window_s" in r:
            r["window_s"] = 5
        if "baseline_s" in r:
            r["baseline_s"] = 60
        r["for_s"] = min(r.get("for_s", 0), 1)
    doc.update(interval_s=1, resend_s=2, **extra)
    write_json(out, doc)
    return out


def am_alerts(am_port, alertname):
    st, body = http_json("http://127.0.0.1:%d/api/v2/alerts" % am_port)
    return [a for a in (body or []) if a["labels"].get("alertname") == alertname]


def from_inferd(alerts, port):
    return [a for a in alerts if a.get("generatorURL", "").startswith("http://127.0.0.1:%d/api/alerts" % port)]


def from_prometheus(alerts, prom_port):
    return [a for a in alerts if ":%d/" % prom_port in a.get("generatorURL", "") and a["labels"].get("job")]


am_port, prom_port, late_hook_port = free_port(), free_port(), free_port()
am_hook = Hook()  # Alertmanager's own receiver
admin = os.path.join(tmp, "admin.keys")
with open(admin, "w") as f:
    f.write("alerts-admin-key\n")
A = {"Authorization": "Bearer alerts-admin-key"}

# -- Alertmanager --
with open(os.path.join(tmp, "am.yml"), "w") as f:
    f.write("route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n"
            "  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n"
            "      - url: http://127.0.0.1:%d/am\n        send_resolved: true\n" % am_hook.port)
start([ALERTMANAGER, "--config.file=" + os.path.join(tmp, "am.yml"), "--storage.path=" + os.path.join(tmp, "am"),
       "--web.listen-address=127.0.0.1:%d" % am_port, "--cluster.listen-address=", "--log.level=warn"], "alertmanager")

models = os.path.join(tmp, "models")
os.makedirs(models)
serve_rules = fast_rules(os.path.join(ROOT, "deploy", "alerts", "serve.json"), os.path.join(tmp, "serve.json"),
                         alertmanagers=["http://127.0.0.1:%d" % am_port],
                         webhooks=["http://127.0.0.1:%d/inferd" % late_hook_port],
                         labels={"service": "inferd-serve", "sender": "inferd"})
gw_rules = fast_rules(os.path.join(ROOT, "deploy", "alerts", "gateway.json"), os.path.join(tmp, "gateway.json"),
                      alertmanagers=["http://127.0.0.1:%d" % am_port],
                      labels={"service": "inferd-gateway", "sender": "inferd"})
dead = free_port()  # nothing listens there: the gateway's channel fails
chan_file = os.path.join(tmp, "channels.json")
write_json(chan_file, [{"id": "dead", "base_url": "http://127.0.0.1:%d" % dead, "models": ["mlp"]}])

s = g = None
stop_fault = threading.Event()
try:
    s = Server(models, "--poll-ms", "200", "--alerts", serve_rules, "--admin-key-file", admin).start()
    g = Gateway(os.path.join(tmp, "gw.db"), "--channels", chan_file, "--alerts", gw_rules,
                "--admin-key-file", admin, "--probe-interval", "300").start()

    # -- Prometheus: the shipped rules with short ranges and `for` --
    rules = open(os.path.join(ROOT, "deploy", "prometheus", "inferd-rules.yml")).read()
    rules = re.sub(r"\[\d+[smh]\]", "[10s]", rules)
    rules = re.sub(r"(\n\s+for: )\S+", r"\g<1>1s", rules)
    with open(os.path.join(tmp, "rules.yml"), "w") as f:
        f.write(rules)
    with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n"
                "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:%d']\n"
                "scrape_configs:\n  - job_name: inferd\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d', '127.0.0.1:%d']\n" % (am_port, s.port, g.port))
    start([PROMETHEUS, "--config.file=" + os.path.join(tmp, "prometheus.yml"),
           "--storage.tsdb.path=" + os.path.join(tmp, "prom"), "--web.listen-address=127.0.0.1:%d" % prom_port,
           "--rules.alert.resend-delay=2s", "--log.level=warn"], "prometheus")

    c.check(wait_until(lambda: http_status("http://127.0.0.1:%d/-/ready" % am_port) == 200, 60),
            "alertmanager ready")
    c.check(wait_until(lambda: http_status("http://127.0.0.1:%d/-/ready" % prom_port) == 200, 60),
            "prometheus ready")

    # -- /api/alerts: admin key, Prometheus's shape --
    r = s.get("/api/alerts")
    c.check(r.status == 401, "GET /api/alerts needs the admin key: %r" % r)
    r = s.request("GET", "/api/alerts", headers=A)
    c.check(r.status == 200 and r.json()["status"] == "success" and "alerts" in r.json()["data"],
            "GET /api/alerts shape %r" % r)

    # -- the fault: a new broken version every 0.3 s (older ones removed, so each fails once) --
    def break_models():
        n = 0
        while not stop_fault.is_set():
            n += 1
            d = os.path.join(models, "bad", str(n))
            os.makedirs(d)
            with open(os.path.join(d, "model.onnx"), "wb") as f:
                f.write(b"this is not an onnx model %d" % n)
            if n > 1:
                shutil.rmtree(os.path.join(models, "bad", str(n - 1)), ignore_errors=True)
            try:
                g.post_json("/v2/models/mlp/infer", {"inputs": []})  # 5xx: the channel is down
            except OSError:
                pass
            stop_fault.wait(0.3)

    fault = threading.Thread(target=break_models, daemon=True)
    fault.start()

    def inferd_firing(server, name):
        r = server.request("GET", "/api/alerts", headers=A)
        if r.status != 200:
            return None
        for a in r.json()["data"]["alerts"]:
            if a["labels"]["alertname"] == name and a["state"] == "firing":
                return a
        return None

    c.check(wait_until(lambda: inferd_firing(s, "InferdModelLoadFailures"), 90),
            "serve: InferdModelLoadFailures firing in /api/alerts")
    a = inferd_firing(s, "InferdModelLoadFailures") or {}
    c.check(set(a) == {"labels", "annotations", "state", "activeAt", "value"} and float(a.get("value", 0)) > 0
            and a["labels"].get("severity") == "warning" and "failing" in a["annotations"].get("summary", ""),
            "serve alert as Prometheus shows one: %r" % a)
    c.check(wait_until(lambda: from_inferd(am_alerts(am_port, "InferdModelLoadFailures"), s.port), 90),
            "alertmanager has InferdModelLoadFailures from inferd: %r" % am_alerts(am_port, "InferdModelLoadFailures"))
    c.check(wait_until(lambda: from_prometheus(am_alerts(am_port, "InferdModelLoadFailures"), prom_port), 120),
            "alertmanager has InferdModelLoadFailures from Prometheus: %r"
            % am_alerts(am_port, "InferdModelLoadFailures"))
    st, pa = http_json("http://127.0.0.1:%d/api/v1/alerts" % prom_port)
    pa = [x for x in (pa or {}).get("data", {}).get("alerts", []) if x["labels"]["alertname"] == "InferdModelLoadFailures"]
    c.check(pa and set(pa[0]) <= set(a) | {"keepFiringSince"}, "inferd's alert keys match Prometheus's: %r vs %r" % (pa, a))
    mine = from_inferd(am_alerts(am_port, "InferdModelLoadFailures"), s.port)
    c.check(mine and mine[0]["labels"].get("sender") == "inferd" and mine[0]["labels"].get("service") == "inferd-serve"
            and mine[0]["annotations"].get("summary", "").startswith("model loads are failing"),
            "inferd's alert in alertmanager: labels and annotations %r" % mine)
    c.check(wait_until(lambda: inferd_firing(g, "InferdGatewayHighErrorRatio"), 90),
            "gateway: InferdGatewayHighErrorRatio firing in its /api/alerts")
    c.check(g.get("/api/alerts").status == 401, "the gateway's /api/alerts needs the admin key")
    c.check(wait_until(lambda: from_inferd(am_alerts(am_port, "InferdGatewayHighErrorRatio"), g.port), 90),
            "alertmanager has InferdGatewayHighErrorRatio from the gateway: %r"
            % am_alerts(am_port, "InferdGatewayHighErrorRatio"))

    # -- the webhook was down: its notices waited, failures were counted, now it comes up --
    def failed_tries():
        m = re.search(r'^inferd_alerts_notifications_total\{receiver="http://127.0.0.1:%d",outcome="failed"\} (\S+)$'
                      % late_hook_port, s.get("/metrics").body.decode(), re.M)
        return float(m.group(1)) if m else 0

    c.check(wait_until(lambda: failed_tries() >= 1, 30), "failed webhook tries counted")
    late = Hook(late_hook_port)

    def hook_saw(status, name):
        for path, body in late.messages():
            if path == "/inferd" and body.get("version") == "4" and body.get("status") == status and \
                    any(x["labels"]["alertname"] == name and x["status"] == status for x in body.get("alerts", [])):
                return body
        return None

    c.check(wait_until(lambda: hook_saw("firing", "InferdModelLoadFailures"), 90),
            "the queued firing notice reached the webhook once it was up: %r" % late.messages()[:3])
    body = hook_saw("firing", "InferdModelLoadFailures") or {}
    c.check(body.get("receiver") and "commonLabels" in body and "groupLabels" in body, "webhook JSON fields %r" % body)
    c.check(wait_until(lambda: any(p == "/am" and b.get("status") == "firing" for p, b in am_hook.messages()), 60),
            "alertmanager forwarded a firing notification")

    # -- the fault ends: everything resolves --
    stop_fault.set()
    fault.join(10)
    shutil.rmtree(os.path.join(models, "bad"), ignore_errors=True)
    c.check(wait_until(lambda: not inferd_firing(s, "InferdModelLoadFailures"), 90), "serve: the alert resolved")
    c.check(wait_until(lambda: hook_saw("resolved", "InferdModelLoadFailures"), 90),
            "the webhook got the resolved notice")
    c.check(wait_until(lambda: not am_alerts(am_port, "InferdModelLoadFailures"), 120),
            "alertmanager no longer lists InferdModelLoadFailures from either sender: %r"
            % am_alerts(am_port, "InferdModelLoadFailures"))
    c.check(wait_until(lambda: not am_alerts(am_port, "InferdGatewayHighErrorRatio"), 120),
            "alertmanager no longer lists InferdGatewayHighErrorRatio: %r"
            % am_alerts(am_port, "InferdGatewayHighErrorRatio"))
    c.check(wait_until(lambda: any(p == "/am" and b.get("status") == "resolved" for p, b in am_hook.messages()), 60),
            "alertmanager forwarded a resolved notification")
    late.close()
finally:
    stop_fault.set()
    for x in (s, g):
        if x:
            x.stop()
    for p, log, name in procs:
        p.terminate()
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
    am_hook.close()
    if c.failures:
        for name in ("alertmanager", "prometheus"):
            print("--- %s log:" % name, open(os.path.join(tmp, name + ".log"), errors="replace").read()[-3000:])
        if s:
            print("--- serve log:", s.stderr_text()[-3000:])
    else:
        shutil.rmtree(tmp, ignore_errors=True)
c.finish()
