#!/usr/bin/python3
"""test_llm_arch.py — the tiny model of every supported architecture (../shared/testdata/llm/
arch: llama3-style and its Q8_0 / Q4_K_M variants, qwen2, phi3, gemma2, mixtral-moe) end to end
against llama.cpp's golden generations:
1. `inferd generate -m MODEL --temp 0` prints the golden text for every case;
2. `inferd serve` with all seven models: greedy /v1/completions give the golden text, also
   when the cases of one model run at the same time (one batch, two sequences)."""
import json
import os
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server, write_json  # noqa: E402

BIN = os.environ["INFERD_BIN"]
ARCH = os.path.join(os.environ.get("INFERD_SHARED", ""), "testdata", "llm", "arch")
MODELS = ["llama3-style", "llama3-style-q8_0", "llama3-style-q4_k_m", "qwen2", "phi3", "gemma2", "mixtral-moe"]
if not os.path.exists(os.path.join(ARCH, "golden_gemma2.json")):
    print("SKIP: shared test data (testdata/llm/arch) absent")
    sys.exit(77)

t = Checker()
goldens = {m: json.load(open(os.path.join(ARCH, f"golden_{m}.json"), encoding="utf-8")) for m in MODELS}

# -- 1. the CLI --
for name in MODELS:
    for i, case in enumerate(goldens[name]["cases"]):
        r = subprocess.run([BIN, "generate", "-m", os.path.join(ARCH, name + ".gguf"), "-p", case["prompt"], "-n",
                            str(len(case["tokens"])), "--temp", "0", "-t", "2"], capture_output=True, timeout=120)
        t.check(r.returncode == 0, f"{name} case {i}: exit {r.returncode}: {r.stderr[-300:]!r}")
        # llama-server put U+FFFD where the bytes were not valid UTF-8; decoding does the same
        out = r.stdout.decode("utf-8", "replace")
        t.check(out == case["text"] + "\n", f"generate {name} case {i}: {out!r} != {case['text']!r}")
        t.check(f"prompt {len(case['prompt_tokens'])} tokens".encode() in r.stderr, f"{name} case {i}: {r.stderr!r}")

# -- 2. the server --
root = tempfile.mkdtemp(prefix="inferd-arch-")
for name in MODELS:
    os.makedirs(os.path.join(root, name, "1"))
    os.symlink(os.path.join(ARCH, name + ".gguf"), os.path.join(root, name, "1", "model.gguf"))
    write_json(os.path.join(root, name, "config.json"), {"context_size": 256, "parallel": 2})


def complete(s, name, case, out, k):
    r = s.post_json("/v1/completions", {"model": name, "prompt": case["prompt_tokens"],
                                        "max_tokens": len(case["tokens"]), "temperature": 0})
    out[k] = r


def text_ok(r, case):
    """Compares the text; where llama.cpp's had U+FFFD (invalid UTF-8) only the valid parts."""
    if r.status != 200:
        return False
    got = r.json()["choices"][0]["text"]
    want = case["text"]
    if "\ufffd" in want or "\ufffd" in got:
        return [p for p in want.split("\ufffd") if p and p not in got] == []
    return got == want


with Server(root, "--threads", "2") as s:
    for name in MODELS:
        cases = goldens[name]["cases"]
        for i, case in enumerate(cases):  # one at a time
            res = {}
            complete(s, name, case, res, 0)
            t.check(text_ok(res[0], case), f"serve {name} case {i}: {res[0]!r} != {case['text']!r}")
        res = {}  # both cases at once: the scheduler batches the two sequences
        th = [threading.Thread(target=complete, args=(s, name, c, res, i)) for i, c in enumerate(cases)]
        for x in th:
            x.start()
        for x in th:
            x.join(timeout=120)
        for i, case in enumerate(cases):
            t.check(i in res and text_ok(res[i], case), f"serve {name} case {i} (concurrent): {res.get(i)!r}")
t.finish()
