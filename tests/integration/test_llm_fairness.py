"""test_llm_fairness.py — fair admission of LLM requests across API keys.

Against the real `inferd serve --api-key-file` with the tiny GGUF llama. Every ordering is
observed through the scheduler's waiting gauge while a stream we control holds a slot (a
long generation that ends only when its socket is closed), never through timings:
1. One slot; key A holds it and has three more streams queued; key B's request, queued
   after them, is admitted next when the slot frees (A's backlog is still all waiting
   while B's stream runs). Plain FIFO would run A's three first.
2. priority: a priority-5 request queued after a priority-0 one of the same key is
   admitted first.
3. config.json max_running_per_key 1 with two slots: key A's second request waits while
   a slot is free, key B's request is answered meanwhile, A's runs once A's first ends.
4. priority out of range or not an integer: 400 naming it (OpenAI field, Ollama option).
"""
import json
import os
import socket
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checker, Server, metric_value, skip, wait_until, write_json  # noqa: E402

SHARED = os.environ.get("INFERD_SHARED", "/work/shared")
GGUF = os.path.join(SHARED, "testdata", "llm", "aidreams260K.gguf")
KEY_A, KEY_B = "key-a-0123456789", "key-b-9876543210"
LONG = 0  # max_tokens 0: until the sequence's context is full (minutes at these sizes)


def make_repo():
    root = tempfile.mkdtemp(prefix="inferd-fair-")
    for name, cfg in (("one", {"context_size": 16384, "parallel": 1, "max_queue_size": 16}),
                      ("cap", {"context_size": 32768, "parallel": 2, "max_running_per_key": 1})):
        os.makedirs(os.path.join(root, name, "1"))
        os.symlink(GGUF, os.path.join(root, name, "1", "model.gguf"))
        write_json(os.path.join(root, name, "config.json"), cfg)
    keyf = os.path.join(root, "..", os.path.basename(root) + "-keys.txt")
    with open(keyf, "w") as f:
        f.write("# two clients\n%s\n%s\n" % (KEY_A, KEY_B))
    return root, keyf


def open_stream(port, model, key, max_tokens, priority=None):
    """A streamed completion on a raw socket (not read yet)."""
    body = {"model": model, "prompt": "Once upon a time", "max_tokens": max_tokens, "stream": True,
            "ignore_eos": True, "temperature": 0}
    if max_tokens == LONG:
        del body["max_tokens"]
    if priority is not None:
        body["priority"] = priority
    data = json.dumps(body).encode()
    sk = socket.create_connection(("127.0.0.1", port), timeout=120)
    sk.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Authorization: Bearer " + key.encode() + b"\r\n"
               b"Content-Length: %d\r\n\r\n" % len(data) + data)
    return sk


def first_token(sk, timeout=60):
    """Reads until the stream's first data event: its job holds a slot."""
    sk.settimeout(timeout)
    buf = b""
    while b"data: {" not in buf:
        chunk = sk.recv(65536)
        if not chunk:
            return False
        buf += chunk
    return True


def read_to_end(sk, timeout=120):
    sk.settimeout(timeout)
    buf = b""
    while not buf.endswith(b"0\r\n\r\n"):
        try:
            chunk = sk.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
    return buf


def gauge(s, name, model):
    return metric_value(s, name, 'model="%s"' % model)


def waiting(s, model):
    return gauge(s, "inferd_llm_requests_waiting", model)


