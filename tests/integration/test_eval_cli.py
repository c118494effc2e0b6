"""`inferd eval` against real servers: two serving the same MLP, a third serving a model of
the same name with other weights, and a dead URL. The table and the JSON must mark the dead
one not live ("remove"), the different one's quality bad (naming the output element), and
the two that agree good; the exit status is 1, and 0 when only the good two are evaluated.
Also: --model for a model an endpoint lacks, the API key file, the chat canary on two LLM
servers (when ../shared has the tiny GGUF model), and usage errors (exit 2)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Checker, Server, free_port, make_mlp, skip  # noqa: E402

try:
    import numpy  # noqa: F401
    import onnx  # noqa: F401
except ImportError:
    skip("numpy or onnx missing")

tmp = tempfile.mkdtemp(prefix="inferd-eval-")
same_a = os.path.join(tmp, "a")
same_b = os.path.join(tmp, "b")
other = os.path.join(tmp, "c")
make_mlp(os.path.join(same_a, "mlp", "1", "model.onnx"), seed=1)
shutil.copytree(same_a, same_b)
make_mlp(os.path.join(other, "mlp", "1", "model.onnx"), seed=2)  # same shapes, other weights
c = Checker()


def run(*args, **kw):
    return subprocess.run([BIN, "eval", *args], capture_output=True, text=True, timeout=120, **kw)


def rows_of(table, url):
    return [line for line in table.splitlines() if line.startswith(url + " ")]


with Server(same_a) as sa, Server(same_b) as sb, Server(other) as so:
    ua, ub, uo = ("http://127.0.0.1:%d" % s.port for s in (sa, sb, so))
    dead = "http://127.0.0.1:%d" % free_port()

    # the table
    p = run(ua, ub, uo, dead, "--tries", "3", "--timeout", "5")
    print(p.stdout)
    print(p.stderr)
    c.check(p.returncode == 1, "exit 1 when any endpoint is not good: %d" % p.returncode)
    head = p.stdout.splitlines()[0] if p.stdout else ""
    for col in ("ENDPOINT", "MODEL", "LIVE", "READY", "AVAILABILITY", "P50 MS", "P95 MS", "ERRORS", "QUALITY",
                "RECOMMENDATION"):
        c.check(col in head, "table header has %s: %r" % (col, head))
    for u in (ua, ub):
        r = rows_of(p.stdout, u)
        c.check(len(r) == 1 and " mlp " in r[0] and "100% (3/3)" in r[0] and " good " in r[0]
                and r[0].rstrip().endswith("keep"), "agreeing endpoint %s is good: %r" % (u, r))
    r = rows_of(p.stdout, uo)
    c.check(len(r) == 1 and "bad (outputs[0].data[" in r[0] and " vs " in r[0]
            and "remove: its answers differ" in r[0], "the other weights are bad quality: %r" % r)
    r = rows_of(p.stdout, dead)
    c.check(len(r) == 1 and " no " in r[0] and "remove: not live" in r[0], "dead endpoint: %r" % r)
    # progress: one line per endpoint probed, on stderr
    for u in (ua, ub, uo, dead):
        c.check(any(line.startswith("eval [") and u + ":" in line for line in p.stderr.splitlines()),
                "progress names %s" % u)
    c.check("not live" in p.stderr, "progress says the dead one is not live")

    # the same as JSON
    p = run(ua, ub, uo, dead, "--tries", "2", "--json")
    c.check(p.returncode == 1, "--json exit 1: %d" % p.returncode)
    try:
        out = json.loads(p.stdout)
    except ValueError:
        out = {}
        c.check(False, "--json prints JSON: %r" % p.stdout[:300])
    res = {r["endpoint"]: r for r in out.get("results", [])}
    c.check(out.get("all_good") is False and len(res) == 4, "four results %r" % list(res))
    for u in (ua, ub):
        r = res.get(u, {})
        c.check(r.get("quality") == "good" and r.get("recommendation") == "keep" and r.get("good") is True
                and r.get("live") and r.get("ready") and r.get("tries") == 2 and r.get("ok") == 2
                and r.get("availability") == 1 and r.get("p50_ms", 0) > 0 and r.get("p95_ms", 0) >= r.get("p50_ms", 1)
                and r.get("model") == "mlp" and r.get("kind") == "v2", "JSON good row %r" % r)
    r = res.get(uo, {})
    c.check(r.get("quality", "").startswith("bad (outputs[0].data[") and r.get("good") is False
            and r.get("recommendation", "").startswith("remove:"), "JSON bad row %r" % r)
    r = res.get(dead, {})
    c.check(r.get("live") is False and r.get("ready") is False and r.get("ok") == 0 and r.get("good") is False
            and r.get("recommendation", "").startswith("remove: not live"), "JSON dead row %r" % r)
    eps = {e["url"]: e for e in out.get("endpoints", [])}
    c.check(eps.get(ua, {}).get("models") == ["mlp"] and eps.get(dead, {}).get("live") is False,
            "JSON endpoints %r" % eps)

    # only the two that agree: exit 0
    p = run(ua, ub, "--tries", "2")
    c.check(p.returncode == 0 and p.stdout.count(" good ") == 2, "two good endpoints exit 0: %d %r"
            % (p.returncode, p.stdout))
    # one endpoint alone has nothing to compare with, and is still good
    p = run(ua, "--tries", "1", "--json")
    r = json.loads(p.stdout)["results"][0] if p.returncode in (0, 1) and p.stdout else {}
    c.check(p.returncode == 0 and r.get("quality") == "good (no other endpoint to compare)",
            "single endpoint %d %r" % (p.returncode, r))
    # --model names a model an endpoint does not serve
    p = run(ua, "--model", "mlp", "--model", "ghost", "--tries", "1")
    c.check(p.returncode == 1 and "not served" in p.stdout and len(rows_of(p.stdout, ua)) == 2,
            "--model ghost: %d %r" % (p.returncode, p.stdout))

    # an API key file is read (the servers take any key when they have none configured)
    kf = os.path.join(tmp, "key")
    with open(kf, "w") as f:
        f.write("\n# comment\n  sekrit  \n")
    p = run(ua, "--api-key-file", kf, "--tries", "1")
    c.check(p.returncode == 0, "--api-key-file %d %r" % (p.returncode, p.stderr))

    # a server whose repository index needs an admin key: its models are unknown, so the
    # models found elsewhere are tried on it
    akf = os.path.join(tmp, "admin-keys")
    with open(akf, "w") as f:
        f.write("admin-secret\n")
    with Server(same_b, "--admin-key-file", akf) as sk:
        uk = "http://127.0.0.1:%d" % sk.port
        p = run(ua, uk, "--tries", "1", "--json")
        res = {r["endpoint"]: r for r in json.loads(p.stdout)["results"]} if p.stdout.startswith("{") else {}
        # (not the exit status: with one try each, a slow first answer on a loaded machine
        # makes its row "investigate: p95 N x the others'", which exits 1)
        c.check(p.returncode in (0, 1) and res.get(uk, {}).get("quality") == "good" and res[uk].get("ok") == 1
                and "repository index" in p.stderr,
                "unlisted endpoint tried with the others' models: %d %r %s" % (p.returncode, res, p.stderr))
        p = run(uk, "--tries", "1")
        c.check(p.returncode == 1 and "investigate: repository index" in p.stdout,
                "alone, an unlisted endpoint is investigated: %d %r" % (p.returncode, p.stdout))

# LLMs get the chat canary: two servers with the same tiny GGUF model agree
gguf = os.path.join(os.environ.get("INFERD_SHARED", ""), "testdata", "llm", "llama-2-tiny-random.gguf")
if os.path.exists(gguf):
    llm = os.path.join(tmp, "llm")
    os.makedirs(os.path.join(llm, "rnd", "1"))
    shutil.copy(gguf, os.path.join(llm, "rnd", "1", "model.gguf"))
    with Server(llm) as l1, Server(llm) as l2:
        u1, u2 = ("http://127.0.0.1:%d" % s.port for s in (l1, l2))
        p = run(u1, u2, "--tries", "2", "--json")
        out = json.loads(p.stdout) if p.stdout.startswith("{") else {}
        res = out.get("results", [])
        c.check(p.returncode == 0 and len(res) == 2 and all(r["kind"] == "chat" and r["quality"] == "good"
                                                             and r["ok"] == 2 for r in res),
                "chat canary on two LLM servers: %d %r %s" % (p.returncode, res, p.stderr))
        c.check(out.get("endpoints", [{}])[0].get("chat_models") == ["rnd"], "chat models listed %r" % out)
else:
    print("(no %s: the chat canary is not checked)" % gguf)

# usage errors
for args in ([], ["--tries", "0", "http://127.0.0.1:1"], ["--tries", "x", "http://127.0.0.1:1"],
             ["--timeout", "-1", "http://127.0.0.1:1"], ["--bogus", "http://127.0.0.1:1"],
             ["http://a:1,http://b:2"], ["not a url"], ["--api-key-file", os.path.join(tmp, "nope"), "http://127.0.0.1:1"]):
    p = run(*args)
    c.check(p.returncode == 2 and p.stderr, "usage error %r: %d %r" % (args, p.returncode, p.stderr))
p = run("--help")
c.check(p.returncode == 0 and p.stdout.startswith("usage: inferd eval") and "--api-key-file" in p.stdout
        and "--json" in p.stdout and "--tries" in p.stdout and "--model" in p.stdout, "--help")
shutil.rmtree(tmp, ignore_errors=True)
c.finish()
