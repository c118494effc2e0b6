"""test_hostile_llm.py — admission, metrics and shutdown under a hostile client, against
`inferd serve --threads 2` with the Relu model and the tiny GGUF llama (issue 8, findings 2,
4, 5, 6 and 10).

1. Metrics poisoning: 1,100 requests to made-up model names (v2 and OpenAI routes); a model
   that appears in the repository afterwards still gets its inferd_requests_total series.
2. A request that can never fit gets 400 naming the limit, not 503: 256 prompts on
   /v1/completions and 256 embedding inputs against a 1-slot, 64-deep model.
3. 40 streams queued on that 1-slot model: fresh clients' /v2/health/ready answer meanwhile.
4. logprobs with max_tokens at its cap (10^6): the records are sized by the slot's context,
   not max_tokens x 176 B; the generation stops at the context and peak RSS stays low.
5. SIGTERM with those streams suspended: the server cuts them after --drain-ms and exits 1
   ("N requests cut") instead of aborting in libmicrohttpd; every client's connection ends.
"""
import http.client
import json
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile import (GGUF, Checker, Server, ceiling, connect, health_ok, read_until_close,  # noqa: E402
                     tiny_repo, wait_until)

ONE = {"context_size": 4096, "parallel": 1, "max_queue_size": 64}
N_STREAMS = 40


def poison(t, s, root):
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    body = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]})
    codes = set()
    for i in range(1100):
        path, b = (("/v2/models/made-up-%d/infer" % i, body) if i % 2 else
                   ("/v1/completions", json.dumps({"model": "made-up-%d" % i, "prompt": "x", "max_tokens": 1})))
        try:
            c.request("POST", path, body=b, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            codes.add(r.status)
        except (OSError, http.client.HTTPException):
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    c.close()
    t.check(codes <= {400, 404}, "made-up names: 404 (or 400 with no language model): %r" % codes)
    shutil.copytree(os.path.join(root, "relu"), os.path.join(root, "late"))
    t.check(wait_until(lambda: s.get("/v2/models/late/ready").status == 200, timeout=15),
            "a model added afterwards is loaded")
    r = s.post("/v2/models/late/infer", body)
    t.check(r.status == 200, "it serves: %r" % r)
    text = s.get("/metrics").body.decode()
    t.check(re.search(r'^inferd_requests_total\{[^}]*model="late"[^}]*\} [1-9]', text, re.M) is not None,
            "the late model has its inferd_requests_total series after 1,100 made-up names")
    t.check("made-up" not in text, "no series for made-up names")


def never_fits(t, s):
    r = s.post_json("/v1/completions", {"model": "one", "prompt": ["hello"] * 256, "max_tokens": 2})
    t.check(r.status == 400 and "at most" in r.body.decode(), "256 prompts, room for 65: 400 naming the limit: %r" % r)
    r = s.post_json("/v1/embeddings", {"model": "one", "input": ["hello"] * 256})
    t.check(r.status == 400 and r.json()["error"]["param"] == "input", "256 embedding inputs: 400: %r" % r)
    time.sleep(0.2)
    text = s.get("/metrics").body.decode()
    m = re.search(r'^inferd_llm_running\{[^}]*model="one"[^}]*\} ([0-9.]+)', text, re.M)
    t.check(m is None or float(m.group(1)) == 0, "nothing of the refused requests runs: %r" % (m and m.group(0)))


def logprobs_cap(t, s):
    body = {"model": "one", "prompt": "Once", "max_tokens": 1000000, "logprobs": 5, "ignore_eos": True}
    r = s.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"},
                  timeout=120)
    t.check(r.status == 200 and r.json()["choices"][0]["finish_reason"] == "length"
            and r.json()["usage"]["completion_tokens"] < 4096, "logprobs with max_tokens 10^6: %r" % r)


def open_stream(port):
    data = json.dumps({"model": "one", "prompt": "Once upon a time", "max_tokens": 3000,
                       "stream": True, "ignore_eos": True}).encode()
    sk = connect(port, timeout=30)
    sk.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(data) + data)
    return sk


def main():
    t = Checker()
    root = tiny_repo({"one": ONE})
    have_llm = os.path.exists(GGUF)
    with Server(root, "--threads", "2", "--poll-ms", "200", "--drain-ms", "300") as s:
        print("-- metrics poisoning", flush=True)
        poison(t, s, root)
        ceiling(t, s, "metrics poisoning")
        if not have_llm:
            print("SKIP parts 2-5: %s is absent" % GGUF)
            t.check(s.stop() == 0, "clean exit")
            t.finish()
        print("-- requests that never fit", flush=True)
        never_fits(t, s)
        ceiling(t, s, "never-fitting requests")

        print("-- logprobs with max_tokens at its cap", flush=True)
        logprobs_cap(t, s)
        ceiling(t, s, "logprobs at the max_tokens cap")

        print("-- 40 queued streams", flush=True)
        streams = [open_stream(s.port) for _ in range(N_STREAMS)]
        answered = []
        for _ in range(5):
            answered.append(health_ok(s.port, timeout=10))
            time.sleep(0.2)
        t.check(all(answered), "health answers with 40 streams queued on one slot: %r" % answered)
        ceiling(t, s, "40 queued streams")

        print("-- SIGTERM with the streams suspended", flush=True)
        rc = s.stop(signal.SIGTERM, timeout=60)
        log = s.stderr_text()
        t.check(rc == 1 and "requests cut)" in log, "exit 1 with \"N requests cut\": rc=%r %r" % (rc, log[-300:]))
        t.check("MHD_stop_daemon" not in log, "no abort in libmicrohttpd at shutdown")
        ended = 0
        for sk in streams:
            data = read_until_close(sk, timeout=5, limit=1 << 26)
            sk.settimeout(0.5)
            try:
                ended += sk.recv(1) == b""
            except OSError:
                ended += 1
            sk.close()
            del data
        t.check(ended == N_STREAMS, "every stream's connection ended: %d of %d" % (ended, N_STREAMS))
    t.finish()


if __name__ == "__main__":
    main()
