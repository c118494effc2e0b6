"""test_pack_gguf.py — `inferd pack` of a GGUF model (aidreams260K.gguf from ../shared):
the inferred config.json (backend, architecture, context size capped by the model's own),
--context-size overriding it, and the package served as it is through the OpenAI API."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Checker, Server, skip  # noqa: E402

SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
GGUF = os.path.join(SHARED, "testdata", "llm", "aidreams260K.gguf")
if not os.path.isfile(GGUF):
    skip("aidreams260K.gguf is absent (../shared/testdata/llm)")

tmp = tempfile.mkdtemp(prefix="inferd-packg-")
c = Checker()


def run(*args):
    return subprocess.run([BIN] + list(args), cwd=tmp, capture_output=True, text=True, timeout=120)


p = run("pack", GGUF, "--name", "aid", "--version", "2", "-o", "pkg")
c.check(p.returncode == 0 and "gguf" in p.stdout, "pack a GGUF model: %r" % p.stderr)
with open(os.path.join(tmp, "pkg/aid/config.json")) as f:
    cfg = json.load(f)
c.check(cfg.get("backend") == "gguf" and cfg.get("architecture") == "llama" and cfg.get("context_size") == 128
        and cfg.get("parallel") == 4, "inferred LLM config: %r" % cfg)
with open(os.path.join(tmp, "pkg/aid/2/manifest.json")) as f:
    man = json.load(f)
c.check(man["format"] == "gguf" and man["files"]["model.gguf"]["size"] == os.path.getsize(GGUF),
        "manifest lists model.gguf: %r" % man["files"])
p = run("pack", GGUF, "--name", "aid", "-o", "pkg64", "--context-size", "64")
with open(os.path.join(tmp, "pkg64/aid/config.json")) as f:
    c.check(p.returncode == 0 and json.load(f).get("context_size") == 64, "--context-size overrides")

with Server(os.path.join(tmp, "pkg")) as s:
    r = s.get("/v1/models")
    ids = [m["id"] for m in r.json().get("data", [])] if r.status == 200 else []
    c.check("aid" in ids, "the packaged LLM is listed: %r" % ids)
    r = s.post_json("/v1/completions", {"model": "aid", "prompt": "Once upon a time", "max_tokens": 8,
                                        "temperature": 0})
    c.check(r.status == 200 and r.json()["usage"]["completion_tokens"] > 0, "the packaged LLM generates: %r" % r)

p = run("register", "pkg", "--repo", "repo")
c.check(p.returncode == 0, "register the GGUF package")
p = run("list", "--repo", "repo")
c.check(p.returncode == 0 and p.stdout.splitlines()[1].split()[:3] == ["aid", "2", "gguf"], "list: %r" % p.stdout)

shutil.rmtree(tmp, ignore_errors=True)
c.finish()
