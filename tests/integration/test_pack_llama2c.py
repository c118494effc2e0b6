"""test_pack_llama2c.py — `inferd pack CKPT --tokenizer TOK` converts a llama2.c checkpoint
(aidreams260K.bin + tok512_mc9625.bin from ../shared) to GGUF inside the package. The
converted model must behave as llama.cpp's conversion of the same files
(aidreams260K.gguf): the same tokens for several texts and the same greedy generations.
Broken inputs (a truncated checkpoint, a truncated tokenizer, a header that lies) are
refused naming the file and field, and nothing is written."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Checker, skip  # noqa: E402

SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
D = os.path.join(SHARED, "testdata", "llm")
CKPT, TOK, REF = (os.path.join(D, f) for f in ("aidreams260K.bin", "tok512_mc9625.bin", "aidreams260K.gguf"))
if not all(os.path.isfile(f) for f in (CKPT, TOK, REF)):
    skip("aidreams260K.bin, tok512_mc9625.bin or aidreams260K.gguf is absent (../shared/testdata/llm)")

tmp = tempfile.mkdtemp(prefix="inferd-l2c-")
c = Checker()


def run(*args):
    p = subprocess.run([BIN] + list(args), cwd=tmp, capture_output=True, timeout=300)
    p.stdout = p.stdout.decode("utf-8", "backslashreplace")  # token pieces may be single bytes
    p.stderr = p.stderr.decode("utf-8", "backslashreplace")
    return p


p = run("pack", CKPT, "--tokenizer", TOK, "--name", "aid", "--version", "2", "-o", "pkg")
c.check(p.returncode == 0 and "gguf" in p.stdout, "pack a llama2.c checkpoint: %r" % p.stderr)
model = os.path.join(tmp, "pkg/aid/2/model.gguf")
with open(os.path.join(tmp, "pkg/aid/2/manifest.json")) as f:
    man = json.load(f)
c.check(man["format"] == "gguf" and man["source"]["format"] == "llama2c"
        and man["source"]["size"] == os.path.getsize(CKPT) and man["optimizations"] == ["llama2c-to-gguf"]
        and man["files"]["model.gguf"]["size"] == os.path.getsize(model), "manifest: %r" % man)
with open(os.path.join(tmp, "pkg/aid/config.json")) as f:
    cfg = json.load(f)
c.check(cfg.get("backend") == "gguf" and cfg.get("context_size") == 128, "config: %r" % cfg)
c.check(run("verify", "pkg").returncode == 0, "the package verifies")

for text in ("Hello world", "Once upon a time, there was a robot.", "  two  spaces\nand a newline", "ünïcödé"):
    a, b = run("tokenize", model, text), run("tokenize", REF, text)
    c.check(a.returncode == 0 and a.stdout == b.stdout, "same tokens for %r: %r vs %r" % (text, a.stdout, b.stdout))
for prompt in ("Once upon a time", "The robot", "In the dream"):
    a = run("generate", model, "-p", prompt, "-n", "32", "--temp", "0")
    b = run("generate", REF, "-p", prompt, "-n", "32", "--temp", "0")
    c.check(a.returncode == 0 and a.stdout and a.stdout == b.stdout,
            "same greedy generation for %r: %r vs %r" % (prompt, a.stdout, b.stdout))

data = open(CKPT, "rb").read()
with open(os.path.join(tmp, "short.bin"), "wb") as f:
    f.write(data[:len(data) - 4])
p = run("pack", "short.bin", "--tokenizer", TOK, "--name", "x", "-o", "bad1")
c.check(p.returncode == 1 and "header describes" in p.stderr and not os.path.exists(os.path.join(tmp, "bad1")),
        "a truncated checkpoint: %r" % p.stderr)
with open(os.path.join(tmp, "lie.bin"), "wb") as f:
    f.write(data[:4] + (0x7fffffff).to_bytes(4, "little") + data[8:])
p = run("pack", "lie.bin", "--tokenizer", TOK, "--name", "x", "-o", "bad2")
c.check(p.returncode == 1 and "hidden_dim" in p.stderr, "a header that lies: %r" % p.stderr)
tok = open(TOK, "rb").read()
with open(os.path.join(tmp, "tok.bin"), "wb") as f:
    f.write(tok[:len(tok) // 2])
p = run("pack", CKPT, "--tokenizer", "tok.bin", "--name", "x", "-o", "bad3")
c.check(p.returncode == 1 and "tok.bin" in p.stderr and "ends at token" in p.stderr
        and not os.path.exists(os.path.join(tmp, "bad3")), "a truncated tokenizer: %r" % p.stderr)

shutil.rmtree(tmp, ignore_errors=True)
c.finish()
