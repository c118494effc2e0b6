"""test_llm_memory.py — the memory of a loaded LLM, reported and budgeted.

- `inferd generate -v` prints the weights mapped and resident, the KV cache and the scratch;
  the KV cache grows with --ctx exactly as 2 x layers x positions x kv_dim x 2 bytes (F16);
- `inferd generate --memory-budget-mb 1` refuses before allocating, naming the parts;
- `inferd serve`: a model whose config.json budget is too small is not loaded (its reason
  names the budget) while the others serve; `--memory-budget-mb` is the default for models
  without one, and a config.json budget overrides it; the metrics carry
  inferd_llm_memory_bytes{model,part} with the weights mapped equal to the file's size;
- a Q8_0 KV cache (--kv-type q8_0, config.json kv_type) takes 34/64 of F16's bytes and gives the
  same greedy text on qwen2 and gemma2; a head dimension that is not a multiple of 32 is refused.
Skips without ../shared/testdata."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Checker, Server, metric_value, skip, wait_until, write_json  # noqa: E402

SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
GGUF = os.path.join(SHARED, "testdata", "llm", "arch", "llama3-style-q8_0.gguf")
if not os.path.isfile(GGUF):
    skip("%s is absent (../shared/testdata)" % GGUF)

c = Checker()
tmp = tempfile.mkdtemp(prefix="inferd-mem-")
MIB = 1048576.0


def generate(*extra):
    return subprocess.run([BIN, "generate", "-m", GGUF, "-p", "Hello there", "-n", "4", "--temp", "0"] + list(extra),
                          capture_output=True, text=True, timeout=120)


def memline(p):
    m = re.search(r"memory: weights ([0-9.]+) MiB mapped, ([0-9.]+) MiB resident; KV cache ([0-9.]+) MiB "
                  r"\((\d+) positions, F16\); scratch ([0-9.]+) MiB", p.stderr)
    return [float(g) for g in m.groups()] if m else None


size_mib = os.path.getsize(GGUF) / MIB
a, b = memline(generate("-v", "--ctx", "64")), memline(generate("-v", "--ctx", "256"))
c.check(a is not None and b is not None, "generate -v prints the memory line")
if a and b:
    c.check(abs(a[0] - size_mib) < 0.1 and 0 < a[1] <= a[0] + 0.05,
            "weights mapped = the file (%.1f MiB), resident within it: %r" % (size_mib, a))
    # llama3-style: 2 layers, kv_dim 2 heads x 16 = 32; F16: 2 (K and V) x 2 x 32 x 2 bytes per position
    per_pos = 2 * 2 * 32 * 2 / MIB
    c.check(abs(a[2] - 64 * per_pos) < 0.01 and abs(b[2] - 256 * per_pos) < 0.01 and b[4] > 0,
            "the KV cache is 2 x layers x positions x kv_dim x 2 bytes: %r / %r" % (a, b))
p = generate("--memory-budget-mb", "1")
c.check(p.returncode != 0 and "memory budget" in p.stderr and "weights" in p.stderr and "KV cache" in p.stderr
        and "budget is 1 MiB" in p.stderr, "a budget of 1 MiB is refused naming the parts: %r" % p.stderr)

# the Q8_0 KV cache
ARCH = os.path.join(SHARED, "testdata", "llm", "arch")
for name in ("qwen2", "gemma2"):
    path = os.path.join(ARCH, name + ".gguf")
    runs = {}
    for t in ("f16", "q8_0"):
        p = subprocess.run([BIN, "generate", "-m", path, "-p", "The quick brown fox jumps over the lazy dog", "-n",
                            "24", "--temp", "0", "--ctx", "128", "--kv-type", t, "-v"], capture_output=True,
                           text=True, timeout=120)
        m = re.search(r"KV cache ([0-9.]+) MiB \(\d+ positions, (\w+)\)", p.stderr)
        runs[t] = (p.returncode, p.stdout, float(m.group(1)) if m else None, m.group(2) if m else None)
    f, q = runs["f16"], runs["q8_0"]
    c.check(f[0] == 0 and q[0] == 0 and q[3] == "Q8_0" and f[2] and q[2] and abs(q[2] / f[2] - 34 / 64) < 0.02,
            "%s: the Q8_0 cache is 34/64 of F16's: %r" % (name, (f[2:], q[2:])))
    c.check(f[1] == q[1] and f[1].strip(), "%s: the same greedy text with a Q8_0 cache" % name)
p = generate("--kv-type", "q8_0")
c.check(p.returncode != 0 and "head dimension 16 is not a multiple of 32" in p.stderr,
        "q8_0 with head dim 16 is refused: %r" % p.stderr)
p = generate("--kv-type", "q4")
c.check(p.returncode == 2 and "--kv-type" in p.stderr, "an unknown --kv-type is named: %r" % p.stderr)

repo = os.path.join(tmp, "repo")
for name, cfg in (("small", {"memory_budget_mb": 1}), ("fits", {"memory_budget_mb": 4096}), ("plain", None)):
    os.makedirs(os.path.join(repo, name, "1"))
    shutil.copy(GGUF, os.path.join(repo, name, "1", "model.gguf"))
    if cfg:
        write_json(os.path.join(repo, name, "config.json"), dict(cfg, context_size=256, parallel=2))
    else:
        write_json(os.path.join(repo, name, "config.json"), {"context_size": 256, "parallel": 2})


def index(s):
    r = s.request("POST", "/v2/repository/index", b"")
    return {e["name"]: e for e in r.json()} if r.status == 200 else {}


for name, kvt in (("q8kv", "q8_0"), ("badkv", "q4")):
    os.makedirs(os.path.join(repo, name, "1"))
    shutil.copy(os.path.join(ARCH, "qwen2.gguf"), os.path.join(repo, name, "1", "model.gguf"))
    write_json(os.path.join(repo, name, "config.json"), {"context_size": 256, "parallel": 2, "kv_type": kvt})

def settled(s, names):
    """The index once every named model has a row (loads may still be going on)."""
    wait_until(lambda: all(n in index(s) for n in names), 30)
    return index(s)


with Server(repo, "--poll-ms", "0") as s:
    idx = settled(s, ("small", "fits", "plain", "q8kv", "badkv"))
    c.check(idx.get("q8kv", {}).get("state") == "READY" and idx.get("badkv", {}).get("state") != "READY"
            and "kv_type" in json.dumps(idx.get("badkv", {})), "config.json kv_type: q8_0 loads, q4 is refused "
            "naming it: %r" % {k: idx.get(k) for k in ("q8kv", "badkv")})
    r = s.post_json("/v1/completions", {"model": "q8kv", "prompt": "Hello", "max_tokens": 4, "temperature": 0})
    c.check(r.status == 200, "the Q8_0-cache model answers: %r" % r.status)
    # qwen2: 2 layers, kv_dim 2 x 32 = 64: 2 x 2 x 256 positions x 64 values x 34/32 bytes
    kvq = metric_value(s, "inferd_llm_memory_bytes", 'model="q8kv",part="kv_cache"')
    c.check(kvq == 2 * 2 * 256 * 64 * 34 // 32, "its KV cache in the metrics: %r" % kvq)
    c.check(idx.get("small", {}).get("state") != "READY" and "memory" in json.dumps(idx.get("small", {})),
            "a model over its config.json budget is not loaded, and says why: %r" % idx.get("small"))
    c.check(idx.get("fits", {}).get("state") == "READY" and idx.get("plain", {}).get("state") == "READY",
            "the others serve: %r" % {k: v.get("state") for k, v in idx.items()})
    r = s.post_json("/v1/completions", {"model": "plain", "prompt": "Hello", "max_tokens": 4, "temperature": 0})
    c.check(r.status == 200, "plain answers: %r" % r.status)
    mapped = metric_value(s, "inferd_llm_memory_bytes", 'model="plain",part="weights_mapped"')
    kv = metric_value(s, "inferd_llm_memory_bytes", 'model="plain",part="kv_cache"')
    res = metric_value(s, "inferd_llm_memory_bytes", 'model="plain",part="weights_resident"')
    scratch = metric_value(s, "inferd_llm_memory_bytes", 'model="plain",part="scratch"')
    c.check(mapped == os.path.getsize(GGUF) and kv == 2 * 2 * 256 * 32 * 2 and res is not None and 0 < res <= mapped
            and scratch and scratch > 0, "metrics: mapped %r kv %r resident %r scratch %r" % (mapped, kv, res, scratch))

with Server(repo, "--poll-ms", "0", "--memory-budget-mb", "1") as s:
    idx = settled(s, ("plain", "fits"))
    c.check(idx.get("plain", {}).get("state") != "READY" and idx.get("fits", {}).get("state") == "READY",
            "--memory-budget-mb applies to models without their own budget; config.json's wins: %r"
            % {k: v.get("state") for k, v in idx.items()})

shutil.rmtree(tmp, ignore_errors=True)
c.finish()
