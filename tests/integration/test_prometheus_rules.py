"""The shipped Prometheus rules: `promtool check rules` accepts deploy/prometheus/
inferd-rules.yml, `promtool test rules` proves each alert fires on a faulty instance and not
on a healthy one (inferd-rules.test.yml), and the alerts match inferd's own rule files
(deploy/alerts/serve.json, gateway.json): same names, severity and `for`, and together they
cover every kind (value, rate, ratio, quantile, anomaly)."""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, skip  # noqa: E402

ROOT = os.environ.get("INFERD_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
PROM = os.path.join(ROOT, "deploy", "prometheus")
promtool = shutil.which("promtool")
if not promtool:
    skip("promtool is not installed (Debian package prometheus, in scripts/setup)")

c = Checker()
r = subprocess.run([promtool, "check", "rules", "inferd-rules.yml"], cwd=PROM, capture_output=True,
                   text=True, timeout=120)
c.check(r.returncode == 0 and "SUCCESS" in r.stdout, "promtool check rules: %s %s" % (r.stdout, r.stderr))
r = subprocess.run([promtool, "test", "rules", "inferd-rules.test.yml"], cwd=PROM, capture_output=True,
                   text=True, timeout=300)
c.check(r.returncode == 0 and "SUCCESS" in r.stdout, "promtool test rules: %s %s" % (r.stdout, r.stderr))


def dur_s(d):
    return sum(int(n) * {"s": 1, "m": 60, "h": 3600}[u] for n, u in re.findall(r"(\d+)([smh])", d))


# the alerts of the yml: name -> (severity, for_s); a line-oriented reading of our own layout
yml, alerts, cur = open(os.path.join(PROM, "inferd-rules.yml")).read(), {}, None
for line in yml.splitlines():
    m = re.match(r"\s+- (alert|record): (\S+)", line)
    if m:
        cur = m.group(2) if m.group(1) == "alert" else None
        if cur:
            alerts[cur] = {"for": 0, "severity": None}
    elif cur and re.match(r"\s+for: ", line):
        alerts[cur]["for"] = dur_s(line.split(":", 1)[1].strip())
    elif cur and re.match(r"\s+severity: ", line):
        alerts[cur]["severity"] = line.split(":", 1)[1].strip()

kinds, names = set(), set()
for f in ("serve.json", "gateway.json"):
    doc = json.load(open(os.path.join(ROOT, "deploy", "alerts", f)))
    for rule in doc["rules"]:
        names.add(rule["name"])
        kinds.add(rule.get("kind", "value"))
        a = alerts.get(rule["name"])
        if not c.check(a is not None, "%s: %s has a Prometheus alert" % (f, rule["name"])):
            continue
        c.check(a["for"] == rule.get("for_s", 0), "%s: for %r vs for_s %r" % (rule["name"], a["for"], rule.get("for_s")))
        c.check(a["severity"] == rule["labels"]["severity"], "%s: severity" % rule["name"])
c.check(names == set(alerts), "the same alerts in both: %r" % (names ^ set(alerts)))
c.check(kinds == {"value", "rate", "ratio", "quantile", "anomaly"}, "every rule kind shipped: %r" % kinds)
c.finish()