def main():
    if not os.path.exists(GGUF):
        skip("../shared/testdata/llm/aidreams260K.gguf is absent")
    t = Checker()
    root, keyf = make_repo()
    with Server(root, "--api-key-file", keyf) as s:
        auth_a = {"Authorization": "Bearer " + KEY_A}

        # 1. key B is not starved by key A's backlog
        blocker = open_stream(s.port, "one", KEY_A, LONG)
        t.check(first_token(blocker), "A's long stream holds the slot")
        backlog = [open_stream(s.port, "one", KEY_A, 8) for _ in range(3)]
        t.check(wait_until(lambda: waiting(s, "one") == 3, 60), "A's three streams wait")
        b = open_stream(s.port, "one", KEY_B, LONG)
        t.check(wait_until(lambda: waiting(s, "one") == 4, 60), "B's stream waits behind them")
        blocker.close()  # cancelled: the slot frees
        t.check(first_token(b), "B's stream is admitted")
        t.check(waiting(s, "one") == 3, "A's backlog still waits while B runs (fair, not FIFO): %s"
                % waiting(s, "one"))
        b.close()
        for sk in backlog:
            out = read_to_end(sk)
            t.check(out.endswith(b"0\r\n\r\n") and b"data: [DONE]" in out, "A's queued stream ends with [DONE]")
            sk.close()
        t.check(wait_until(lambda: waiting(s, "one") == 0 and gauge(s, "inferd_llm_requests_running", "one") == 0,
                           60), "model idle")

        # 2. priority within one key
        blocker = open_stream(s.port, "one", KEY_A, LONG)
        t.check(first_token(blocker), "long stream holds the slot again")
        low = open_stream(s.port, "one", KEY_A, 8, priority=0)
        t.check(wait_until(lambda: waiting(s, "one") == 1, 60), "priority 0 waits")
        high = open_stream(s.port, "one", KEY_A, LONG, priority=5)
        t.check(wait_until(lambda: waiting(s, "one") == 2, 60), "priority 5 waits")
        blocker.close()
        t.check(first_token(high), "priority 5 admitted")
        t.check(waiting(s, "one") == 1, "priority 0 still waits while priority 5 runs")
        high.close()
        out = read_to_end(low)
        t.check(b"data: [DONE]" in out, "priority 0 ends later")
        low.close()

        # 3. max_running_per_key: 1 of 2 slots per key
        a1 = open_stream(s.port, "cap", KEY_A, LONG)
        t.check(first_token(a1), "A's first holds a slot")
        a2 = open_stream(s.port, "cap", KEY_A, 8)
        t.check(wait_until(lambda: waiting(s, "cap") == 1, 60), "A's second waits though a slot is free")
        r = s.post_json("/v1/completions", {"model": "cap", "prompt": "The", "max_tokens": 4},
                        {"Authorization": "Bearer " + KEY_B})
        t.check(r.status == 200, "B is answered meanwhile: %d %s" % (r.status, r.body[:200]))
        t.check(waiting(s, "cap") == 1, "A's second still waits")
        a1.close()
        out = read_to_end(a2)
        t.check(b"data: [DONE]" in out, "A's second runs once its first ends")
        a2.close()

        # 4. bad priority
        for bad in (11, -11, "high", 1.5):
            r = s.post_json("/v1/completions", {"model": "one", "prompt": "The", "max_tokens": 1, "priority": bad},
                            auth_a)
            err = json.loads(r.body).get("error", {}) if r.body else {}
            t.check(r.status == 400 and err.get("param") == "priority" and "priority" in err.get("message", ""),
                    "priority %r: 400 naming it: %d %s" % (bad, r.status, r.body[:200]))
        r = s.post_json("/v1/completions", {"model": "one", "prompt": "The", "max_tokens": 2, "priority": -10},
                        auth_a)
        t.check(r.status == 200, "priority -10 accepted")
        r = s.post_json("/api/generate", {"model": "one", "prompt": "The", "stream": False,
                                          "options": {"num_predict": 2, "priority": 99}}, auth_a)
        t.check(r.status == 400 and b"priority" in r.body, "Ollama options.priority 99: 400 naming it: %d %s"
                % (r.status, r.body[:200]))
        r = s.post_json("/api/generate", {"model": "one", "prompt": "The", "stream": False,
                                          "options": {"num_predict": 2, "priority": 3}}, auth_a)
        t.check(r.status == 200, "Ollama options.priority 3 accepted: %d" % r.status)
    t.check(s.returncode == 0, "clean exit")
    sys.exit(t.finish())


if __name__ == "__main__":
    main()
