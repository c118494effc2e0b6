#!/usr/bin/python3
"""test_llm_arch_cli.py — `inferd generate -m MODEL` on the tiny model of every supported
architecture (../shared/testdata/llm/arch: llama3-style and its Q8_0 / Q4_K_M variants, qwen2,
phi3, gemma2, mixtral-moe): greedy text equals llama.cpp's golden text for every case."""
import json
import os
import subprocess
import sys

BIN = os.environ["INFERD_BIN"]
ARCH = os.path.join(os.environ.get("INFERD_SHARED", ""), "testdata", "llm", "arch")
MODELS = ["llama3-style", "llama3-style-q8_0", "llama3-style-q4_k_m", "qwen2", "phi3", "gemma2", "mixtral-moe"]
if not os.path.exists(os.path.join(ARCH, "golden_gemma2.json")):
    print("SKIP: shared test data (testdata/llm/arch) absent")
    sys.exit(77)

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


for name in MODELS:
    golden = json.load(open(os.path.join(ARCH, f"golden_{name}.json"), encoding="utf-8"))
    for i, case in enumerate(golden["cases"]):
        r = subprocess.run([BIN, "generate", "-m", os.path.join(ARCH, name + ".gguf"), "-p", case["prompt"], "-n",
                            str(len(case["tokens"])), "--temp", "0", "-t", "2"], capture_output=True, timeout=120)
        check(r.returncode == 0, f"{name} case {i}: exit {r.returncode}: {r.stderr[-300:]!r}")
        # llama-server put U+FFFD where the bytes were not valid UTF-8; decoding does the same
        out = r.stdout.decode("utf-8", "replace")
        check(out == case["text"] + "\n", f"{name} case {i}: {out!r} != {case['text']!r}")
        check(f"prompt {len(case['prompt_tokens'])} tokens".encode() in r.stderr, f"{name} case {i}: {r.stderr!r}")

print("failures:", failures)
sys.exit(1 if failures else 0)
