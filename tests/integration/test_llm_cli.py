#!/usr/bin/python3
"""test_llm_cli.py — `inferd generate` and `inferd tokenize` from the outside: greedy text on
aidreams260K.gguf equals llama.cpp's golden text, stop strings cut the output, the timing
summary is on stderr, tokenize prints the golden prompt ids, and bad input fails cleanly."""
import json
import os
import subprocess
import sys

BIN = os.environ["INFERD_BIN"]
SHARED = os.environ.get("INFERD_SHARED", "")
MODEL = os.path.join(SHARED, "testdata", "llm", "aidreams260K.gguf")
GOLDEN = os.path.join(SHARED, "testdata", "llm", "golden_aidreams260K.json")
if not os.path.exists(MODEL) or not os.path.exists(GOLDEN):
    print("SKIP: shared test data absent")
    sys.exit(77)

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, timeout=120)


golden = json.load(open(GOLDEN, encoding="utf-8"))
for case in golden["cases"][:3]:
    r = run("generate", MODEL, "-p", case["prompt"], "-n", str(len(case["tokens"])), "--temp", "0", "-t", "2")
    check(r.returncode == 0, f"generate exit {r.returncode}: {r.stderr[-300:]}")
    out = r.stdout.decode("utf-8", "replace")
    check(out == case["text"] + "\n", f"greedy text for {case['prompt']!r}: {out!r} != {case['text']!r}")
    err = r.stderr.decode()
    check("tokens/s" in err and f"prompt {len(case['prompt_tokens'])} tokens" in err, f"summary: {err!r}")

    r = run("tokenize", MODEL, case["prompt"], "--ids")
    ids = [int(x) for x in r.stdout.split()]
    check(ids == case["prompt_tokens"], f"tokenize {case['prompt']!r}: {ids} != {case['prompt_tokens']}")

# a stop string taken from the middle of the golden text
case = golden["cases"][1]
stop = case["text"][20:28]
r = run("generate", MODEL, "-p", case["prompt"], "-n", "48", "--temp", "0", "--stop", stop)
out = r.stdout.decode("utf-8", "replace")
check(r.returncode == 0 and out == case["text"][:20] + "\n", f"stop string: {out!r}")
check(b"stopped: stop string" in r.stderr, "stop reason")

# sampling with a seed is reproducible
a = run("generate", MODEL, "-p", "Once", "-n", "20", "--seed", "42", "--temp", "0.9")
b = run("generate", MODEL, "-p", "Once", "-n", "20", "--seed", "42", "--temp", "0.9")
check(a.returncode == 0 and a.stdout == b.stdout, "seeded sampling differs between runs")

# a prompt longer than the context is refused with a clear message
r = run("generate", MODEL, "-p", "word " * 200, "-n", "8", "--ctx", "64")
check(r.returncode == 1 and b"context holds 64" in r.stderr, f"long prompt: {r.stderr!r}")

# bad input
r = run("generate", "/nonexistent.gguf", "-p", "x")
check(r.returncode == 1 and b"/nonexistent.gguf" in r.stderr, "missing model")
r = run("generate", MODEL, "-p", "x", "--temp", "abc")
check(r.returncode == 2 and b"--temp" in r.stderr, "bad --temp")
r = run("tokenize", GOLDEN, "x")
check(r.returncode == 1, "tokenize on a non-GGUF file")

print(f"{'FAILED' if failures else 'ok'}: {failures} failures")
sys.exit(1 if failures else 0)
