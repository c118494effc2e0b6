#!/usr/bin/python3
"""bench/llm_serve.py — LLM serving under load: aggregate generated tokens/s and time to first
token (p50/p99) at 1, 4, 8, 16 concurrent streams, inferd vs llama.cpp's llama-server with
the same number of parallel sequences, side by side, printing inferd/llama.cpp ratios.

    /usr/bin/python3 bench/llm_serve.py                       # aidreams260K.gguf
    /usr/bin/python3 bench/llm_serve.py --model /tmp/inferd-bench/tinyllama-random-q8_0.gguf \
        --levels 1,4 --tokens 16 --requests 1

Every client streams POST /v1/completions (temperature 0, ignore_eos so every request makes
exactly --tokens tokens) and sends its next request when the previous one ends; each level
runs --requests requests per client. llama-server is --llama-server, $LLAMA_SERVER, or looked
for in $LLAMA_CPP_DIR, /tmp/llamacpp/build/bin and /tmp/llama.cpp/build/bin; without it only
inferd is measured. 32 and 64 streams: --levels 32,64 (both servers get max(levels) slots).
--constrained compares tokens/s without and with an output constraint (GBNF grammars and a
response_format json_schema). Standard library only.

    /usr/bin/python3 bench/llm_serve.py --multiturn [--conversations 8 --turns 4 --parallel 2]

--multiturn: multi-turn chats over a shared long system prompt, more conversations than
slots (so a conversation's next turn rarely finds its history in its own slot); prints the
time to first token of turn 1 and of turns 2+, for inferd with its prefix cache, inferd
with prefix_cache_mb 0, and llama-server with --cache-reuse 256 (each server runs alone).
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = ["Once upon a time", "The", "Echoes of", "I sense the weights", "whispers through", "Dimensions",
           "a gentle hum", "Classification", "as I adjust", "tapestry of", "precision", "nodes", "petals",
           "my ear", "secrets", "probability"]


def find_llama_server(a):
    """--llama-server / $LLAMA_SERVER, else llama-server in $LLAMA_CPP_DIR or the usual build
    folders; a path that does not exist when there is none."""
    if a.llama_server:
        return a.llama_server
    dirs = [os.environ.get("LLAMA_CPP_DIR"), "/tmp/llamacpp/build/bin", "/tmp/llama.cpp/build/bin"]
    found = [os.path.join(d, "llama-server") for d in dirs if d and os.path.exists(os.path.join(d, "llama-server"))]
    return found[0] if found else "/nonexistent/llama-server"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, path, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def one_stream(port, model, prompt, tokens):
    """Returns (ttft seconds, generated tokens) for one streamed completion."""
    body = {"model": model, "prompt": prompt, "max_tokens": tokens, "temperature": 0, "ignore_eos": True,
            "stream": True, "stream_options": {"include_usage": True}}
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError("status %d: %s" % (r.status, r.read()[:200]))
    ttft, n_chunks, usage = None, 0, None
    while True:
        line = r.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data: "):
            continue
        data = line[6:]
        if data == b"[DONE]":
            break
        ev = json.loads(data)
        if ev.get("usage"):
            usage = ev["usage"]
        for ch in ev.get("choices", []):
            if ch.get("text"):
                n_chunks += 1
                if ttft is None:
                    ttft = time.perf_counter() - t0
    c.close()
    n = usage["completion_tokens"] if usage else tokens
    return ttft if ttft is not None else time.perf_counter() - t0, n


# --constrained: grammars that never complete, so that every request still makes exactly
# --tokens tokens. "json string" mostly keeps the sampled token (the cheap check); "digits"
# rejects most samples of a language model and masks the whole vocabulary for them.
GRAMMARS = {
    "json string": 'root ::= "{\\"text\\": \\"" c*\nc ::= [^"\\\\\\x00-\\x1F] | "\\\\" ["\\\\nt]\n',
    "digits": 'root ::= "[" [0-9]+ ("," " "? [0-9]+)*\n',
}


# A JSON schema (response_format json_schema, OpenAI's structured outputs) whose array of
# strings has no maxItems, so that a model may keep generating until --tokens.
SCHEMA = {"type": "object", "properties": {"title": {"type": "string"},
                                           "tags": {"type": "array", "items": {"type": "string"}}},
          "required": ["title", "tags"], "additionalProperties": False}
CONSTRAINTS = [("none", None)] + [(k, {"grammar": g}) for k, g in GRAMMARS.items()] + [
    ("json_schema", {"response_format": {"type": "json_schema",
                                         "json_schema": {"name": "bench", "strict": True, "schema": SCHEMA}}})]


def one_plain(port, model, prompt, tokens, grammar=None):
    """Non-streaming: returns (end-to-end seconds, generated tokens). grammar: extra body
    fields (a GBNF "grammar" or a "response_format"), or a GBNF text."""
    body = {"model": model, "prompt": prompt, "max_tokens": tokens, "temperature": 0, "ignore_eos": True}
    if isinstance(grammar, str):
        body["grammar"] = grammar
    elif grammar:
        body.update(grammar)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    if r.status != 200:
        raise RuntimeError("status %d: %s" % (r.status, data[:200]))
    c.close()
    return time.perf_counter() - t0, json.loads(data)["usage"]["completion_tokens"]


def run_level(port, model, conc, reqs, tokens, fn=one_stream):
    ttfts, toks, errors = [], [0], []
    lock = threading.Lock()

    def client(i):
        for k in range(reqs):
            try:
                t, n = fn(port, model, PROMPTS[(i + k) % len(PROMPTS)], tokens)
                with lock:
                    ttfts.append(t)
                    toks[0] += n
            except Exception as e:  # noqa: BLE001
                with lock:
                    errors.append(repr(e))
    t0 = time.perf_counter()
    th = [threading.Thread(target=client, args=(i,)) for i in range(conc)]
    for x in th:
        x.start()
    for x in th:
        x.join()
    wall = time.perf_counter() - t0
    ttfts.sort()

    def pct(p):
        return ttfts[min(len(ttfts) - 1, int(p * len(ttfts)))] if ttfts else float("nan")
    if errors:
        print("  %d errors at %d streams, first: %s" % (len(errors), conc, errors[0][:300]), file=sys.stderr)
    return {"tok_s": toks[0] / wall, "ttft_p50": pct(0.5), "ttft_p99": pct(0.99), "errors": len(errors),
            "tokens": toks[0], "wall": wall}


SYSTEM = ("You are a careful assistant for a shipping company. You answer questions about parcels, "
          "routes, customs forms, delivery windows, refunds and the loyalty programme. ") * 12


def stream_text(port, body):
    """Streams one completion; returns (ttft seconds, text)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("POST", "/v1/completions", body=json.dumps(dict(body, stream=True)),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError("status %d: %s" % (r.status, r.read()[:200]))
    ttft, text = None, ""
    for line in r:
        line = line.strip()
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        for ch in json.loads(line[6:]).get("choices", []):
            if ch.get("text"):
                text += ch["text"]
                if ttft is None:
                    ttft = time.perf_counter() - t0
    c.close()
    return (ttft if ttft is not None else time.perf_counter() - t0), text


def multiturn(a):
    """Multi-turn chat workload: TTFT of turn 1 and turns 2+ per server."""
    n_ctx = a.parallel * a.ctx_per_seq
    server = find_llama_server(a)
    lcpp = os.path.dirname(os.path.abspath(server))
    runs = [("inferd", {}), ("inferd, cache off", {"prefix_cache_mb": 0})]
    if os.path.exists(server):
        runs.append(("llama.cpp", None))
    else:
        print("llama-server not found (--llama-server or $LLAMA_SERVER): measuring inferd only")
    print("model %s, parallel %d, ctx %d per sequence, %d conversations x %d turns, %d tokens per answer, "
          "system prompt %d chars, %d threads" % (os.path.basename(a.model), a.parallel, a.ctx_per_seq,
                                                  a.conversations, a.turns, a.tokens, len(SYSTEM), a.threads))
    print("%-18s %14s %14s %16s %16s %10s %6s" % ("server", "turn1 p50 ms", "turn1 p99 ms", "turn2+ p50 ms",
                                                   "turn2+ p99 ms", "computed", "errors"))
    for name, cfg in runs:
        work = tempfile.mkdtemp(prefix="inferd-bench-mt-")
        port = free_port()
        if cfg is not None:
            os.makedirs(os.path.join(work, "models", "m", "1"))
            os.symlink(os.path.abspath(a.model), os.path.join(work, "models", "m", "1", "model.gguf"))
            with open(os.path.join(work, "models", "m", "config.json"), "w") as f:
                json.dump(dict({"context_size": n_ctx, "parallel": a.parallel}, **cfg), f)
            p = subprocess.Popen([a.bin, "serve", "--models", os.path.join(work, "models"), "--port", str(port),
                                  "--threads", str(a.threads), "--poll-ms", "0"], stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(work, "inferd.log"), "w"))
            ready = "/v2/health/ready"
        else:
            env = dict(os.environ, LD_LIBRARY_PATH=lcpp + ":" + os.environ.get("LD_LIBRARY_PATH", ""))
            p = subprocess.Popen([server, "-m", a.model, "-c", str(n_ctx), "-np", str(a.parallel), "--threads",
                                  str(a.threads), "--host", "127.0.0.1", "--port", str(port), "-cb", "--no-warmup",
                                  "--cache-reuse", "256"], stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(work, "llama.log"), "w"), env=env)
            ready = "/health"
        try:
            if not wait_http(port, ready):
                sys.exit("%s did not start; see %s" % (name, work))

            def computed():
                if cfg is None:
                    return None
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                c.request("GET", "/v1/models/m")
                return json.loads(c.getresponse().read())["meta"]["prompt_tokens_computed"]
            c0 = computed()
            first, later, errors = [], [], []
            lock = threading.Lock()

            def conversation(i):
                prompt = SYSTEM + "\n"
                for turn in range(a.turns):
                    prompt += "User %d asks question %d about parcel %d.\nAssistant:" % (i, turn, 1000 + i * 7 + turn)
                    try:
                        t, text = stream_text(port, {"model": "m", "prompt": prompt, "max_tokens": a.tokens,
                                                     "temperature": 0, "ignore_eos": True})
                    except Exception as e:  # noqa: BLE001
                        with lock:
                            errors.append(repr(e))
                        return
                    with lock:
                        (first if turn == 0 else later).append(t)
                    prompt += text + "\n"
            th = [threading.Thread(target=conversation, args=(i,)) for i in range(a.conversations)]
            for x in th:
                x.start()
            for x in th:
                x.join()
            c1 = computed()

            def pct(v, q):
                v = sorted(v)
                return v[min(len(v) - 1, int(q * len(v)))] * 1e3 if v else float("nan")
            print("%-18s %14.1f %14.1f %16.1f %16.1f %10s %6d" % (
                name, pct(first, 0.5), pct(first, 0.99), pct(later, 0.5), pct(later, 0.99),
                "-" if c0 is None else str(c1 - c0), len(errors)))
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
            shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(os.environ.get("INFERD_SHARED", "/work/shared"),
                                                    "testdata/llm/aidreams260K.gguf"))
    ap.add_argument("--levels", default="1,4,8,16")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--requests", type=int, default=2, help="requests per client per level")
    ap.add_argument("--ctx-per-seq", type=int, default=256)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--bin", default=os.environ.get("INFERD_BIN", os.path.join(ROOT, "build", "inferd")))
    ap.add_argument("--constrained", action="store_true",
                    help="inferd only: tokens/s with grammars / a json_schema (constrained decoding) vs without")
    ap.add_argument("--llama-server", default=os.environ.get("LLAMA_SERVER"),
                    help="llama.cpp's llama-server binary (default: $LLAMA_SERVER, else looked for)")
    ap.add_argument("--multiturn", action="store_true",
                    help="multi-turn chats: TTFT of turn 2+ with and without the prefix cache (and llama-server)")
    ap.add_argument("--conversations", type=int, default=8)
    ap.add_argument("--turns", type=int, default=4)
    ap.add_argument("--parallel", type=int, default=2)
    a = ap.parse_args()
    if a.multiturn:
        if a.ctx_per_seq == 256:
            a.ctx_per_seq = 4096
        multiturn(a)
        return
    levels = [int(x) for x in a.levels.split(",")]
    np_ = max(levels)
    n_ctx = np_ * a.ctx_per_seq
    work = tempfile.mkdtemp(prefix="inferd-bench-llm-")
    os.makedirs(os.path.join(work, "models", "m", "1"))
    os.symlink(os.path.abspath(a.model), os.path.join(work, "models", "m", "1", "model.gguf"))
    with open(os.path.join(work, "models", "m", "config.json"), "w") as f:
        json.dump({"context_size": n_ctx, "parallel": np_}, f)

    procs = {}
    port_i = free_port()
    procs["inferd"] = (subprocess.Popen([a.bin, "serve", "--models", os.path.join(work, "models"), "--port",
                                         str(port_i), "--threads", str(a.threads), "--poll-ms", "0"],
                                        stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "inferd.log"), "w")),
                       port_i, "/v2/health/ready")
    server = find_llama_server(a)
    lcpp = os.path.dirname(os.path.abspath(server))
    if a.constrained:
        try:
            if not wait_http(port_i, "/v2/health/ready"):
                sys.exit("inferd did not start; see %s" % work)
            print("model %s, parallel %d, %d tokens per request, %d requests per client, %d threads, "
                  "non-streaming, greedy" % (os.path.basename(a.model), np_, a.tokens, a.requests, a.threads))
            # Wall-clock tokens/s, and the server's CPU time per token (/proc/PID/stat), which a
            # busy shared machine disturbs far less than the wall clock.
            pid = procs["inferd"][0].pid

            def cpu_s():
                with open("/proc/%d/stat" % pid) as f:
                    st = f.read().rsplit(")", 1)[1].split()
                return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
            print("%-12s %4s %12s %9s %14s %9s %6s" % ("grammar", "conc", "tok/s", "vs none", "cpu us/token",
                                                       "vs none", "errors"))
            for conc in levels:
                one_plain(port_i, "m", "warm up", 4)
                base = None
                for gname, g in CONSTRAINTS:
                    c0 = cpu_s()
                    r = run_level(port_i, "m", conc, a.requests, a.tokens,
                                  lambda port, model, prompt, tokens, g=g: one_plain(port, model, prompt, tokens, g))
                    cpu_tok = (cpu_s() - c0) / max(r["tokens"], 1) * 1e6
                    base = base or (r["tok_s"], cpu_tok)
                    print("%-12s %4d %12.1f %8.1f%% %14.1f %8.1f%% %6d" % (
                        gname, conc, r["tok_s"], 100.0 * r["tok_s"] / base[0], cpu_tok,
                        100.0 * cpu_tok / base[1] if base[1] else float("nan"),
                        r["errors"]))
        finally:
            procs["inferd"][0].send_signal(signal.SIGTERM)
            procs["inferd"][0].wait(30)
            shutil.rmtree(work, ignore_errors=True)
        return
    if os.path.exists(server):
        port_l = free_port()
        env = dict(os.environ, LD_LIBRARY_PATH=lcpp + ":" + os.environ.get("LD_LIBRARY_PATH", ""))
        procs["llama.cpp"] = (subprocess.Popen([server, "-m", a.model, "-c", str(n_ctx), "-np", str(np_), "--threads",
                                                str(a.threads), "--host", "127.0.0.1", "--port", str(port_l),
                                                "-cb", "--no-warmup"],
                                               stdout=subprocess.DEVNULL,
                                               stderr=open(os.path.join(work, "llama.log"), "w"), env=env),
                              port_l, "/health")
    else:
        print("llama-server not found (--llama-server or $LLAMA_SERVER): measuring inferd only")
    try:
        for name, (p, port, path) in procs.items():
            if not wait_http(port, path):
                sys.exit("%s did not start; see %s" % (name, work))
        print("model %s, parallel %d, ctx %d (%d per sequence), %d tokens per request, %d requests per client, "
              "%d threads" % (os.path.basename(a.model), np_, n_ctx, a.ctx_per_seq, a.tokens, a.requests, a.threads))
        res = {}
        for conc in levels:
            for name, (p, port, path) in procs.items():
                one_stream(port, "m", "warm up", 4)
                res[(name, conc)] = run_level(port, "m", conc, a.requests, a.tokens)
                res[(name, conc, "plain")] = run_level(port, "m", conc, a.requests, a.tokens, one_plain)
        print("%-10s %4s %12s %12s %12s %14s %6s" % ("server", "conc", "stream tok/s", "ttft p50 ms", "ttft p99 ms",
                                                      "plain tok/s", "errors"))
        for conc in levels:
            for name in procs:
                r, q = res[(name, conc)], res[(name, conc, "plain")]
                print("%-10s %4d %12.1f %12.1f %12.1f %14.1f %6d" % (name, conc, r["tok_s"], r["ttft_p50"] * 1e3,
                                                                    r["ttft_p99"] * 1e3, q["tok_s"],
                                                                    r["errors"] + q["errors"]))
        if "llama.cpp" in procs:
            print("\nratios inferd / llama.cpp (tok/s: higher is better for inferd; ttft: lower is better)")
            for conc in levels:
                i, l = res[("inferd", conc)], res[("llama.cpp", conc)]
                ip, lp = res[("inferd", conc, "plain")], res[("llama.cpp", conc, "plain")]
                print("conc %2d: stream tok/s x%.2f   ttft p50 x%.2f   ttft p99 x%.2f   plain tok/s x%.2f" % (
                    conc, i["tok_s"] / l["tok_s"], i["ttft_p50"] / l["ttft_p50"], i["ttft_p99"] / l["ttft_p99"],
                    ip["tok_s"] / lp["tok_s"]))
    finally:
        for name, (p, port, path) in procs.items():
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
