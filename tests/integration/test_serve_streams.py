"""test_serve_streams.py — streams hold no HTTP thread, and one model seam.

Against the real `inferd serve --threads 2` with an ONNX MLP and the tiny GGUF llama:
1. 200 concurrent streamed completions (most of them queued for one of 2 slots) are open
   while /v2/health/ready and a v2 infer keep answering (each within a generous liveness
   bound, median printed next to the idle median); every stream then ends with [DONE].
2. A client that disconnects from a NON-streamed generation is noticed while its request
   waits: its job is cancelled (access log: finish_reason "cancelled", far fewer tokens
   than asked for) and the slot serves the next request.
3. Capabilities, not backend types: v2 infer on the LLM and chat on the MLP answer 400
   naming what the model is; embeddings on a model whose config turns them off answer 400;
   /v1/models lists only language models; the repository index lists both.
4. SIGTERM with streams still running after --drain-ms cuts them and exits 1, as the docs
   say ("N requests cut"), instead of aborting in MHD on the suspended connections.
"""
import json
import os
import signal
import socket
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server, make_mlp, skip, wait_until, write_json  # noqa: E402

SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
GGUF = os.path.join(SHARED, "testdata", "llm", "aidreams260K.gguf")
N_STREAMS = 200
LIVENESS_S = 1.0  # not a speed claim: the old 20 ms waits inside MHD's callbacks took seconds here


def make_repo():
    root = tempfile.mkdtemp(prefix="inferd-streams-")
    make_mlp(os.path.join(root, "mlp", "1", "model.onnx"))
    for name, cfg in (("tiny", {"context_size": 4096, "parallel": 2, "max_queue_size": 512}),
                      ("one", {"context_size": 16384, "parallel": 1, "max_queue_size": 4}),
                      ("noemb", {"context_size": 512, "parallel": 1, "embeddings": False})):
        os.makedirs(os.path.join(root, name, "1"))
        os.symlink(GGUF, os.path.join(root, name, "1", "model.gguf"))
        write_json(os.path.join(root, name, "config.json"), cfg)
    return root


def open_stream(port, body):
    """Sends a streamed completion on a raw socket; returns the socket (not read yet)."""
    data = json.dumps(body).encode()
    sk = socket.create_connection(("127.0.0.1", port), timeout=120)
    sk.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(data) + data)
    return sk


def read_all(sk, deadline):
    buf = b""
    while time.time() < deadline:
        try:
            chunk = sk.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
        if buf.endswith(b"0\r\n\r\n"):  # the last chunk of a chunked response
            break
    return buf


def timed(fn):
    t0 = time.time()
    r = fn()
    return time.time() - t0, r


