#!/usr/bin/python3
"""test_cli_args.py — the argument parsing every subcommand shares (src/cli/cli_args.c,
getopt_long): the version comes from CMakeLists.txt's project(), --help lists every flag,
errors name the flag and exit 2, flags and positionals mix (GNU permutation). Needs no
model; the tokenize checks use ../shared's aidreams260K.gguf when it is there."""
import os
import re
import subprocess
import sys

BIN = os.environ["INFERD_BIN"]
ROOT = os.environ["INFERD_ROOT"]
SHARED = os.environ.get("INFERD_SHARED", "")
MODEL = os.path.join(SHARED, "testdata", "llm", "aidreams260K.gguf")

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


def run(*args, stdin=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60, input=stdin)


# the version is project()'s
m = re.search(r"project\(inferd VERSION ([0-9.]+)", open(os.path.join(ROOT, "CMakeLists.txt")).read())
for args in (["version"], ["--version"]):
    r = run(*args)
    check(r.returncode == 0 and r.stdout == f"inferd {m.group(1)}\n", f"{args}: {r.stdout!r}")

# --help per subcommand lists every flag
FLAGS = {
    "serve": ["--models", "--port", "--host", "--threads", "--api-key-file", "--admin-key-file",
              "--access-log", "--error-log", "--max-body-bytes", "--max-elements", "--poll-ms",
              "--drain-ms", "--help"],
    "infer": ["--retries", "--timeout", "--attempt-timeout", "--api-key", "--protocol",
              "--model-version", "--backoff-base", "--backoff-cap", "--help"],
    "chat": ["--system", "--temperature", "--max-tokens", "--retries", "--timeout", "--api-key", "--help"],
    "generate": ["--prompt", "--n-predict", "--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty",
                 "--seed", "--threads", "--stop", "--ctx", "--batch", "--kv-f32", "--no-special", "--help"],
    "tokenize": ["--no-bos", "--no-parse-special", "--ids", "--help"],
    "eval": ["--model", "--tries", "--timeout", "--api-key-file", "--json", "--help"],
}
for cmd, flags in FLAGS.items():
    r = run(cmd, "--help")
    check(r.returncode == 0 and r.stdout.startswith(f"usage: inferd {cmd}"), f"{cmd} --help: {r.returncode}")
    for f in flags:
        check(f in r.stdout, f"{cmd} --help lacks {f}")
r = run("--help")
check(r.returncode == 0 and all(c in r.stdout for c in FLAGS), "inferd --help lists the commands")
r = run()
check(r.returncode == 2 and "usage" in r.stderr, "no command")

# errors name the flag, exit 2
cases = [
    (["serve", "--models", "x", "--port", "abc"], "inferd serve: --port: 'abc' is not a port number"),
    (["serve", "--models", "x", "--port", "70000"], "inferd serve: --port: '70000' is not a port number"),
    (["serve", "--models"], "inferd serve: --models needs a value"),
    (["serve", "--models", "x", "--bogus"], "inferd serve: unknown option '--bogus'"),
    (["generate", "m.gguf", "-p", "x", "--temp", "abc"], "inferd generate: --temp: 'abc'"),
    (["generate", "m.gguf", "-p", "x", "-n", "-1"], "inferd generate: --n-predict: '-1'"),
    (["generate", "m.gguf", "-p"], "inferd generate: -p needs a value"),
    (["generate", "m.gguf", "-p", "x", "--seed", "x1"], "inferd generate: --seed: 'x1'"),
    (["infer", "--retries", "x", "http://127.0.0.1:1", "m", "-"], "inferd infer: --retries: 'x'"),
    (["infer", "http://127.0.0.1:1", "m", "-", "--protocol", "grpc"], "inferd infer: --protocol: 'grpc'"),
    (["chat", "http://127.0.0.1:1", "m", "--max-tokens", "0"], "inferd chat: --max-tokens: '0'"),
    (["chat", "http://127.0.0.1:1", "m", "--timeout", "soon"], "inferd chat: --timeout: 'soon'"),
    (["tokenize", "m.gguf", "x", "--idz"], "inferd tokenize: unknown option '--idz'"),
    (["eval", "http://127.0.0.1:1", "--tries", "0"], "inferd eval: --tries: '0'"),
    (["--bogus"], "inferd: unknown option '--bogus'"),
]
for args, msg in cases:
    r = run(*args, stdin="")
    check(r.returncode == 2 and msg in r.stderr, f"{args}: rc {r.returncode}, {r.stderr!r}")

# flags may come before, between or after positionals
r = run("infer", "--retries", "0", "http://127.0.0.1:1", "--timeout", "2", "m", "-", stdin="{not json")
check(r.returncode == 1 and "not JSON" in r.stderr, f"infer with mixed flags: {r.stderr!r}")

if os.path.exists(MODEL):
    a = run("tokenize", MODEL, "-5 apples", "--ids")
    b = run("tokenize", "--ids", MODEL, "--", "-5 apples")
    check(a.returncode == 0 and a.stdout == b.stdout and len(a.stdout.split()) > 2,
          f"tokenize TEXT starting with '-': {a.stdout!r} {a.stderr!r} / {b.stdout!r}")
    c = run("generate", "--temp", "0", "-n", "8", MODEL, "-t", "1", "-p", "Once")
    d = run("generate", MODEL, "-p", "Once", "-n", "8", "--temp=0", "--threads=1", "--batch", "1")
    check(c.returncode == 0 and c.stdout == d.stdout and len(c.stdout) > 1, f"generate flag order: {c.stderr!r}")
else:
    print("(shared test data absent: tokenize/generate checks not run)")

print(f"{'FAILED' if failures else 'ok'}: {failures} failures")
sys.exit(1 if failures else 0)
