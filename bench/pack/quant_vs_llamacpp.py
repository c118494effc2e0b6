#!/usr/bin/env python3
"""quant_vs_llamacpp.py — GGUF quantization, inferd vs llama.cpp's llama-quantize, on the same
source model: wall time, output size, tensors whose type differs from llama-quantize's
choice, tensors with byte-identical data, and perplexity of each output on a text file
(inferd's `perplexity` and llama.cpp's `llama-perplexity`, same chunking).

usage: LLAMA_CPP_BIN=/path/to/llama.cpp/build/bin \\
       bench/pack/quant_vs_llamacpp.py [MODEL.gguf ...] [--schemes Q4_K_M,Q8_0] [-t 2]
              [--calib FILE] [--ctx 128] [--chunks 8]
MODEL defaults to ../shared/testdata/llm/arch/llama3-style.gguf. Without LLAMA_CPP_BIN (or
when it lacks llama-quantize) the script says so and exits 0: llama.cpp is a peer for
comparison, never built or fetched here. inferd is $INFERD_BIN or build/inferd.
Times: wall clock, and the CPU time of the process over all its threads (less sensitive to
what else the machine is doing); run it on an idle machine or read them as rough."""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from gguf_info import gguf_tensors  # noqa: E402


def timed(cmd, env=None):
    """(wall seconds, CPU seconds of the child: user + sys over all its threads, result)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", env=env)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return (time.monotonic() - t0, cpu), p


def ppl_of(out):
    for key in ("PPL = ", "Final estimate: PPL = "):
        if key in out:
            try:
                return float(out.rsplit(key, 1)[1].split()[0])
            except ValueError:
                pass
    return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*")
    ap.add_argument("--schemes", default="Q4_K_M,Q5_K_M,Q8_0,Q4_0")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--calib")
    ap.add_argument("--ctx", type=int, default=128)
    ap.add_argument("--chunks", type=int, default=8)
    a = ap.parse_args()
    llama = os.environ.get("LLAMA_CPP_BIN", "")
    lq, lp = os.path.join(llama, "llama-quantize"), os.path.join(llama, "llama-perplexity")
    if not llama or not os.access(lq, os.X_OK):
        print("LLAMA_CPP_BIN is not set or has no llama-quantize: nothing to compare with, skipped")
        return 0
    inferd = os.environ.get("INFERD_BIN", os.path.join(ROOT, "build", "inferd"))
    shared = os.environ.get("INFERD_SHARED", os.path.join(ROOT, "..", "shared"))
    models = a.models or [os.path.join(shared, "testdata", "llm", "arch", "llama3-style.gguf")]
    tmp = tempfile.mkdtemp(prefix="inferd-bench-quant-")
    calib = a.calib
    if not calib:
        calib = os.path.join(tmp, "calib.txt")
        with open(calib, "w") as f:
            for doc in ("README.md", "docs/llm.md", "docs/deploy.md", "docs/serve.md"):
                with open(os.path.join(ROOT, doc)) as d:
                    f.write(d.read())
    print("threads %d, perplexity: %s, %d chunks of %d tokens" % (a.threads, os.path.basename(calib), a.chunks, a.ctx))
    print("| model | scheme | tool | wall s | CPU s | size MB | types differing | tensors byte-identical | PPL (inferd) |"
          " PPL (llama-perplexity) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for model in models:
        base = os.path.basename(model)
        src_mb = os.path.getsize(model) / 1e6
        _, p = timed([inferd, "perplexity", "-m", model, "-f", calib, "-c", str(a.ctx), "--chunks", str(a.chunks),
                      "-t", str(a.threads)])
        _, q = timed([lp, "-m", model, "-f", calib, "-c", str(a.ctx), "-b", str(a.ctx), "--chunks",
                      str(a.chunks), "-t", str(a.threads)])
        print("| %s | source | - | - | - | %.1f | - | - | %.2f | %.2f |" % (base, src_mb, ppl_of(p.stdout),
                                                                      ppl_of(q.stdout + q.stderr)))
        for scheme in a.schemes.split(","):
            ours = os.path.join(tmp, "pkg-%s-%s" % (base, scheme))
            theirs = os.path.join(tmp, "llama-%s-%s.gguf" % (base, scheme))
            t_ours, p = timed([inferd, "pack", model, "--name", "m", "-o", ours, "--quantize", scheme, "-t",
                               str(a.threads), "-q"])
            t_theirs, q = timed([lq, "--allow-requantize", model, theirs, scheme, str(a.threads)])
            if p.returncode != 0 or q.returncode != 0:
                print("| %s | %s | failed: %s %s |" % (base, scheme, p.stderr[-200:], q.stderr[-200:]))
                continue
            ours_file = os.path.join(ours, "m", "1", "model.gguf")
            to, tt = gguf_tensors(ours_file), gguf_tensors(theirs)
            differ = sum(1 for k in tt if to.get(k, ("?",))[0] != tt[k][0])
            same = sum(1 for k in tt if k in to and to[k] == tt[k])
            rows = []
            for tool, path, secs in (("inferd", ours_file, t_ours), ("llama-quantize", theirs, t_theirs)):
                _, p = timed([inferd, "perplexity", "-m", path, "-f", calib, "-c", str(a.ctx), "--chunks",
                              str(a.chunks), "-t", str(a.threads)])
                _, q = timed([lp, "-m", path, "-f", calib, "-c", str(a.ctx), "-b", str(a.ctx), "--chunks",
                              str(a.chunks), "-t", str(a.threads)])
                rows.append("| %s | %s | %s | %.2f | %.2f | %.1f | %s | %s | %.2f | %.2f |" % (
                    base, scheme, tool, secs[0], secs[1], os.path.getsize(path) / 1e6, differ if tool == "inferd" else "-",
                    "%d of %d" % (same, len(tt)) if tool == "inferd" else "-", ppl_of(p.stdout),
                    ppl_of(q.stdout + q.stderr)))
            print("\n".join(rows))
            sys.stdout.flush()
            shutil.rmtree(ours, ignore_errors=True)
            os.unlink(theirs)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