def main():
    if not os.path.exists(GGUF):
        skip("../shared/testdata/llm/aidreams260K.gguf is absent")
    t = Checker()
    root = make_repo()
    work = tempfile.mkdtemp(prefix="inferd-streams-log-")
    alog = os.path.join(work, "access.log")
    infer = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4]}]}
    s = Server(root, "--threads", "2", "--access-log", alog, "--drain-ms", "2000")
    s.start()
    try:
        # -- 1. 200 streams, health and infer keep answering --
        idle = [timed(lambda: s.get("/v2/health/ready"))[0] for _ in range(10)]
        idle += [timed(lambda: s.post_json("/v2/models/mlp/infer", infer))[0] for _ in range(10)]
        socks = [open_stream(s.port, {"model": "tiny", "prompt": "Once upon a time", "max_tokens": 200,
                                      "temperature": 0, "ignore_eos": True, "stream": True})
                 for _ in range(N_STREAMS)]
        busy, statuses = [], []
        for _ in range(20):
            dt, r = timed(lambda: s.get("/v2/health/ready"))
            busy.append(dt)
            statuses.append(r.status)
            dt, r = timed(lambda: s.post_json("/v2/models/mlp/infer", infer))
            busy.append(dt)
            statuses.append(r.status)
        print("idle median %.4f s, with %d streams open: median %.4f s, max %.4f s" %
              (statistics.median(idle), N_STREAMS, statistics.median(busy), max(busy)))
        t.check(all(x == 200 for x in statuses), "health and infer answer 200 with the streams open: %r" % statuses)
        t.check(max(busy) < LIVENESS_S, "each health/infer answered within %.1f s (max %.3f s)" % (LIVENESS_S, max(busy)))
        deadline = time.time() + 120
        ends = [read_all(sk, deadline) for sk in socks]
        for sk in socks:
            sk.close()
        done = sum(1 for b in ends if b"data: [DONE]" in b and b.startswith(b"HTTP/1.1 200"))
        t.check(done == N_STREAMS, "every stream ended with [DONE]: %d of %d" % (done, N_STREAMS))
        n_events = ends[0].count(b"data: {")
        t.check(n_events >= 2, "a stream carries its text and a final chunk (%d events)" % n_events)

        # -- 2. a disconnect from a NON-streamed generation frees its slot --
        body = json.dumps({"model": "one", "prompt": "The", "max_tokens": 16000, "temperature": 0,
                           "ignore_eos": True}).encode()
        sk = socket.create_connection(("127.0.0.1", s.port), timeout=30)
        sk.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"X-Request-Id: gone-away\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

        def running(n):
            m = s.get("/metrics").body.decode()
            for line in m.splitlines():
                if line.startswith('inferd_llm_requests_running{model="one"}'):
                    return float(line.split()[-1]) == n
            return False
        t.check(wait_until(lambda: running(1), timeout=30), "the non-streamed generation runs")
        sk.close()
        t.check(wait_until(lambda: running(0), timeout=30), "its slot is freed after the client left")

        def logged():
            try:
                with open(alog) as f:
                    return [json.loads(x) for x in f if '"gone-away"' in x]
            except OSError:
                return []
        t.check(wait_until(lambda: logged(), timeout=30), "the cut request is in the access log")
        rec = (logged() or [{}])[0]
        t.check(rec.get("finish_reason") == "cancelled" and rec.get("completion_tokens", 16000) < 16000,
                "it was cancelled, not run to its end: %r" % {k: rec.get(k) for k in ("finish_reason",
                                                                                     "completion_tokens")})
        r = s.post_json("/v1/completions", {"model": "one", "prompt": "The", "max_tokens": 4, "temperature": 0})
        t.check(r.status == 200 and r.json()["usage"]["completion_tokens"] == 4, "the slot serves the next: %r" % r)

        # a request that could never be admitted whole is a 400 naming the limit, not a 503
        r = s.post_json("/v1/completions", {"model": "one", "prompt": ["a"] * 6, "max_tokens": 2})
        t.check(r.status == 400 and "at most 5 at once" in r.json()["error"]["message"], "6 prompts, room for 5: %r" % r)
        r = s.post_json("/v1/embeddings", {"model": "one", "input": ["a"] * 6})
        t.check(r.status == 400 and r.json()["error"]["param"] == "input", "6 embedding inputs, room for 5: %r" % r)
        r = s.post_json("/v1/completions", {"model": "one", "prompt": ["a"] * 5, "max_tokens": 2, "temperature": 0})
        t.check(r.status == 200 and len(r.json()["choices"]) == 5, "5 prompts fit: %r" % r)

        # errors name the field and the limit
        r = s.post_json("/v1/chat/completions", {"model": "tiny", "messages": [{"role": "user", "content": "hi"}],
                                                 "stop": "x" * 1000})
        t.check(r.status == 400 and r.json()["error"]["param"] == "stop" and "255" in r.json()["error"]["message"],
                "a 1000-byte stop string names stop and its cap: %r" % r)
        r = s.post_json("/v1/completions", {"model": "tiny", "prompt": "a", "max_tokens": 10 ** 9})
        t.check(r.status == 400 and "1000000" in r.json()["error"]["message"], "max_tokens names its cap: %r" % r)

        r = s.post("/tokenize", "{")
        t.check(r.status == 400 and "malformed JSON" in r.json()["error"]["message"],
                "/tokenize with a broken body says so: %r" % r)

        huge = {"inputs": [{"name": "x", "shape": [2 ** 31, 2 ** 31, 4], "datatype": "FP32", "data": [1]}]}
        r = s.post_json("/v2/models/mlp/infer", huge)
        t.check(r.status == 413 and "64 bits" in r.json().get("error", "") and "-1" not in r.json().get("error", ""),
                "a 2^64-element shape names the limit, not -1 elements: %r" % r)

        # -- 3. capabilities --
        r = s.post_json("/v2/models/tiny/infer", infer)
        t.check(r.status == 400 and "language model" in r.json().get("error", ""), "v2 infer on an LLM: 400 %r" % r)
        r = s.post_json("/predict", {"model": "tiny", "input_data": [[1, 2, 3, 4]]})
        t.check(r.status == 400 and r.json().get("status") == "error", "/predict on an LLM: 400 %r" % r)
        r = s.post_json("/v1/chat/completions", {"model": "mlp", "messages": [{"role": "user", "content": "hi"}]})
        t.check(r.status == 400 and "not a language model" in r.json()["error"]["message"]
                and r.json()["error"]["param"] == "model", "chat on an ONNX model: 400 %r" % r)
        r = s.post_json("/v1/embeddings", {"model": "noemb", "input": "hello"})
        t.check(r.status == 400 and "embeddings" in r.json()["error"]["message"], "embeddings turned off: 400 %r" % r)
        r = s.post_json("/v1/embeddings", {"model": "tiny", "input": "hello"})
        t.check(r.status == 200 and len(r.json()["data"][0]["embedding"]) > 0, "embeddings on: 200")
        r = s.post_json("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
        t.check(r.status == 200, "a request naming no model gets a language model: %r" % r)
        ids = sorted(m["id"] for m in s.get("/v1/models").json()["data"])
        t.check(ids == ["noemb", "one", "tiny"], "/v1/models lists the language models only: %r" % ids)
        idx = s.post("/v2/repository/index", "").json()
        names = sorted((e["name"], e["state"]) for e in idx)
        t.check(names == [("mlp", "READY"), ("noemb", "READY"), ("one", "READY"), ("tiny", "READY")],
                "the index lists every model: %r" % names)
        meta = s.get("/v2/models/tiny").json()
        t.check(meta.get("versions") == ["1"] and meta.get("platform") == "inferd_gguf", "v2 metadata of the LLM")

        # -- 4. SIGTERM with streams waiting --
        socks = [open_stream(s.port, {"model": "one", "prompt": "The", "max_tokens": 16000, "temperature": 0,
                                      "ignore_eos": True, "stream": True}) for _ in range(3)]
        t.check(wait_until(lambda: running(1), timeout=30), "a long stream runs before SIGTERM")
        rc = s.stop(signal.SIGTERM, timeout=60)
        for sk in socks:
            sk.close()
        log = s.stderr_text()
        t.check(rc == 1 and "requests cut)" in log,
                "SIGTERM with streams still running after --drain-ms cuts them and exits 1 as documented "
                "(got %r, %r)" % (rc, log[-300:]))
        t.check("MHD_stop_daemon" not in log, "no abort from MHD at shutdown")
    finally:
        s.stop()
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
